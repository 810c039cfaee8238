#!/usr/bin/env bats
# fsck and integrity: a damaged state database is found and named, with
# what to do, and nothing is changed.

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
	damage_page .lastgood/state.db "$(sqlite3 .lastgood/state.db 'PRAGMA page_count')"
	cp .lastgood/state.db "$BATS_TEST_TMPDIR/probe.db"
	[ "$(sqlite3 "$BATS_TEST_TMPDIR/probe.db" 'PRAGMA integrity_check' 2>&1)" != ok ]
	before=$(sha .lastgood/state.db)
	lg_status 1 fsck
	expect_match "$output" '^damaged state database: '
	expect_match "$output" "^corrupt object $(sha bin/api) "
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
