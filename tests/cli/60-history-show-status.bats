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
