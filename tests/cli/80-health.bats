#!/usr/bin/env bats
# verify and the health checks it runs, against real servers on 127.0.0.1:
# the test service (http: status, json, contains, timeout, retries), a real
# redis-server (tcp PING/+PONG) and a real PostgreSQL (exec pg_isready).

load helpers
load helpers-services

@test "verify exits 0 when every check passes and prints each check" {
	two_services
	lg_ok start
	lg_ok verify
	expect_match "$output" "\\bapi\\b.*127\\.0\\.0\\.1:$API_PORT/health"
	expect_match "$output" "\\bweb\\b.*127\\.0\\.0\\.1:$WEB_PORT/health"
}

@test "verify exits 1 when a running service turns unhealthy and prints the failing response" {
	two_services
	lg_ok start
	api=$(service_pid api)
	set_behaviour "$WEB_PORT" MODE=unhealthy
	lg_status 1 verify
	expect_match "$output$stderr" "\\bweb\\b.*503"
	expect_match "$output$stderr" '"status": ?"unhealthy"'
	# api still passes, and verify changed nothing
	expect_match "$output" "\\bapi\\b.*127\\.0\\.0\\.1:$API_PORT/health"
	expect_equal "$(service_pid api)" "$api"
	[ "$(status_json | jq -r '.services[] | select(.name == "web") | .health')" != healthy ]
	set_behaviour "$WEB_PORT" MODE=healthy
	lg_ok verify
}

@test "verify fails a 200 answer whose JSON field does not match" {
	two_services
	lg_ok start
	set_behaviour "$API_PORT" MODE=mismatch
	lg_status 1 verify
	expect_match "$output$stderr" "\\bapi\\b"
	expect_match "$output$stderr" 'degraded'
}

@test "verify fails a health endpoint that never answers once the check's timeout has passed" {
	take_port API_PORT
	add_service api
	{
		config_head
		service_yaml api "$API_PORT" \
			"    health:" \
			"      - http: http://127.0.0.1:$API_PORT/health" \
			"        json: {status: healthy}" \
			"        timeout: 300ms"
	} >lastgood.yml
	lg_ok start
	set_behaviour "$API_PORT" MODE=hang
	lg_status 1 verify
	expect_match "$output$stderr" "\\bapi\\b"
	expect_match "$output$stderr" 'tim(e|ed) ?out'
}

@test "verify checks 'status' and 'contains' as written" {
	take_port API_PORT
	add_service api
	{
		config_head
		service_yaml api "$API_PORT" \
			"    health:" \
			"      - http: http://127.0.0.1:$API_PORT/health" \
			"        status: 200" \
			"        contains: '\"version\":\"1\"'"
	} >lastgood.yml
	lg_ok start
	lg_ok verify
	set_behaviour "$API_PORT" VERSION=2
	lg_status 1 verify
	expect_match "$output$stderr" 'version'
	# a 503 fails `status: 200` even with the expected text in the body
	set_behaviour "$API_PORT" 'VERSION=1&MODE=unhealthy'
	lg_status 1 verify
	expect_match "$output$stderr" '503'
}

@test "verify --services runs only the named services' checks" {
	two_services
	lg_ok start
	set_behaviour "$WEB_PORT" MODE=unhealthy
	lg_ok verify --services api
	expect_no_match "$output" "\\bweb\\b"
	lg_status 1 verify --services web
	lg_status 1 verify --services api,web
	lg_status 2 verify --services nosuch
}

@test "verify of a stopped service fails, exit 1" {
	two_services
	lg_ok start
	lg_ok stop --services web
	lg_status 1 verify
	expect_match "$output$stderr" "\\bweb\\b"
	lg_ok verify --services api
}

# The service answers healthy once, then fails twice, then is healthy again:
# with retries 3 two failures in a row are tolerated, with retries 2 they
# fail the service. A per-service policy overrides the global one.
@test "start honours 'retries' while a service stabilizes" {
	take_port API_PORT
	add_service api FAIL_AFTER=1 MODE=flaky-2
	policy='{start_timeout: 5s, interval: 50ms, timeout: 2s, retries: 3, stabilize: 1500ms, stop_timeout: 2s}'
	{ config_head "$policy"; service_yaml api "$API_PORT"; } >lastgood.yml
	lg_ok start
	# it was asked again after the two failures and stayed up
	[ "$(health_requests "$API_PORT")" -ge 4 ]
	lg_ok stop

	{
		config_head "$policy"
		service_yaml api "$API_PORT" "    policy: {retries: 2}"
	} >lastgood.yml
	lg_status 1 start
	expect_match "$output$stderr" "\\bapi\\b"
	expect_match "$output$stderr" '503|unhealthy'
}

@test "a real Redis is judged by a tcp PING/+PONG check and fails when stopped" {
	needs redis-server redis-server
	take_port REDIS_PORT
	start_redis "$REDIS_PORT"
	cat >lastgood.yml <<YML
policy: $FAST_POLICY
services:
  cache:
    manager: command
    start: ["true"]
    stop: ["true"]
    health:
      - tcp: "127.0.0.1:$REDIS_PORT"
        send: "PING\\r\\n"
        expect: "+PONG"
YML
	lg_ok verify
	expect_match "$output" "\\bcache\\b.*127\\.0\\.0\\.1:$REDIS_PORT"
	stop_redis
	lg_status 1 verify
	expect_match "$output$stderr" "\\bcache\\b.*127\\.0\\.0\\.1:$REDIS_PORT"
}

@test "a Redis started by lastgood (process manager) waits for +PONG and stops" {
	needs redis-server redis-server
	take_port REDIS_PORT
	cat >lastgood.yml <<YML
policy: $FAST_POLICY
services:
  cache:
    manager: process
    run: [redis-server, --port, "$REDIS_PORT", --bind, 127.0.0.1, --save, "", --appendonly, "no"]
    health:
      - tcp: "127.0.0.1:$REDIS_PORT"
        send: "PING\\r\\n"
        expect: "+PONG"
YML
	lg_ok start
	pid=$(service_pid cache)
	[ -n "$pid" ]
	expect_match "$(tr '\0' ' ' <"/proc/$pid/cmdline")" "^redis-server .*$REDIS_PORT"
	tcp_pong "$REDIS_PORT"
	lg_ok stop
	expect_gone "$pid"
	lg_status 1 verify
	expect_match "$output$stderr" "\\bcache\\b"
}

@test "a real PostgreSQL is judged by exec pg_isready and fails when stopped" {
	needs_postgres
	take_port PG_PORT
	start_postgres "$PG_PORT"
	cat >lastgood.yml <<YML
policy: $FAST_POLICY
services:
  db:
    manager: command
    start: ["true"]
    stop: ["true"]
    health:
      - exec: [pg_isready, -h, 127.0.0.1, -p, "$PG_PORT"]
YML
	lg_ok verify
	expect_match "$output" "\\bdb\\b.*pg_isready"
	stop_postgres
	lg_status 1 verify
	expect_match "$output$stderr" "\\bdb\\b.*pg_isready"
	expect_match "$output$stderr" 'no response|exit(ed)?( with)?( status)? 2'
}
