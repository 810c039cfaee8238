#!/usr/bin/env bats
# start, stop, restart and status with real processes answering real HTTP
# on 127.0.0.1 (examples/ziggie/demo-service), and the systemd manager through a
# stand-in systemctl.

load helpers
load helpers-services

@test "start brings every service up healthy; status shows their pids" {
	two_services
	lg_ok snapshot
	lg_ok start
	api=$(service_pid api)
	web=$(service_pid web)
	expect_service_process "$api" "$API_PORT"
	expect_service_process "$web" "$WEB_PORT"
	expect_equal "$(service_state api)" running
	expect_equal "$(service_state web)" running
	expect_equal "$(version_at "$API_PORT")" 1
	expect_equal "$(version_at "$WEB_PORT")" 1
	# the process answering is the one status names
	expect_equal "$(http_get "$API_PORT" /stats | jq -r .pid)" "$api"
	lg_ok --json status
	expect_equal "$(jq -r .live_release <<<"$output")" 1
}

@test "start --services starts only the named service" {
	two_services
	lg_ok start --services api
	expect_service_process "$(service_pid api)" "$API_PORT"
	expect_equal "$(service_pid web)" ""
	run http_get "$WEB_PORT" /health
	[ "$status" -ne 0 ]
	lg_status 2 start --services nosuch
}

@test "start follows 'after': each service starts once the ones before it are healthy" {
	take_port A_PORT
	take_port B_PORT
	take_port C_PORT
	add_service a
	add_service b
	add_service c
	{
		config_head
		service_yaml c "$C_PORT" "    after: [b]"
		service_yaml b "$B_PORT" "    after: [a]"
		service_yaml a "$A_PORT"
	} >lastgood.yml
	lg_ok start
	expect_before a start b start
	expect_before a healthy b start
	expect_before b healthy c start
}

@test "stop stops in reverse order and every process is gone" {
	take_port A_PORT
	take_port B_PORT
	add_service a
	add_service b
	{
		config_head
		service_yaml a "$A_PORT"
		service_yaml b "$B_PORT" "    after: [a]"
	} >lastgood.yml
	lg_ok start
	a=$(service_pid a)
	b=$(service_pid b)
	expect_service_process "$a" "$A_PORT"
	expect_service_process "$b" "$B_PORT"
	lg_ok stop
	expect_before b stop a stop
	expect_gone "$a"
	expect_gone "$b"
	expect_equal "$(service_pid a)" ""
	[ "$(service_state a)" != running ]
	run http_get "$A_PORT" /health
	[ "$status" -ne 0 ]
}

@test "stop --services stops only the named service" {
	two_services
	lg_ok start
	api=$(service_pid api)
	web=$(service_pid web)
	lg_ok stop --services web
	expect_gone "$web"
	expect_equal "$(service_pid api)" "$api"
	expect_service_process "$api" "$API_PORT"
}

# service_detail NAME: the detail `status` reports for NAME.
service_detail() {
	status_json | jq -r --arg n "$1" '.services[] | select(.name == $n) | .detail'
}

@test "a process whose pid was never recorded is known by its marker: status names it, start and stop end it" {
	two_services
	lg_ok start
	api=$(service_pid api)
	marker="LASTGOOD_SERVICE=$(realpath .lastgood)/api"
	tr '\0' '\n' <"/proc/$api/environ" | grep -qxF "$marker"
	# Look-alikes that are not this service's: the marker of another state
	# folder, and this very marker in a process of another user.
	LASTGOOD_SERVICE=/elsewhere/.lastgood/api setsid sleep 60 </dev/null >/dev/null 2>&1 &
	other_folder=$!
	LASTGOOD_SERVICE=${marker#*=} setsid setpriv --reuid=65534 --regid=65534 --clear-groups \
		sleep 60 </dev/null >/dev/null 2>&1 &
	other_user=$!
	# what a lastgood killed between spawning api and recording its pid leaves
	sqlite3 .lastgood/state.db "DELETE FROM processes WHERE service = 'api'"
	expect_equal "$(service_state api)" stopped
	expect_match "$(service_detail api)" "untracked pid $api runs as this service"
	lg_ok start --services api
	expect_gone "$api"
	new=$(service_pid api)
	[ -n "$new" ] && [ "$new" != "$api" ]
	expect_equal "$(http_get "$API_PORT" /stats | jq -r .pid)" "$new"
	sqlite3 .lastgood/state.db "DELETE FROM processes WHERE service = 'api'"
	lg_ok stop
	expect_gone "$new"
	run http_get "$API_PORT" /health
	[ "$status" -ne 0 ]
	kill -0 "$other_folder"
	kill -0 "$other_user"
	kill "$other_folder" "$other_user"
}

@test "recover that cannot bring the services back exits 4, naming them and what to do" {
	two_services
	lg_ok snapshot
	lg_ok start
	# a restart killed as it starts api again: both stopped, the
	# operation interrupted
	LG=$LG_REAL run kill_at clone,clone3,vfork 1 restart
	expect_equal "$status" 137
	expect_equal "$(service_state api)" stopped
	# and api now crashes at start
	write_service_conf etc/api.conf api MODE=crash
	lg_status 4 recover
	expect_equal "$output" "live release 1"
	expect_match "$stderr" "down: api, web; fix what failed, then run 'lastgood start'"
	lg --json history | jq -e '.[0].result == "needs-attention"'
	# recovered, though: nothing is left for the next recover
	write_service_conf etc/api.conf api
	lg_ok recover
	lg_ok start
	expect_service_process "$(service_pid api)" "$API_PORT"
}

@test "start of a service that exits at start fails, exit 1, naming it" {
	two_services
	add_service web MODE=crash
	run --separate-stderr lg start
	[ "$status" -eq 1 ] || { echo "expected exit 1, got $status: $output $stderr" >&2; false; }
	expect_match "$output$stderr" "\\bweb\\b"
}

@test "start of a service never healthy within start_timeout fails, exit 1, naming the check" {
	take_port API_PORT
	add_service api MODE=unhealthy
	{
		config_head '{start_timeout: 1s, interval: 50ms, timeout: 2s, retries: 2, stop_timeout: 2s}'
		service_yaml api "$API_PORT"
	} >lastgood.yml
	lg_status 1 start
	expect_match "$output$stderr" "\\bapi\\b"
	expect_match "$output$stderr" "/health"
	expect_match "$output$stderr" '503|unhealthy'
}

@test "start of a service that never listens fails once start_timeout has passed" {
	take_port API_PORT
	add_service api START_DELAY_MS=60000
	{
		config_head '{start_timeout: 1s, interval: 50ms, timeout: 1s, stop_timeout: 2s}'
		service_yaml api "$API_PORT"
	} >lastgood.yml
	lg_status 1 start
	expect_match "$output$stderr" "\\bapi\\b"
	expect_match "$output$stderr" "$API_PORT"
}

@test "restart gives every service a new process on the same release" {
	two_services
	lg_ok snapshot
	lg_ok start
	api=$(service_pid api)
	web=$(service_pid web)
	lg_ok restart --reason "test restart"
	api2=$(service_pid api)
	web2=$(service_pid web)
	expect_service_process "$api2" "$API_PORT"
	expect_service_process "$web2" "$WEB_PORT"
	[ "$api2" != "$api" ]
	[ "$web2" != "$web" ]
	expect_gone "$api"
	expect_gone "$web"
	expect_equal "$(live_release)" 1
	expect_equal "$(version_at "$API_PORT")" 1
	lg_ok --json history
	expect_match "$(jq -r '.[0].reason' <<<"$output")" 'test restart'
}

@test "restart --services restarts only the named service" {
	two_services
	lg_ok start
	api=$(service_pid api)
	web=$(service_pid web)
	lg_ok restart --services web
	expect_equal "$(service_pid api)" "$api"
	web2=$(service_pid web)
	[ "$web2" != "$web" ]
	expect_service_process "$web2" "$WEB_PORT"
}

@test "restart of a service that no longer comes up healthy fails, exit 1" {
	two_services
	lg_ok start
	# the live config now makes web crash at start (no release involved)
	write_service_conf etc/web.conf web MODE=crash
	lg_status 1 restart --services web
	expect_match "$output$stderr" "\\bweb\\b"
}

@test "start records the start order across independent services too" {
	take_port A_PORT
	take_port B_PORT
	take_port C_PORT
	add_service a
	add_service b
	add_service c
	# b and c both start after a and have no order between them
	{
		config_head
		service_yaml a "$A_PORT"
		service_yaml b "$B_PORT" "    after: [a]"
		service_yaml c "$C_PORT" "    after: [a]"
	} >lastgood.yml
	lg_ok start
	expect_before a healthy b start
	expect_before a healthy c start
	expect_service_process "$(service_pid b)" "$B_PORT"
	expect_service_process "$(service_pid c)" "$C_PORT"
}

# systemd cannot run in the test sandbox: tests/cli/lib/systemctl stands in
# for systemctl and records its arguments. It is the only stand-in these
# tests use.
@test "systemd services are driven through systemctl (stand-in) in order" {
	use_systemctl_stand_in
	take_port API_PORT
	add_service api
	mkdir -p etc
	echo 'v1' >etc/edge.conf
	{
		config_head
		service_yaml api "$API_PORT"
		printf '  edge:\n    manager: systemd\n    unit: edge-proxy.service\n'
		printf '    files: [etc/edge.conf]\n    after: [api]\n'
	} >lastgood.yml
	lg_ok snapshot
	lg_ok start
	expect_match "$(cat "$SYSTEMCTL_LOG")" '^start edge-proxy\.service$'
	expect_before api healthy edge-proxy.service start
	expect_equal "$(service_state edge)" running
	expect_match "$(cat "$SYSTEMCTL_LOG")" '^is-active edge-proxy\.service$'
	# a deploy changing only edge's files restarts edge, not api
	api=$(service_pid api)
	: >"$SYSTEMCTL_LOG"
	mkdir -p ../dist/etc
	echo 'v2' >../dist/etc/edge.conf
	lg_ok deploy ../dist
	expect_match "$(cat "$SYSTEMCTL_LOG")" '^(restart|start) edge-proxy\.service$'
	expect_equal "$(service_pid api)" "$api"
	# stop goes in reverse order: edge first, then api
	: >"$SYSTEMCTL_LOG"
	lg_ok stop
	expect_match "$(cat "$SYSTEMCTL_LOG")" '^stop edge-proxy\.service$'
	expect_before edge-proxy.service stop api stop
	expect_gone "$api"
	[ "$(service_state edge)" != running ]
}
