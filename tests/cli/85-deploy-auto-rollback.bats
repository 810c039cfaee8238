#!/usr/bin/env bats
# deploy with verification and automatic rollback, and rollback of running
# services, on one host: real demo-service processes on 127.0.0.1. A broken
# release is a new etc/api.conf telling the service to misbehave.

load helpers
load helpers-services

# running_v1 [POLICY]: api and web (after api) healthy at version 1, recorded
# as release 1 and running.
running_v1() {
	take_port API_PORT
	take_port WEB_PORT
	add_service api
	add_service web
	{
		config_head "${1:-}"
		service_yaml api "$API_PORT"
		service_yaml web "$WEB_PORT" "    after: [api]"
	} >lastgood.yml
	lg_ok snapshot --label v1
	lg_ok start
}

# expect_live_v1: release 1 is live, its files are on disk and both services
# run and answer version 1.
expect_live_v1() {
	expect_equal "$(live_release)" 1
	expect_equal "$(grep '^VERSION=' etc/api.conf)" VERSION=1
	expect_service_process "$(service_pid api)" "$API_PORT"
	expect_service_process "$(service_pid web)" "$WEB_PORT"
	expect_equal "$(version_at "$API_PORT")" 1
	expect_equal "$(version_at "$WEB_PORT")" 1
}

@test "a good deploy restarts only the changed service and marks the release good" {
	running_v1
	api=$(service_pid api)
	web=$(service_pid web)
	make_conf_source ../v2 api VERSION=2
	lg_ok deploy ../v2 --label v2
	expect_equal "$(live_release)" 2
	expect_equal "$(release_mark 2)" good
	expect_equal "$(version_at "$API_PORT")" 2
	api2=$(service_pid api)
	[ "$api2" != "$api" ]
	expect_gone "$api"
	expect_service_process "$api2" "$API_PORT"
	expect_equal "$(service_pid web)" "$web"
}

@test "a broken deploy is rolled back automatically: exit 3, the old version answers" {
	running_v1
	web=$(service_pid web)
	make_conf_source ../v2 api VERSION=2 MODE=unhealthy
	lg_status 3 deploy ../v2 --label v2
	# the output names the service, the check and the failing response
	expect_match "$output$stderr" "\\bapi\\b.*127\\.0\\.0\\.1:$API_PORT/health"
	expect_match "$output$stderr" '503'
	expect_match "$output$stderr" 'unhealthy'
	expect_live_v1
	bad=$(newest_release)
	[ "$bad" -gt 1 ]
	expect_equal "$(release_mark "$bad")" bad
	# web's files never changed: it kept running throughout
	expect_equal "$(service_pid web)" "$web"
	lg_ok verify
}

@test "a deploy whose service exits at start is rolled back, exit 3" {
	running_v1
	make_conf_source ../v2 api VERSION=2 MODE=crash
	lg_status 3 deploy ../v2
	expect_match "$output$stderr" "\\bapi\\b"
	expect_live_v1
	expect_equal "$(release_mark "$(newest_release)")" bad
}

@test "a deploy whose service never gets healthy within start_timeout is rolled back, exit 3" {
	running_v1 '{start_timeout: 1s, interval: 50ms, timeout: 1s, retries: 2, stabilize: 300ms, stop_timeout: 2s}'
	make_conf_source ../v2 api VERSION=2 START_DELAY_MS=60000
	lg_status 3 deploy ../v2
	expect_match "$output$stderr" "\\bapi\\b.*127\\.0\\.0\\.1:$API_PORT"
	expect_live_v1
}

@test "a deploy whose health endpoint hangs is rolled back once the check times out, exit 3" {
	take_port API_PORT
	take_port WEB_PORT
	add_service api
	add_service web
	{
		config_head '{start_timeout: 2s, interval: 50ms, timeout: 2s, retries: 2, stabilize: 300ms, stop_timeout: 2s}'
		service_yaml api "$API_PORT" \
			"    health:" \
			"      - http: http://127.0.0.1:$API_PORT/health" \
			"        json: {status: healthy}" \
			"        timeout: 300ms"
		service_yaml web "$WEB_PORT" "    after: [api]"
	} >lastgood.yml
	lg_ok snapshot
	lg_ok start
	make_conf_source ../v2 api VERSION=2 MODE=hang
	lg_status 3 deploy ../v2
	expect_match "$output$stderr" "\\bapi\\b"
	expect_match "$output$stderr" 'tim(e|ed) ?out'
	expect_live_v1
}

@test "a deploy answering 200 with a mismatched JSON field is rolled back, exit 3" {
	running_v1
	make_conf_source ../v2 api VERSION=2 MODE=mismatch
	lg_status 3 deploy ../v2
	expect_match "$output$stderr" "\\bapi\\b"
	expect_match "$output$stderr" 'degraded'
	expect_live_v1
}

# Healthy once, then failing N times in a row, then healthy: retries 2
# tolerates one failure and rolls back on two.
@test "deploy honours 'retries': one failure is tolerated, two in a row roll back" {
	running_v1 '{start_timeout: 5s, interval: 50ms, timeout: 2s, retries: 2, stabilize: 1500ms, stop_timeout: 2s}'
	make_conf_source ../v2 api VERSION=2 FAIL_AFTER=1 MODE=flaky-1
	lg_ok deploy ../v2
	expect_equal "$(version_at "$API_PORT")" 2
	expect_equal "$(release_mark "$(newest_release)")" good
	make_conf_source ../v3 api VERSION=3 FAIL_AFTER=1 MODE=flaky-2
	lg_status 3 deploy ../v3
	expect_match "$output$stderr" "\\bapi\\b.*503"
	expect_equal "$(version_at "$API_PORT")" 2
	expect_equal "$(live_release)" 2
}

@test "deploy --no-auto-rollback leaves the failed release live, exit 1" {
	running_v1
	make_conf_source ../v2 api VERSION=2 MODE=unhealthy
	lg_status 1 deploy ../v2 --no-auto-rollback
	expect_match "$output$stderr" "\\bapi\\b.*503"
	failed=$(newest_release)
	expect_equal "$(live_release)" "$failed"
	expect_equal "$(release_mark "$failed")" bad
	expect_equal "$(grep '^VERSION=' etc/api.conf)" VERSION=2
	expect_equal "$(version_at "$API_PORT")" 2
	# and a plain rollback brings the last good state back
	lg_ok rollback
	expect_live_v1
}

@test "rollback with no REF skips bad releases and restarts what it switched" {
	running_v1
	make_conf_source ../v2 api VERSION=2
	lg_ok deploy ../v2 --label v2
	make_conf_source ../v3 api VERSION=3 MODE=unhealthy
	lg_status 3 deploy ../v3 --label v3
	make_conf_source ../v4 api VERSION=4
	lg_ok deploy ../v4 --label v4
	lg_ok --json releases
	expect_equal "$(jq -r '.[] | select(.label == "v2") | .mark' <<<"$output")" good
	expect_equal "$(jq -r '.[] | select(.label == "v3") | .mark' <<<"$output")" bad
	expect_equal "$(jq -r '.[] | select(.label == "v4") | .mark' <<<"$output")" good
	v2=$(jq -r '.[] | select(.label == "v2") | .id' <<<"$output")
	api=$(service_pid api)
	lg_ok rollback
	expect_equal "$(live_release)" "$v2"
	expect_equal "$(version_at "$API_PORT")" 2
	[ "$(service_pid api)" != "$api" ]
	expect_gone "$api"
}

@test "a bad release is a rollback target only with --force; failing again exits 4" {
	running_v1
	make_conf_source ../v2 api VERSION=2 MODE=unhealthy
	lg_status 3 deploy ../v2 --label v2
	bad=$(newest_release)
	api=$(service_pid api)
	run --separate-stderr lg rollback "$bad"
	[ "$status" -ne 0 ] && [ "$status" -ne 4 ] ||
		{ echo "rollback to bad release $bad: exit $status" >&2; false; }
	expect_match "$output$stderr" 'force'
	expect_equal "$(service_pid api)" "$api"
	expect_live_v1
	lg_status 4 rollback "$bad" --force
	expect_match "$output$stderr" "\\bapi\\b"
}

@test "rollback --services switches and restarts only those; the others keep their pids" {
	running_v1
	make_conf_source ../v2 api VERSION=2
	make_conf_source ../v2 web VERSION=2
	lg_ok deploy ../v2
	expect_equal "$(version_at "$API_PORT")" 2
	expect_equal "$(version_at "$WEB_PORT")" 2
	api=$(service_pid api)
	web=$(service_pid web)
	lg_ok rollback 1 --services api
	expect_equal "$(version_at "$API_PORT")" 1
	expect_equal "$(grep '^VERSION=' etc/api.conf)" VERSION=1
	[ "$(service_pid api)" != "$api" ]
	expect_equal "$(service_pid web)" "$web"
	expect_equal "$(version_at "$WEB_PORT")" 2
	expect_equal "$(grep '^VERSION=' etc/web.conf)" VERSION=2
}

@test "rollback --dry-run prints the plan and changes nothing" {
	running_v1
	make_conf_source ../v2 api VERSION=2
	lg_ok deploy ../v2
	api=$(service_pid api)
	web=$(service_pid web)
	conf=$(sha etc/api.conf)
	ops=$(lg --json history | jq length)
	lg_ok rollback --dry-run
	expect_match "$output$stderr" "\\bapi\\b"
	expect_equal "$(live_release)" 2
	expect_equal "$(sha etc/api.conf)" "$conf"
	expect_equal "$(service_pid api)" "$api"
	expect_equal "$(service_pid web)" "$web"
	expect_equal "$(version_at "$API_PORT")" 2
	expect_equal "$(lg --json history | jq length)" "$ops"
	expect_equal "$(leftovers)" ""
}
