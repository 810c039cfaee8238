#!/usr/bin/env bats
# lastgood killed at a random instant rather than at a system call: a
# deploy (A -> B, adding an entry) and a rollback (C -> A, dropping one and
# bringing one back) of the live stack of lib/faults.bash (FAULTS_STACK=
# entries), each run once to measure how long it takes, then started again
# and again, each time from its prepared host, and killed with SIGKILL
# after a delay drawn uniformly from that duration (wall time); then
# `lastgood recover`, and the same checks as the kill sweeps. Only the end
# state is judged, never a time. LG_FAULT_RANDOM runs in all (default 36,
# FULL=1 300), half each; the seed is printed (LG_FAULT_SEED replays it).

export FAULTS_STACK=entries
load lib/faults

setup_file() { faults_setup_file; }
teardown_file() { faults_teardown_file; }

SWEEPS=random-deploy-kill,random-rollback-kill

@test "deploy killed at a random instant, then recover (LG_FAULT_RANDOM / 2 runs)" {
	export SWEEP_OLD=A SWEEP_TARGET=B
	timed_sweep random-deploy-kill before-deploy $((LG_FAULT_RANDOM / 2)) -- \
		deploy --label B "$FAULTS_WORK/dist"
}

@test "rollback killed at a random instant, then recover (LG_FAULT_RANDOM / 2 runs)" {
	export SWEEP_OLD=C SWEEP_TARGET=A SWEEP_ALLOWED="C A"
	timed_sweep random-rollback-kill before-rollback $((LG_FAULT_RANDOM - LG_FAULT_RANDOM / 2)) -- \
		rollback A
}

@test "killed at random, then recover: the live files are exactly one release, entries absent included" {
	expect_no_problems $SWEEPS files
}

@test "killed at random, then recover: recover succeeds and the record names the files' release" {
	expect_no_problems $SWEEPS recover record
}

@test "killed at random, then recover: every service runs, verifies and answers its release's version" {
	expect_no_problems $SWEEPS services
}

@test "killed at random, then recover: store and database intact, no staging or scratch file left" {
	expect_no_problems $SWEEPS fsck db leftovers
}

@test "killed at random, then recover: lastgood knows every process it started (none left after stop)" {
	expect_no_problems $SWEEPS orphans
}

@test "killed at random: stop works; a run the kill missed is a true success; no sanitizer report" {
	expect_no_problems $SWEEPS stop false-success exit sanitizer
}
