#!/usr/bin/env bats
# An operator's Ctrl-C (SIGINT) or SIGTERM during a deploy: the health wait
# ends at once, the release it was judging goes back unmarked (it proved
# nothing), the old release is put back and verified: exit 3.

load helpers
load helpers-services

# A v1 stack whose v2 never answers (it sleeps before listening) and a
# start timeout long enough that only the signal can end the wait.
slow_v2() {
	take_port API_PORT
	add_service api
	{
		config_head '{start_timeout: 10m, interval: 50ms, timeout: 2s, retries: 2, stabilize: 100ms, stop_timeout: 2s}'
		service_yaml api "$API_PORT"
	} >lastgood.yml
	lg_ok snapshot --label v1
	lg_ok start
	make_conf_source ../v2 api VERSION=2 START_DELAY_MS=600000
}

# deploy_then_signal SIGNAL: deploy v2 in the background, wait until its
# health wait has begun (the v2 process is up), send SIGNAL; the exit code
# is left in $deploy_status.
deploy_then_signal() {
	"$LG_REAL" deploy ../v2 --label v2 >../deploy.out 2>../deploy.err &
	local pid=$!
	wait_until 600 grep -q 'VERSION=2' etc/api.conf
	wait_until 600 sh -c "sqlite3 .lastgood/state.db \"SELECT 1 FROM steps WHERE kind = 'start' AND target = 'api' AND result = 1 AND operation = (SELECT MAX(id) FROM operations)\" | grep -q 1"
	kill -s "$1" "$pid"
	deploy_status=0
	wait "$pid" || deploy_status=$?
}

@test "SIGINT during a deploy's health wait rolls back, exit 3, and leaves v2 unmarked" {
	slow_v2
	deploy_then_signal INT
	expect_equal "$deploy_status" 3
	expect_match "$(cat ../deploy.err)" 'was not verified: api: wait interrupted by signal 2'
	expect_equal "$(live_release)" 1
	expect_equal "$(version_at "$API_PORT")" 1
	expect_equal "$(release_mark 2)" null
	lg_ok --json history
	expect_equal "$(jq -r '.[0].result' <<<"$output")" rolled-back
}

@test "SIGTERM does the same" {
	slow_v2
	deploy_then_signal TERM
	expect_equal "$deploy_status" 3
	expect_equal "$(live_release)" 1
	expect_equal "$(version_at "$API_PORT")" 1
}
