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
