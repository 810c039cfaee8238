#!/usr/bin/env bats
# I/O errors in a live stack: `lastgood deploy` of release B over A and
# `lastgood rollback` from B to A, with one state-changing system call
# failing (strace -e inject=CALL:error=EIO or ENOSPC:when=N) at every point
# where one can. Each run must exit with a documented status (0, 1, 3, 4),
# say in one line what failed and with which error, never claim a success
# the host does not show, never take a failed fsync for a success, and
# leave the old release (or roll back); after `lastgood recover` the host
# is entirely on one release with no temporary file left.
# unlink and rmdir cannot fail with ENOSPC, so that sweep skips them.
# See lib/faults.bash for how a point runs and what it checks.

load lib/faults

setup_file() { faults_setup_file; }
teardown_file() { faults_teardown_file; }

SWEEPS=deploy-eio,deploy-enospc,rollback-eio,rollback-enospc
NO_UNLINK="rename fsync mkdir symlink write open spawn"

@test "deploy with EIO at every rename, unlink, fsync, mkdir, symlink, write, open (sweep)" {
	export SWEEP_OLD=A SWEEP_TARGET=B
	sweep deploy-eio before-deploy EIO -- deploy --label B "$FAULTS_WORK/dist"
}

@test "deploy with ENOSPC at every rename, fsync, mkdir, symlink, write, open (sweep)" {
	export SWEEP_OLD=A SWEEP_TARGET=B SWEEP_CLASSES=$NO_UNLINK
	sweep deploy-enospc before-deploy ENOSPC -- deploy --label B "$FAULTS_WORK/dist"
}

@test "rollback with EIO at every rename, unlink, fsync, mkdir, symlink, write, open (sweep)" {
	export SWEEP_OLD=B SWEEP_TARGET=A
	sweep rollback-eio before-rollback EIO -- rollback A
}

@test "rollback with ENOSPC at every rename, fsync, mkdir, symlink, write, open (sweep)" {
	export SWEEP_OLD=B SWEEP_TARGET=A SWEEP_CLASSES=$NO_UNLINK
	sweep rollback-enospc before-rollback ENOSPC -- rollback A
}

@test "I/O error: the exit status is a documented one (0, 1, 3, 4), never non-zero without a fault" {
	expect_no_problems $SWEEPS exit
}

@test "I/O error: never a false success (exit 0 only when the target is live, verified, on its version)" {
	expect_no_problems $SWEEPS false-success
}

@test "I/O error: a failed fsync is final, never followed by exit 0" {
	expect_no_problems $SWEEPS fsync-final
}

@test "I/O error: a failure prints a 'lastgood: ...' line naming the error" {
	expect_no_problems $SWEEPS message
}

@test "I/O error: a failure message is never empty or cut short" {
	expect_no_problems $SWEEPS garbled
}

@test "I/O error: exit 4 says what state the host is in and what to do" {
	expect_no_problems $SWEEPS attention
}

@test "I/O error: exit 1 or 3 leaves the old release live, running and verified" {
	expect_no_problems $SWEEPS old-release
}

@test "I/O error, then recover: the live files are exactly release A or B; the record agrees" {
	expect_no_problems $SWEEPS files record recover
}

@test "I/O error, then recover: every service runs, verifies and answers its release's version" {
	expect_no_problems $SWEEPS services
}

@test "I/O error, exit 4, then recover: the services run again" {
	expect_no_problems $SWEEPS down-after-exit-4
}

@test "I/O error, then recover: store and database intact, no temporary file left" {
	expect_no_problems $SWEEPS fsck db leftovers
}

@test "I/O error, then recover: lastgood knows every process it started; stop works; no sanitizer report" {
	expect_no_problems $SWEEPS orphans stop sanitizer
}
