#!/usr/bin/env bats
# Crash consistency when the two releases have different sets of `files`
# entries (lib/faults.bash, FAULTS_STACK=entries): release A has
# etc/api-legacy.conf and no etc/gateway.d; the deploy to B adds
# etc/gateway.d; the rollback from C (B without api-legacy.conf) to A
# brings api-legacy.conf back and drops etc/gateway.d. Killed with SIGKILL
# at every state-changing system call (all renames; the other classes
# sampled, LG_FAULT_ENTRIES_CAP points each, every one under FULL=1), then
# `lastgood recover`: the host must be entirely one release, each entry
# present byte for byte or absent as that release has it. Also a deploy
# that fails verification (its gateway exits at start), killed at every
# step, the automatic rollback's swap back (switch_revert) included; and
# `recover` of a deploy killed past its commit point (which swaps the old
# copies back) killed at every step.

export FAULTS_STACK=entries
load lib/faults

: "${LG_FAULT_ENTRIES_CAP:=6}"
export SWEEP_CAP=$LG_FAULT_ENTRIES_CAP
export SWEEP_CAPPED="unlink fsync mkdir symlink write open spawn"

setup_file() {
	faults_setup_file || return 1
	local spawn
	# a deploy A -> B killed as it starts its first service: committed,
	# the old copies still beside the live files, no verdict yet
	SWEEP_CALIBRATION_END=B calibrate entries-deploy before-deploy \
		deploy --label B "$FAULTS_WORK/dist" || return 1
	spawn=$(first_spawn_after_swaps "$FAULTS_WORK/entries-deploy.strace")
	[ -n "$spawn" ] || { echo "a deploy starts no service after its swaps" >&2; return 1; }
	echo "$spawn deploy --label B $FAULTS_WORK/dist" >"$FAULTS_WORK/interrupt-deploy"
}
teardown_file() { faults_teardown_file; }

SWEEPS=entries-deploy-kill,entries-rollback-kill,entries-bad-deploy-kill,entries-recover-after-deploy

@test "the releases differ in their entries: A lacks etc/gateway.d, C lacks etc/api-legacy.conf" {
	local lane=$FAULTS_WORK/lane1
	[ -f "$lane/before-deploy/etc/api-legacy.conf" ]
	[ ! -e "$lane/before-deploy/etc/gateway.d" ]
	[ -d "$lane/before-rollback/etc/gateway.d" ]
	[ ! -e "$lane/before-rollback/etc/api-legacy.conf" ]
	# the files' sums (tree_sum: types, modes, paths, contents) of the three
	[ "$(cat "$FAULTS_WORK/sum-A")" != "$(cat "$FAULTS_WORK/sum-B")" ]
	[ "$(cat "$FAULTS_WORK/sum-B")" != "$(cat "$FAULTS_WORK/sum-C")" ]
	[ "$(cat "$FAULTS_WORK/sum-A")" != "$(cat "$FAULTS_WORK/sum-C")" ]
}

@test "deploy adding an entry, killed at every rename and sampled other calls (sweep)" {
	export SWEEP_OLD=A SWEEP_TARGET=B
	sweep entries-deploy-kill before-deploy kill -- deploy --label B "$FAULTS_WORK/dist"
}

@test "rollback dropping an entry and bringing one back, killed at every rename and sampled other calls (sweep)" {
	export SWEEP_OLD=C SWEEP_TARGET=A SWEEP_ALLOWED="C A"
	sweep entries-rollback-kill before-rollback kill -- rollback A
}

@test "deploy failing verification, killed at every step up to and through the swap back (sweep)" {
	export SWEEP_OLD=A SWEEP_TARGET=A SWEEP_ALLOWED=A SWEEP_CLEAN_RC=3
	sweep entries-bad-deploy-kill before-deploy kill -- deploy --label B "$FAULTS_WORK/dist-bad"
	# the automatic rollback swapped back (renames after the first service
	# start), and the sweep killed it there too
	local log=$FAULTS_WORK/entries-bad-deploy-kill.strace n after
	n=$(awk '/^renameat2\(/ { swapped = 1; if (started) n++ }
		swapped && /^(clone|clone3|vfork)\(/ { started = 1 } END { print n + 0 }' "$log")
	[ "$n" -gt 0 ] || { echo "no rename after the first service start: no swap back" >&2; return 1; }
	after=$(awk -F'\t' -v total="$(count_calls "$log" renameat2)" -v n="$n" \
		'$2 == "renameat2" && $3 > total - n && $4 == "killed"' "$FAULTS_WORK/entries-bad-deploy-kill.results" | wc -l)
	echo "# $after of the $n renames of the swap back killed" >&3
	expect_equal "$after" "$n"
}

@test "recover of a deploy killed past its commit (it swaps back), killed at every step (sweep)" {
	export SWEEP_TARGET=A SWEEP_ALLOWED=A SWEEP_INTERRUPT="$(cat "$FAULTS_WORK/interrupt-deploy")"
	sweep entries-recover-after-deploy before-deploy kill -- recover
}

@test "different entries, killed, then recover: the live files are exactly one release, entries absent included" {
	expect_no_problems $SWEEPS files
}

@test "different entries, killed, then recover: recover succeeds and the record names the files' release" {
	expect_no_problems $SWEEPS recover record
}

@test "different entries, killed, then recover: every service runs, verifies and answers its release's version" {
	expect_no_problems $SWEEPS services
}

@test "different entries, killed, then recover: store and database intact, no staging or scratch file left" {
	expect_no_problems $SWEEPS fsck db leftovers
}

@test "different entries, killed, then recover: lastgood knows every process it started (none left after stop)" {
	expect_no_problems $SWEEPS orphans
}

@test "different entries, killed: stop works; a run the kill missed is a true success; no sanitizer report" {
	expect_no_problems $SWEEPS stop false-success exit sanitizer
}
