#!/usr/bin/env bats
# A full disk. For real: the host's live files and state folder on a small
# tmpfs (mounted in a mount namespace of the test's own, so nothing outside
# sees it), filled but for N bytes, for evenly spaced N from nothing to all
# the room there is; then `lastgood deploy` of release B holding a 1 MB
# file more. And a disk that fills up during a deploy or a rollback: from
# the Nth write on, every write fails with ENOSPC (strace when=N+).
# A deploy that cannot fit must fail before the live files change, with a
# message about space and the services running on A; once space is freed,
# `lastgood recover` leaves one release and no temporary file.
# See lib/faults.bash.

load lib/faults

: "${LG_FAULT_DISK_LEVELS:=32}"

setup_file() { faults_setup_file; }
teardown_file() { faults_teardown_file; }

SWEEPS=deploy-disk-fills,rollback-disk-fills

have_mount_namespace() { unshare -m --propagation private true 2>/dev/null; }
have_mount_namespace && SWEEPS+=,disk-full

needs_mount_namespace() {
	have_mount_namespace && return 0
	[ "${CI:-}" = true ] && { echo "cannot unshare a mount namespace under CI" >&2; return 1; }
	skip "cannot unshare a mount namespace here (needs root)"
}

@test "deploy onto a tmpfs filled but for N bytes, $LG_FAULT_DISK_LEVELS levels (sweep)" {
	needs_mount_namespace
	export SWEEP_OLD=A SWEEP_TARGET=B
	disk_full_sweep disk-full "$LG_FAULT_DISK_LEVELS"
}

@test "full disk: the levels cover both outcomes (some deploys fail, the roomiest succeeds)" {
	needs_mount_namespace
	run awk -F'\t' '$4 == "failed"' "$FAULTS_WORK/disk-full.results"
	[ -n "$output" ] || { echo "no level made the deploy fail" >&2; return 1; }
	last=$(sort -t "$(printf '\t')" -k3,3n "$FAULTS_WORK/disk-full.results" | tail -n 1 | cut -f4,5)
	expect_equal "$last" "succeeded	0"
}

@test "deploy while the disk fills: every write from the Nth on fails with ENOSPC (sweep)" {
	export SWEEP_OLD=A SWEEP_TARGET=B SWEEP_CLASSES=write
	sweep deploy-disk-fills before-deploy ENOSPC+ -- deploy --label B "$FAULTS_WORK/dist"
}

@test "rollback while the disk fills: every write from the Nth on fails with ENOSPC (sweep)" {
	export SWEEP_OLD=B SWEEP_TARGET=A SWEEP_CLASSES=write
	sweep rollback-disk-fills before-rollback ENOSPC+ -- rollback A
}

@test "full disk: a deploy that cannot fit fails before the live files change, with a documented exit" {
	expect_no_problems $SWEEPS unchanged exit
}

@test "full disk: the failure says it is about space, in a 'lastgood: ...' line" {
	expect_no_problems $SWEEPS message
}

@test "full disk: a failure message is never empty or cut short" {
	expect_no_problems $SWEEPS garbled
}

@test "full disk: exit 4 says what state the host is in and what to do" {
	expect_no_problems $SWEEPS attention
}

@test "full disk: a success is entirely the target, live, verified, on its version" {
	expect_no_problems $SWEEPS false-success
}

@test "full disk: exit 1 leaves the old release live with its services running" {
	expect_no_problems $SWEEPS old-release
}

@test "full disk, space freed, then recover: one release, no temporary file, store and database intact" {
	expect_no_problems $SWEEPS files record recover services down-after-exit-4 fsck db leftovers
}

@test "full disk: lastgood knows every process it started; stop works; no sanitizer report" {
	expect_no_problems $SWEEPS orphans stop sanitizer
}
