#!/usr/bin/env bats
# Errors of lastgood's own state database in the middle of a deploy or a
# rollback, injected by strace (EIO) at a write or sync found in a traced
# run of the same command from the same state. lastgood's own failure is
# never taken for the release failing, never reported as "failed" (exit 1)
# once the host has changed: exit 4 says which release is live, which
# services run and to run `lastgood recover`, and the operation is left
# for recover, which settles it.

load helpers
load helpers-services

# api at version 1, recorded and good, running; ../v2 changes its config.
running_v1() {
	take_port API_PORT
	add_service api
	{ config_head; service_yaml api "$API_PORT"; } >lastgood.yml
	lg_ok snapshot --label v1
	lg_ok start
	make_conf_source ../v2 api VERSION=2
}

# save: the host as it is, its services stopped, kept for restore (at the
# same path: the journal holds absolute paths).
save() {
	lg_ok stop
	rm -rf ../saved
	cp -a "$HOST" ../saved
}

# restore: the host as saved, its services started.
restore() {
	cd / && rm -rf "$HOST" && cp -a "$BATS_TEST_TMPDIR/saved" "$HOST" && cd "$HOST" && lg_ok start
}

# traced CALLS ARGS...: `lastgood -q ARGS` from the restored host, CALLS
# logged to ../trace (-y: descriptors with their paths); then its services
# are stopped.
traced() {
	local calls=$1
	shift
	restore
	ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0" strace -qq -y -o ../trace -e trace="$calls" \
		"$LG_REAL" -q "$@" >/dev/null 2>&1 || { echo "traced run failed" >&2; return 1; }
	lg_ok stop
}

# injected SPEC ARGS...: `lastgood -q ARGS` from the restored host with
# strace's inject SPEC; exit status in $status, stderr in $stderr.
injected() {
	local spec=$1
	shift
	restore
	status=0
	ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0" strace -qq -o /dev/null -e inject="$spec" \
		"$LG_REAL" -q "$@" >/dev/null 2>../err || status=$?
	stderr=$(cat ../err)
}

# operation_result: the result of the newest operation.
operation_result() {
	lg --json history | jq -r '.[0].result'
}

@test "a state database error recording a started service marks no release bad: exit 4, recover starts it" {
	running_v1
	lg_ok deploy ../v2 --label v2
	save
	# the write right after lastgood spawns the service records its pid
	traced pwrite64,clone,clone3,vfork rollback v1
	n=$(awk '/^(clone|clone3|vfork)\(/ { spawned = 1; next }
		/^pwrite64\(/ { n++; if (spawned) { print n; exit } }' ../trace)
	[ -n "$n" ] || { echo "no write after a spawn in the trace" >&2; return 1; }

	injected "pwrite64:error=EIO:when=$n" rollback v1
	expect_equal "$status" 4
	expect_match "$stderr" "record process: disk I/O error"
	expect_match "$stderr" "release 1 is live; not running: api; run 'lastgood recover'"
	expect_equal "$(release_mark 1)" good
	expect_equal "$(operation_result)" running

	lg_ok recover
	expect_equal "$(operation_result)" finished
	expect_equal "$(live_release)" 1
	expect_equal "$(release_mark 1)" good
	expect_service_process "$(service_pid api)" "$API_PORT"
	expect_equal "$(version_at "$API_PORT")" 1
}

@test "a state database failing from the first record after the commit point on: exit 4, not 1; recover puts the old release back" {
	running_v1
	save
	# the third sync of the WAL after the last swap: the swap's step, the
	# commit point, then the first record after it
	traced renameat2,fdatasync deploy ../v2 --label v2
	n=$(awk '/^renameat2\(/ { after = 0; swapped = 1; next }
		/^fdatasync\(/ { n++; if (swapped && /state\.db-wal>/ && ++after == 3) { print n; exit } }' ../trace)
	[ -n "$n" ] || { echo "no third WAL sync after a swap in the trace" >&2; return 1; }

	injected "fdatasync:error=EIO:when=$n+" deploy ../v2 --label v2
	expect_equal "$status" 4
	expect_match "$stderr" "deploy of release 2 did not finish: .*disk I/O error"
	expect_match "$stderr" "release 2 is live; not running: api; run 'lastgood recover'"
	expect_equal "$(operation_result)" running

	# release 2 was never verified: recover puts release 1 back, marking
	# neither bad
	lg_ok recover
	expect_equal "$(live_release)" 1
	expect_equal "$(grep '^VERSION=' etc/api.conf)" VERSION=1
	expect_equal "$(release_mark 2)" null
	expect_service_process "$(service_pid api)" "$API_PORT"
	expect_equal "$(version_at "$API_PORT")" 1
}

@test "a failed write-back of the state database's log stops a deploy before anything changes" {
	running_v1
	save
	# lastgood writes the log back itself once it holds the lock: the first
	# sync of the database file
	traced fdatasync deploy ../v2 --label v2
	n=$(awk '/^fdatasync\(/ { n++; if (/state\.db>/) { print n; exit } }' ../trace)
	[ -n "$n" ] || { echo "no sync of the database file in the trace" >&2; return 1; }

	injected "fdatasync:error=EIO:when=$n" deploy ../v2 --label v2
	expect_equal "$status" 1
	expect_match "$stderr" "^lastgood: state database: write the log back: disk I/O error"
	expect_equal "$(grep '^VERSION=' etc/api.conf)" VERSION=1
	expect_equal "$(live_release)" 1
	# the newest operation is the start that brought the host up again
	expect_equal "$(lg --json history | jq -r '.[0].command')" start

	# nothing was lost: the log is written back the next time
	lg_ok deploy ../v2 --label v2
	expect_equal "$(live_release)" 2
	expect_equal "$(lg --json releases | jq -r '[.[].label] | sort | join(",")')" v1,v2
}
