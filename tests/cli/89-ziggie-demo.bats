#!/usr/bin/env bats
# `make demo` (examples/ziggie/demo.sh) end to end: the ziggie stack on
# free loopback ports, v2's migration run and migrated back down by the
# automatic rollback, the rows written on v1 kept, nothing left behind.

load helpers
load helpers-services

@test "examples/ziggie/demo.sh rolls v2 back with its migration and keeps v1's rows" {
	take_port API_PORT
	take_port GATEWAY_PORT
	take_port STUDIO_PORT
	run_example ziggie/demo.sh LASTGOOD="$LG_REAL" DEMO_SERVICE="$TEST_SERVICE" \
		ZIGGIE_API_PORT="$API_PORT" MCP_GATEWAY_PORT="$GATEWAY_PORT" SIM_STUDIO_PORT="$STUDIO_PORT"
	expect_match "$output" 'deploy exited 3 after'
	# the timeline: backed up, migrated up, then down by the rollback
	expect_match "$output" 'ok +back up +main: '
	expect_match "$output" 'ok +migrate +main 2 add_session_expiry'
	expect_match "$output" 'ok +migrate down +main 2 add_session_expiry'
	# db status before v2 and after the rollback: version 1 both times
	expect_equal "$(grep -c "version 1; the live release's migrations reach 1" <<<"$output")" 2
	expect_match "$output" '^3[|]linus$'
	expect_match "$output" 'no demo service left running'
}
