#!/usr/bin/env bash
# Time to recover on the ziggie demo stack (examples/ziggie) after a broken
# deploy: from the failure detected to every service healthy on the last
# good release, four ways: lastgood by itself (deploy's automatic
# rollback), `lastgood rollback` typed after a deploy left the broken
# release live, the docker-compose runbook's manual procedure scripted
# faithfully (bench/runbook.sh), and that script polling instead of
# sleeping. Also lastgood's overhead: its time minus the services' own
# start-to-healthy time. Writes $BENCH_RESULTS/10-recover.md.
source "$(dirname "$0")/../examples/lib.sh"
source "$(dirname "$0")/lib.sh"

work=$BENCH_WORK/recover
lg_host=$work/lastgood
rb_host=$work/runbook
SERVICE_BIN=$BENCH_BIN/demo-service
services=(ziggie-api mcp-gateway sim-studio)
rm -rf "$work"
mkdir -p "$lg_host" "$rb_host"
export START_LOG=$work/start.log

work_pids() { pids_under "$work"; }
cleanup() {
	local pids
	[ ! -f "$lg_host/lastgood.yml" ] || "$LASTGOOD" -q -C "$lg_host" stop >/dev/null 2>&1 || true
	"$BENCH_DIR/runbook.sh" "$rb_host" stop >/dev/null 2>&1 || true
	mapfile -t pids < <(work_pids)
	[ ${#pids[@]} -eq 0 ] || kill -KILL "${pids[@]}" 2>/dev/null || true
	drop_state "$lg_host/.lastgood"
	rm -rf "$work"
}
trap cleanup EXIT


# layout HOST PORT...: v1 of the stack in HOST, and its lastgood.yml (the
# demo's, on loopback ports picked here, stabilize 0s so that "healthy" is
# the first healthy answer).
layout() {
	local host=$1
	mkdir -p "$host/bin" "$host/etc"
	for s in "${services[@]}"; do
		install -m 0755 "$SERVICE_BIN" "$host/bin/$s"
		printf 'VERSION=1\nMODE=healthy\nSTART_DELAY_MS=200\n' >"$host/etc/$s.env"
	done
	sed -e 's/\([":]\)8000\(["/]\)/\1@API@\2/g' \
	    -e 's/\([":]\)8080\(["/]\)/\1@GATEWAY@\2/g' \
	    -e 's/\([":]\)8001\(["/]\)/\1@STUDIO@\2/g' \
	    -e "s/@API@/$2/g; s/@GATEWAY@/$3/g; s/@STUDIO@/$4/g" \
	    -e 's/stabilize: 1s /stabilize: 0s /' \
	    "$BENCH_DIR/../examples/ziggie/lastgood.yml" >"$host/lastgood.yml"
}

any_port() { pick_port $((20000 + RANDOM % 40000)) "$@"; }
p1=$(any_port); p2=$(any_port "$p1"); p3=$(any_port "$p1" "$p2")
layout "$lg_host" "$p1" "$p2" "$p3"
q1=$(any_port "$p1" "$p2" "$p3"); q2=$(any_port "$p1" "$p2" "$p3" "$q1")
q3=$(any_port "$p1" "$p2" "$p3" "$q1" "$q2")
layout "$rb_host" "$q1" "$q2" "$q3"
grep -q 'stabilize: 0s' "$lg_host/lastgood.yml" || { say "recover: cannot set stabilize"; exit 1; }

# The broken v2 as demo.sh ships it: ziggie-api answers 503, mcp-gateway is
# fine; sim-studio is not in it. Each deploy gets a version of its own, so
# no deploy is mistaken for content recorded before.
cat >"$work/break-lastgood.sh" <<EOF
#!/usr/bin/env bash
# make_dist DIR N, then deploy it (args after N)
set -e
n=\$(( \$(cat "$work/count" 2>/dev/null || echo 0) + 1 ))
echo "\$n" >"$work/count"
dist=$work/dist-\$n
mkdir -p "\$dist/etc"
printf 'VERSION=2.%d\nMODE=unhealthy\nSTART_DELAY_MS=200\n' "\$n" >"\$dist/etc/ziggie-api.env"
printf 'VERSION=2.%d\nMODE=healthy\nSTART_DELAY_MS=200\n' "\$n" >"\$dist/etc/mcp-gateway.env"
"$LASTGOOD" -q -C "$lg_host" deploy "\$dist" "\$@" || true
rm -rf "\$dist"
EOF
chmod +x "$work/break-lastgood.sh"

say "recover: lastgood stack on 127.0.0.1:$p1,$p2,$p3; runbook stack on $q1,$q2,$q3"
"$LASTGOOD" -q -C "$lg_host" snapshot --label v1 >/dev/null
"$LASTGOOD" -q -C "$lg_host" start >/dev/null

# recovery_facts OP FROM_MS: "total poll rest" in ms for one operation:
# total from FROM_MS (0: the failed health wait's end) to the last
# restarted service's first healthy answer; inherent per wave is each
# service's spawn (lastgood's "start" step) to listening (its start log);
# poll is listening to its first healthy answer; rest is what lastgood
# itself spent. Waves: ziggie-api, then the others.
recovery_facts() {
	"$LASTGOOD" -C "$lg_host" --json show "$1" >"$work/op.json"
	jq -r --argjson from "$2" '
		(if $from > 0 then $from else
		 ([.steps[] | select(.kind == "healthy" and .result == "failed") | .ended_ms] | first)
		 end) as $t0
		| $t0, ([.steps[] | select(.kind == "start" and .result == "ok" and .started_ms >= $t0)
		   | "\(.target) \(.started_ms)"] | .[])' "$work/op.json" >"$work/facts"
	awk -v startlog="$START_LOG" '
		NR == 1 { t0 = $1; next }
		{ spawn[$1] = $2 }
		END {
			while ((getline line < startlog) > 0) {
				split(line, f, " ")
				t = f[4] / 1e6
				if (t < t0 || !(f[1] in spawn)) continue
				if (f[2] == "start" && !(f[1] in ready)) ready[f[1]] = t
				if (f[2] == "healthy" && !(f[1] in ok)) ok[f[1]] = t
			}
			last = 0; w1 = 0; w2 = 0; p1 = 0; p2 = 0
			for (s in spawn) {
				if (!(s in ok) || !(s in ready)) { print "missing"; exit }
				if (ok[s] > last) last = ok[s]
				inh = ready[s] - spawn[s]; poll = ok[s] - ready[s]
				if (s == "ziggie-api") { w1 = inh; p1 = poll }
				else if (inh + poll > w2 + p2) { w2 = inh; p2 = poll }
			}
			total = last - t0
			printf "%.1f %.1f %.1f %.1f\n", total, w1 + w2, p1 + p2, total - (w1 + w2) - (p1 + p2)
		}' "$work/facts"
}

# stats FILE COLUMN: "median (min - max)" of a column of numbers, in ms.
stats() {
	cut -d' ' -f"$2" "$1" | sort -n | awk '{ v[NR] = $1 } END {
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.0f ms (%.0f - %.0f)", m, v[1], v[NR] }'
}
median_of() { cut -d' ' -f"$2" "$1" | sort -n | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

section 10-recover
out "## Time to recover" "" \
    "The ziggie stack of the docker-compose runbook as \`make demo\` runs it: three" \
    "\`demo-service\` processes on 127.0.0.1 (\`ziggie-api\`, then \`mcp-gateway\` and \`sim-studio\`" \
    "after it), each taking 200 ms to start listening (\`START_DELAY_MS=200\`), checked with" \
    "\`GET /health\` reading \`{\"status\": \"healthy\"}\`. The demo's policy (interval 50ms, retries 2)" \
    "with \`stabilize: 0s\`, so that healthy means the first healthy answer. The broken deploy is the" \
    "demo's v2: \`ziggie-api\` answers 503, \`mcp-gateway\` is fine, \`sim-studio\` is not in it." \
    "The clock starts when the failure is detected and stops when every service answers" \
    "healthy on the last good release." ""

# 1. lastgood, automatic: the deploy itself detects and goes back.
runs=${BENCH_RUNS_RECOVER:-5}
: >"$work/auto"
for i in $(seq "$runs"); do
	"$work/break-lastgood.sh" >/dev/null 2>&1
	op=$("$LASTGOOD" -C "$lg_host" --json history --limit 1 | jq '.[0].id')
	recovery_facts "$op" 0 >>"$work/auto"
done
grep -q missing "$work/auto" && { say "recover: a run lacks its start log events"; exit 1; }
out "### lastgood, automatic (the deploy rolls back by itself)" "" '```sh' \
    "bench/recover.sh: $runs times: lastgood deploy DIST  # exit 3; times from 'lastgood --json show OP' and the services' START_LOG" \
    '```' ""

# 2. lastgood rollback, typed once the deploy left v2 live.
out "### lastgood rollback (manual, after \`deploy --no-auto-rollback\` left the broken release live)" ""
: >"$START_LOG"
mark=$("$LASTGOOD" -C "$lg_host" --json history --limit 1 | jq '.[0].id')
hyperfine_run "$work/manual.json" --runs "$runs" \
	--prepare "$work/break-lastgood.sh --no-auto-rollback" "$LASTGOOD -q -C $lg_host rollback"
hf_table "$work/manual.json"
: >"$work/manual"
for op in $("$LASTGOOD" -C "$lg_host" --json history --limit 100 |
	    jq -r --argjson m "$mark" '.[] | select(.id > $m and .command == "rollback") | "\(.id) \(.started_ms)"' |
	    tr ' ' ':'); do
	recovery_facts "${op%%:*}" "${op##*:}" >>"$work/manual"
done
out ""

# 3 and 4. The runbook, by script.
"$BENCH_DIR/runbook.sh" "$rb_host" setup >/dev/null
rb_sleep=${RUNBOOK_SLEEP:-30}
out "### The runbook's manual procedure, scripted (\`bench/runbook.sh\`)" "" \
    "Step 5 and 7 of the docker-compose playbook's manual rollback, as plain processes:" \
    "stop every service (\`docker compose down\`), restore the backup copies of the binaries and" \
    "env files (\`cp \"\$RESTORE_FROM/...\" .\`), start every service (\`docker compose up -d\`)," \
    "\`sleep $rb_sleep\`, then \`curl\` each \`/health\`. The tuned one polls the three \`/health\` every" \
    "50 ms instead of sleeping. Before each run \`break\` puts the broken v2 live the same way" \
    "and waits until \`ziggie-api\` answers 503 (the failure detected)." ""
hyperfine_run "$work/runbook.json" --runs "${BENCH_RUNS_RUNBOOK:-3}" \
	--prepare "$BENCH_DIR/runbook.sh $rb_host break" \
	"RUNBOOK_SLEEP=$rb_sleep $BENCH_DIR/runbook.sh $rb_host rollback" \
	"$BENCH_DIR/runbook.sh $rb_host rollback-poll"
hf_table "$work/runbook.json"
"$BENCH_DIR/runbook.sh" "$rb_host" stop >/dev/null

auto=$(median_of "$work/auto" 1)
manual=$(hf_median "$work/manual.json" 0)
faithful=$(hf_median "$work/runbook.json" 0)
polling=$(hf_median "$work/runbook.json" 1)
auto_s=$(awk -v a="$auto" 'BEGIN { print a / 1000 }')
out "" "### Summary" "" \
    "| procedure | failure detected -> all healthy (median) | runbook / this |" \
    "| --- | ---: | ---: |" \
    "| lastgood, automatic | $(ms "$auto_s") | $(ratio "$faithful" "$auto_s") |" \
    "| \`lastgood rollback\` | $(ms "$manual") | $(ratio "$faithful" "$manual") |" \
    "| runbook script, \`sleep $rb_sleep\` | $(ms "$faithful") | 1.00 |" \
    "| runbook script, polling | $(ms "$polling") | $(ratio "$faithful" "$polling") |" "" \
    "### lastgood's overhead" "" \
    "Per run, from lastgood's record and the services' start log: *services* is each wave's" \
    "time from spawn to listening (\`ziggie-api\`, then the slower of the rest), what no tool can" \
    "remove; *health-poll wait* is from listening to the first healthy answer (lastgood checks a" \
    "service that does not answer yet every 10 ms); *lastgood's own work* is the rest:" \
    "recording the live files, stopping, staging and swapping files, the journal, spawning." \
    "Overhead = total - services." "" \
    "| | total | services | health-poll wait | lastgood's own work | overhead |" \
    "| --- | ---: | ---: | ---: | ---: | ---: |"
for kind in auto manual; do
	label="automatic"
	[ "$kind" = auto ] || label="\`lastgood rollback\`"
	awk '{ print $1, $2, $3, $4, $1 - $2 }' "$work/$kind" >"$work/$kind.o"
	out "| $label | $(stats "$work/$kind.o" 1) | $(stats "$work/$kind.o" 2) | $(stats "$work/$kind.o" 3) | $(stats "$work/$kind.o" 4) | $(stats "$work/$kind.o" 5) |"
done
over=$(median_of "$work/auto.o" 5)
own=$(median_of "$work/auto.o" 4)
out "" "Targets: overhead under 50 ms: $(verdict "$(lt "$over" 50)") (median $over ms, of which" \
    "$own ms lastgood's own work and the rest waiting between health checks); at least 10" \
    "times faster than the runbook procedure: $(verdict "$(lt 10 "$(ratio "$faithful" "$auto_s")")")" \
    "($(ratio "$faithful" "$auto_s") times)." ""
