#!/usr/bin/env bats
# `lastgood recover` is itself crash-safe: from an interrupted operation
# (a rollback killed in the middle of its swaps; a deploy killed after its
# commit point, as it starts its first service), recover is killed with
# SIGKILL at every state-changing system call, then run again. It must end
# where one uninterrupted recover does: the same live files, the store and
# database intact, every service running on that release. Each point
# interrupts the operation afresh (the journal knows staged entries by
# inode: a copied host would not be the same). See lib/faults.bash.

load lib/faults

setup_file() {
	faults_setup_file || return 1
	local log n
	# a rollback B -> A killed at its middle swap
	SWEEP_CALIBRATION_END=A calibrate rollback before-rollback rollback A || return 1
	log=$FAULTS_WORK/rollback.strace
	n=$(count_calls "$log" renameat2)
	[ "$n" -ge 3 ] || { echo "a rollback makes $n renameat2 calls" >&2; return 1; }
	echo "renameat2 $(((n + 1) / 2)) rollback A" >"$FAULTS_WORK/interrupt-rollback"
	echo "$n" >"$FAULTS_WORK/swaps"
	# a deploy A -> B killed as it starts its first service: committed,
	# the old copies still beside the live files, no verdict yet
	SWEEP_CALIBRATION_END=B calibrate deploy before-deploy deploy --label B "$FAULTS_WORK/dist" ||
		return 1
	local spawn
	spawn=$(first_spawn_after_swaps "$FAULTS_WORK/deploy.strace")
	[ -n "$spawn" ] || { echo "a deploy starts no service after its swaps" >&2; return 1; }
	echo "$spawn deploy --label B $FAULTS_WORK/dist" >"$FAULTS_WORK/interrupt-deploy"
}
teardown_file() { faults_teardown_file; }

SWEEPS=recover-after-rollback,recover-after-deploy

@test "the interrupted operations are a rollback mid-swap and a deploy past its commit point" {
	local rollback deploy
	read -r -a rollback <"$FAULTS_WORK/interrupt-rollback"
	read -r -a deploy <"$FAULTS_WORK/interrupt-deploy"
	echo "# rollback killed at ${rollback[0]} #${rollback[1]} of $(cat "$FAULTS_WORK/swaps");" \
		"deploy killed at ${deploy[0]} #${deploy[1]} (its first service start)" >&3
	FAULTS_LOG=$FAULTS_WORK/phase.log in_lane lane_phase "$FAULTS_WORK/lane1" before-rollback \
		"${rollback[@]}" || { cat "$FAULTS_WORK/phase.log" >&2; return 1; }
	expect_equal "$(tail -n 1 "$FAULTS_WORK/phase.log")" "rollback swapping"
	FAULTS_LOG=$FAULTS_WORK/phase.log in_lane lane_phase "$FAULTS_WORK/lane1" before-deploy \
		"${deploy[@]}" || { cat "$FAULTS_WORK/phase.log" >&2; return 1; }
	expect_equal "$(tail -n 1 "$FAULTS_WORK/phase.log")" "deploy committed"
}

@test "recover of a rollback killed mid-swap, killed at every step, then run again (sweep)" {
	export SWEEP_TARGET=B SWEEP_ALLOWED=B SWEEP_INTERRUPT="$(cat "$FAULTS_WORK/interrupt-rollback")"
	sweep recover-after-rollback before-rollback kill -- recover
}

@test "recover of a deploy killed past its commit, killed at every step, then run again (sweep)" {
	export SWEEP_TARGET=A SWEEP_ALLOWED=A SWEEP_INTERRUPT="$(cat "$FAULTS_WORK/interrupt-deploy")"
	sweep recover-after-deploy before-deploy kill -- recover
}

@test "recover killed, run again: the same live files as one uninterrupted recover" {
	expect_no_problems $SWEEPS files
}

@test "recover killed, run again: it succeeds, the record names the files' release, nothing left interrupted" {
	expect_no_problems $SWEEPS recover record
}

@test "recover killed, run again: every service runs, verifies and answers its release's version" {
	expect_no_problems $SWEEPS services
}

@test "recover killed, run again: store and database intact, no temporary file left" {
	expect_no_problems $SWEEPS fsck db leftovers
}

@test "recover killed, run again: lastgood knows every process it started (none left after stop)" {
	expect_no_problems $SWEEPS orphans
}

@test "recover killed, run again: stop works; a run the kill missed is a true success; no sanitizer report" {
	expect_no_problems $SWEEPS stop false-success exit sanitizer
}
