#!/usr/bin/env bats
# The record: status, history and show, in text and --json.

load helpers

# snapshot (op 1), deploy (op 2), rollback (op 3)
three_operations() {
	make_stack
	lg_ok snapshot --reason "baseline"
	make_source ../dist
	lg_ok deploy --reason "ship v3" ../dist
	lg_ok rollback --reason "v3 broke the page"
}

@test "status before anything was recorded says so, exit 0" {
	make_stack
	lg_ok status
	lg_ok --json status
	expect_equal "$(jq -r '.live_release' <<<"$output")" 0
}

@test "status names the live release" {
	make_stack
	lg_ok snapshot --label first
	lg_ok status
	expect_match "$output" '\b1\b'
	expect_match "$output" 'first'
	change_stack
	lg_ok snapshot --label second
	lg_ok rollback 1
	lg_ok --json status
	expect_equal "$(jq -r '.live_release' <<<"$output")" 1
}

@test "history lists every operation, newest first, with result and reason" {
	three_operations
	lg_ok history
	expect_match "$output" 'rollback.*v3 broke the page'
	expect_match "$output" 'deploy.*ship v3'
	expect_match "$output" 'snapshot.*baseline'
	expect_equal "$(grep -Eo 'snapshot|deploy|rollback' <<<"$output" | paste -sd,)" rollback,deploy,snapshot
	lg_ok --json history
	expect_equal "$(jq -r '.[].command' <<<"$output" | paste -sd,)" rollback,deploy,snapshot
	expect_equal "$(jq -r '.[].result' <<<"$output" | sort -u)" ok
	expect_equal "$(jq -r '.[0].reason' <<<"$output")" 'v3 broke the page'
}

@test "history --limit N shows the newest N" {
	three_operations
	lg_ok --json history --limit 1
	expect_equal "$(jq -r '.[].command' <<<"$output")" rollback
	lg_ok history --limit 2
	expect_no_match "$output" snapshot
	lg_status 2 history --limit x
}

@test "status names the oldest release each service's files came from" {
	make_stack
	lg_ok snapshot
	change_stack
	lg_ok snapshot
	# release 3: api from 1, web from 2, worker the same in all three
	lg_ok rollback --services api 1
	lg_ok --json status
	expect_equal "$(jq -r '.live_release' <<<"$output")" 3
	expect_equal "$(jq -r '.services[] | "\(.name)=\(.release)"' <<<"$output" | paste -sd,)" \
		api=1,worker=1,web=2
}

@test "status finds where each service's files came from without reading a manifest" {
	make_stack
	lg_ok snapshot
	change_stack
	lg_ok snapshot
	lg_ok rollback --services web 1
	ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" \
		run --separate-stderr strace -f -qq -o "$BATS_TEST_TMPDIR/trace" -e trace=openat \
		"$LG" --json status
	[ "$status" -eq 0 ]
	expect_equal "$(jq -r '.services[] | "\(.name)=\(.release)"' <<<"$output" | paste -sd,)" \
		api=2,worker=1,web=1
	expect_equal "$(grep -c '/objects/' "$BATS_TEST_TMPDIR/trace")" 0
}

# long_record N: a snapshot, then rows copied from its release and
# operation until there are N of each, as if the host had been deployed to
# N times.
long_record() {
	make_stack
	lg_ok snapshot
	sqlite3 .lastgood/state.db "
		WITH RECURSIVE k(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM k WHERE i < $1)
		INSERT INTO releases(digest, created_ms, reason, actor, mark, files, size)
		SELECT digest, created_ms + i, 'copy ' || i, actor, mark, files, size
		FROM releases, k WHERE id = 1;
		WITH RECURSIVE k(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM k WHERE i < $1)
		INSERT INTO operations(command, reason, actor, pid, started_ms, ended_ms, result, phase)
		SELECT command, 'copy ' || i, actor, pid, started_ms + i, ended_ms + i, result, phase
		FROM operations, k WHERE id = 1;"
}

@test "releases and history show the newest 20 unless told: --limit N, --all" {
	long_record 25
	for cmd in releases history; do
		lg_ok --json $cmd
		expect_equal "$(jq -r '[.[].id] | "\(length) \(first) \(last)"' <<<"$output")" "20 25 6"
		lg_ok $cmd
		expect_equal "$(grep -c '^[* ] *[0-9]' <<<"$output")" 20
		expect_match "$stderr" 'the newest 20 .* shown; --limit N or --all for more'
		lg_ok --json $cmd --limit 3
		expect_equal "$(jq -r '[.[].id] | map(tostring) | join(",")' <<<"$output")" 25,24,23
		lg_ok --json $cmd --all
		expect_equal "$(jq -r '[.[].id] | "\(length) \(first) \(last)"' <<<"$output")" "25 25 1"
		lg_ok $cmd --all
		expect_equal "$stderr" ""
		lg_status 2 $cmd --limit 0
		lg_status 2 $cmd extra
	done
}

@test "history records the release each operation went from and to" {
	three_operations
	lg_ok --json history
	expect_equal "$(jq -r '.[0] | "\(.from_release)->\(.to_release)"' <<<"$output")" '2->1'
}

@test "show OP prints the timeline with each step's duration" {
	three_operations
	op=$(lg --json history | jq -r '.[0].id')
	lg_ok show "$op"
	expect_match "$output" 'rollback'
	# one step per switched entry, each with its duration
	duration='[0-9]+(\.[0-9]+)? ?(ms|s)\b'
	expect_match "$output" "$duration.*bin/api|bin/api.*$duration"
	expect_match "$output" "$duration.*/web\b|/web\b.*$duration"
	expect_no_match "$output" 'bin/worker'
}

@test "show --json has the steps in order with start and end" {
	three_operations
	op=$(lg --json history | jq -r '.[0].id')
	lg_ok --json show "$op"
	expect_equal "$(jq -r '.id' <<<"$output")" "$op"
	expect_equal "$(jq -r '.command' <<<"$output")" rollback
	[ "$(jq '.steps | length' <<<"$output")" -ge 2 ]
	expect_equal "$(jq -r '[.steps[].seq] == ([.steps[].seq] | sort)' <<<"$output")" true
	expect_equal "$(jq -r '[.steps[] | select(.ended_ms < .started_ms)] | length' <<<"$output")" 0
	expect_equal "$(jq -r '[.steps[].result] | unique | join(",")' <<<"$output")" ok
	expect_match "$(jq -r '.steps[].target' <<<"$output")" 'bin/api'
}

@test "show of an unknown operation is a usage error" {
	three_operations
	lg_status 2 show 999
	lg_status 2 show nope
}

@test "a failed rollback is recorded as failed with its error" {
	make_stack
	lg_ok snapshot
	change_stack
	lg_ok snapshot
	obj=$(object_path "$(printf '#!/bin/sh\necho api v1\n' | sha256sum | cut -c1-64)")
	chmod u+w "$obj"
	echo broken >"$obj"
	run --separate-stderr lg rollback 1
	[ "$status" -eq 1 ] || [ "$status" -eq 4 ]
	lg_ok --json history --limit 1
	expect_equal "$(jq -r '.[0].command' <<<"$output")" rollback
	expect_equal "$(jq -r '.[0].result' <<<"$output")" failed
	[ -n "$(jq -r '.[0].error // empty' <<<"$output")" ]
}
