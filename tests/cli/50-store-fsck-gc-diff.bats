#!/usr/bin/env bats
# The content store: fsck finds damage, rollback refuses damaged content,
# gc drops old releases and their content, diff compares releases.

load helpers

# two releases: 1 (make_stack) and 2 (change_stack); bin/worker is shared
two_releases() {
	make_stack
	lg_ok snapshot
	api1=$(sha bin/api)
	worker=$(sha bin/worker)
	change_stack
	lg_ok snapshot
}

@test "fsck of an intact store exits 0" {
	two_releases
	lg_ok fsck
}

@test "fsck names a corrupt object and the releases it breaks, exit 1" {
	two_releases
	obj=$(object_path "$api1")
	[ -n "$obj" ]
	chmod u+w "$obj"
	printf 'tampered' >>"$obj"
	lg_status 1 fsck
	all="$output$stderr"
	expect_match "$all" "$api1"
	expect_match "$all" 'corrupt'
	expect_match "$all" 'release[s]? .*\b1\b'
	# release 2 has its own bin/api and does not use the damaged object
	expect_no_match "$all" 'release[s]? .*\b2\b'
}

@test "fsck names a missing object and every release that uses it, exit 1" {
	two_releases
	obj=$(object_path "$worker")
	[ -n "$obj" ]
	rm -f "$obj"
	lg_status 1 fsck
	all="$output$stderr"
	expect_match "$all" "$worker"
	expect_match "$all" 'missing'
	expect_match "$all" '\b1\b'
	expect_match "$all" '\b2\b'
}

@test "rollback to a release with damaged content fails and changes nothing" {
	two_releases
	before=$(tree_sum)
	obj=$(object_path "$api1")
	chmod u+w "$obj"
	printf 'tampered' >>"$obj"
	run --separate-stderr lg rollback 1
	[ "$status" -eq 1 ] || [ "$status" -eq 4 ]
	expect_equal "$(tree_sum)" "$before"
	expect_equal "$(leftovers)" ""
	lg_ok --json status
	expect_equal "$(jq -r '.live_release' <<<"$output")" 2
}

@test "gc --keep N drops older releases and the content only they used" {
	make_stack
	for v in 1 2 3 4; do
		echo "worker v$v" >bin/worker
		printf 'unique to %s\n' "$v" >"web/static/only.txt"
		lg_ok snapshot
	done
	only1=$(printf 'unique to 1\n' | sha256sum | cut -c1-64)
	only4=$(sha web/static/only.txt)
	api=$(sha bin/api)
	lg_ok gc --keep 2
	lg_ok --json releases
	expect_equal "$(jq -r '.[].id' <<<"$output" | paste -sd,)" 4,3
	# what status reads of each release goes with it
	expect_equal "$(sqlite3 .lastgood/state.db 'SELECT DISTINCT release FROM release_services
		ORDER BY release' | paste -sd,)" 3,4
	[ -z "$(object_path "$only1")" ]
	[ -n "$(object_path "$only4")" ]
	[ -n "$(object_path "$api")" ]
	lg_ok fsck
	lg_status 2 rollback 1
	lg_ok rollback 3
	expect_equal "$(cat bin/worker)" 'worker v3'
}

@test "gc drops the stat cache rows of the content it removes, and only those" {
	make_stack
	lg_ok snapshot
	local v1
	v1=$(sha web/index.html)
	change_stack
	lg_ok snapshot
	# a row naming content no kept release has, as a capture whose release
	# was never recorded leaves behind
	sqlite3 .lastgood/state.db "INSERT INTO stat_cache(path, dev, ino, size, mtime_ns, ctime_ns,
		recorded_ns, digest) SELECT path || '.ghost', dev, ino, size,
		mtime_ns, ctime_ns, recorded_ns, '$v1' FROM stat_cache LIMIT 1"
	local rows
	rows=$(sqlite3 .lastgood/state.db 'SELECT count(*) FROM stat_cache')
	lg_ok gc --keep 1
	[ -z "$(object_path "$v1")" ]
	expect_equal "$(sqlite3 .lastgood/state.db "SELECT count(*) FROM stat_cache WHERE digest = '$v1'")" 0
	expect_equal "$(sqlite3 .lastgood/state.db 'SELECT count(*) FROM stat_cache')" $((rows - 1))
	lg_ok fsck
}

@test "gc keeps the live release even when it is old" {
	make_stack
	for v in 1 2 3; do
		echo "worker v$v" >bin/worker
		lg_ok snapshot
	done
	lg_ok rollback 1
	lg_ok gc --keep 1
	lg_ok --json releases
	ids=$(jq -r '.[].id' <<<"$output" | paste -sd,)
	expect_match "$ids" '(^|,)1(,|$)'
	expect_match "$ids" '(^|,)3(,|$)'
	lg_ok fsck
	lg_ok rollback 3
	expect_equal "$(cat bin/worker)" 'worker v3'
}

@test "gc never reuses release numbers" {
	make_stack
	for v in 1 2 3; do
		echo "worker v$v" >bin/worker
		lg_ok snapshot
	done
	lg_ok gc --keep 1
	echo 'worker v4' >bin/worker
	lg_ok snapshot
	expect_equal "$output" 4
}

@test "gc with a bad --keep is a usage error" {
	make_stack
	lg_ok snapshot
	lg_status 2 gc --keep nope
	lg_status 2 gc --keep -1
}

@test "diff lists the entries that differ between two releases" {
	two_releases
	lg_ok diff 1 2
	expect_match "$output" 'bin/api'
	expect_match "$output" 'web/static/old\.html'
	expect_match "$output" 'web/static/img/icons/a\.svg'
	expect_match "$output" 'web/current\.js'
	expect_no_match "$output" 'bin/worker'
}

@test "diff shows changed config lines" {
	two_releases
	lg_ok diff 1 2
	expect_match "$output" 'PORT=8000'
	expect_match "$output" 'PORT=8001'
}

@test "diff with one REF compares it with the live release" {
	two_releases
	lg_ok diff 1
	with_live=$output
	lg_ok diff 1 2
	expect_equal "$with_live" "$output"
}

@test "diff of a release with itself is empty; an unknown REF exits 2" {
	two_releases
	lg_ok diff 2 2
	expect_equal "$output" ""
	lg_status 2 diff 1 99
}

@test "diff whose system diff fails lists the changes and says once why lines are missing" {
	two_releases
	mkdir "$BATS_TEST_TMPDIR/bin"
	printf '#!/bin/sh\nexit 2\n' >"$BATS_TEST_TMPDIR/bin/diff"
	chmod +x "$BATS_TEST_TMPDIR/bin/diff"
	PATH=$BATS_TEST_TMPDIR/bin:$PATH lg_ok diff 1 2
	expect_match "$output" 'bin/api'
	expect_match "$output" 'etc/api\.env'
	expect_no_match "$output" 'PORT=8001'
	expect_equal "$stderr" "lastgood: cannot show changed lines: 'diff' failed"
}
