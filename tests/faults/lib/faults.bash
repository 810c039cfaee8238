# Fault injection of a live stack, from the outside: the machinery the
# tests/faults/*.bats files share. Plain bash (no bats inside), so the lanes
# that run fault points in parallel are ordinary background processes.
#
# The stack is the ziggie runbook's: three `process` services running
# examples/ziggie/demo-service on 127.0.0.1 (api; gateway and studio after
# api), each with a binary and a config file, studio with a web/ tree too.
# Release A answers VERSION=1; release B answers VERSION=2 and changes files
# in every way a release can (content, dropped, added deep, symlink moved).
# With FAULTS_STACK=entries the two releases differ in their set of `files`
# entries too: the config also lists etc/api-legacy.conf, a file only A
# has, and etc/gateway.d, a folder only version 2 has. A deploy keeps what
# its SOURCE lacks, so it can add an entry but never drop one: deploying
# version 2 over A gives B (gateway.d added, api-legacy.conf kept); C is B
# without api-legacy.conf (recorded by a snapshot), and a rollback from C
# to A both brings api-legacy.conf back and drops gateway.d.
# With FAULTS_STACK=database api also has an SQLite database (data/app.db)
# whose migrations are api's files (etc/migrations): A ran migration 1
# (table items, three rows written once it was live); B brings migration 2
# (column note, with its down script). The host's schema is judged with its
# files: version, column and rows (observe's OBS_SCHEMA).
#
# A sweep runs one command (deploy A->B, rollback B->A, recover) once per
# fault point: strace stops lastgood at the Nth call of one system call
# (SIGKILL, or an injected errno), or a filler file leaves N bytes free on a
# small tmpfs; then the host is checked. Each point starts from a fresh copy
# of a prepared host, at the same path (the journal holds absolute paths),
# with its services started afresh on the same ports. The points are dealt
# out to LG_FAULT_JOBS lanes, each with its own host folder and ports.
#
#   load lib/faults
#   setup_file() { faults_setup_file; }
#   teardown_file() { faults_teardown_file; }
#   @test "..." { SWEEP_OLD=A SWEEP_TARGET=B sweep deploy-kill before-deploy kill -- deploy ...; }
#   @test "..." { expect_no_problems deploy-kill files; }
#
# Each point appends one line to its lane's `results` (class, call, N,
# outcome, exit status, release the host ended on, the command's stderr)
# and one per broken property to `problems` (key, where, message). A sweep
# merges them into $FAULTS_WORK/NAME.results and NAME.problems (copied to
# build/faults/), prints the counts as TAP comments, and writes them as
# NAME's line of build/faults-summary.txt. Property tests then require no
# problem of their keys, so a known bug in one property can be skipped
# without hiding the others.

FAULTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FAULTS_TOP=$(cd "$FAULTS_DIR/../.." && pwd)
FAULTS_LIB=$FAULTS_DIR/lib/faults.bash

# tree_sum and leftovers come from the CLI tests' helpers; outside bats the
# version check they start with is a no-op.
declare -F bats_require_minimum_version >/dev/null || bats_require_minimum_version() { :; }
# shellcheck source=../../cli/helpers.bash
source "$FAULTS_TOP/tests/cli/helpers.bash"
# The faults tests set up per file (faults_setup_file), not per test.
setup() { :; }
teardown() { :; }

LG=${LASTGOOD:-$FAULTS_TOP/lastgood}
DEMO_SERVICE=${TEST_SERVICE:-$FAULTS_TOP/examples/ziggie/demo-service}
FAULTS_OUT=${LG_FAULT_OUT:-$FAULTS_TOP/build/faults}
FAULTS_SUMMARY=${LG_FAULT_SUMMARY:-$FAULTS_TOP/build/faults-summary.txt}

# Points tried for the plentiful calls (write, open), spread evenly over the
# run (at least 2); FULL=1 (make faults FULL=1) tries every one.
# Kills at a random time (timed_sweep), all sweeps together: a few dozen,
# FULL=1 300.
if [ -n "${FULL:-}" ] && [ "${FULL:-0}" != 0 ]; then
	LG_FAULT_CAP=0
	: "${LG_FAULT_RANDOM:=300}"
fi
: "${LG_FAULT_CAP:=24}"
: "${LG_FAULT_RANDOM:=36}"
: "${LG_FAULT_JOBS:=2}"
# The sanitizer options every lastgood run starts from (a lane adds its log).
: "${FAULTS_ASAN_BASE:=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}}"
: "${FAULTS_UBSAN_BASE:=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1}}"
export FAULTS_ASAN_BASE FAULTS_UBSAN_BASE

# Quick policies: a start is judged within tens of milliseconds; the
# per-check timeout stays generous for a loaded machine (it bounds, it
# never waits).
FAULT_POLICY='{start_timeout: 5s, interval: 20ms, timeout: 2s, retries: 2, stabilize: 0ms, stop_timeout: 2s}'
SERVICES=(api gateway studio)
: "${FAULTS_STACK:=classic}"
export FAULTS_STACK
# The releases a host can be on, by name (see above), and where the
# rollback sweeps start from.
if [ "$FAULTS_STACK" = entries ]; then
	FAULT_RELEASES="A B C"
	ROLLBACK_FROM=C
else
	FAULT_RELEASES="A B"
	ROLLBACK_FROM=B
fi

# The system calls that change state, by class. Every N is tried for all
# classes but the capped ones. `open` counts only the opens that can create
# or write (O_CREAT, O_TRUNC, O_WRONLY, O_RDWR).
# `spawn` is the first write after lastgood spawns a service: between the
# spawn and the commit that records its pid.
CLASSES=(rename unlink fsync mkdir symlink write open spawn)
# -g: bats loads this file inside a function
declare -gA CLASS_CALLS=(
	[rename]="rename renameat renameat2"
	[unlink]="unlink unlinkat rmdir"
	[fsync]="fsync fdatasync syncfs"
	[mkdir]="mkdir mkdirat"
	[symlink]="symlink symlinkat"
	[write]="write pwrite64 writev pwritev"
	[open]="openat open creat"
)
CAPPED_CLASSES=" write open "
SPAWN_CALLS="clone clone3 vfork"
ALL_CALLS=$(for c in "${CLASSES[@]}"; do echo "${CLASS_CALLS[$c]:-}"; done | tr ' \n' ',,' |
	sed 's/,,*/,/g; s/^,//; s/,$//')
# a calibration also logs the spawns (posix_spawn: clone or vfork)
TRACE_CALLS=$ALL_CALLS,${SPAWN_CALLS// /,}

# ---- the stack ----

# write_stack P1 P2 P3: lastgood.yml for the three services on those ports,
# and release A's live files, here.
write_stack() {
	local ports=("$@") i name
	{
		printf 'policy: %s\nservices:\n' "$FAULT_POLICY"
		for i in 0 1 2; do
			name=${SERVICES[$i]}
			printf '  %s:\n    manager: process\n' "$name"
			printf '    run: [bin/%s, --port, "%s", --config, etc/%s.conf]\n' "$name" "${ports[$i]}" "$name"
			printf '    files: [bin/%s, etc/%s.conf%s]\n' "$name" "$name" "$(extra_entries "$name")"
			printf '    health:\n      - http: http://127.0.0.1:%s/health\n' "${ports[$i]}"
			printf '        json: {status: healthy}\n'
			[ "$i" -gt 0 ] && printf '    after: [api]\n'
		done
		[ "$FAULTS_STACK" != database ] ||
			printf 'databases:\n  main:\n    engine: sqlite\n    path: data/app.db\n    migrations: etc/migrations\n    services: [api]\n'
	} >lastgood.yml
	write_release . 1
}

# extra_entries SERVICE: the `files` entries SERVICE lists beside its
# binary and config file (", ENTRY..."), in this stack.
extra_entries() {
	case $FAULTS_STACK:$1 in
	*:studio) printf ', web' ;;
	entries:api) printf ', etc/api-legacy.conf' ;;
	entries:gateway) printf ', etc/gateway.d' ;;
	database:api) printf ', etc/migrations' ;;
	esac
}

# write_release DIR VERSION: the files of version 1 (release A) or 2 (the
# SOURCE of a deploy) in DIR.
write_release() {
	local dir=$1 version=$2 name
	mkdir -p "$dir/bin" "$dir/etc" "$dir/web/static"
	for name in "${SERVICES[@]}"; do
		cp "$DEMO_SERVICE" "$dir/bin/$name"
		# B's binaries differ (trailing bytes an ELF loader ignores)
		[ "$version" = 1 ] || printf '\n# release %s\n' "$version" >>"$dir/bin/$name"
		chmod 0755 "$dir/bin/$name"
		printf 'NAME=%s\nVERSION=%s\nMODE=healthy\n' "$name" "$version" >"$dir/etc/$name.conf"
	done
	# enough files in web/ that it is staged, and B's stored, with one
	# syncfs rather than an fsync each (FS_SYNCFS_MIN)
	for name in $(seq 1 16); do
		printf 'page %s of release %s\n' "$name" "$version" >"$dir/web/static/page$name.html"
	done
	if [ "$version" = 1 ]; then
		printf '<h1>v1</h1>\n' >"$dir/web/index.html"
		printf 'console.log("v1")\n' >"$dir/web/static/app.js"
		printf 'old page\n' >"$dir/web/static/old.html"
		mkdir -p "$dir/web/empty"
		ln -s static/app.js "$dir/web/current.js"
	else
		printf '<h1>v2</h1>\n' >"$dir/web/index.html"
		mkdir -p "$dir/web/static/img/icons"
		printf 'icon\n' >"$dir/web/static/img/icons/a.svg"
		printf 'console.log("v2")\n' >"$dir/web/static/app2.js"
		ln -s static/app2.js "$dir/web/current.js"
	fi
	if [ "$FAULTS_STACK" = database ]; then
		mkdir -p "$dir/etc/migrations"
		printf 'CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n' \
			>"$dir/etc/migrations/0001_create_items.up.sql"
		printf 'DROP TABLE items;\n' >"$dir/etc/migrations/0001_create_items.down.sql"
		[ "$version" = 1 ] && return 0
		printf 'ALTER TABLE items ADD COLUMN note TEXT;\n' >"$dir/etc/migrations/0002_add_note.up.sql"
		printf 'ALTER TABLE items DROP COLUMN note;\n' >"$dir/etc/migrations/0002_add_note.down.sql"
		return 0
	fi
	[ "$FAULTS_STACK" = entries ] || return 0
	if [ "$version" = 1 ]; then
		printf 'LEGACY_ROUTES=on\n' >"$dir/etc/api-legacy.conf"
		chmod 0640 "$dir/etc/api-legacy.conf"
	else
		mkdir -p "$dir/etc/gateway.d/plugins"
		printf 'route /v2 -> api\n' >"$dir/etc/gateway.d/10-routes.conf"
		printf 'auth=token\n' >"$dir/etc/gateway.d/plugins/auth.conf"
		ln -s plugins/auth.conf "$dir/etc/gateway.d/auth.conf"
	fi
}

# pick_ports N: N distinct TCP ports no socket on this machine uses (below
# the ephemeral range, so no outgoing connection takes one meanwhile).
pick_ports() {
	local n=$1 used picked=" " port hex
	used=" $(awk 'FNR > 1 { sub(/.*:/, "", $2); printf "%s ", $2 }' /proc/net/tcp /proc/net/tcp6 2>/dev/null)"
	while [ "$n" -gt 0 ]; do
		port=$((20000 + RANDOM % 12000))
		printf -v hex '%04X' "$port"
		[[ $used == *" $hex "* || $picked == *" $port "* ]] && continue
		picked+="$port "
		echo "$port"
		n=$((n - 1))
	done
}

# ---- running lastgood ----

# lg_t ARGS...: lastgood, bounded so that a hang fails a point instead of
# the run (exit 124).
lg_t() { timeout -k 5 "${LG_FAULT_TIMEOUT:-120}" "$LG" "$@"; }

# fault_run MODE CALL N ARGS...: `lastgood -q ARGS` with one fault. Under
# strace, lastgood's own process only: the services it spawns are neither
# counted nor touched.
#   kill     SIGKILL at the Nth CALL
#   EIO...   the Nth CALL fails with that errno
#   ENOSPC+  the Nth CALL and every later one fail (a disk that filled up)
#   trace    no fault; every call of TRACE_CALLS logged, with paths (-y)
#   fill     no strace: a filler file leaves N bytes free on the host's
#            file system first (removed by fault_unfill)
#   timed    no strace: SIGKILL N milliseconds after the start (wall time;
#            never when N is 0); the run's duration goes to $LANE/cmd.ms
# Sets FAULT_RC (137 when killed) and FAULT_LANDED (1 when the fault hit);
# stdout, stderr and the strace log land in $LANE/cmd.{out,err,strace}.
fault_run() {
	local mode=$1 call=$2 n=$3 trace opts=()
	shift 3
	FAULT_RC=0
	FAULT_LANDED=0
	if [ "$mode" = fill ]; then
		fault_fill "$n" || { FAULT_RC=255; return 0; }
		lg_t -q "$@" >"$LANE/cmd.out" 2>"$LANE/cmd.err" || FAULT_RC=$?
		[ "$FAULT_RC" = 0 ] || FAULT_LANDED=1
		return 0
	fi
	if [ "$mode" = timed ]; then
		fault_timed "$n" "$@"
		return 0
	fi
	case $mode in
	kill) trace=$call; opts=(-e "inject=$call:signal=SIGKILL:when=$n") ;;
	trace) trace=$TRACE_CALLS; opts=(-y) ;;
	*+) trace=$call; opts=(-y -e "inject=$call:error=${mode%+}:when=$n+") ;;
	*) trace=$call; opts=(-y -e "inject=$call:error=$mode:when=$n") ;;
	esac
	# a subshell, so that bash's "Killed" notice goes nowhere
	(
		ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0" timeout -k 5 "${LG_FAULT_TIMEOUT:-120}" \
			strace -qq -o "$LANE/cmd.strace" -e trace="$trace" "${opts[@]}" \
			"$LG" -q "$@" >"$LANE/cmd.out" 2>"$LANE/cmd.err"
		exit $?
	) 2>/dev/null || FAULT_RC=$?
	case $mode in
	kill) [ "$FAULT_RC" -eq 137 ] && FAULT_LANDED=1 ;;
	trace) ;;
	*) grep -q '(INJECTED)' "$LANE/cmd.strace" && FAULT_LANDED=1 ;;
	esac
	return 0
}

# fault_timed MS ARGS...: `lastgood -q ARGS` killed with SIGKILL MS
# milliseconds after it started, unless it ended first (MS 0: never
# killed, bounded like lg_t). Sets FAULT_RC and FAULT_LANDED as fault_run
# does; writes the run's wall time in milliseconds to $LANE/cmd.ms.
fault_timed() {
	local ms=$1 pid start
	shift
	start=$(date +%s%N)
	if [ "$ms" = 0 ]; then
		lg_t -q "$@" >"$LANE/cmd.out" 2>"$LANE/cmd.err" || FAULT_RC=$?
	else
		# a subshell, so that bash's "Killed" notice goes nowhere; no leak
		# check, as under strace (a kill during LeakSanitizer's check at
		# exit makes it report that it could not stop the threads)
		(
			ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0" "$LG" -q "$@" >"$LANE/cmd.out" 2>"$LANE/cmd.err" &
			pid=$!
			sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
			kill -KILL "$pid" 2>/dev/null
			wait "$pid"
		) 2>/dev/null || FAULT_RC=$?
	fi
	echo $((($(date +%s%N) - start) / 1000000)) >"$LANE/cmd.ms"
	[ "$FAULT_RC" -eq 137 ] && FAULT_LANDED=1
	return 0
}

# fault_fill BYTES: fill the host's file system but for BYTES.
fault_fill() {
	local avail
	avail=$(df -B1 --output=avail . | tail -n 1) || return 1
	[ "$avail" -gt "$1" ] || return 0
	fallocate -l $((avail - $1)) "$HOST/../filler" 2>/dev/null ||
		head -c $((avail - $1)) /dev/zero >"$HOST/../filler" 2>/dev/null
	return 0
}

fault_unfill() { rm -f "$HOST/../filler"; }

# ---- observing the host ----

# one_line TEXT: TEXT on one line (for problem records).
one_line() { tr '\n\t' '  ' <<<"$1" | sed 's/  */ /g; s/ $//'; }

# observe: what the host (the current folder) is now:
#   OBS_FILES       A, B (C) or neither: the live files byte for byte
#   OBS_RECORD      A, B (C) or "release N": the live release, by its digest
#   OBS_SERVICES    NAME=state/health of each service (`status --json`)
#   OBS_RUNNING     1 when every service is running and healthy
#   OBS_INTERRUPTED operations awaiting recover
#   OBS_VERSIONS    the VERSION each port answers /health with ("-": none)
#   OBS_UNTRACKED   processes run from the host that no service's pid is
#   OBS_SCHEMA      in the database stack, the database as schema_of says
observe() {
	local sum json line port body v id digest s p name known
	sum=$(tree_sum 2>/dev/null)
	OBS_FILES=neither
	for name in $FAULT_RELEASES; do
		known=SUM_$name
		[ "$sum" = "${!known}" ] && OBS_FILES=$name && break
	done
	OBS_RECORD=unknown
	if json=$(lg_t --json releases 2>/dev/null); then
		line=$(jq -r '.[] | select(.live) | "\(.id) \(.digest)"' <<<"$json")
		id=${line%% *}
		digest=${line#* }
		OBS_RECORD="release $id"
		[ -n "$line" ] || OBS_RECORD="no live release"
		for name in $FAULT_RELEASES; do
			known=DIGEST_$name
			[ -n "$line" ] && [ "$digest" = "${!known:-}" ] && OBS_RECORD=$name && break
		done
	fi
	OBS_SERVICES="status failed"
	OBS_PIDS=" "
	OBS_RUNNING=0
	OBS_INTERRUPTED='?'
	if json=$(lg_t --json status 2>/dev/null); then
		line=$(jq -r '"\(.interrupted_operations | length) " +
			([.services[] | "\(.name)=\(.state)/\(.health)"] | join(" ")) +
			"|" + ([.services[] | .pid // 0 | tostring] | join(" "))' <<<"$json")
		OBS_PIDS=" ${line#*|} "
		line=${line%%|*}
		OBS_INTERRUPTED=${line%% *}
		OBS_SERVICES=${line#* }
		OBS_RUNNING=1
		for s in $OBS_SERVICES; do
			[ "${s#*=}" = running/healthy ] || OBS_RUNNING=0
		done
	fi
	OBS_VERSIONS=
	for port in "${PORTS[@]}"; do
		body=$(curl -s -m 5 "http://127.0.0.1:$port/health" 2>/dev/null)
		v=-
		[[ $body =~ \"version\":\"([^\"]*)\" ]] && v=${BASH_REMATCH[1]}
		OBS_VERSIONS+="${OBS_VERSIONS:+ }$v"
	done
	OBS_UNTRACKED=
	for p in $(host_processes); do
		[[ $OBS_PIDS == *" $p "* ]] || OBS_UNTRACKED+="$(describe_process "$p"); "
	done
	OBS_UNTRACKED=${OBS_UNTRACKED%; }
	OBS_SCHEMA=
	[ "$FAULTS_STACK" != database ] || OBS_SCHEMA=$(schema_now)
}

# schema_now: the database stack's database as it is: the newest migration
# lastgood_migrations holds, whether table items has column note, its rows.
schema_now() {
	sqlite3 data/app.db "SELECT 'version ' || (SELECT coalesce(max(version), 0) FROM lastgood_migrations)
		|| ', note ' || (SELECT CASE count(*) WHEN 0 THEN 'no' ELSE 'yes' END
			FROM pragma_table_info('items') WHERE name = 'note')
		|| ', ' || (SELECT count(*) FROM items) || ' rows'" 2>&1 | tr '\n' ' ' | sed 's/ $//'
}

# schema_of RELEASE: schema_now on release A or B (the rows written on A
# survive both ways).
schema_of() { if [ "$1" = A ]; then echo "version 1, note no, 3 rows"; else echo "version 2, note yes, 3 rows"; fi; }

# version_of RELEASE: the VERSION every service of release A, B or C
# answers.
version_of() { if [ "$1" = A ]; then echo "1 1 1"; else echo "2 2 2"; fi; }

# expect_on RELEASE: after observe, the host is entirely on RELEASE: its
# files, its record, every service running and healthy, each answering
# RELEASE's version. Otherwise prints what differs and returns 1.
expect_on() {
	local want=$1 bad=
	[ "$OBS_FILES" = "$want" ] || bad+="live files are $OBS_FILES; "
	[ "$OBS_RECORD" = "$want" ] || bad+="the live release is $OBS_RECORD; "
	[ "$OBS_RUNNING" = 1 ] || bad+="services: $OBS_SERVICES; "
	[ "$OBS_VERSIONS" = "$(version_of "$want")" ] || bad+="versions answered: $OBS_VERSIONS; "
	[ "$OBS_SCHEMA" = "$([ "$FAULTS_STACK" != database ] || schema_of "$want")" ] ||
		bad+="the database: $OBS_SCHEMA; "
	[ -z "$bad" ] && return 0
	echo "not entirely on $want: ${bad%; }"
	return 1
}

# ---- processes ----

# host_processes: the pids of processes run from the lane's host (the
# service binaries copied there, live or deleted).
host_processes() {
	find /proc -mindepth 2 -maxdepth 2 -name exe -lname "$HOST/*" 2>/dev/null | cut -d/ -f3
}

# describe_process PID: its pid, program and command line, for messages.
describe_process() {
	printf 'pid %s (%s: %s)' "$1" "$(readlink "/proc/$1/exe" 2>/dev/null | sed "s|^$HOST/||")" \
		"$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | sed 's/ $//')"
}

# kill_host_processes: SIGKILL them all and wait (bounded) until they are
# gone, so that their ports are free for the next point.
kill_host_processes() {
	local pids pid tries=100
	pids=$(host_processes)
	[ -n "$pids" ] || return 0
	for pid in $pids; do kill -KILL "$pid" 2>/dev/null; done
	while [ -n "$(host_processes)" ] && [ $tries -gt 0 ]; do
		sleep 0.05
		tries=$((tries - 1))
	done
}

# stop_host: `lastgood stop`; whatever still runs from the host afterwards
# is a process lastgood lost track of (problem "orphans"); it is killed.
stop_host() {
	local out pids p desc=
	out=$(lg_t -q stop 2>&1) || problem stop "lastgood stop failed: $out"
	pids=$(host_processes)
	[ -n "$pids" ] || return 0
	for p in $pids; do desc+="$(describe_process "$p"); "; done
	problem orphans "still running after 'lastgood stop': ${desc%; }"
	kill_host_processes
}

# ---- one fault point ----

# problem KEY MESSAGE: record that this point broke property KEY.
# Once a point broke a property that explains what follows (a failure
# exit that left the new release live, a process lastgood lost), the
# consequences after recover are recorded under that same key
# (POINT_CAUSE), so each property test judges its own causes.
problem() {
	local key=$1
	shift
	case $key in
	files | record | services | down-after-exit-4 | recover)
		[ -n "${POINT_CAUSE:-}" ] && set -- "(follows) $key: $*" && key=$POINT_CAUSE ;;
	esac
	printf '%s\t%s\t%s\n' "$key" "$POINT_WHERE" "$(one_line "$*")" >>"$LANE/problems"
}

# settled_checks ALLOWED: after recover, the host is entirely on one
# release, one of ALLOWED ("A B", "A"...): files, record, services; no
# staging or scratch file; store and database intact. Sets POINT_ENDED.
# Services that do not run are a problem of key SERVICES_KEY: "services",
# or "down-after-exit-4" after a command that said the host needs
# attention (an operation it ended; recover does not restart services for
# it).
settled_checks() {
	local allowed=$1 out left
	observe
	POINT_ENDED=$OBS_FILES
	[[ " $allowed " == *" $OBS_FILES "* ]] ||
		problem files "live files are $OBS_FILES, expected: ${allowed// / or }"
	[ "$OBS_FILES" = neither ] ||
		[ "$OBS_RECORD" = "$OBS_FILES" ] ||
		problem record "live files are $OBS_FILES but the live release is $OBS_RECORD"
	[ "$OBS_FILES" = neither ] || [ "$FAULTS_STACK" != database ] ||
		[ "$OBS_SCHEMA" = "$(schema_of "$OBS_FILES")" ] ||
		problem schema "live files are $OBS_FILES but the database: $OBS_SCHEMA"
	if [ -n "$OBS_UNTRACKED" ]; then
		problem orphans "a process no service's pid names runs after recover: $OBS_UNTRACKED"
		POINT_CAUSE=${POINT_CAUSE:-orphans}
	fi
	if [ "$OBS_FILES" != neither ]; then
		[ "$OBS_RUNNING" = 1 ] ||
			problem "$SERVICES_KEY" "not every service is running and healthy: $OBS_SERVICES"
		[ "$OBS_VERSIONS" = "$(version_of "$OBS_FILES")" ] ||
			problem "$SERVICES_KEY" "on release $OBS_FILES the services answer versions '$OBS_VERSIONS'"
	fi
	[ "$OBS_INTERRUPTED" = 0 ] ||
		problem recover "$OBS_INTERRUPTED operation(s) still interrupted after recover"
	left=$(leftovers)
	[ -z "$left" ] || problem leftovers "staging files beside the live files: $left"
	left=$(ls -A .lastgood/tmp 2>/dev/null)
	[ -z "$left" ] || problem leftovers "files left in .lastgood/tmp: $left"
	out=$(lg_t -q fsck 2>&1) || problem fsck "lastgood fsck: $out"
	out=$(sqlite3 .lastgood/state.db 'PRAGMA integrity_check' 2>&1)
	[ "$out" = ok ] || problem db "PRAGMA integrity_check: $out"
	out=$(lg_t -q verify 2>&1) || problem "$SERVICES_KEY" "lastgood verify: $out"
}

# error_pattern MODE: how lastgood's message names that error (strerror's
# text, or SQLite's).
error_pattern() {
	case $1 in
	EIO) echo 'Input/output error|I/O error' ;;
	ENOSPC | ENOSPC+ | fill) echo 'No space left on device|disk is full' ;;
	*) echo "$1" ;;
	esac
}

# sqlite_dirsync_failed: whether the sync the fault failed (the run's own
# strace log, -y: descriptors with their paths) is SQLite's fdatasync of a
# folder once it created a journal or log there (the state folder, the
# backups folder, a database's own folder), whose result SQLite ignores
# (unix VFS); lastgood never sees it fail. Every other sync is lastgood's
# (fsync) or one SQLite reports to it (lastgood writes the state log back
# itself, with SQLite's automatic write-back off).
sqlite_dirsync_failed() {
	local path
	path=$(sed -En 's/^fdatasync\([0-9]+<([^>]*)>\).*\(INJECTED\).*/\1/p' "$LANE/cmd.strace" | head -n 1)
	[ -n "$path" ] && [ -d "$path" ]
}

# error_checks MODE CALL: after a command that met an error (FAULT_RC,
# FAULT_LANDED): a documented exit status; exit 0 only for a true success;
# an fsync that failed is never turned into a success; a failure says what
# failed in a line naming the error, and exit 1 or 3 leaves the old
# release (exit 4 may leave either: recover settles it).
error_checks() {
	local mode=$1 call=$2 err msg
	err=$(cat "$LANE/cmd.err")
	case $FAULT_RC in
	0 | 1 | 3 | 4) ;;
	*)
		problem exit "exit status $FAULT_RC (documented: 0, 1, 3, 4): $(head -c 600 <<<"$err")"
		return ;;
	esac
	if [ "$FAULT_RC" = 0 ]; then
		[ "$mode" = fill ] && fault_unfill
		observe
		msg=$(expect_on "$SWEEP_TARGET") || problem false-success "exit 0 but $msg"
		if [ "$FAULT_LANDED" = 1 ] && [[ $call == fsync || $call == fdatasync || $call == syncfs ]] &&
			! sqlite_dirsync_failed; then
			problem fsync-final "$call failed with $mode and the command still exited 0"
		fi
		return
	fi
	[ "$FAULT_LANDED" = 1 ] || problem exit "exit $FAULT_RC although no fault was injected: $err"
	# When the fault took stderr too, as ENOSPC+ on write does, nothing
	# can be said: the exit status is all there is.
	local mute=0
	# (-y: "write(2</path/of/cmd.err>, ...")
	grep -Eq '^write\(2(<[^>]*>)?, .*\(INJECTED\)' "$LANE/cmd.strace" 2>/dev/null && mute=1
	grep -Eq "^lastgood: .*($(error_pattern "$mode"))" <<<"$err" || [ "$mute" = 1 ] ||
		problem message "exit $FAULT_RC without a 'lastgood: ...' line naming the error: $err"
	! grep -Eq '^lastgood: *([;:,.]|$)' <<<"$err" ||
		problem garbled "a message that is empty or starts cut: $err"
	if [ "$FAULT_RC" = 4 ] && [ "$mute" = 0 ] &&
		! grep -Eq "lastgood (recover|status|show|rollback|restart)" <<<"$err"; then
		problem attention "exit 4 without saying what state the host is in and what to do: $err"
	fi
	if [ "$mode" = fill ]; then
		# the files at once; the rest once space is freed (no lastgood
		# command runs in between, and on a full disk even `status`
		# cannot open the database)
		local old_sum=SUM_$SWEEP_OLD
		[ "$(tree_sum 2>/dev/null)" = "${!old_sum}" ] ||
			problem unchanged "exit $FAULT_RC ($(one_line "$err")) but the live files changed"
		fault_unfill
		observe
		if [ "$FAULT_RC" != 4 ] && ! msg=$(expect_on "$SWEEP_OLD"); then
			problem old-release "exit $FAULT_RC ($(one_line "$err")) but $msg"
			POINT_CAUSE=old-release
		fi
	elif [ "$FAULT_RC" = 1 ] || [ "$FAULT_RC" = 3 ]; then
		observe
		if ! msg=$(expect_on "$SWEEP_OLD"); then
			problem old-release "exit $FAULT_RC ($(one_line "$err")) but $msg"
			POINT_CAUSE=old-release
		fi
	fi
}

# point_run START MODE CLASS CALL N ARGS...: one fault point, from a fresh
# copy of $LANE/START, its services started first, then (SWEEP_INTERRUPT:
# "CALL N ARGS...") an operation interrupted for the fault command to
# recover. Appends one line to $LANE/results.
point_run() {
	local start=$1 mode=$2 class=$3 call=$4 n=$5 out outcome f
	shift 5
	POINT_WHERE="$1 $mode at $call #$n"
	[ "$mode" = fill ] && POINT_WHERE="$1 with $n bytes free"
	[ "$mode" = timed ] && POINT_WHERE="$1 killed after $n ms (LG_FAULT_SEED=$LG_FAULT_SEED, ${POINT_TAG:-})"
	POINT_ENDED=-
	POINT_CAUSE=
	SERVICES_KEY=services
	cd "$LANE" || return 1
	kill_host_processes
	rm -rf "$HOST"
	cp -a "$LANE/$start" "$HOST"
	cd "$HOST" || return 1
	# shellcheck disable=SC2086 # SWEEP_INTERRUPT is words: CALL N ARGS...
	if ! out=$(lg_t -q start 2>&1) ||
		{ [ -n "${SWEEP_INTERRUPT:-}" ] && ! out=$(interrupt $SWEEP_INTERRUPT); }; then
		problem setup "before the fault: $out"
		stop_host
		printf '%s\t%s\t%s\tsetup\t-\t-\t\n' "$class" "$call" "$n" >>"$LANE/results"
		return 0
	fi
	fault_run "$mode" "$call" "$n" "$@"
	POINT_WHERE+=" (exit $FAULT_RC)"
	case $mode in
	kill | timed)
		outcome=completed
		[ "$FAULT_LANDED" = 1 ] && outcome=killed
		if [ "$FAULT_LANDED" = 0 ] && [ "$FAULT_RC" = "${SWEEP_CLEAN_RC:-0}" ]; then
			observe
			out=$(expect_on "$SWEEP_TARGET") || problem false-success "exit $FAULT_RC but $out"
		elif [ "$FAULT_LANDED" = 0 ]; then
			problem exit "exit $FAULT_RC without a fault: $(cat "$LANE/cmd.err")"
		fi ;;
	trace) outcome=completed ;;
	fill)
		outcome=succeeded
		[ "$FAULT_LANDED" = 1 ] && outcome=failed
		error_checks "$mode" "$call" ;;
	*)
		outcome=not-injected
		[ "$FAULT_LANDED" = 1 ] && outcome=injected
		error_checks "$mode" "$call" ;;
	esac
	[ "$mode" != kill ] && [ "$mode" != timed ] && [ "$FAULT_RC" = 4 ] &&
		SERVICES_KEY=down-after-exit-4
	[ "$mode" = fill ] && fault_unfill
	out=$(lg_t -q recover 2>&1) || problem recover "lastgood recover failed: $out"
	# whatever recover did, the state it leaves is judged
	settled_checks "${SWEEP_ALLOWED:-A B}"
	if [ "$mode" != kill ] && [ "$mode" != timed ] && [ "$mode" != trace ] &&
		{ [ "$FAULT_RC" = 1 ] || [ "$FAULT_RC" = 3 ]; } && [ "$POINT_ENDED" != "$SWEEP_OLD" ]; then
		problem old-release "exit $FAULT_RC, yet after recover the files are $POINT_ENDED"
	fi
	stop_host
	for f in "$LANE"/sanitizer.*; do
		[ -e "$f" ] || continue
		problem sanitizer "$(head -c 2000 "$f")"
		mv "$f" "$LANE/reported.${f##*/}"
	done
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$class" "$call" "$n" "$outcome" "$FAULT_RC" \
		"$POINT_ENDED" "$(one_line "$(head -c 300 "$LANE/cmd.err")")" >>"$LANE/results"
}

# ---- lanes ----

# lane_init LANE HOST: a lane's settings (its host folder, three free
# ports) in LANE/lane.env.
lane_init() {
	mkdir -p "$1"
	printf 'HOST=%q\nPORTS=(%s)\n' "$2" "$(pick_ports 3 | tr '\n' ' ')" >"$1/lane.env"
}

# lane_load LANE: LANE, HOST, PORTS, DIGEST_A/B/C, SUM_A/B/C and the
# sanitizer settings for work in that lane.
lane_load() {
	local name
	LANE=$1
	# shellcheck source=/dev/null
	source "$LANE/lane.env"
	for name in $FAULT_RELEASES; do
		printf -v "SUM_$name" '%s' "$(cat "$FAULTS_WORK/sum-$name")"
	done
	# shellcheck disable=SC2034 # read as ${!known} (observe)
	[ -z "${SWEEP_SUM_B:-}" ] || SUM_B=$(cat "$SWEEP_SUM_B")
	export ASAN_OPTIONS="$FAULTS_ASAN_BASE:log_path=$LANE/sanitizer"
	export UBSAN_OPTIONS="$FAULTS_UBSAN_BASE:log_path=$LANE/sanitizer"
	export LC_ALL=C TZ=UTC
}

# lane_prepare LANE [DIST]: the lane's host prepared once, at the path
# every point uses, and saved as
#   before-deploy    release A live and good, services stopped
#   before-rollback  release B (from DIST) deployed over A, live and good,
#                    services stopped; in the entries stack, C instead: B's
#                    api-legacy.conf removed and recorded by a snapshot
lane_prepare() {
	local lane=$1 dist=${2:-$FAULTS_WORK/dist} want
	lane_load "$lane"
	rm -rf "$HOST"
	mkdir -p "$HOST"
	cd "$HOST" || return 1
	write_stack "${PORTS[@]}"
	lg_t -q snapshot --label A >/dev/null || return 1
	if [ "$FAULTS_STACK" = database ]; then
		mkdir -p data && lg_t -q db migrate >/dev/null &&
			sqlite3 data/app.db "INSERT INTO items(name) VALUES ('one'), ('two'), ('three')" || return 1
	fi
	{ lg_t -q start && lg_t -q stop; } || return 1
	echo "DIGEST_A=$(lg_t --json releases | jq -r '.[] | select(.live) | .digest')" >>"$lane/lane.env"
	rm -rf "$lane/before-deploy"
	cp -a "$HOST" "$lane/before-deploy"
	{ lg_t -q start && lg_t -q deploy --label B "$dist" >/dev/null && lg_t -q stop; } || return 1
	echo "DIGEST_B=$(lg_t --json releases | jq -r '.[] | select(.live) | .digest')" >>"$lane/lane.env"
	if [ "$ROLLBACK_FROM" = C ]; then
		rm etc/api-legacy.conf
		{ lg_t -q snapshot --label C >/dev/null && lg_t -q start && lg_t -q stop; } || return 1
		echo "DIGEST_C=$(lg_t --json releases | jq -r '.[] | select(.live) | .digest')" \
			>>"$lane/lane.env"
	fi
	rm -rf "$lane/before-rollback"
	cp -a "$HOST" "$lane/before-rollback"
	lane_load "$lane"
	want=SUM_$ROLLBACK_FROM
	[ "$(tree_sum)" = "${!want}" ] ||
		{ echo "lane $lane: $ROLLBACK_FROM is not the live files" >&2; return 1; }
	[ -z "$(host_processes)" ] || { echo "lane $lane: services still run after stop" >&2; return 1; }
	cd "$lane" && rm -rf "$HOST"
}

# interrupt CALL N ARGS...: in the host, `lastgood ARGS` killed at the Nth
# CALL: an interrupted operation for recover. Made in place for every
# point, never copied: the journal knows staged entries by inode.
interrupt() {
	local call=$1 n=$2
	shift 2
	fault_run kill "$call" "$n" "$@"
	[ "$FAULT_LANDED" = 1 ] && return 0
	echo "lastgood $* was not killed at $call #$n (exit $FAULT_RC)"
	return 1
}

# lane_phase LANE START INTERRUPT...: the command and phase of the newest
# operation once `interrupt INTERRUPT...` ran from START.
lane_phase() {
	local lane=$1 start=$2
	shift 2
	lane_load "$lane"
	rm -rf "$HOST"
	cp -a "$lane/$start" "$HOST"
	cd "$HOST" && lg_t -q start && interrupt "$@" || return 1
	sqlite3 .lastgood/state.db \
		'SELECT command || " " || phase FROM operations ORDER BY id DESC LIMIT 1'
	kill_host_processes
	cd "$lane" && rm -rf "$HOST"
}

# lane_run LANE POINTS START MODE ARGS...: every point of the file POINTS
# (lines "CLASS CALL N") in LANE; ends with nothing left running.
lane_run() {
	local lane=$1 points=$2 start=$3 mode=$4 class call n
	shift 4
	lane_load "$lane"
	: >"$LANE/results"
	: >"$LANE/problems"
	while read -r class call n POINT_TAG; do
		point_run "$start" "$mode" "$class" "$call" "$n" "$@"
	done <"$points"
	cd "$LANE" && kill_host_processes
}

# in_lane FUNCTION ARGS...: run FUNCTION in a fresh bash (no bats traps),
# its output to LOG ($FAULTS_WORK/last.log unless FAULTS_LOG).
in_lane() {
	bash -c 'source "$1"; shift; "$@"' lane "$FAULTS_LIB" "$@" \
		>"${FAULTS_LOG:-$FAULTS_WORK/last.log}" 2>&1 3>&-
}

# ---- sweeps ----

# faults_setup_file: the work folder, release B's SOURCE, the sums of A and
# B, and LG_FAULT_JOBS prepared lanes. Work happens on a tmpfs when there
# is one (/dev/shm): a process killed or failed by strace does not depend
# on the file system, and fsync there costs nothing.
faults_setup_file() {
	local i p root=${LG_FAULT_TMP:-}
	[ -x "$LG" ] || { echo "no lastgood binary at '$LG' (set LASTGOOD)" >&2; return 1; }
	[ -x "$DEMO_SERVICE" ] || { echo "no demo service at '$DEMO_SERVICE'" >&2; return 1; }
	for p in strace sqlite3 jq curl timeout fallocate; do
		command -v "$p" >/dev/null || { echo "$p is missing (scripts/install-deps check)" >&2; return 1; }
	done
	if [ -z "$root" ]; then
		root=${TMPDIR:-/tmp}
		[ -d /dev/shm ] && [ -w /dev/shm ] && root=/dev/shm
	fi
	# A short path: every folder above a live file is one more mkdir point
	# (lastgood creates a file's parents like mkdir -p).
	FAULTS_WORK=$(mktemp -d "$root/lgf.XXXXXX") || return 1
	# the random-time kills' seed, printed by each timed sweep
	: "${LG_FAULT_SEED:=$((RANDOM * 32768 + RANDOM))}"
	export FAULTS_WORK LG_FAULT_CAP LG_FAULT_JOBS LG_FAULT_SEED
	mkdir -p "$FAULTS_WORK/dist" "$FAULTS_WORK/ref" "$FAULTS_OUT"
	write_release "$FAULTS_WORK/dist" 2
	write_release "$FAULTS_WORK/ref" 1
	tree_sum "$FAULTS_WORK/ref" >"$FAULTS_WORK/sum-A"
	if [ "$FAULTS_STACK" != classic ]; then
		# dist-bad: version 2 whose gateway exits at start (fails its
		# verification), to be rolled back automatically
		mkdir -p "$FAULTS_WORK/dist-bad"
		cp -a "$FAULTS_WORK/dist/." "$FAULTS_WORK/dist-bad/"
		sed -i 's/^MODE=.*/MODE=crash/' "$FAULTS_WORK/dist-bad/etc/gateway.conf"
	fi
	if [ "$FAULTS_STACK" = entries ]; then
		# B: the deploy kept A's entry its SOURCE lacks; C: B without it
		tree_sum "$FAULTS_WORK/dist" >"$FAULTS_WORK/sum-C"
		mkdir -p "$FAULTS_WORK/ref-B"
		cp -a "$FAULTS_WORK/dist/." "$FAULTS_WORK/ref-B/"
		cp -a "$FAULTS_WORK/ref/etc/api-legacy.conf" "$FAULTS_WORK/ref-B/etc/"
		tree_sum "$FAULTS_WORK/ref-B" >"$FAULTS_WORK/sum-B"
	else
		tree_sum "$FAULTS_WORK/dist" >"$FAULTS_WORK/sum-B"
	fi
	for ((i = 1; i <= LG_FAULT_JOBS; i++)); do
		lane_init "$FAULTS_WORK/lane$i" "$FAULTS_WORK/h$i"
		FAULTS_LOG=$FAULTS_WORK/prepare$i.log in_lane lane_prepare "$FAULTS_WORK/lane$i" ||
			{ cat "$FAULTS_WORK/prepare$i.log" >&2; return 1; }
	done
}

faults_teardown_file() {
	local lane
	[ -n "${FAULTS_WORK:-}" ] && [ -d "$FAULTS_WORK" ] || return 0
	for lane in "$FAULTS_WORK"/lane*; do
		[ -e "$lane/lane.env" ] || continue
		# shellcheck source=/dev/null
		source "$lane/lane.env"
		kill_host_processes
	done
	# LG_FAULT_KEEP=1 keeps the work folder (logs, strace calibrations)
	if [ -n "${LG_FAULT_KEEP:-}" ]; then
		echo "# kept $FAULTS_WORK" >&3
		return 0
	fi
	rm -rf "$FAULTS_WORK"
}

# fault_points LOG CAP: from the strace LOG (-y: descriptors with their
# paths) of an uninterrupted run, the points to try, "CLASS CALL N [TAG]",
# in the order the calls happened (of the classes in SWEEP_CLASSES, default
# all); more than CAP points of a capped class are spread evenly over its
# run (the classes of SWEEP_CAPPED, default write and open). Writes
# "CLASS EXISTED TRIED" lines to LOG.counts.
fault_points() {
	local log=$1 cap=$2 spec class call
	spec=$(for class in "${CLASSES[@]}"; do
		for call in ${CLASS_CALLS[$class]:-}; do printf '%s %s\n' "$call" "$class"; done
	done)
	awk -v spec="$spec" -v cap="$cap" -v counts="$log.counts" \
		-v classes="${SWEEP_CLASSES:-${CLASSES[*]}}" -v spawns=" $SPAWN_CALLS " \
		-v capped=" ${SWEEP_CAPPED:-$CAPPED_CLASSES} " '
		BEGIN {
			n = split(spec, lines, "\n")
			for (i = 1; i <= n; i++) { split(lines[i], f, " "); class_of[f[1]] = f[2] }
		}
		{
			p = index($0, "(")
			if (p < 2) next
			call = substr($0, 1, p - 1)
			if (index(spawns, " " call " ")) { spawned = 1; next }
			if (!(call in class_of)) next
			seen[call]++
			c = class_of[call]
			if (c == "write") {
				if (spawned) pt["spawn", ++count["spawn"]] = "spawn " call " " seen[call]
				spawned = 0
			}
			if ((call == "openat" || call == "open") && $0 !~ /O_CREAT|O_TRUNC|O_WRONLY|O_RDWR/)
				next
			k = ++count[c]
			pt[c, k] = c " " call " " seen[call]
		}
		END {
			n = split(classes, order, " ")
			for (o = 1; o <= n; o++) {
				c = order[o]
				total = count[c] + 0
				want = total
				if (cap > 1 && index(capped, " " c " ") && total > cap)
					want = cap
				for (i = 0; i < want; i++) {
					k = want == total ? i + 1 : 1 + int(i * (total - 1) / (want - 1))
					print pt[c, k]
				}
				printf "%s %d %d\n", c, total, want > counts
			}
		}' "$log"
}

# sweep NAME START MODE -- ARGS...: run `lastgood ARGS` from START once
# uninterrupted (the calibration: it must end on SWEEP_CALIBRATION_END,
# default SWEEP_TARGET), then once per fault point, in every lane at once;
# merge and summarize. Fails only when the sweep itself could not run (or
# a point could not even start its services); the properties are judged by
# expect_no_problems.
sweep() {
	local name=$1 start=$2 mode=$3
	shift 4
	calibrate "$name" "$start" "$@" || return 1
	fault_points "$FAULTS_WORK/$name.strace" "$(sweep_cap)" >"$FAULTS_WORK/$name.points"
	points_run "$name" "$start" "$mode" "$@"
}

# sweep_cap: the points tried per capped class: SWEEP_CAP for a sweep that
# sets it (it caps SWEEP_CAPPED, default the write and open classes), else
# LG_FAULT_CAP; every point (0) under FULL=1.
sweep_cap() {
	if [ "$LG_FAULT_CAP" = 0 ]; then echo 0; else echo "${SWEEP_CAP:-$LG_FAULT_CAP}"; fi
}

# calibrate NAME START ARGS...: `lastgood ARGS` from START, in lane 1, once
# without a fault, every call logged to $FAULTS_WORK/NAME.strace; it must
# end as clean_run says.
calibrate() { clean_run trace "$@"; }

# clean_run MODE NAME START ARGS...: `lastgood ARGS` from START, in lane 1,
# once without a fault (fault_run MODE: trace, or timed with no kill); it
# must end on SWEEP_CALIBRATION_END (default SWEEP_TARGET) with exit status
# SWEEP_CLEAN_RC (default 0; 3 for a deploy that fails verification).
clean_run() {
	local mode=$1 name=$2 start=$3 out=$FAULTS_WORK/$2 want=${SWEEP_CALIBRATION_END:-$SWEEP_TARGET}
	shift 3
	rm -rf "$out.d"
	mkdir -p "$out.d"
	echo "- - 0" >"$out.d/calibration-point"
	FAULTS_LOG=$out.d/calibration.log in_lane lane_run "$FAULTS_WORK/lane1" \
		"$out.d/calibration-point" "$start" "$mode" "$@" ||
		{ cat "$out.d/calibration.log" >&2; return 1; }
	[ "$mode" != trace ] || cp "$FAULTS_WORK/lane1/cmd.strace" "$out.strace"
	if [ -s "$FAULTS_WORK/lane1/problems" ] ||
		[ "$(cut -f5,6 "$FAULTS_WORK/lane1/results")" != "${SWEEP_CLEAN_RC:-0}	$want" ]; then
		echo "lastgood $* did not end cleanly on $want without a fault:" >&2
		cat "$FAULTS_WORK/lane1/results" "$FAULTS_WORK/lane1/problems" >&2
		return 1
	fi
}

# timed_sweep NAME START COUNT -- ARGS...: `lastgood ARGS` from START once
# uninterrupted, timed (it must end as clean_run says), then
# COUNT times killed with SIGKILL after a delay drawn uniformly from that
# duration (1 ms to all of it) with the seed LG_FAULT_SEED, in every lane
# at once; merged and summarized like a sweep. The same seed and duration
# draw the same delays: each point names its iteration (NAME#I), so a
# failure is replayed with LG_FAULT_SEED, LG_FAULT_ONLY=NAME#I (that
# iteration alone) and LG_FAULT_MS (with LG_FAULT_ONLY, the duration to
# draw from instead of the one measured). A replay kills after the same
# delay, not at the same instruction: a machine that runs faster or slower
# lands elsewhere.
timed_sweep() {
	local name=$1 start=$2 count=$3 out=$FAULTS_WORK/$1 ms only=
	shift 4
	[[ ${LG_FAULT_ONLY:-} == "$name#"* ]] && only=${LG_FAULT_ONLY#"$name#"}
	clean_run timed "$name" "$start" "$@" || return 1
	ms=$(cat "$FAULTS_WORK/lane1/cmd.ms")
	[ -n "$only" ] && ms=${LG_FAULT_MS:-$ms}
	echo "# $name: lastgood $* takes $ms ms uninterrupted; $count kills within it;" \
		"replay the Ith with LG_FAULT_SEED=$LG_FAULT_SEED LG_FAULT_MS=$ms LG_FAULT_ONLY=$name#I" >&3
	# the Ith delay depends on the seed and the duration alone
	awk -v seed="$LG_FAULT_SEED" -v n="$count" -v ms="$ms" -v name="$name" -v only="$only" 'BEGIN {
		srand(seed)
		if (only != "") n = only
		for (i = 1; i <= n; i++) {
			ms_i = 1 + int(rand() * ms)
			if (only == "" || i == only) printf "time kill %d %s#%d\n", ms_i, name, i
		}
	}' >"$out.points"
	points_run "$name" "$start" timed "$@"
}

# nth_call LOG CALL REGEX: N such that the Nth CALL in the strace LOG is
# the first one whose line matches REGEX (awk); empty when none does.
nth_call() {
	awk -v call="$2(" -v re="$3" 'index($0, call) == 1 { n++; if ($0 ~ re) { print n; exit } }' "$1"
}

# first_spawn_after_swaps LOG: "CALL N" for the first spawn (clone, clone3
# or vfork) after the last renameat2 of the switch in the strace LOG (the
# Nth CALL): the first service start of a deploy past its commit point.
first_spawn_after_swaps() {
	awk 'match($0, /^[a-z0-9_]+\(/) {
		c = substr($0, 1, RLENGTH - 1); k[c]++
		if (c == "renameat2") { found = "" ; armed = 1 }
		else if (armed && (c == "clone" || c == "clone3" || c == "vfork")) {
			found = c " " k[c]; armed = 0
		}
	} END { print found }' "$1"
}

# count_calls LOG CALL: how many times the strace LOG shows CALL.
count_calls() {
	awk -v call="$2(" 'index($0, call) == 1 { n++ } END { print n + 0 }' "$1"
}

# points_run NAME START MODE ARGS...: the points of $FAULTS_WORK/NAME.points
# dealt out round robin to the lanes, run, merged, summarized.
points_run() {
	local name=$1 start=$2 mode=$3 i rc=0 pids=()
	shift 3
	local out=$FAULTS_WORK/$name
	mkdir -p "$out.d"
	for ((i = 1; i <= LG_FAULT_JOBS; i++)); do
		awk -v k="$i" -v n="$LG_FAULT_JOBS" '(NR - 1) % n == k - 1' "$out.points" >"$out.d/points$i"
		FAULTS_LOG=$out.d/lane$i.log in_lane lane_run "$FAULTS_WORK/lane$i" "$out.d/points$i" \
			"$start" "$mode" "$@" &
		pids+=($!)
	done
	for i in "${!pids[@]}"; do
		wait "${pids[$i]}" || {
			rc=1
			echo "lane $((i + 1)) failed:" >&2
			tail -n 20 "$out.d/lane$((i + 1)).log" >&2
		}
	done
	: >"$out.results"
	: >"$out.problems"
	for ((i = 1; i <= LG_FAULT_JOBS; i++)); do
		cat "$FAULTS_WORK/lane$i/results" >>"$out.results"
		cat "$FAULTS_WORK/lane$i/problems" >>"$out.problems"
	done
	cp "$out.results" "$out.problems" "$FAULTS_OUT/"
	sweep_summary "$name" "$mode" "$*"
	[ "$rc" = 0 ] || return 1
	[ -s "$out.results" ] || { echo "no fault point ran" >&2; return 1; }
	expect_no_problems "$name" setup
}

# sweep_summary NAME MODE COMMAND: per class, the points that existed and
# were tried, how many the fault hit, the exit statuses, where the host
# ended; as TAP comments (fd 3) and as NAME's line in
# build/faults-summary.txt.
sweep_summary() {
	local name=$1 mode=$2 command=$3 out=$FAULTS_WORK/$1 hit lines problems what capped
	case $mode in
	kill) hit=killed; what="killed (SIGKILL)" ;;
	timed) hit=killed; what="killed (SIGKILL) after a random time (LG_FAULT_SEED=$LG_FAULT_SEED)" ;;
	fill) hit=failed; what="run on a small tmpfs filled but for N bytes" ;;
	*+) hit=injected; what="${mode%+} injected from that call on" ;;
	*) hit=injected; what="$mode injected" ;;
	esac
	[ -e "$out.strace.counts" ] ||
		cut -f1 "$out.results" | sort | uniq -c | awk '{ print $2, $1, $1 }' >"$out.strace.counts"
	# each release a host can end on, "A (old)", "B (new)" when the sweep
	# has an old and a target release
	local labels='' r
	for r in $FAULT_RELEASES; do
		if [ "$r" = "${SWEEP_OLD:-}" ]; then labels+="$r=$r (old)|"
		elif [ -n "${SWEEP_OLD:-}" ] && [ "$r" = "$SWEEP_TARGET" ]; then labels+="$r=$r (new)|"
		else labels+="$r=$r|"; fi
	done
	lines=$(awk -v hit="$hit" -v labels="${labels%|}" '
		BEGIN {
			nr = split(labels, l, "|")
			for (i = 1; i <= nr; i++) { rel[i] = substr(l[i], 1, index(l[i], "=") - 1); label[i] = substr(l[i], index(l[i], "=") + 1) }
		}
		FNR == NR { existed[$1] = $2; tried[$1] = $3; order[++n] = $1; next }
		{
			if ($4 == hit) { landed[$1]++; all_landed++ }
			ended[$1, $6]++; all_ended[$6]++; all_tried++; exits[$5]++
		}
		END {
			for (i = 1; i <= n; i++) {
				c = order[i]
				all_existed += existed[c]
				if (!existed[c]) continue
				printf "%s %d of %d points tried, %d %s, ended on", c, tried[c], existed[c], landed[c], hit
				for (j = 1; j <= nr; j++) printf "%s %s %d", (j > 1 ? "," : ""), label[j], ended[c, rel[j]]
				printf "\n"
			}
			sep = ""
			for (e in exits) { ex = ex sep "exit " e ": " exits[e]; sep = ", " }
			printf "total %d of %d points tried, %d %s (%s), ended on", all_tried, all_existed, all_landed, hit, ex
			for (j = 1; j <= nr; j++) printf " %s %d,", label[j], all_ended[rel[j]]
			printf " neither %d\n", all_ended["neither"]
		}' FS='[ \t]' "$out.strace.counts" "$out.results")
	problems=$(cut -f1,2 "$out.problems" | sort -u | cut -f1 | uniq -c |
		awk '{ printf "%s%s %s", sep, $2, $1; sep = ", " }')
	{
		if [ "$mode" = timed ]; then
			echo "# $name: lastgood $command, $what ($LG_FAULT_JOBS lanes)"
		else
			read -r -a capped <<<"${SWEEP_CAPPED:-$CAPPED_CLASSES}"
			local sample="every point"
			[ "$(sweep_cap)" = 0 ] ||
				sample="at most $(sweep_cap) points of each of: ${capped[*]}"
			echo "# $name: lastgood $command, $what at each point ($sample; $LG_FAULT_JOBS lanes)"
		fi
		sed 's/^/#   /' <<<"$lines"
		echo "#   problems: ${problems:-none}"
	} >&3
	mkdir -p "$(dirname "$FAULTS_SUMMARY")"
	touch "$FAULTS_SUMMARY"
	{
		grep -v "^$name: " "$FAULTS_SUMMARY" || true
		printf '%s: lastgood %s, %s: %s | %s | problems: %s\n' "$name" \
			"${command/$FAULTS_WORK\//}" "$what" "$(tail -n 1 <<<"$lines" | sed 's/^total //')" \
			"$(sed '$d' <<<"$lines" | paste -sd '|' | sed 's/|/ | /g')" "${problems:-none}"
	} >"$FAULTS_SUMMARY.new"
	mv "$FAULTS_SUMMARY.new" "$FAULTS_SUMMARY"
}

# expect_no_problems SWEEP[,SWEEP...] KEY...: no point of those sweeps
# broke any of the properties KEY; else the first of them and their count.
expect_no_problems() {
	local names=$1 name found='' count
	shift
	for name in ${names//,/ }; do
		[ -s "$FAULTS_WORK/$name.results" ] || { echo "sweep '$name' did not run" >&2; return 1; }
		found+=$(awk -F'\t' -v sweep="$name" -v keys=" $* " \
			'index(keys, " " $1 " ") { print $1 "\t" sweep ": " $2 "\t" $3 }' \
			"$FAULTS_WORK/$name.problems")
		found+=$'\n'
	done
	found=$(sed '/^$/d' <<<"$found")
	[ -z "$found" ] && return 0
	count=$(cut -f2 <<<"$found" | sort -u | wc -l)
	echo "$count fault point(s) broke $*:" >&2
	head -n 15 <<<"$found" |
		awk -F'\t' '{ printf "  [%s] %s:\n      %s\n", $1, $2, substr($3, 1, 700) }' >&2
	return 1
}

# ---- a full disk, for real ----

# disk_full_sweep NAME LEVELS: `lastgood deploy` of release B with a big
# file (dist-big) onto a host whose store and live files are on a small
# tmpfs (LG_FAULT_DISK_SIZE, 4m), filled but for N bytes, for LEVELS values
# of N from nothing to all the room there is. Runs in a mount namespace of
# its own (unshare -m, as root); merged and summarized like a sweep.
disk_full_sweep() {
	local name=$1 levels=$2 out=$FAULTS_WORK/$1 lane=$FAULTS_WORK/disklane
	mkdir -p "$out.d" "$FAULTS_WORK/disk"
	mkdir -p "$FAULTS_WORK/dist-big"
	cp -a "$FAULTS_WORK/dist/." "$FAULTS_WORK/dist-big/"
	head -c 1000000 /dev/urandom >"$FAULTS_WORK/dist-big/web/static/big.bin"
	tree_sum "$FAULTS_WORK/dist-big" >"$FAULTS_WORK/sum-B-big"
	export SWEEP_SUM_B=$FAULTS_WORK/sum-B-big
	lane_init "$lane" "$FAULTS_WORK/disk/h"
	FAULTS_LOG=$out.d/lane.log in_lane unshare -m --propagation private \
		bash -c 'source "$1"; shift; disk_full_inside "$@"' disk "$FAULTS_LIB" "$name" "$levels" ||
		{ tail -n 30 "$out.d/lane.log" >&2; return 1; }
	cp "$lane/results" "$out.results"
	cp "$lane/problems" "$out.problems"
	cp "$out.results" "$out.problems" "$FAULTS_OUT/"
	sweep_summary "$name" fill "deploy --label B dist-big (a 1 MB file more)"
	[ -s "$out.results" ] || { echo "no fill level ran" >&2; return 1; }
	expect_no_problems "$name" setup
}

# disk_full_inside NAME LEVELS: the part of disk_full_sweep in the mount
# namespace: mount, prepare the host on the tmpfs, run every level.
disk_full_inside() {
	local name=$1 levels=$2 lane=$FAULTS_WORK/disklane avail i
	mount -t tmpfs -o "size=${LG_FAULT_DISK_SIZE:-4m}" tmpfs "$FAULTS_WORK/disk" || return 1
	lane_prepare "$lane" "$FAULTS_WORK/dist-big" || return 1
	lane_load "$lane"
	# the room a deploy has: the tmpfs with release A live, running
	cp -a "$lane/before-deploy" "$HOST"
	(cd "$HOST" && lg_t -q start) || return 1
	avail=$(df -B1 --output=avail "$HOST" | tail -n 1)
	(cd "$HOST" && lg_t -q stop)
	kill_host_processes
	rm -rf "$HOST"
	for ((i = 0; i < levels; i++)); do
		echo "disk fill $((avail * i / (levels - 1)))"
	done >"$FAULTS_WORK/$name.points"
	lane_run "$lane" "$FAULTS_WORK/$name.points" before-deploy fill \
		deploy --label B "$FAULTS_WORK/dist-big"
	cd / && umount "$FAULTS_WORK/disk"
}
