#!/usr/bin/env bats
# usage errors, snapshot and the list of releases (init and check: 01).

load helpers

@test "a missing config and an unknown command are usage errors, exit 2" {
	lg_status 2 check
	lg_status 2 -c nosuch.yml releases
	lg_status 2 frobnicate
	make_stack
	lg_status 2 snapshot --no-such-option
	lg_status 2 rollback 1 2 3
}

@test "-C and -c find the config from elsewhere" {
	make_stack
	mkdir ../elsewhere
	cd ../elsewhere
	lg_ok -C "$HOST" snapshot
	expect_equal "$output" 1
	mv "$HOST/lastgood.yml" "$HOST/stack.yml"
	# a renamed config is another config until the state folder is handed over
	lg_ok -c "$HOST/stack.yml" rebind
	lg_ok -c "$HOST/stack.yml" status
	expect_match "$output" '\b1\b'
	[ ! -e .lastgood ]
}

@test "snapshot prints the new release number, 1 then 2" {
	make_stack
	lg_ok snapshot
	expect_equal "$output" 1
	change_stack
	lg_ok snapshot
	expect_equal "$output" 2
}

@test "snapshot of unchanged files returns the same release" {
	make_stack
	lg_ok snapshot
	expect_equal "$output" 1
	lg_ok snapshot
	expect_equal "$output" 1
	lg_ok --json releases
	expect_equal "$(jq length <<<"$output")" 1
}

@test "a listed file that does not exist is recorded as absent, and comes back absent" {
	make_stack
	rm bin/worker
	lg_ok check
	lg_ok snapshot
	lg_ok --json releases
	expect_equal "$(jq length <<<"$output")" 1
	printf 'worker v2\n' >bin/worker
	lg_ok snapshot
	lg_ok rollback 1
	[ ! -e bin/worker ]
}

@test "snapshot refuses a special file in a listed folder" {
	make_stack
	mkfifo web/pipe
	run --separate-stderr lg snapshot
	[ "$status" -eq 1 ] || [ "$status" -eq 2 ]
	expect_match "$stderr" 'web/pipe'
}

@test "releases shows number, label, commit, mark, files and size" {
	make_stack
	lg_ok snapshot --label v1 --commit abc1234def --reason "first"
	change_stack
	lg_ok snapshot --label v2 --commit 99887766aa
	lg_ok releases
	expect_match "$output" '^[* ] *1 .*v1.*abc1234'
	expect_match "$output" '^[* ] *2 .*v2.*9988776'
	# newest first, the live one marked
	expect_equal "$(sed -n 's/^[* ] *\([0-9][0-9]*\) .*/\1/p' <<<"$output" | paste -sd,)" 2,1
	expect_match "$output" '^\* *2 '
}

@test "releases --json has the fields of every release" {
	make_stack
	lg_ok snapshot --label v1 --commit abc1234def
	change_stack
	lg_ok snapshot
	lg_ok --json releases
	expect_equal "$(jq -r '.[] | .id' <<<"$output" | paste -sd,)" 2,1
	expect_equal "$(jq -r '.[] | select(.id == 1) | .label' <<<"$output")" v1
	expect_equal "$(jq -r '.[] | select(.id == 1) | .commit' <<<"$output")" abc1234def
	# release 1: bin/api, etc/api.env, bin/worker, 4 files in web/
	expect_equal "$(jq -r '.[] | select(.id == 1) | .files' <<<"$output")" 7
	expect_equal "$(jq -r '.[] | select(.id == 2) | .files' <<<"$output")" 8
	size1=$(wc -c <bin/worker)
	[ "$(jq -r '.[] | select(.id == 1) | .size' <<<"$output")" -gt "$size1" ]
}

@test "content is stored once: a second release adds only what changed" {
	make_stack
	lg_ok snapshot
	before=$(find .lastgood/objects -type f | wc -l)
	printf '#!/bin/sh\necho api v2\n' >bin/api
	lg_ok snapshot
	after=$(find .lastgood/objects -type f | wc -l)
	# the new bin/api and the new manifest
	expect_equal "$((after - before))" 2
	lg_ok --json releases
	added2=$(jq -r '.[] | select(.id == 2) | .added' <<<"$output")
	added1=$(jq -r '.[] | select(.id == 1) | .added' <<<"$output")
	[ "$added2" -lt "$added1" ]
	[ "$added2" -gt 0 ]
}

@test "store objects are read-only and match their names" {
	make_stack
	lg_ok snapshot
	d=$(sha bin/api)
	obj=$(object_path "$d")
	[ -n "$obj" ]
	expect_equal "$(sha "$obj")" "$d"
	expect_equal "$(stat -c %a "$obj")" 444
}
