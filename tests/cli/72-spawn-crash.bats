#!/usr/bin/env bats
# A lastgood killed between starting a `process` service and recording its
# pid leaves nothing running untracked, even for a program that wipes the
# environment /proc/PID/environ shows (as redis and postgres do when they
# set their process title), where the LASTGOOD_SERVICE marker is lost: the
# service runs only once its pid is recorded.

load helpers
load helpers-services

# lonely_service: a process service whose program clears its environment
# (env -i) before it runs, and no health check: bin/lonely, a copy of
# sleep, so that its processes are told apart by their executable.
lonely_service() {
	mkdir -p bin
	cp "$(command -v sleep)" bin/lonely
	cat >lastgood.yml <<-YML
	policy: $FAST_POLICY
	services:
	  lonely:
	    manager: process
	    run: [sh, -c, 'exec env -i bin/lonely 3600']
	    files: [bin/lonely]
	YML
}

# lonely_pids: the processes running bin/lonely.
lonely_pids() {
	local dir
	for dir in /proc/[0-9]*; do
		[ "$(readlink "$dir/exe" 2>/dev/null)" = "$HOST/bin/lonely" ] && echo "${dir#/proc/}"
	done
	return 0
}

no_lonely() { [ -z "$(lonely_pids)" ]; }

# first_record_after_spawn ARGS...: N such that the Nth pwrite64 of
# `lastgood ARGS` is the first after it spawns a service: the write of the
# record of its pid.
first_record_after_spawn() {
	ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" strace -qq -o "$BATS_TEST_TMPDIR/trace" \
		-e trace=clone,clone3,vfork,pwrite64 "$LG_REAL" "$@" >/dev/null 2>&1
	awk '/^(clone|clone3|vfork)\(/ { spawned = 1; next }
	     /^pwrite64\(/ { n++; if (spawned) { print n; exit } }' "$BATS_TEST_TMPDIR/trace"
}

@test "a start killed before it records the pid of a program that wipes its environment leaves nothing running" {
	lonely_service
	lg_ok start
	[ -n "$(lonely_pids)" ]
	# the program is not findable by its marker once it runs
	pid=$(lonely_pids)
	if tr '\0' '\n' <"/proc/$pid/environ" | grep -q '^LASTGOOD_SERVICE='; then
		echo "the marker is still there: the test would not show anything" >&2
		return 1
	fi
	lg_ok stop
	[ -z "$(lonely_pids)" ]
	n=$(first_record_after_spawn start)
	[ -n "$n" ]
	lg_ok stop
	LG=$LG_REAL run kill_at pwrite64 "$n" start
	expect_equal "$status" 137
	# the service never ran: once the gate has seen lastgood die, nothing
	# is left
	wait_until 50 no_lonely || { echo "running untracked: $(lonely_pids)" >&2; return 1; }
	# and the next commands find a service that is stopped, and start it
	lg_ok stop
	[ -z "$(lonely_pids)" ]
	lg_ok start
	expect_equal "$(lonely_pids)" "$(service_pid lonely)"
	lg_ok stop
	[ -z "$(lonely_pids)" ]
}

@test "a program that cannot run is still named, and nothing is left running or recorded" {
	mkdir -p bin
	cat >lastgood.yml <<-YML
	policy: $FAST_POLICY
	services:
	  ghost:
	    manager: process
	    run: [bin/no-such-program]
	YML
	lg_status 1 start
	expect_match "$stderr" "cannot start service 'ghost': cannot run '$HOST/bin/no-such-program': No such file or directory"
	expect_equal "$(sqlite3 .lastgood/state.db 'SELECT count(*) FROM processes')" 0
	expect_equal "$(service_pid ghost)" ""
}

@test "a gate still waiting for a go-ahead that will never come is not taken for the service" {
	lonely_service
	lg_ok start
	lg_ok stop
	# What a lastgood killed before the go-ahead leaves, caught before the
	# gate has seen it die: a gate recorded as the service's process. This
	# one holds its own pipe open, so it waits until it is stopped.
	mkfifo "$BATS_TEST_TMPDIR/go"
	LASTGOOD_SERVICE="$(realpath .lastgood)/lonely" setsid "$LG_REAL" --lastgood-exec-gate \
		bin/lonely 3600 3<>"$BATS_TEST_TMPDIR/go" 4>/dev/null >/dev/null 2>&1 &
	local gate=$! ticks
	wait_until 50 grep -q -- --lastgood-exec-gate "/proc/$gate/cmdline"
	ticks=$(awk '{ print $22 }' "/proc/$gate/stat")
	sqlite3 .lastgood/state.db "INSERT INTO processes(service, pid, start_ticks, started_ms)
		VALUES ('lonely', $gate, $ticks, 0)"
	lg_status 1 verify
	expect_match "$output$stderr" "never ran"
	# start stops the gate and runs the service
	lg_ok start
	wait_until 50 sh -c "! grep -qs -- --lastgood-exec-gate /proc/$gate/cmdline"
	expect_equal "$(lonely_pids)" "$(service_pid lonely)"
	lg_ok stop
	no_lonely
}
