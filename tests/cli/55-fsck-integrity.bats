#!/usr/bin/env bats
# fsck and integrity: a damaged state database is found and named, with
# what to do, and nothing is changed; a damaged object is moved aside
# (kept, never deleted) and stored again from a live file that holds its
# content, or named with the releases it breaks; no release made after
# fsck ever uses the damaged bytes.

load helpers

# several_releases: a record with several releases, labels, operations of
# every kind and their steps: a state database of many pages.
several_releases() {
	make_stack
	local v
	for v in 1 2 3 4 5; do
		printf 'worker v%s\n' "$v" >bin/worker
		lg_ok snapshot --label "v$v" --reason "release $v"
	done
	lg_ok rollback v2
	make_source ../src
	lg_ok deploy ../src --label v6
	lg_ok gc --keep 4
	# every page in state.db itself, none left in the log
	sqlite3 .lastgood/state.db 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
}

# damage_page FILE N: overwrite page N (from 1) of the database FILE with
# 0xff bytes, as a failing disk or a stray write would.
damage_page() {
	local size
	size=$(sqlite3 "$1" 'PRAGMA page_size')
	head -c "$size" /dev/zero | tr '\0' '\377' |
		dd of="$1" bs="$size" seek=$(($2 - 1)) count=1 conv=notrunc status=none
}

@test "a state database damaged page by page: fsck exits 1 naming the damage each time integrity_check finds it" {
	several_releases
	local pages page checked=0
	pages=$(sqlite3 .lastgood/state.db 'PRAGMA page_count')
	[ "$pages" -ge 10 ]
	cd "$BATS_TEST_TMPDIR"
	for page in $(seq 1 "$pages"); do
		rm -rf copy
		cp -a host copy
		damage_page copy/.lastgood/state.db "$page"
		# what SQLite says of it, asked of a copy so that nothing it
		# writes itself changes the damaged one
		cp copy/.lastgood/state.db probe.db
		if [ "$(sqlite3 probe.db 'PRAGMA integrity_check' 2>&1)" = ok ]; then
			continue
		fi
		checked=$((checked + 1))
		run --separate-stderr "$LG" -C copy fsck
		if [ "$status" -ne 1 ]; then
			printf 'page %s of %s: fsck exited %s\nstdout: %s\nstderr: %s\n' "$page" "$pages" \
				"$status" "$output" "$stderr" >&2
			return 1
		fi
		expect_match "$output" '^damaged state database: .*(malformed|not a database|btreeInitPage|[Pp]age)'
		expect_match "$stderr" 'the state database is damaged: change nothing with lastgood until it is rebuilt'
	done
	# nearly every page: the check is not vacuous
	[ "$checked" -ge $((pages - 1)) ]
}

@test "fsck on a damaged state database changes nothing, and names the damaged objects too" {
	several_releases
	local obj before
	obj=$(object_path "$(sha bin/api)")
	chmod u+w "$obj"
	printf 'X' | dd of="$obj" bs=1 seek=2 conv=notrunc status=none
	# a page of a table fsck reads (the backups'), not one of the schema's
	# own: with a damaged schema page no command gets past the open
	damage_page .lastgood/state.db \
		"$(sqlite3 .lastgood/state.db "SELECT rootpage FROM sqlite_schema WHERE name = 'db_backups'")"
	cp .lastgood/state.db "$BATS_TEST_TMPDIR/probe.db"
	[ "$(sqlite3 "$BATS_TEST_TMPDIR/probe.db" 'PRAGMA integrity_check' 2>&1)" != ok ]
	before=$(sha .lastgood/state.db)
	lg_status 1 fsck
	expect_match "$output" '^damaged state database: '
	expect_match "$output" "^corrupt object $(sha bin/api) "
	expect_match "$stderr" 'nothing was repaired: the state database must be repaired first'
	[ -e "$obj" ] && [ ! -e .lastgood/quarantine ]
	expect_equal "$(sha .lastgood/state.db)" "$before"
	lg_status 1 --json fsck
	expect_equal "$(jq -r '.database.ok' <<<"$output")" false
	expect_equal "$(jq -r '.ok' <<<"$output")" false
	[ "$(jq -r '.database.damage | length' <<<"$output")" -ge 1 ]
}

@test "a state database that is not a database at all: fsck exits 1 naming it, with what to do" {
	make_stack
	lg_ok snapshot
	damage_page .lastgood/state.db 1
	lg_status 1 fsck
	expect_match "$output" '^damaged state database: .*file is not a database'
	expect_match "$stderr" 'README.md says under "A damaged state database"'
}

@test "a corrupt object of the right size: fsck moves it to quarantine and stores it again from the live file" {
	make_stack
	lg_ok snapshot
	local api obj damaged
	api=$(sha bin/api)
	obj=$(object_path "$api")
	chmod u+w "$obj"
	printf 'X' | dd of="$obj" bs=1 seek=2 conv=notrunc status=none
	damaged=$(sha "$obj")
	lg_status 1 fsck
	expect_match "${lines[0]}" "^corrupt object $api \\($HOST/bin/api\\) used by release 1$"
	expect_equal "${lines[1]}" "  moved to $HOST/.lastgood/quarantine/$api; stored again from live file $HOST/bin/api"
	# the store holds the right bytes again; the damaged ones are kept aside
	expect_equal "$(sha "$obj")" "$api"
	expect_equal "$(sha ".lastgood/quarantine/$api")" "$damaged"
	lg_ok fsck
	# a release recorded now uses the good object, and goes back whole
	echo 'worker v2' >bin/worker
	lg_ok snapshot
	lg_ok rollback 1
	expect_equal "$(sha bin/api)" "$api"
	lg_ok fsck
}

@test "a corrupt object no live file holds: fsck names the releases it breaks; once the file is copied in fresh, the next snapshot stores it again" {
	make_stack
	lg_ok snapshot
	local api obj
	api=$(sha bin/api)
	cp -p bin/api "$BATS_TEST_TMPDIR/api.good"
	obj=$(object_path "$api")
	chmod u+w "$obj"
	printf 'X' | dd of="$obj" bs=1 seek=2 conv=notrunc status=none
	printf '#!/bin/sh\necho api v2\n' >bin/api
	lg_ok snapshot
	expect_equal "$output" 2
	lg_status 1 fsck
	expect_match "${lines[0]}" "^corrupt object $api \\(.*/bin/api\\) used by release 1$"
	expect_equal "${lines[1]}" "  moved to $HOST/.lastgood/quarantine/$api; no live file holds this content: release 1 cannot be put back whole"
	[ ! -e "$obj" ]
	lg_status 1 rollback 1
	# the operator puts the good file back live: the next snapshot stores
	# it again, and release 1 is whole
	cp -p "$BATS_TEST_TMPDIR/api.good" bin/api
	lg_ok snapshot
	expect_equal "$output" 1
	expect_equal "$(sha "$(object_path "$api")")" "$api"
	lg_ok fsck
	lg_ok rollback 2
	lg_ok rollback 1
	expect_equal "$(sha bin/api)" "$api"
}

@test "a missing object: fsck stores it again from the live file, and says so in JSON too" {
	make_stack
	lg_ok snapshot
	local index
	index=$(sha web/index.html)
	lose_object web/index.html
	lg_status 1 --json fsck
	expect_equal "$(jq -r '.problems[0].problem' <<<"$output")" missing
	expect_equal "$(jq -r '.problems[0].restored_from' <<<"$output")" "$HOST/web/index.html"
	expect_equal "$(jq -r '.problems[0].quarantined' <<<"$output")" null
	expect_equal "$(sha "$(object_path "$index")")" "$index"
	lg_ok fsck
}

@test "a damaged object while another operation holds the lock: fsck names it, moves nothing, and says to run it again" {
	make_stack
	lg_ok snapshot
	local api obj
	api=$(sha bin/api)
	obj=$(object_path "$api")
	chmod u+w "$obj"
	printf 'X' | dd of="$obj" bs=1 seek=2 conv=notrunc status=none
	# the lock held, as a running deploy holds it
	exec 9>>.lastgood/lock
	flock -n 9
	run --separate-stderr "$LG" fsck
	exec 9>&-
	expect_equal "$status" 1
	expect_match "$output" "^corrupt object $api "
	expect_match "$stderr" "damaged objects were left as they are: another operation holds the lock.*run 'lastgood fsck' again once it is done"
	[ -e "$obj" ] && [ ! -e .lastgood/quarantine ]
	lg_status 1 fsck
	expect_match "${lines[1]}" "stored again from live file"
	lg_ok fsck
}

@test "a damaged config text of a release: fsck names it and the releases that need it" {
	make_stack
	lg_ok snapshot
	local digest obj
	digest=$(sqlite3 .lastgood/state.db 'SELECT config_digest FROM releases WHERE id = 1')
	[ -n "$digest" ]
	obj=$(object_path "$digest")
	chmod u+w "$obj"
	printf 'X' | dd of="$obj" bs=1 seek=2 conv=notrunc status=none
	lg_status 1 fsck
	expect_match "${lines[0]}" "^corrupt config $digest used by release 1$"
	expect_match "$output" "the config text of release 1: diff, rollback --config"
	lg_status 1 --json fsck
	expect_equal "$(jq -r '.problems[0].config' <<<"$output")" true
}
