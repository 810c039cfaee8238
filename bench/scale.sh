#!/usr/bin/env bash
# Scale: the read commands with 1,000 and 10,000 releases and operations
# recorded, and the peak memory of snapshots of 10,000 and 100,000 files
# (at BENCH_SCALE=1). Writes $BENCH_RESULTS/40-scale.md.
source "$(dirname "$0")/lib.sh"

work=$BENCH_WORK/scale
rm -rf "$work"
mkdir -p "$work"

# history_host DIR N: a files-only ziggie stack with N releases and N
# operations of 8 steps each. Three releases are real snapshots; the rest
# are rows copied from them with sqlite3 (cycling over their manifests), as
# if the host had been deployed to N times; the newest is live.
history_host() {
	local dir=$1 n=$2
	mkdir -p "$dir/bin" "$dir/etc"
	cat >"$dir/lastgood.yml" <<'YML'
keep_releases: 100000
services:
  ziggie-api:
    manager: command
    start: ["true"]
    stop: ["true"]
    files: [bin/ziggie-api, etc/ziggie-api.env]
  mcp-gateway:
    manager: command
    start: ["true"]
    stop: ["true"]
    files: [bin/mcp-gateway, etc/mcp-gateway.env]
    after: [ziggie-api]
  sim-studio:
    manager: command
    start: ["true"]
    stop: ["true"]
    files: [bin/sim-studio, etc/sim-studio.env]
    after: [ziggie-api]
YML
	for s in ziggie-api mcp-gateway sim-studio; do
		head -c 65536 /dev/urandom >"$dir/bin/$s"
	done
	for v in 1 2 3; do
		for s in ziggie-api mcp-gateway sim-studio; do
			printf 'VERSION=%d\nMODE=healthy\n' "$v" >"$dir/etc/$s.env"
		done
		"$LASTGOOD" -q -C "$dir" snapshot --label "v$v" >/dev/null
	done
	sqlite3 "$dir/.lastgood/state.db" >/dev/null <<SQL
PRAGMA journal_mode=WAL;
BEGIN;
WITH RECURSIVE k(i) AS (SELECT 4 UNION ALL SELECT i + 1 FROM k WHERE i < $n)
INSERT INTO releases(digest, created_ms, label, commit_sha, reason, actor, mark, files, size, added)
SELECT (SELECT digest FROM releases WHERE id = 1 + i % 3), 1700000000000 + i * 60000, NULL,
       printf('%040x', i * 2654435761), 'deploy ' || i, 'bench@host', CASE WHEN i % 7 = 0 THEN 2 ELSE 1 END,
       6, 200000, 100 FROM k;
INSERT INTO release_services(release, service, digest)
SELECT r.id, s.service, s.digest FROM releases r JOIN release_services s ON s.release = 1 + r.id % 3
WHERE r.id > 3;
WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < $n - (SELECT count(*) FROM operations))
INSERT INTO operations(command, args, reason, actor, pid, started_ms, ended_ms, result, from_release, to_release, phase)
SELECT 'deploy', 'dist-' || i, 'deploy ' || i, 'bench@host', 1000 + i, 1700000000000 + i * 60000,
       1700000000000 + i * 60000 + 1500, 1, i, i + 1, 'ended' FROM k;
WITH RECURSIVE s(j) AS (SELECT 1 UNION ALL SELECT j + 1 FROM s WHERE j < 8)
INSERT INTO steps(operation, seq, kind, target, detail, result, started_ms, ended_ms)
SELECT o.id, s.j, CASE s.j WHEN 1 THEN 'record live' WHEN 2 THEN 'read source' WHEN 3 THEN 'stage'
       WHEN 4 THEN 'stop' WHEN 5 THEN 'swap' WHEN 6 THEN 'clean up' WHEN 7 THEN 'start' ELSE 'healthy' END,
       'ziggie-api', NULL, 1, o.started_ms + s.j * 100, o.started_ms + s.j * 100 + 50
FROM operations o, s WHERE o.id > 3;
UPDATE releases SET mark = 1 WHERE id = (SELECT max(id) FROM releases);
INSERT OR REPLACE INTO meta(key, value) VALUES('live_release', (SELECT max(id) FROM releases));
COMMIT;
SQL
}

section 40-scale
out "## Scale" "" "### Read commands against a long history" "" \
    "A files-only ziggie stack (three services, six files) whose state holds N releases and N" \
    "operations of 8 steps each: three real snapshots, the rest rows copied from them with" \
    "\`sqlite3\` as if the host had been deployed to N times (\`bench/scale.sh\`, \`history_host\`)." \
    "hyperfine runs each command with no shell (\`-N\`) after 3 warm-up runs." ""
sizes=("$(scaled 1000 10)" "$(scaled 10000 100)")
targets_ok=1
for n in "${sizes[@]}"; do
	dir=$work/history-$n
	say "scale: $n releases and operations"
	history_host "$dir" "$n"
	out "#### $(human "$n") releases and operations" ""
	cmds=()
	for bin in ${LASTGOOD_BEFORE:+"$LASTGOOD_BEFORE"} "$LASTGOOD"; do
		cmds+=("$bin -C $dir status" "$bin -C $dir releases" "$bin -C $dir history"
		       "$bin -C $dir rollback --dry-run")
	done
	hyperfine_run "$work/h$n.json" -N --warmup 3 --runs "${BENCH_RUNS_SCALE:-20}" --output null "${cmds[@]}"
	hf_table "$work/h$n.json"
	out ""
	count=$(jq '.results | length' "$work/h$n.json")
	for i in $(seq $((count - 4)) $((count - 1))); do
		m=$(hf_median "$work/h$n.json" "$i")
		[ "$(lt "$m" 0.020)" = 1 ] || targets_ok=0
		printf '%s %s %s\n' "$n" "$(jq -r ".results[$i].command" "$work/h$n.json" | awk '{ print $4 }')" "$m" >>"$work/growth"
	done
	drop_state "$dir/.lastgood"
	rm -rf "$dir"
done
out "How each grows (medians, now):" "" "| releases and operations | status | releases | history | rollback --dry-run |" \
    "| ---: | ---: | ---: | ---: | ---: |"
for n in "${sizes[@]}"; do
	row="| $(human "$n")"
	for c in status releases history rollback; do
		row+=" | $(ms "$(awk -v n="$n" -v c="$c" '$1 == n && $2 == c { print $3 }' "$work/growth")")"
	done
	out "$row |"
done
out "" "Target: each under 20 ms: $(verdict "$targets_ok")." ""

# Peak memory of a snapshot, growing with the number of files.
out "### Peak memory of a snapshot" "" \
    "A tree of N files of 1 KiB on average (\`bench/gentree make\`), recorded into an empty store;" \
    "peak resident set from \`/usr/bin/time -v\`; wall time from the same run." "" \
    "| files | lastgood: peak memory | time |${LASTGOOD_BEFORE:+ before: peak memory | before: time |}" \
    "| ---: | ---: | ---: |${LASTGOOD_BEFORE:+ ---: | ---: |}"
mem_ok=1
for n in "$(scaled 10000 100)" "$(scaled 100000 1000)"; do
	host=$work/files-$n
	mkdir -p "$host"
	"$GENTREE" make "$host/tree" "$n" $((n * 1024))
	printf 'services:\n  app:\n    manager: command\n    start: ["true"]\n    stop: ["true"]\n    files: [tree]\n' \
		>"$host/lastgood.yml"
	row="| $(human "$n")"
	for bin in "$LASTGOOD" ${LASTGOOD_BEFORE:+"$LASTGOOD_BEFORE"}; do
		drop_state "$host/.lastgood"
		sync
		t0=$(date +%s%N)
		rss=$(cd "$host" && peak_rss_kib "$bin" -q snapshot)
		t1=$(date +%s%N)
		row+=" | $(bytes_h $((rss * 1024))) | $(ms "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print (b - a) / 1e9 }')")"
		[ "$bin" != "$LASTGOOD" ] || [ "$n" -ne "$(scaled 100000 1000)" ] || [ "$rss" -lt 32768 ] || mem_ok=0
	done
	out "$row |"
	drop_state "$host/.lastgood"
	rm -rf "$host"
done
out "" "Target: a snapshot of $(human "$(scaled 100000 1000)") files under 32 MiB: $(verdict "$mem_ok")." ""
