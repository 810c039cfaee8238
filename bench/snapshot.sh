#!/usr/bin/env bash
# Snapshot of a generated tree (10,000 files / 1 GiB at BENCH_SCALE=1): the
# first snapshot against the runbooks' backup methods (`cp -a`, `tar czf`)
# of the same tree, then a snapshot after 1% of the files changed.
# Writes $BENCH_RESULTS/20-snapshot.md.
source "$(dirname "$0")/lib.sh"

files=$(scaled 10000 100)
bytes=$(scaled 1073741824 1048576)
work=$BENCH_WORK/snapshot
host=$work/host
rm -rf "$work"
mkdir -p "$host"
say "snapshot: generating $files files, $(bytes_h "$bytes")"
"$GENTREE" make "$host/tree" "$files" "$bytes"
cat >"$host/lastgood.yml" <<'YML'
keep_releases: 1000
services:
  app:
    manager: command
    start: ["true"]
    stop: ["true"]
    files: [tree]
YML
sync
# On ext4 without a journal (this machine's), a new file is not given an
# inode freed less than a minute ago, or less than six minutes ago while
# its inode table block is dirty (as a burst of creations around it makes
# it): every creation looks at each such inode in its group and passes
# it. After a large deletion that cost a snapshot a fifth of its time in
# a profile. So no run follows a deletion: --prepare moves the last run's
# output aside (into aside/, removed at the end), and the runs start six
# minutes after the rm -rf above and whatever the sections before it
# removed.
mkdir -p "$work/aside"
sleep "${BENCH_SETTLE:-361}"

section 20-snapshot
out "## Snapshot" ""
out "A generated tree of $(human "$files") files, $(bytes_h "$bytes") of pseudo-random bytes" \
    "(\`bench/gentree make\`, 100 files a folder, sizes from half to one and a half times the" \
    "mean), recorded by \`lastgood snapshot\` into an empty store, against the runbooks' backup" \
    "methods on the same tree. Each run starts from nothing (\`--prepare\` moves the last run's" \
    "store or copy aside, rather than delete it, and runs \`sync\`), and the tree is read from the" \
    "page cache or the disk alike for all. lastgood's snapshot is durable when it returns" \
    "(objects synced before they are named); \`cp -a\` is not, so \`cp -a\` followed by \`sync\`" \
    "is measured too. lastgood reads a folder's files on as many threads as there are CPUs (at" \
    "most 4); \`LASTGOOD_THREADS=1\` shows it on one." "" \
    "The commands run in rounds, each command once a round in the order of the table, lastgood" \
    "and \`cp -a\` first. This machine's speed drifts from minute to minute (the same \`cp -a\`" \
    "took from 0.5 to 3.5 s within half an hour), and hyperfine alone runs all of one command's" \
    "runs before the next's; so the comparison is the median of the rounds' own ratios, each of" \
    "two runs seconds apart." ""

cd "$host"
rounds=${BENCH_RUNS_BIG:-5}
# aside NAME: hyperfine's --prepare that moves NAME out of the way.
aside() { echo "[ ! -e $1 ] || mv $1 $work/aside/\$\$; sync"; }
# lastgood and `cp -a` first and side by side, so that each round's pair
# ran a few seconds apart.
cmds=("$LASTGOOD -q snapshot" "cp -a tree copy" "sh -c 'cp -a tree copy && sync'"
      "env LASTGOOD_THREADS=1 $LASTGOOD -q snapshot" "tar czf tree.tgz tree")
prep=(--prepare "$(aside .lastgood)" --prepare "$(aside copy)" --prepare "$(aside copy)"
      --prepare "$(aside .lastgood)" --prepare "$(aside tree.tgz)")
if [ -n "${LASTGOOD_BEFORE:-}" ]; then
	cmds+=("$LASTGOOD_BEFORE -q snapshot")
	prep+=(--prepare "$(aside .lastgood)")
fi
hyperfine_rounds "$work/first.json" "$rounds" "${prep[@]}" "${cmds[@]}"
hf_table "$work/first.json"
first=$(hf_median "$work/first.json" 0)
cp_a=$(hf_median "$work/first.json" 1)
cp_sync=$(hf_median "$work/first.json" 2)
tar_z=$(hf_median "$work/first.json" 4)
rounds_vs_cp=$(hf_round_ratios "$work/first.json" 0 1)
vs_cp=$(median_of <<<"$rounds_vs_cp")
rm -rf copy tree.tgz
out "" "lastgood / \`cp -a\`, the median of the $rounds rounds' ratios: **$(ratio "$vs_cp" 1)**" \
    "(the rounds: $(awk '{ printf "%s%.2f", (NR > 1 ? ", " : ""), $1 }' <<<"$rounds_vs_cp");" \
    "the ratio of the medians: $(ratio "$first" "$cp_a"))." \
    "Medians: lastgood / (\`cp -a\` + \`sync\`) = $(ratio "$first" "$cp_sync")," \
    "lastgood / \`tar czf\` = $(ratio "$first" "$tar_z")."
if [ -n "${LASTGOOD_BEFORE:-}" ]; then
	before=$(hf_median "$work/first.json" 5)
	out "Before this issue's changes the first snapshot took $(ms "$before")" \
	    "($(ratio "$before" "$cp_a") times \`cp -a\`); now $(ms "$first")."
fi
out "" "Target: first snapshot no slower than \`cp -a\`: $(verdict "$(lt "$vs_cp" 1.0001)")." ""

# A settled store: one snapshot, then let a second pass so that every file
# is older than the second the next snapshot starts in (the stat cache
# re-reads files written in the same second as a snapshot; see below).
drop_state .lastgood
"$LASTGOOD" -q snapshot >/dev/null
changed=$(scaled 100 1)
out "### After changing 1% of the files" "" \
    "Before each run \`bench/gentree change\` rewrites the first 4 KiB of every hundredth file" \
    "(same size, new mtime, and bytes no run wrote before, from a seed taken from the clock:" \
    "$(human "$changed") files), then waits a second; the snapshot" \
    "then reads those files and takes every other one from the stat cache. The waiting keeps" \
    "the measurement at \"1% changed since a settled snapshot\": a file changed in the same second" \
    "as a snapshot is read again by the next one too (racily clean), which would make it 2%." ""
sleep 1.1
cmds=("$LASTGOOD -q snapshot")
[ -z "${LASTGOOD_BEFORE:-}" ] || cmds=("$LASTGOOD_BEFORE -q snapshot" "${cmds[@]}")
hyperfine_run "$work/one.json" --runs "${BENCH_RUNS_SMALL:-10}" \
	--prepare "$GENTREE change tree 10 \$(date +%s%N) >/dev/null; sleep 1.1" "${cmds[@]}"
hf_table "$work/one.json"
one=$(hf_median "$work/one.json" $((${#cmds[@]} - 1)))
out "" "1% snapshot / first snapshot = **$(awk -v a="$one" -v b="$first" 'BEGIN { printf "%.1f%%", 100 * a / b }')**" \
    "(target under 5%: $(verdict "$(lt "$one" "$(awk -v f="$first" 'BEGIN { print f * 0.05 }')")"))."
if [ -n "${LASTGOOD_BEFORE:-}" ]; then
	before_one=$(hf_median "$work/one.json" 0)
	out "Before: $(ms "$before_one") ($(ratio "$before_one" "$first") of the first snapshot," \
	    "every file read and hashed again)."
fi

# status on this host: its releases are of 10,000 files each.
out "" "\`lastgood status\` on this host (its $(sqlite3 .lastgood/state.db 'SELECT count(*) FROM releases')" \
    "releases each of $(human "$files") files; it names the release each service's files came from):" ""
cmds=("$LASTGOOD status")
[ -z "${LASTGOOD_BEFORE:-}" ] || cmds=("$LASTGOOD_BEFORE status" "${cmds[@]}")
hyperfine_run "$work/status.json" -N --warmup 3 --runs "${BENCH_RUNS_SCALE:-20}" --output null "${cmds[@]}"
hf_table "$work/status.json"

# Peak memory of the first snapshot.
drop_state .lastgood
sync
rss=$(peak_rss_kib "$LASTGOOD" -q snapshot)
out "" "Peak memory of the first snapshot (\`/usr/bin/time -v\`, maximum resident set):" \
    "$(bytes_h $((rss * 1024)))." ""
cd /
drop_state "$work"
