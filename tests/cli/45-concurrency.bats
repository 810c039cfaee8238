#!/usr/bin/env bats
# Many commands that change things, started at once against one stack: the
# lock lets one work at a time, the others exit 75 at once or, with --wait,
# take their turn; the host ends on one release and the record holds every
# operation that ran. No case depends on how the runs happen to interleave.

load helpers

# state_sum [DIR]: one line standing for tree_sum's listing of DIR.
state_sum() {
	local h
	h=$(tree_sum "$@" | sha256sum)
	echo "${h%% *}"
}

# storm_setup: the stack recorded as release 1, three sources (../src1-3,
# each with its own bin/api), ../src1 deployed as release 2. $allowed gets
# the state_sum of every tree the live files may end in: as made, or with
# one source deployed over them.
storm_setup() {
	local i
	make_stack
	mkdir ../made
	cp -a bin etc web ../made/
	allowed=$(state_sum ../made)
	for i in 1 2 3; do
		make_source "../src$i"
		printf 'echo from src%s\n' "$i" >>"../src$i/bin/api"
		cp -a ../made "../expect$i"
		rm -rf "../expect$i/web" "../expect$i/bin/api"
		cp -a "../src$i/web" "../expect$i/web"
		cp -a "../src$i/bin/api" "../expect$i/bin/api"
		allowed+=" $(state_sum "../expect$i")"
	done
	lg_ok snapshot
	lg_ok deploy ../src1
	setup_ops=2
}

# storm [GLOBAL-OPTIONS]: start ten commands that change things (snapshots,
# deploys of different sources, rollbacks to releases that exist whatever
# ran before) held at one barrier and released together; $codes gets their
# exit codes in order, ../storm.N.err their messages.
storm() {
	local cmds=("snapshot" "deploy ../src1" "deploy ../src2" "deploy ../src3" "rollback 1"
		    "snapshot --reason again" "deploy ../src2" "rollback 2" "deploy ../src3"
		    "deploy ../src1")
	local i rc pids=()
	rm -f ../go
	for i in "${!cmds[@]}"; do
		# word splitting of the command line is intended
		# shellcheck disable=SC2086
		(
			while [ ! -e ../go ]; do sleep 0.01; done
			exec "$LG" -q "$@" ${cmds[$i]} >"../storm.$i.out" 2>"../storm.$i.err"
		) &
		pids+=($!)
	done
	touch ../go
	codes=()
	for i in "${!pids[@]}"; do
		rc=0
		wait "${pids[$i]}" || rc=$?
		codes+=("$rc")
	done
}

# storm_check OPS: whatever ran, the host is on exactly one release, the
# record holds OPS operations and every one of them ended, and the store
# is whole.
storm_check() {
	local want_ops=$1 live
	lg_ok --json history --limit 1000
	expect_equal "$(jq length <<<"$output")" "$want_ops"
	expect_equal "$(jq '[.[] | select(.ended_ms == null)] | length' <<<"$output")" 0
	expect_equal "$(jq -r '[.[].result] | unique | join(" ")' <<<"$output")" ok
	expect_equal "$(leftovers)" ""
	[[ " $allowed " == *" $(state_sum) "* ]] || {
		echo "live files match no release: $(tree_sum)" >&2
		return 1
	}
	lg_ok --json status
	live=$(jq -r '.live_release' <<<"$output")
	# a snapshot of files a release already holds names that release
	lg_ok snapshot
	expect_equal "$output" "$live"
	lg_ok fsck
}

@test "ten commands at once: one works at a time, the others exit 75, every one that ran is recorded" {
	storm_setup
	storm
	local ok=0 i
	for i in "${!codes[@]}"; do
		case ${codes[$i]} in
		0) ok=$((ok + 1)) ;;
		75) expect_match "$(cat "../storm.$i.err")" '^lastgood: another operation holds the lock' ;;
		*) echo "command $i exited ${codes[$i]}: $(cat "../storm.$i.err")" >&2; return 1 ;;
		esac
	done
	[ "$ok" -ge 1 ]
	storm_check $((setup_ops + ok))
}

@test "ten commands at once with --wait 30: every one runs in turn and is recorded" {
	storm_setup
	storm --wait 30
	local i
	for i in "${!codes[@]}"; do
		if [ "${codes[$i]}" -ne 0 ]; then
			echo "command $i exited ${codes[$i]}: $(cat "../storm.$i.err")" >&2
			return 1
		fi
	done
	storm_check $((setup_ops + 10))
	lg_ok --json history --limit 1000
	expect_equal "$(jq '[.[] | select(.command == "deploy")] | length' <<<"$output")" 7
	expect_equal "$(jq '[.[] | select(.command == "rollback")] | length' <<<"$output")" 2
}

# The lock held by this shell (flock(2) on the lock file, like lastgood's)
# rather than by a stopped lastgood, so a test decides exactly when it ends.
# Commands started while it is held must not inherit it: {lock_fd}>&-.
hold_lock_here() {
	make_stack
	lg_ok snapshot
	exec {lock_fd}>>.lastgood/lock
	flock -x "$lock_fd"
}

@test "--wait gives up after SECONDS with the usual exit 75 and message" {
	hold_lock_here
	local start=$SECONDS
	run --separate-stderr "$LG" --wait 1 snapshot {lock_fd}>&-
	local took=$((SECONDS - start))
	exec {lock_fd}>&-
	expect_equal "$status" 75
	expect_match "$stderr" 'another operation holds the lock'
	expect_match "$stderr" 'waiting up to 1\.0s'
	expect_match "$stderr" 'gave up after waiting 1\.0s'
	[ "$took" -ge 1 ]
	[ "$took" -lt 20 ]
	lg_ok --json history
	expect_equal "$(jq length <<<"$output")" 1
}

@test "--wait takes the lock as soon as the holder lets go" {
	hold_lock_here
	"$LG" --wait 60 snapshot --reason waited >../waiter.out 2>../waiter.err {lock_fd}>&- &
	local waiter=$! i
	# it says it waits before it waits: no guessing how long to sleep
	for i in $(seq 1 600); do
		grep -q 'waiting up to 1m00s' ../waiter.err 2>/dev/null && break
		sleep 0.05
	done
	expect_match "$(cat ../waiter.err)" 'another operation holds the lock.*waiting up to 1m00s'
	exec {lock_fd}>&-
	local rc=0
	wait "$waiter" || rc=$?
	expect_equal "$rc" 0
	expect_equal "$(cat ../waiter.out)" 1
	lg_ok --json history
	expect_equal "$(jq -r '.[0].reason' <<<"$output")" waited
}

@test "without --wait a busy lock exits 75 at once; --wait 0 is the same" {
	hold_lock_here
	run --separate-stderr "$LG" snapshot {lock_fd}>&-
	s1=$status
	e1=$stderr
	run --separate-stderr "$LG" --wait 0 deploy ../nosuch {lock_fd}>&-
	s2=$status
	exec {lock_fd}>&-
	expect_equal "$s1 $s2" "75 75"
	expect_no_match "$e1" 'waiting'
}

@test "--wait takes seconds or a duration and refuses anything else" {
	make_stack
	lg_ok --wait 2 snapshot
	lg_ok --wait 500ms snapshot
	lg_ok --wait 1m status
	for bad in abc -1 1h 2.5 ''; do
		lg_status 2 --wait "$bad" snapshot
		expect_match "$stderr" "invalid --wait '$bad'"
	done
	lg_status 2 snapshot --wait 3
	lg_ok --help
	expect_match "$output" '--wait SECONDS'
}

teardown() {
	if [ -n "${lock_fd:-}" ]; then
		exec {lock_fd}>&- 2>/dev/null || true
	fi
	common_teardown
}
