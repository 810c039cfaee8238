#!/usr/bin/env bats
# The state folder's safety checks and the lock between operations.

load helpers

@test "the state folder is created beside the config, mode 0700" {
	make_stack
	lg_ok snapshot
	[ -d .lastgood ]
	expect_equal "$(stat -c %a .lastgood)" 700
	[ -f .lastgood/state.db ]
}

@test "--state-dir puts the state elsewhere" {
	make_stack
	lg_ok --state-dir ../state snapshot
	[ ! -e .lastgood ]
	[ -f ../state/state.db ]
	lg_ok --state-dir ../state --json releases
	expect_equal "$(jq length <<<"$output")" 1
}

@test "read-only commands on a host with no state succeed and create nothing" {
	make_stack
	lg_ok status
	lg_ok releases
	lg_ok history
	lg_ok fsck
	[ ! -e .lastgood ]
}

# close_log: the state database as another SQLite program leaves it when
# it closes it last: its log written back and removed, with its -shm index.
# (lastgood keeps both, and writes the log back itself.)
close_log() {
	sqlite3 .lastgood/state.db 'PRAGMA user_version' >/dev/null
	[ ! -e .lastgood/state.db-wal ] && [ ! -e .lastgood/state.db-shm ]
}

# on_full_disk: each read-only command, then a snapshot, run on a copy of
# ./stack on a 1 MB tmpfs filled to the last byte, in a mount namespace of
# the test's own; one line each in $lines: "ARGS: STATUS LINES STDERR".
on_full_disk() {
	run --separate-stderr unshare -m --propagation private bash -c '
		mount -t tmpfs -o size=1m tmpfs disk && cp -a stack/. disk/ && cd disk || exit 99
		fallocate -l "$(df -B1 --output=avail . | tail -n 1)" filler || exit 99
		[ "$(df -B1 --output=avail . | tail -n 1)" -eq 0 ] || exit 98
		for args in status history releases "--json releases" "snapshot --label B"; do
			"$1" $args >"$2/out" 2>"$2/err"
			echo "$args: $? $(wc -l <"$2/out") $(cat "$2/err")"
		done' check "$LG" "$BATS_TEST_TMPDIR"
	expect_equal "$status" 0
	expect_equal "${#lines[@]}" 5
	for i in 0 1 2; do
		expect_match "${lines[$i]}" '^[a-z]+: 0 [1-9][0-9]* $'
	done
	expect_match "${lines[3]}" '^--json releases: 0 '
}

@test "on a disk with no byte free, read-only commands still read; a mutation says why it cannot" {
	unshare -m --propagation private true 2>/dev/null ||
		skip "cannot unshare a mount namespace here (needs root)"
	mkdir stack disk
	(cd stack && make_stack && "$LG" -q snapshot --label A >/dev/null)
	# with the log and index lastgood leaves: it writes through them
	on_full_disk
	expect_equal "${lines[4]}" "snapshot --label B: 1 0 lastgood: cannot copy '$HOST/disk/bin/api': No space left on device"
	# with neither: SQLite can set up neither its -wal nor its -shm index
	(cd stack && close_log)
	on_full_disk
	expect_equal "${lines[4]}" "snapshot --label B: 1 0 lastgood: state database: set journal mode: disk I/O error (No space left on device)"
}

@test "on a disk with no byte free, fsck still names damage, and says the stat cache could not forget it" {
	unshare -m --propagation private true 2>/dev/null ||
		skip "cannot unshare a mount namespace here (needs root)"
	mkdir stack disk
	# without the log, which SQLite then cannot set up: read-only
	(cd stack && make_stack && "$LG" -q snapshot >/dev/null && lose_object web/index.html && close_log)
	run --separate-stderr unshare -m --propagation private bash -c '
		mount -t tmpfs -o size=1m tmpfs disk && cp -a stack/. disk/ && cd disk || exit 99
		fallocate -l "$(df -B1 --output=avail . | tail -n 1)" filler || exit 99
		"$1" fsck >"$2/out" 2>"$2/err"
		echo "$?"' check "$LG" "$BATS_TEST_TMPDIR"
	expect_equal "$status" 0
	expect_equal "$output" 1
	expect_match "$(cat "$BATS_TEST_TMPDIR/out")" "^missing object $(cd stack && sha web/index.html) "
	expect_match "$(cat "$BATS_TEST_TMPDIR/err")" \
		"^lastgood: the next snapshot may not read the damaged files again: state database: forget cached files: .*readonly"
}

@test "with the state database held by another writer, fsck still names damage, and says the stat cache could not forget it" {
	make_stack
	lg_ok snapshot
	local index
	index=$(sha web/index.html)
	lose_object web/index.html
	# edited since: no live file holds the lost content for fsck to store again
	echo '<h1>edited</h1>' >web/index.html
	# Another program holds the database's write lock for as long as its
	# input stays open; lastgood waits its busy timeout (10 s) for it.
	mkfifo hold
	sqlite3 .lastgood/state.db <hold >holder.out 2>&1 &
	local holder=$!
	exec 9>hold
	# waiting, should a probe below hold the database for a moment
	printf '.timeout 10000\nBEGIN IMMEDIATE;\n' >&9
	local tries=0
	until ! sqlite3 .lastgood/state.db "BEGIN IMMEDIATE; ROLLBACK;" 2>/dev/null; do
		tries=$((tries + 1))
		[ "$tries" -lt 500 ] || { echo "the other writer never took the lock" >&2; return 1; }
		sleep 0.01
	done
	run --separate-stderr "$LG" fsck
	exec 9>&-
	wait "$holder"
	expect_equal "$status" 1
	expect_match "$output" "^missing object $index "
	expect_match "$stderr" \
		"^lastgood: the next snapshot may not read the damaged files again: state database: forget cached files: .*locked"
	local rows="SELECT count(*) FROM stat_cache WHERE digest = '$index'"
	expect_equal "$(sqlite3 .lastgood/state.db "$rows")" 1
	# once the other writer is gone, fsck forgets the damage as usual
	lg_status 1 fsck
	expect_equal "$(sqlite3 .lastgood/state.db "$rows")" 0
}

# inject CALL ERRNO N ARGS...: lastgood ARGS with the Nth CALL failing with
# ERRNO (strace); status and stderr as `run` leaves them.
inject() {
	local call=$1 errno=$2 n=$3
	shift 3
	run --separate-stderr env ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" strace -qq \
		-o /dev/null -e trace="$call" -e inject="$call:error=$errno:when=$n" "$LG" -q "$@"
}

# nth_call CALL REGEX ARGS...: run lastgood ARGS, and print N such that its
# Nth CALL is the first whose strace line (-y: paths) matches REGEX.
nth_call() {
	local call=$1 regex=$2
	shift 2
	ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" strace -y -qq -o "$BATS_TEST_TMPDIR/calls" \
		-e trace="$call" "$LG" -q "$@" >/dev/null
	grep -n -E -- "$regex" "$BATS_TEST_TMPDIR/calls" | head -n 1 | cut -d: -f1
}

@test "a state database error names the system error behind it" {
	# The Nth call is counted in one run and failed in the next; under
	# valgrind (make check-valgrind) the calls are valgrind's too.
	[ -z "${LASTGOOD_VALGRIND:-}" ] || skip "counts lastgood's own system calls"
	make_stack
	lg_ok snapshot
	# each time a snapshot with something to record
	printf 'LOG_LEVEL=debug\n' >>etc/api.env
	# the state database's first sync: its log, written back once the lock
	# is taken
	inject fdatasync ENOSPC 1 snapshot
	expect_equal "$status" 1
	expect_equal "$stderr" "lastgood: state database: write the log back: disk I/O error (No space left on device)"
	# its first write there
	n=$(nth_call pwrite64 'state[.]db-wal>' snapshot)
	[ -n "$n" ]
	printf 'A=1\n' >>etc/api.env
	inject pwrite64 EIO "$n" snapshot
	expect_equal "$status" 1
	expect_equal "$stderr" "lastgood: state database: record operation: disk I/O error (Input/output error)"
	# SQLite retries a database it cannot open for writing read-only
	n=$(nth_call openat '/state[.]db"' snapshot)
	[ -n "$n" ]
	printf 'B=1\n' >>etc/api.env
	inject openat EIO "$n" snapshot
	expect_equal "$status" 1
	expect_equal "$stderr" "lastgood: cannot open state database '$HOST/.lastgood/state.db' for writing: Input/output error"
	# and its log, which it retries read-only too (no such file then, as
	# another program closing the database last leaves it)
	close_log
	inject openat EIO "$((n + 1))" snapshot
	expect_equal "$status" 1
	expect_equal "$stderr" "lastgood: state database: set journal mode: unable to open database file (Input/output error)"
}

@test "a state folder that is a symlink is refused" {
	make_stack
	mkdir ../real-state
	chmod 700 ../real-state
	ln -s ../real-state .lastgood
	run --separate-stderr lg snapshot
	[ "$status" -eq 1 ] || [ "$status" -eq 2 ]
	expect_match "$stderr" 'lastgood'
	[ -z "$(ls -A ../real-state)" ]
	run --separate-stderr lg releases
	[ "$status" -eq 1 ] || [ "$status" -eq 2 ]
}

@test "a state folder others can write is refused" {
	make_stack
	lg_ok snapshot
	chmod 0777 .lastgood
	run --separate-stderr lg snapshot
	[ "$status" -eq 1 ] || [ "$status" -eq 2 ]
	expect_match "$stderr" '\.lastgood'
	run --separate-stderr lg releases
	[ "$status" -eq 1 ] || [ "$status" -eq 2 ]
	chmod 0700 .lastgood
	lg_ok releases
}

@test "a state folder owned by someone else is refused" {
	[ "$(id -u)" -eq 0 ] || skip "needs root to give the folder away"
	make_stack
	lg_ok snapshot
	chown 65534 .lastgood
	run --separate-stderr lg snapshot
	[ "$status" -eq 1 ] || [ "$status" -eq 2 ]
	expect_match "$stderr" '\.lastgood'
}

# hold_lock: start `lastgood rollback 1` and stop it (SIGSTOP, injected by
# strace right after its first rename, well after it took the lock); sets
# $holder (strace's pid, leading its own process group) and $holder_pid
# (the stopped lastgood's).
hold_lock() {
	make_stack
	lg_ok snapshot
	change_stack
	lg_ok snapshot
	ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" setsid strace -f -q -o ../holder.strace \
		-e trace=rename,renameat,renameat2 \
		-e inject=rename,renameat,renameat2:signal=SIGSTOP:when=1 \
		"$LG" -q rollback 1 >../holder.out 2>&1 3>&- &
	holder=$!
	local i
	for i in $(seq 1 600); do
		holder_pid=$(awk '/--- stopped by SIGSTOP ---/ { print $1; exit }' ../holder.strace 2>/dev/null || true)
		[ -n "$holder_pid" ] && return 0
		kill -0 "$holder" 2>/dev/null || break
		sleep 0.1
	done
	echo "the holding rollback never stopped: $(cat ../holder.out ../holder.strace)" >&2
	return 1
}

release_lock() {
	kill -CONT "$holder_pid"
	wait "$holder"
}

@test "a second mutating command exits 75 naming the operation holding the lock" {
	hold_lock
	run --separate-stderr lg snapshot
	held_status=$status
	held_stderr=$stderr
	run --separate-stderr lg rollback 2
	second_status=$status
	release_lock
	expect_equal "$held_status" 75
	expect_equal "$second_status" 75
	expect_match "$held_stderr" 'rollback'
	expect_match "$held_stderr" "\\b$holder_pid\\b"
	expect_match "$held_stderr" '[0-9]+ ?(ms|s|m)\b'
	op=$(lg --json history | jq -r '[.[] | select(.command == "rollback")][0].id')
	expect_match "$held_stderr" "\\b$op\\b"
	# the holder went on to finish its rollback
	lg_ok --json status
	expect_equal "$(jq -r '.live_release' <<<"$output")" 1
}

@test "read-only commands do not wait for the lock" {
	hold_lock
	run --separate-stderr lg status
	s1=$status
	run --separate-stderr lg --json releases
	s2=$status
	n=$(jq length <<<"$output")
	run --separate-stderr lg history
	s3=$status
	release_lock
	expect_equal "$s1 $s2 $s3" "0 0 0"
	expect_equal "$n" 2
}

@test "the lock is free again after an operation ends or is killed" {
	make_stack
	lg_ok snapshot
	change_stack
	lg_ok snapshot
	lg_ok rollback 1
	lg_ok rollback 2
	rc=0
	kill_at rename,renameat,renameat2 1 rollback 1 || rc=$?
	expect_equal "$rc" 137
	lg_ok snapshot
}

# A test that failed while the holder was stopped must not leave it behind:
# kill its process group, strace and the stopped lastgood together.
teardown() {
	if [ -n "${holder:-}" ]; then
		kill -KILL -- "-$holder" 2>/dev/null || true
		wait "$holder" 2>/dev/null || true
	fi
	common_teardown
}
