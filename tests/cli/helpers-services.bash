# Set-up for the CLI tests that run real services (70-services, 80-health,
# 85-deploy-auto-rollback): real processes answering real HTTP, Redis and
# PostgreSQL, on 127.0.0.1 only, on ports picked free for each test.
#
#   load helpers
#   load helpers-services
#   @test "..." {
#           take_port API_PORT
#           add_service api VERSION=1
#           { config_head; service_yaml api "$API_PORT"; } >lastgood.yml
#           lg_ok start
#   }
#
# Every service is examples/ziggie/demo-service (examples/ziggie/demo-service.c) copied
# to bin/NAME, behaving as etc/NAME.conf says (VERSION, MODE...), so a
# broken release is a different etc/NAME.conf. Teardown stops everything the
# test started, whatever state lastgood left it in.

TEST_SERVICE=${TEST_SERVICE:-$BATS_TEST_DIRNAME/../../examples/ziggie/demo-service}
TEST_LIB=$BATS_TEST_DIRNAME/lib

# A policy fast enough for tests; the per-check timeout stays generous
# because the sanitizer build and a loaded CI machine are slow.
FAST_POLICY='{start_timeout: 5s, interval: 50ms, timeout: 2s, retries: 2, stabilize: 300ms, stop_timeout: 2s}'

# Builds examples/ziggie/demo-service once per file when it is missing or older than
# its source (a `bats` run outside `make check`).
setup_file() {
	local src=$BATS_TEST_DIRNAME/../../examples/ziggie/demo-service.c
	if [ -z "${TEST_SERVICE_PREBUILT:-}" ] && { [ ! -x "$TEST_SERVICE" ] || [ "$src" -nt "$TEST_SERVICE" ]; }; then
		make -s -C "$BATS_TEST_DIRNAME/../.." examples/ziggie/demo-service >&2
	fi
}

services_setup() {
	common_setup || return 1
	[ -x "$TEST_SERVICE" ] || { echo "no test service at '$TEST_SERVICE'" >&2; return 1; }
	# A hung lastgood fails its test (exit 124) instead of the whole run.
	LG_REAL=$LG
	LG=lg_bounded
	export START_LOG=$BATS_TEST_TMPDIR/start.log
	PORTS_FILE=$BATS_TEST_TMPDIR/ports
	: >"$PORTS_FILE"
	REDIS_PID=
	PG_DATA=
}

services_teardown() {
	if [ -e "$HOST/lastgood.yml" ]; then
		cd "$HOST" && LG_TIMEOUT=60 lg stop >/dev/null 2>&1
	fi
	stop_redis
	remove_postgres
	kill_leftovers
	common_teardown
}

setup() { services_setup; }
teardown() { services_teardown; }

lg_bounded() { timeout -k 5 "${LG_TIMEOUT:-120}" "$LG_REAL" "$@"; }

# proc_session PID: the session id of PID (field 6 of /proc/PID/stat, read
# after the command name, which may hold spaces).
proc_session() {
	local stat fields
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	read -r -a fields <<<"${stat##*) }"
	echo "${fields[3]}"
}

# kill_leftovers: SIGKILL every process this test left: anything run from a
# copy below its folder (the test services), and anything in another session
# whose working folder is below it (what lastgood started detached, such as
# redis-server).
kill_leftovers() {
	local dir pid exe cwd own
	own=$(proc_session $$)
	for dir in /proc/[0-9]*; do
		pid=${dir#/proc/}
		[ "$pid" = $$ ] && continue
		exe=$(readlink "$dir/exe" 2>/dev/null) || continue
		cwd=$(readlink "$dir/cwd" 2>/dev/null) || cwd=
		if [[ $exe == "$BATS_TEST_TMPDIR"/* ]] ||
			{ [[ $cwd == "$BATS_TEST_TMPDIR"* ]] && [ "$(proc_session "$pid")" != "$own" ]; }; then
			kill -KILL "$pid" 2>/dev/null || true
		fi
	done
}

# take_port VAR: set VAR to a TCP port that nothing on this machine uses
# (no socket in /proc/net/tcp or tcp6 has it as local port) and that this
# test has not taken yet. Ports below the kernel's ephemeral range (32768)
# so no outgoing connection takes it meanwhile. (awk reads the proc files:
# bash's `read` takes them a byte at a time, which is slow.)
take_port() {
	local used port hex try
	used=" $(awk 'FNR > 1 { sub(/.*:/, "", $2); printf "%s ", $2 }' /proc/net/tcp /proc/net/tcp6 2>/dev/null)"
	used+=" $(tr '\n' ' ' <"$PORTS_FILE")"
	for try in $(seq 500); do
		port=$((20000 + RANDOM % 12000))
		printf -v hex '%04X' "$port"
		[[ $used == *" $hex "* || $used == *" $port "* ]] && continue
		echo "$port" >>"$PORTS_FILE"
		printf -v "$1" '%s' "$port"
		return 0
	done
	echo "take_port: no free port found" >&2
	return 1
}

# add_service NAME [KEY=VALUE...]: the live files of a test service:
# bin/NAME (the test service's binary) and etc/NAME.conf (see
# write_service_conf).
add_service() {
	local name=$1
	shift
	mkdir -p bin etc
	cp "$TEST_SERVICE" "bin/$name"
	write_service_conf "etc/$name.conf" "$name" "$@"
}

# write_service_conf FILE NAME [KEY=VALUE...]: NAME=NAME, then VERSION=1
# and MODE=healthy unless given, then the given settings.
write_service_conf() {
	local file=$1 name=$2 kv
	shift 2
	mkdir -p "$(dirname "$file")"
	{
		printf 'NAME=%s\n' "$name"
		[[ " $* " == *" VERSION="* ]] || printf 'VERSION=1\n'
		[[ " $* " == *" MODE="* ]] || printf 'MODE=healthy\n'
		for kv in "$@"; do printf '%s\n' "$kv"; done
	} >"$file"
}

# make_conf_source DIR NAME [KEY=VALUE...]: a deploy SOURCE (or add to one)
# holding only a new etc/NAME.conf.
make_conf_source() {
	local dir=$1 name=$2
	shift 2
	write_service_conf "$dir/etc/$name.conf" "$name" "$@"
}

# config_head [POLICY]: the top of lastgood.yml: a global policy (a YAML
# flow mapping, FAST_POLICY unless given) and the `services:` key.
config_head() {
	printf 'policy: %s\nservices:\n' "${1:-$FAST_POLICY}"
}

# service_yaml NAME PORT [LINE...]: one process service running the test
# service from bin/NAME on PORT, with its files and an http check reading
# {"status": "healthy"}. Each LINE is added as it is (indent it 4 spaces);
# a LINE starting with "    health:" replaces the default check.
service_yaml() {
	local name=$1 port=$2 line health=1
	shift 2
	for line in "$@"; do
		[[ $line == "    health:"* ]] && health=0
	done
	printf '  %s:\n' "$name"
	printf '    manager: process\n'
	printf '    run: [bin/%s, --port, "%s", --config, etc/%s.conf]\n' "$name" "$port" "$name"
	printf '    files: [bin/%s, etc/%s.conf]\n' "$name" "$name"
	if [ "$health" = 1 ]; then
		printf '    health:\n'
		printf '      - http: http://127.0.0.1:%s/health\n' "$port"
		printf '        json: {status: healthy}\n'
	fi
	for line in "$@"; do printf '%s\n' "$line"; done
}

# two_services: api on API_PORT and web on WEB_PORT (after api), both
# healthy version 1, and their lastgood.yml.
two_services() {
	take_port API_PORT
	take_port WEB_PORT
	add_service api
	add_service web
	{
		config_head
		service_yaml api "$API_PORT"
		service_yaml web "$WEB_PORT" "    after: [api]"
	} >lastgood.yml
}

# http_get PORT PATH: the body of GET http://127.0.0.1:PORT/PATH (curl
# fails on no answer within 5s).
http_get() {
	curl -s -m 5 "http://127.0.0.1:$1$2"
}

# version_at PORT: the version the service on PORT answers /health with.
version_at() {
	http_get "$1" /health | jq -r .version
}

# set_behaviour PORT KEY=VALUE[&KEY=VALUE]: change a running test service
# (MODE, VERSION, FAIL_AFTER); done when it returns.
set_behaviour() {
	[ "$(http_get "$1" "/set?$2" | jq -r .ok)" = true ] ||
		{ echo "set_behaviour $1 $2: refused" >&2; return 1; }
}

# health_requests PORT: how many /health requests the service answered
# (since it started or since the last set_behaviour).
health_requests() {
	http_get "$1" /stats | jq -r .health_requests
}

# status_json: `lastgood --json status`, required to succeed.
status_json() {
	local out
	out=$(lg --json status) || { echo "lastgood --json status failed" >&2; return 1; }
	printf '%s\n' "$out"
}

# service_pid NAME: the pid `status` reports for NAME ("" when none).
service_pid() {
	status_json | jq -r --arg n "$1" \
		'.services[] | select(.name == $n) | .pid // "" | if . == 0 then "" else . end'
}

# service_state NAME: the state `status` reports for NAME.
service_state() {
	status_json | jq -r --arg n "$1" '.services[] | select(.name == $n) | .state'
}

live_release() {
	status_json | jq -r .live_release
}

# release_mark ID: good, bad or null.
release_mark() {
	lg --json releases | jq -r --argjson id "$1" '.[] | select(.id == $id) | .mark'
}

newest_release() {
	lg --json releases | jq -r '[.[].id] | max'
}

# expect_service_process PID PORT: PID is alive and is a test service
# listening on PORT (its command line says so).
expect_service_process() {
	local pid=$1 port=$2 cmdline
	if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
		echo "expected a live process, got pid '$pid'" >&2
		return 1
	fi
	cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline")
	expect_match "$cmdline" "--port $port "
}

# expect_gone PID: no process PID any more (a zombie counts as gone).
expect_gone() {
	local state
	[ -n "$1" ] || return 0
	state=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	state=${state##*) }
	if [ "${state%% *}" != Z ]; then
		echo "expected process $1 to be gone; it is still running" >&2
		return 1
	fi
}

# wait_until TRIES CMD...: run CMD every 0.1s until it succeeds, at most
# TRIES times (a bound, never a duration being measured).
wait_until() {
	local tries=$1
	shift
	while ! "$@" >/dev/null 2>&1; do
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || return 1
		sleep 0.1
	done
}

# start_log_index NAME EVENT: the line number of NAME's first EVENT in
# START_LOG (empty when absent). The file is only ever appended to, one
# whole line per event, so line order is the order things happened in.
start_log_index() {
	grep -n "^$1 $2 " "$START_LOG" 2>/dev/null | head -n 1 | cut -d: -f1
}

# expect_before NAME1 EVENT1 NAME2 EVENT2: both are in the start log, and
# NAME1's EVENT1 comes first.
expect_before() {
	local l1 l2
	l1=$(start_log_index "$1" "$2")
	l2=$(start_log_index "$3" "$4")
	if [ -z "$l1" ] || [ -z "$l2" ] || [ "$l1" -ge "$l2" ]; then
		printf 'expected "%s %s" before "%s %s" in the start log:\n%s\n' \
			"$1" "$2" "$3" "$4" "$(cat "$START_LOG" 2>/dev/null)" >&2
		return 1
	fi
}

# needs PROGRAM PACKAGE: skip the test when PROGRAM is missing, except
# under CI, where scripts/install-deps must have installed PACKAGE.
needs() {
	command -v "$1" >/dev/null 2>&1 && return 0
	if [ "${CI:-}" = true ]; then
		echo "$1 is missing under CI: scripts/install-deps check installs $2" >&2
		return 1
	fi
	skip "$1 not installed (package $2; scripts/install-deps check installs it)"
}

# tcp_pong PORT: a Redis on PORT answers PING with +PONG.
# (A descriptor bash picks: bats keeps its own output on 3.)
tcp_pong() {
	local reply fd
	exec {fd}<>"/dev/tcp/127.0.0.1/$1" || return 1
	printf 'PING\r\n' >&"$fd"
	IFS= read -r -t 2 reply <&"$fd"
	exec {fd}<&-
	[[ $reply == +PONG* ]]
}

# start_redis PORT: a real redis-server on 127.0.0.1:PORT, no persistence,
# started by the test (REDIS_PID) and waited for until it answers PING.
start_redis() {
	redis-server --port "$1" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
		--dir "$BATS_TEST_TMPDIR" >"$BATS_TEST_TMPDIR/redis.log" 2>&1 &
	REDIS_PID=$!
	wait_until 100 tcp_pong "$1" ||
		{ echo "redis-server did not answer:" >&2; cat "$BATS_TEST_TMPDIR/redis.log" >&2; return 1; }
}

stop_redis() {
	[ -n "${REDIS_PID:-}" ] || return 0
	kill -TERM "$REDIS_PID" 2>/dev/null || true
	wait "$REDIS_PID" 2>/dev/null || true
	REDIS_PID=
}

# pg_bindir: Debian's PostgreSQL server programs (initdb, pg_ctl), newest
# version; empty when the server is not installed.
pg_bindir() {
	local dirs
	dirs=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	[ -n "$dirs" ] && [ -x "$dirs/initdb" ] && echo "$dirs"
}

needs_postgres() {
	if [ -n "$(pg_bindir)" ] && command -v pg_isready >/dev/null 2>&1; then
		return 0
	fi
	if [ "${CI:-}" = true ]; then
		echo "PostgreSQL server missing under CI: scripts/install-deps check installs postgresql" >&2
		return 1
	fi
	skip "PostgreSQL server not installed (package postgresql; scripts/install-deps check installs it)"
}

# as_pg_owner CMD...: PostgreSQL refuses to run as root; as root, run CMD
# as the postgres user.
as_pg_owner() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# start_postgres PORT: a fresh cluster (its own folder below /tmp, which
# the postgres user can reach) serving 127.0.0.1:PORT, started by the test.
start_postgres() {
	local bin
	bin=$(pg_bindir)
	PG_DATA=$(mktemp -d /tmp/lastgood-test-pg.XXXXXX)
	[ "$(id -u)" = 0 ] && chown postgres:postgres "$PG_DATA"
	as_pg_owner "$bin/initdb" -D "$PG_DATA/data" -A trust -U postgres --no-sync \
		>"$BATS_TEST_TMPDIR/initdb.log" 2>&1 ||
		{ cat "$BATS_TEST_TMPDIR/initdb.log" >&2; return 1; }
	as_pg_owner "$bin/pg_ctl" -D "$PG_DATA/data" -l "$PG_DATA/log" -w -t 60 \
		-o "-p $1 -k $PG_DATA -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null ||
		{ cat "$PG_DATA/log" >&2; return 1; }
}

# stop_postgres: stop the test's cluster (pg_ctl stop -m fast), as an
# outage would; its folder stays until teardown.
stop_postgres() {
	[ -n "${PG_DATA:-}" ] && [ -e "$PG_DATA/data/postmaster.pid" ] || return 0
	as_pg_owner "$(pg_bindir)/pg_ctl" -D "$PG_DATA/data" -m fast -w stop >/dev/null
}

# remove_postgres: stop the cluster if it runs, and remove its folder.
remove_postgres() {
	[ -n "${PG_DATA:-}" ] || return 0
	stop_postgres || true
	rm -rf "$PG_DATA"
	PG_DATA=
}

# use_systemctl_stand_in: put tests/cli/lib/systemctl first on PATH (see
# that file: systemd cannot run here); its calls land in $SYSTEMCTL_LOG.
use_systemctl_stand_in() {
	mkdir -p "$BATS_TEST_TMPDIR/fakebin" "$BATS_TEST_TMPDIR/systemctl-state"
	ln -sf "$TEST_LIB/systemctl" "$BATS_TEST_TMPDIR/fakebin/systemctl"
	export SYSTEMCTL_LOG=$BATS_TEST_TMPDIR/systemctl.log
	export SYSTEMCTL_STATE=$BATS_TEST_TMPDIR/systemctl-state
	: >"$SYSTEMCTL_LOG"
	export PATH=$BATS_TEST_TMPDIR/fakebin:$PATH
}
