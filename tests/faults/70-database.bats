#!/usr/bin/env bats
# Crash and I/O-error consistency of a stack with a database
# (lib/faults.bash, FAULTS_STACK=database): api's SQLite database is at
# migration 1 on release A, with three rows written; the deploy to B runs
# migration 2 (a column added), the rollback from B to A runs its down
# script. Killed with SIGKILL, or failed with EIO, at sampled points of
# every class (LG_FAULT_DB_CAP points each, spread over the run; every one
# under FULL=1) — SQLite's own writes to the database and its journal
# included — then `lastgood recover`: files, record, services and schema
# on one release, the rows intact. Also a deploy that fails verification,
# killed at every step through its automatic rollback (migrate down, swap
# back).

export FAULTS_STACK=database
load lib/faults

: "${LG_FAULT_DB_CAP:=10}"
export SWEEP_CAP=$LG_FAULT_DB_CAP
export SWEEP_CAPPED="${CLASSES[*]}"

setup_file() { faults_setup_file; }
teardown_file() { faults_teardown_file; }

SWEEPS=db-deploy-kill,db-rollback-kill,db-bad-deploy-kill,db-deploy-eio

@test "the database stack: A is at migration 1 with its rows, B at migration 2" {
	local lane=$FAULTS_WORK/lane1
	cd "$lane/before-deploy"
	expect_equal "$(schema_now)" "$(schema_of A)"
	cd "$lane/before-rollback"
	expect_equal "$(schema_now)" "$(schema_of B)"
}

@test "deploy with a migration, killed at sampled points of every class (sweep)" {
	export SWEEP_OLD=A SWEEP_TARGET=B
	sweep db-deploy-kill before-deploy kill -- deploy --label B "$FAULTS_WORK/dist"
}

@test "rollback with a down migration, killed at sampled points of every class (sweep)" {
	export SWEEP_OLD=B SWEEP_TARGET=A
	sweep db-rollback-kill before-rollback kill -- rollback A
}

@test "deploy failing verification after its migration, killed at sampled points of every class, the way back included (sweep)" {
	export SWEEP_OLD=A SWEEP_TARGET=A SWEEP_ALLOWED=A SWEEP_CLEAN_RC=3
	sweep db-bad-deploy-kill before-deploy kill -- deploy --label B "$FAULTS_WORK/dist-bad"
}

@test "deploy with a migration, EIO at sampled points of every class (sweep)" {
	export SWEEP_OLD=A SWEEP_TARGET=B
	sweep db-deploy-eio before-deploy EIO -- deploy --label B "$FAULTS_WORK/dist"
}

@test "with a database, then recover: the schema is the files' release's, the rows intact" {
	expect_no_problems $SWEEPS schema
}

@test "with a database, then recover: the live files are exactly one release; the record agrees" {
	expect_no_problems $SWEEPS files recover record
}

@test "with a database, then recover: every service runs, verifies and answers its release's version" {
	expect_no_problems $SWEEPS services down-after-exit-4
}

@test "with a database, then recover: store and state intact, no staging or scratch file left" {
	expect_no_problems $SWEEPS fsck db leftovers orphans
}

@test "with a database, EIO: a documented exit, a message naming the error, old release on exit 1 or 3" {
	expect_no_problems db-deploy-eio exit false-success fsync-final message garbled attention old-release
}

@test "with a database, killed: stop works; a run the kill missed is a true success; no sanitizer report" {
	expect_no_problems $SWEEPS stop false-success exit sanitizer
}
