#!/usr/bin/env bats
# Crash consistency: kill lastgood (SIGKILL, injected by strace) at every
# state-changing system call of a multi-file rollback and deploy, then run
# `recover`, and require the host to be entirely on one release: live files
# identical to A or to B, the store intact, the database intact, no staging
# files left beside the live files.
#
# The starting state is prepared once (setup_file) and copied afresh, at the
# same path, for every kill point. LG_CRASH_CAP bounds the kill points tried
# for the plentiful calls (write, openat); renames, unlinks and syncs are
# tried at every N.

load helpers

: "${LG_CRASH_CAP:=150}"

# The calls whose interruption can leave something half-done.
RENAME_CALLS=(rename renameat renameat2)
UNLINK_CALLS=(unlink unlinkat rmdir)
SYNC_CALLS=(fsync fdatasync syncfs)
CREATE_CALLS=(mkdir mkdirat symlink symlinkat link linkat fchmod fchmodat fchown fchownat ftruncate)
WRITE_CALLS=(write pwrite64)
OPEN_CALLS=(openat)
ALL_CALLS=("${RENAME_CALLS[@]}" "${UNLINK_CALLS[@]}" "${SYNC_CALLS[@]}"
	"${CREATE_CALLS[@]}" "${WRITE_CALLS[@]}" "${OPEN_CALLS[@]}")

setup_file() {
	export LC_ALL=C TZ=UTC
	local root=$BATS_FILE_TMPDIR
	mkdir -p "$root/host" "$root/dist"
	cd "$root/host"
	make_stack
	# enough files in web/ that a switch stages it with one syncfs
	# (FS_SYNCFS_MIN), not an fsync each
	for i in $(seq 1 16); do printf 'page %s\n' "$i" >"web/static/page$i.html"; done
	"$LG" -q snapshot --label A >/dev/null
	tree_sum >"$root/sum-A"
	cp -a "$root/host" "$root/before-deploy"
	# B: every kind of change, deployed from a folder holding all entries
	cp -a bin etc web "$root/dist/"
	(cd "$root/dist" && change_stack)
	"$LG" -q deploy --label B "$root/dist"
	tree_sum >"$root/sum-B"
	cmp -s "$root/sum-B" <(tree_sum "$root/dist")
	if cmp -s "$root/sum-A" "$root/sum-B"; then
		echo "release A and B have the same files" >&2
		return 1
	fi
	cp -a "$root/host" "$root/before-rollback"

	# count the calls a rollback B -> A makes. lastgood's own process only:
	# the commands it runs (service start and stop) are not traced, so the
	# Nth call below is always lastgood's own.
	local calls
	calls=$(IFS=,; echo "${ALL_CALLS[*]}")
	ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" strace -qq -o "$root/rollback.strace" \
		-e trace="$calls" "$LG" -q rollback A
	tree_sum | cmp -s - "$root/sum-A"
	rm -rf "$root/host"
	cp -a "$root/before-deploy" "$root/host"
	cd "$root/host"
	ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" strace -qq -o "$root/deploy.strace" \
		-e trace="$calls" "$LG" -q deploy --label B "$root/dist"
	tree_sum | cmp -s - "$root/sum-B"
	cd "$root"
}

# kill_points LOG CALL CAP: the invocation numbers N of CALL to try, from
# the strace LOG (without -f) of an uninterrupted run. openat counts only opens that can
# create or write; more than CAP points are spread evenly over the range.
kill_points() {
	local log=$1 call=$2 cap=$3
	awk -v call="$call" '
		index($0, call "(") == 1 {
			n++
			if (call != "openat" || $0 ~ /O_WRONLY|O_RDWR|O_CREAT|O_TRUNC/)
				print n
		}' "$log" |
		awk -v cap="$cap" '
			{ p[NR] = $1 }
			END {
				if (NR <= cap) { for (i = 1; i <= NR; i++) print p[i]; exit }
				for (i = 0; i < cap; i++) print p[1 + int(i * (NR - 1) / (cap - 1))]
			}' | sort -un
}

# crash_once START CALL N COMMAND...: from a fresh copy of START, run
# COMMAND killed at the Nth CALL, then recover, then check the host.
# Sets $crash_killed (1 when SIGKILL landed) and $crash_ended (A or B).
crash_once() {
	local start=$1 call=$2 n=$3 root=$BATS_FILE_TMPDIR rc=0 sum
	shift 3
	cd "$root"
	rm -rf "$root/host"
	cp -a "$root/$start" "$root/host"
	cd "$root/host"
	kill_at "$call" "$n" "$@" || rc=$?
	crash_killed=0
	[ "$rc" -eq 137 ] && crash_killed=1
	where="$* killed at $call #$n (exit $rc)"
	if ! "$LG" -q recover >../recover.out 2>&1; then
		echo "$where: recover failed:" >&2
		cat ../recover.out >&2
		return 1
	fi
	sum=$(tree_sum)
	if [ "$sum" = "$(cat "$root/sum-A")" ]; then
		crash_ended=A
	elif [ "$sum" = "$(cat "$root/sum-B")" ]; then
		crash_ended=B
	else
		echo "$where: live files are neither release A nor B:" >&2
		diff "$root/sum-A" - <<<"$sum" | sed 's/^/  A /' >&2
		diff "$root/sum-B" - <<<"$sum" | sed 's/^/  B /' >&2
		return 1
	fi
	if ! "$LG" -q fsck >../fsck.out 2>&1; then
		echo "$where: fsck failed after recover:" >&2
		cat ../fsck.out >&2
		return 1
	fi
	local integrity
	integrity=$(sqlite3 .lastgood/state.db 'PRAGMA integrity_check')
	if [ "$integrity" != ok ]; then
		echo "$where: database: $integrity" >&2
		return 1
	fi
	local left
	left=$(leftovers)
	if [ -n "$left" ]; then
		echo "$where: staging files left beside the live files: $left" >&2
		return 1
	fi
	if [ -n "$(ls -A .lastgood/tmp 2>/dev/null)" ]; then
		echo "$where: files left in .lastgood/tmp: $(ls -A .lastgood/tmp)" >&2
		return 1
	fi
}

# crash_each LOG START CAP CALLS... -- COMMAND...: crash_once at every kill
# point of every call; prints what was tried to the TAP stream.
crash_each() {
	local log=$1 start=$2 cap=$3 calls=() call n tried=0 killed=0 a=0 b=0
	shift 3
	while [ "$1" != -- ]; do calls+=("$1"); shift; done
	shift
	for call in "${calls[@]}"; do
		for n in $(kill_points "$BATS_FILE_TMPDIR/$log" "$call" "$cap"); do
			crash_once "$start" "$call" "$n" "$@"
			tried=$((tried + 1))
			killed=$((killed + crash_killed))
			if [ "$crash_ended" = A ]; then a=$((a + 1)); else b=$((b + 1)); fi
		done
	done
	echo "# $* / ${calls[*]}: $tried kill points tried, $killed killed; ended on A $a, on B $b" >&3
	crash_tried=$tried
	crash_killed_total=$killed
}

@test "the uninterrupted rollback makes the calls the crash tests interrupt" {
	log=$BATS_FILE_TMPDIR/rollback.strace
	renames=$(for c in "${RENAME_CALLS[@]}"; do kill_points "$log" "$c" 100000; done | wc -l)
	syncs=$(for c in "${SYNC_CALLS[@]}"; do kill_points "$log" "$c" 100000; done | wc -l)
	echo "# rollback B -> A: $renames renames, $syncs syncs" >&3
	# at least one rename per switched entry (bin/api, etc/api.env, web)
	[ "$renames" -ge 3 ]
	[ "$syncs" -ge 3 ]
	# web/ is staged and made durable by one syncfs
	[ "$(kill_points "$log" syncfs 100000 | wc -l)" -ge 1 ]
}

@test "rollback killed at every rename, then recover: entirely A or B" {
	crash_each rollback.strace before-rollback 100000 "${RENAME_CALLS[@]}" -- rollback A
	[ "$crash_killed_total" -ge 3 ]
}

@test "rollback killed at every unlink and rmdir, then recover: entirely A or B" {
	crash_each rollback.strace before-rollback 100000 "${UNLINK_CALLS[@]}" -- rollback A
	[ "$crash_tried" -eq 0 ] || [ "$crash_killed_total" -ge 1 ]
}

@test "rollback killed at every fsync, then recover: entirely A or B" {
	crash_each rollback.strace before-rollback 100000 "${SYNC_CALLS[@]}" -- rollback A
	[ "$crash_killed_total" -ge 3 ]
}

@test "rollback killed at every mkdir, symlink, chmod, then recover: entirely A or B" {
	crash_each rollback.strace before-rollback 100000 "${CREATE_CALLS[@]}" -- rollback A
	[ "$crash_tried" -eq 0 ] || [ "$crash_killed_total" -ge 1 ]
}

@test "rollback killed at writes (up to LG_CRASH_CAP per call), then recover: entirely A or B" {
	crash_each rollback.strace before-rollback "$LG_CRASH_CAP" "${WRITE_CALLS[@]}" -- rollback A
	[ "$crash_killed_total" -ge 1 ]
}

@test "rollback killed at opens for writing, then recover: entirely A or B" {
	crash_each rollback.strace before-rollback "$LG_CRASH_CAP" "${OPEN_CALLS[@]}" -- rollback A
	[ "$crash_killed_total" -ge 1 ]
}

@test "deploy killed at every rename and fsync, then recover: entirely A or B" {
	crash_each deploy.strace before-deploy 100000 "${RENAME_CALLS[@]}" "${SYNC_CALLS[@]}" \
		-- deploy --label B "$BATS_FILE_TMPDIR/dist"
	[ "$crash_killed_total" -ge 3 ]
}

@test "a mutating command after a crash finishes or undoes the interrupted rollback first" {
	log=$BATS_FILE_TMPDIR/rollback.strace
	n=$(kill_points "$log" renameat2 100000 | wc -l)
	call=renameat2
	if [ "$n" -eq 0 ]; then
		call=$(for c in rename renameat; do [ -n "$(kill_points "$log" $c 1)" ] && echo $c; done | head -n 1)
		n=$(kill_points "$log" "$call" 100000 | wc -l)
	fi
	mid=$(((n + 1) / 2))
	cd "$BATS_FILE_TMPDIR"
	rm -rf "$BATS_FILE_TMPDIR/host"
	cp -a "$BATS_FILE_TMPDIR/before-rollback" "$BATS_FILE_TMPDIR/host"
	cd "$BATS_FILE_TMPDIR/host"
	rc=0
	kill_at "$call" "$mid" rollback A || rc=$?
	expect_equal "$rc" 137
	lg_ok --json history
	expect_equal "$(jq -r '[.[] | select(.command == "rollback")][0].result' <<<"$output")" running
	# not recover: any mutating command recovers first
	lg_ok snapshot
	sum=$(tree_sum)
	[ "$sum" = "$(cat "$BATS_FILE_TMPDIR/sum-A")" ] || [ "$sum" = "$(cat "$BATS_FILE_TMPDIR/sum-B")" ]
	lg_ok --json history
	result=$(jq -r '[.[] | select(.command == "rollback")][0].result' <<<"$output")
	[ "$result" = undone ] || [ "$result" = finished ]
	expect_equal "$(leftovers)" ""
	lg_ok fsck
}

@test "recover with nothing interrupted changes nothing" {
	cd "$BATS_FILE_TMPDIR"
	rm -rf "$BATS_FILE_TMPDIR/host"
	cp -a "$BATS_FILE_TMPDIR/before-rollback" "$BATS_FILE_TMPDIR/host"
	cd "$BATS_FILE_TMPDIR/host"
	lg_ok recover
	tree_sum | cmp -s - "$BATS_FILE_TMPDIR/sum-B"
	lg_ok --json status
	expect_equal "$(jq -r '.live_release' <<<"$output")" 2
}
