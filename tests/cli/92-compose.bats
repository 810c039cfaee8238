#!/usr/bin/env bats
# The compose manager on a real Docker engine: a private dockerd for this
# file (tests/lib/docker.bash), one image built from scratch holding the
# demo service and its config files, and a two-service compose stack on
# loopback ports (host network). docker-compose (v1) drives it unless the
# `docker compose` plugin (v2) is there, which lastgood then prefers.

load helpers
load helpers-services
load ../lib/docker

setup_file() {
	docker_setup_file || return 1
	make -s -C "$BATS_TEST_DIRNAME/../.." examples/ziggie/demo-service >&2
	local conf=$DOCKER_DIR/conf
	mkdir -p "$conf"
	printf 'MODE=healthy\nVERSION=1\n' >"$conf/good.conf"
	printf 'MODE=healthy\nVERSION=2\n' >"$conf/v2.conf"
	printf 'MODE=unhealthy\nVERSION=2\n' >"$conf/bad.conf"
	printf 'MODE=crash\n' >"$conf/crash.conf"
	docker_image lg-test:demo "$DOCKER_DIR/image" "$conf"/*.conf >/dev/null
}

teardown_file() {
	docker_stop "$DOCKER_DIR"
}

setup() {
	services_setup
	PROJECT=lgt$BATS_TEST_NUMBER
}

teardown() {
	services_teardown
	local ids
	ids=$(docker ps -aq --filter "label=com.docker.compose.project=$PROJECT")
	[ -z "$ids" ] || docker rm -f $ids >/dev/null
}

# compose_file API_CONF [API_LINE...] [-- WEB_LINE...]: api and web from the
# test image on API_PORT and WEB_PORT; api reads the config file its
# environment value CONF names (so a new compose file changing that value
# is a new release); each LINE is added to its service (indent 4).
compose_file() {
	local conf=$1 line
	shift
	cat <<YML
version: "2.4"
services:
  api:
    image: lg-test:demo
    network_mode: host
    environment: {CONF: /$conf}
    command: ["/bin/sh", "-c", "exec /demo-service --port $API_PORT --config \$\$CONF --name api"]
YML
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		printf '%s\n' "$1"
		shift
	done
	[ $# -gt 0 ] && shift
	cat <<YML
  web:
    image: lg-test:demo
    network_mode: host
    command: ["/demo-service", "--port", "$WEB_PORT", "--config", "/good.conf", "--name", "web"]
YML
	for line in "$@"; do printf '%s\n' "$line"; done
}

# compose_stack [POLICY]: lastgood.yml for api and web (after api), both
# compose services of project PROJECT checked over http; the compose file
# belongs to api's release.
compose_stack() {
	take_port API_PORT
	take_port WEB_PORT
	cat >lastgood.yml <<YML
policy: ${1:-$FAST_POLICY}
compose:
  project: $PROJECT
  files: [docker-compose.yml]
services:
  api:
    manager: compose
    files: [docker-compose.yml]
    health:
      - http: http://127.0.0.1:$API_PORT/health
        json: {status: healthy}
  web:
    manager: compose
    after: [api]
    health:
      - http: http://127.0.0.1:$WEB_PORT/health
        json: {status: healthy}
YML
}

# container SERVICE: the ID of the project's container for SERVICE.
container() {
	docker ps -aq --filter "label=com.docker.compose.project=$PROJECT" \
		--filter "label=com.docker.compose.service=$1"
}

container_status() {
	docker inspect --format '{{.State.Status}}' "$(container "$1")"
}

# expect_no_container: the project has no container at all.
expect_no_container() {
	expect_equal "$(docker ps -aq --filter "label=com.docker.compose.project=$PROJECT")" ""
}

@test "a two-service compose stack starts, shows its containers in status, and stops" {
	compose_stack
	compose_file good.conf >docker-compose.yml
	lg_ok start
	expect_equal "$(container_status api)" running
	expect_equal "$(container_status web)" running
	expect_equal "$(version_at "$API_PORT")" 1
	expect_equal "$(version_at "$WEB_PORT")" 1
	expect_equal "$(service_state api)" running
	expect_match "$(status_json | jq -r '.services[0].detail')" \
		"^container $(container api | cut -c1-12) running, restarted 0 times$"
	lg_ok stop
	expect_equal "$(container_status api)" exited
	expect_equal "$(container_status web)" exited
	expect_equal "$(service_state web)" stopped
}

@test "a deploy of a compose file whose new env value fails its check is rolled back to the old container config" {
	compose_stack
	compose_file good.conf >docker-compose.yml
	lg_ok snapshot --label v1
	lg_ok start
	# a good one first: the new value reaches the container
	mkdir ../v2 ../v3
	compose_file v2.conf >../v2/docker-compose.yml
	lg_ok deploy ../v2 --label v2
	expect_equal "$(version_at "$API_PORT")" 2
	compose_file bad.conf >../v3/docker-compose.yml
	lg_status 3 deploy ../v3 --label v3
	expect_match "$stderr" "api: GET http://127\\.0\\.0\\.1:$API_PORT/health"
	expect_equal "$(live_release)" 2
	expect_equal "$(version_at "$API_PORT")" 2
	expect_match "$(docker inspect --format '{{json .Config.Env}}' "$(container api)")" '"CONF=/v2.conf"'
	expect_equal "$(container_status web)" running
}

@test "a container healthcheck that fails fails the service even when the http check passes" {
	compose_stack
	compose_file good.conf \
		'    healthcheck: {test: ["CMD", "/bin/sh", "-c", "exit 1"], interval: 200ms, retries: 1}' \
		>docker-compose.yml
	lg_status 1 start
	expect_match "$stderr" "api: container [0-9a-f]{12} healthcheck: unhealthy"
	# lastgood's own check passes all along
	expect_equal "$(version_at "$API_PORT")" 1
}

@test "a container healthcheck still starting keeps the service starting: it fails at start_timeout" {
	compose_stack '{start_timeout: 3s, interval: 50ms, timeout: 2s, retries: 2, stop_timeout: 2s}'
	# within its start period, failures leave the container `starting`
	compose_file good.conf \
		'    healthcheck: {test: ["CMD", "/bin/sh", "-c", "exit 1"], interval: 200ms, start_period: 300s}' \
		>docker-compose.yml
	lg_status 1 start
	expect_match "$stderr" "api: container [0-9a-f]{12} running, healthcheck starting$"
	expect_equal "$(version_at "$API_PORT")" 1
}

@test "a container restarting in a loop fails at once, not at the end of start_timeout" {
	# Waiting out start_timeout would hit the bound of the run (exit 124).
	compose_stack '{start_timeout: 300s, interval: 50ms, timeout: 2s, retries: 2, stop_timeout: 2s}'
	compose_file good.conf -- '    restart: always' >docker-compose.yml
	sed -i 's|"/good.conf", "--name", "web"|"/crash.conf", "--name", "web"|' docker-compose.yml
	LG_TIMEOUT=90 lg_status 1 start
	expect_match "$stderr" "web: container [0-9a-f]{12} restarting in a loop"
}

@test "docker missing from PATH: one line saying so, exit 1, nothing started" {
	compose_stack
	compose_file good.conf >docker-compose.yml
	mkdir empty-bin
	run --separate-stderr env PATH="$PWD/empty-bin" "$LG_REAL" start
	expect_equal "$status" 1
	expect_match "$stderr" "^lastgood: start failed: api: cannot start service 'api': docker is not installed: no 'docker' on PATH$"
	expect_no_container
}

@test "docker without a compose front-end: one line naming both, exit 1, nothing started" {
	docker compose version >/dev/null 2>&1 && skip "the docker compose plugin (v2) is installed"
	compose_stack
	compose_file good.conf >docker-compose.yml
	mkdir docker-only
	ln -s "$(command -v docker)" docker-only/docker
	run --separate-stderr env PATH="$PWD/docker-only" "$LG_REAL" start
	expect_equal "$status" 1
	expect_match "$stderr" "^lastgood: start failed: api: cannot start service 'api': neither 'docker compose' \\(v2\\) nor 'docker-compose' \\(v1\\) is installed$"
	expect_no_container
}

@test "a daemon that does not answer is named by DOCKER_HOST: exit 1, nothing started" {
	compose_stack
	compose_file good.conf >docker-compose.yml
	DOCKER_HOST=unix:///tmp/lg-no-daemon.sock lg_status 1 start
	expect_match "$stderr" "the docker daemon does not answer at DOCKER_HOST 'unix:///tmp/lg-no-daemon\\.sock'$"
	expect_equal "$(wc -l <<<"$stderr")" 1
	expect_no_container
}

@test "a compose file that does not parse: docker's own error line, exit 1, nothing started" {
	compose_stack
	printf 'services: [\n' >docker-compose.yml
	lg_status 1 start
	expect_match "$stderr" "cannot start service 'api': '.*up -d --no-build --no-deps .*api' exited with status 1: .*ParserError"
	expect_no_container
}

@test "a deploy of a compose file that does not parse is rolled back: exit 3, the old container runs on" {
	compose_stack
	compose_file good.conf >docker-compose.yml
	lg_ok snapshot --label v1
	lg_ok start
	mkdir ../broken
	printf 'services: [\n' >../broken/docker-compose.yml
	lg_status 3 deploy ../broken --label broken
	expect_match "$stderr" "cannot start service 'api': .* exited with status 1: .*ParserError"
	expect_equal "$(live_release)" 1
	expect_equal "$(container_status api)" running
	expect_equal "$(version_at "$API_PORT")" 1
	expect_match "$(docker inspect --format '{{json .Config.Env}}' "$(container api)")" '"CONF=/good.conf"'
}

@test "a bad compose section is a config error at its line, exit 2" {
	compose_stack
	sed -i "s/project: $PROJECT/project: Not-Lowercase/" lastgood.yml
	compose_file good.conf >docker-compose.yml
	lg_status 2 start
	expect_match "$stderr" "lastgood\\.yml:3:12: 'project' in 'compose' must be lowercase"
	expect_no_container
}

@test "with docker compose v2: the stack starts and stops through the plugin" {
	docker compose version >/dev/null 2>&1 || skip "the docker compose plugin (v2) is not installed"
	compose_stack
	compose_file good.conf >docker-compose.yml
	lg_ok start
	expect_equal "$(container_status api)" running
	expect_equal "$(version_at "$WEB_PORT")" 1
	lg_ok stop
	expect_equal "$(container_status api)" exited
}
