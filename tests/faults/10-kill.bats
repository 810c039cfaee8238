#!/usr/bin/env bats
# Crash consistency of a live stack: `lastgood deploy` of release B over A,
# and `lastgood rollback` from B to A, of three running `process` services
# (health checked over HTTP, started in `after` order), killed with SIGKILL
# at every state-changing system call, then `lastgood recover`. The host
# must end entirely on A or on B: the files byte for byte, the record, and
# every service running, healthy and answering that release's version.
# See lib/faults.bash for how a point runs and what it checks.

load lib/faults

setup_file() { faults_setup_file; }
teardown_file() { faults_teardown_file; }

SWEEPS=deploy-kill,rollback-kill

@test "deploy killed at every rename, unlink, fsync, mkdir, symlink, write, open (sweep)" {
	export SWEEP_OLD=A SWEEP_TARGET=B
	sweep deploy-kill before-deploy kill -- deploy --label B "$FAULTS_WORK/dist"
}

@test "rollback killed at every rename, unlink, fsync, mkdir, symlink, write, open (sweep)" {
	export SWEEP_OLD=B SWEEP_TARGET=A
	sweep rollback-kill before-rollback kill -- rollback A
}

@test "killed, then recover: the live files are exactly release A or B" {
	expect_no_problems $SWEEPS files
}

@test "killed, then recover: recover succeeds and the record names the files' release" {
	expect_no_problems $SWEEPS recover record
}

@test "killed, then recover: every service runs, verifies and answers its release's version" {
	expect_no_problems $SWEEPS services
}

@test "killed, then recover: the store (fsck) and the database (integrity_check) are intact" {
	expect_no_problems $SWEEPS fsck db
}

@test "killed, then recover: no staging or scratch file is left" {
	expect_no_problems $SWEEPS leftovers
}

@test "killed, then recover: lastgood knows every process it started (none left after stop)" {
	expect_no_problems $SWEEPS orphans
}

@test "killed: stop works after recover; a run the kill missed is a true success; no sanitizer report" {
	expect_no_problems $SWEEPS stop false-success exit sanitizer
}
