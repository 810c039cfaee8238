#!/usr/bin/env bash
# Switch: `lastgood rollback` between two releases of a generated tree
# (10,000 files / 1 GiB at BENCH_SCALE=1) against restoring the same tree
# with `cp -a`; the directory swap itself and the materialisation from the
# store, from lastgood's record of each operation. Writes
# $BENCH_RESULTS/30-switch.md.
source "$(dirname "$0")/lib.sh"

work=$BENCH_WORK/switch
host=$work/host
rm -rf "$work"
mkdir -p "$host"

section 30-switch
fs_type=$(df -T "$work" | awk 'NR == 2 { print $2 }')
printf x >"$work/probe"
if cp --reflink=always "$work/probe" "$work/probe2" 2>/dev/null; then
	how="a reflink (\`FICLONE\`): no data is copied, blocks are shared until either side is written; the clone is then read back and hashed"
else
	how="a copy: $fs_type cannot share blocks (\`FICLONE\` fails), so \`copy_file_range\` copies in the kernel; the copy is then read back and hashed"
fi
rm -f "$work/probe" "$work/probe2"
out "## Switch" "" \
    "\`lastgood rollback N\` between two releases of one generated tree (a \`files\` entry that is" \
    "a folder; the second release has 1% of the files changed), against the runbook way of" \
    "putting a tree back: remove it and \`cp -a\` the backup. A switch stages the whole entry" \
    "beside the live one from the store (\`.lastgood-OP-SEQ-RANDOM\`), stops the services," \
    "checks by the stat cache that the live tree is still what it recorded (an edit made" \
    "meanwhile would be in no release), swaps the two folders with one" \
    "\`renameat2(RENAME_EXCHANGE)\`, then commits, starts the services, and only once they are" \
    "verified removes the old copy. Materialising each file is done by $how. The digest of what was written is" \
    "compared with the object's name before the file can go live. The staged tree is made" \
    "durable before the swap: by an fsync of each file and folder when it holds fewer than 16" \
    "files, else by one \`syncfs\` of its file system." \
    "lastgood never hard-links a live file to the store: a live file may be written in place (an" \
    "editor, a package script, \`echo >>\`), and through a hard link that write would change the" \
    "object, the only copy of the release." ""

rows=()
swap_ok=1
for scale_files in 100 10000; do
	files=$(scaled "$scale_files" 100)
	bytes=$((files * $(scaled 1073741824 1048576) / $(scaled 10000 100)))
	tree=$host/tree
	drop_state "$host/.lastgood"
	rm -rf "$tree" "$work/backup"
	say "switch: $files files, $(bytes_h "$bytes")"
	"$GENTREE" make "$tree" "$files" "$bytes"
	printf 'keep_releases: 1000\nservices:\n  app:\n    manager: command\n    start: ["true"]\n    stop: ["true"]\n    files: [tree]\n' \
		>"$host/lastgood.yml"
	"$LASTGOOD" -q -C "$host" snapshot >/dev/null
	cp -a "$tree" "$work/backup"
	"$GENTREE" change "$tree" 10 >/dev/null
	"$LASTGOOD" -q -C "$host" snapshot >/dev/null
	sync
	mark=$("$LASTGOOD" -C "$host" --json history --limit 1 | jq '.[0].id')
	hyperfine_run "$work/s$files.json" --runs "${BENCH_RUNS_BIG:-3}" \
		--prepare "$LASTGOOD -q -C $host rollback 2 >/dev/null; sync" "$LASTGOOD -q -C $host rollback 1" \
		--prepare "rm -rf $work/restored; cp -a $work/backup $work/restored; sync" \
		"sh -c 'rm -rf $work/restored && cp -a $work/backup $work/restored'"
	hf_table "$work/s$files.json"
	out ""
	# Step times of the measured rollbacks (to release 1): record live,
	# stage, swap, clean up, and the services' downtime (first stop begun
	# to last start ended).
	"$LASTGOOD" -C "$host" --json history --limit 1000 |
		jq -r --argjson m "$mark" '.[] | select(.id > $m and .command == "rollback" and .args == "1") | .id' |
		while read -r op; do
			"$LASTGOOD" -C "$host" --json show "$op" |
				jq -r 'def took(k): [.steps[] | select(.kind == k) | .ended_ms - .started_ms] | add;
					[took("record live"), took("stage"), took("swap"), took("clean up"),
					 ([.steps[] | select(.kind == "start" or .kind == "healthy") | .ended_ms] | max) -
					 ([.steps[] | select(.kind == "stop") | .started_ms] | min)] | @tsv'
		done >"$work/steps"
	median_of() { cut -f"$1" "$work/steps" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
	swap_max=$(cut -f3 "$work/steps" | sort -n | tail -n 1)
	[ -n "$swap_max" ] && [ "$swap_max" -lt 10 ] || swap_ok=0
	rows+=("| $(human "$files") | $(bytes_h "$bytes") | $(ms "$(hf_median "$work/s$files.json" 0)") | $(median_of 1) ms | $(median_of 2) ms | $(median_of 3) ms (max $swap_max) | $(median_of 4) ms | $(median_of 5) ms | $(ms "$(hf_median "$work/s$files.json" 1)") |")
done
out "" "Summary (steps from the operations' records, medians, milliseconds as recorded; \"down\" is" \
    "from the first stop begun to the last start ended):" ""
out "| files | size | rollback | record live | stage | swap | clean up | down | \`rm -rf\` + \`cp -a\` |" \
    "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for r in "${rows[@]}"; do out "$r"; done
out "" "Target: the directory swap under 10 ms regardless of size: $(verdict "$swap_ok")." \
    "The swap is one rename whatever the tree holds; what grows with size is staging, which is" \
    "the cost of materialising from the store (above), paid while the services still run on the" \
    "old release; removing the old copy is paid after they run on the new one." ""
drop_state "$host/.lastgood"
rm -rf "$work"
