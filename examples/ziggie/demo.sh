#!/usr/bin/env bash
# The ziggie runbook's bad deploy, handled by lastgood: three demo services
# (ziggie-api, mcp-gateway, sim-studio) run on loopback ports from a scratch
# host folder. v1 is deployed there: it starts the stack and creates
# ziggie-api's SQLite database with migration 1, where the demo writes a
# few rows as ziggie-api would. v2 brings migration 2 and breaks ziggie-api's
# health; lastgood notices, migrates the database back down, puts v1 back
# and verifies it by itself. Prints the operation's timeline, the database
# before and after, and the time from failure detected to all healthy, then
# stops the stack and leaves nothing running, even on error or Ctrl-C.
#
# Needs curl and sqlite3 (scripts/install-deps demo).
# Environment: LASTGOOD (the binary), DEMO_SERVICE (the service binary),
# ZIGGIE_API_PORT, MCP_GATEWAY_PORT, SIM_STUDIO_PORT (ports to try first;
# default the runbook's 8000, 8080, 8001, or free ones when those are taken).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LG=${LASTGOOD:-$here/../../lastgood}
SERVICE_BIN=${DEMO_SERVICE:-$here/demo-service}
[ -x "$LG" ] || { echo "demo: no lastgood binary at '$LG' (run 'make')" >&2; exit 1; }
[ -x "$SERVICE_BIN" ] || {
	echo "demo: no service binary at '$SERVICE_BIN' (run 'make examples/ziggie/demo-service')" >&2
	exit 1
}

services=(ziggie-api mcp-gateway sim-studio)
work=$(mktemp -d "${TMPDIR:-/tmp}/lastgood-ziggie.XXXXXX")
host=$work/host

# The services this demo started (see pids_under in examples/lib.sh).
host_pids() { pids_under "$host"; }

cleanup() {
	local rc=$? pids
	trap - EXIT INT TERM
	if [ -f "$host/lastgood.yml" ]; then
		"$LG" -q -C "$host" stop >/dev/null 2>&1 || true
	fi
	mapfile -t pids < <(host_pids)
	if [ ${#pids[@]} -gt 0 ]; then
		echo "demo: stopping leftover services: ${pids[*]}" >&2
		kill "${pids[@]}" 2>/dev/null || true
		sleep 0.5
		mapfile -t pids < <(host_pids)
		[ ${#pids[@]} -eq 0 ] || kill -KILL "${pids[@]}" 2>/dev/null || true
	fi
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

. "$here/../lib.sh"
die() { echo "demo: $*" >&2; exit 1; }
now_ms() { date +%s%3N; }


api_port=$(pick_port "${ZIGGIE_API_PORT:-8000}")
gateway_port=$(pick_port "${MCP_GATEWAY_PORT:-8080}" "$api_port")
studio_port=$(pick_port "${SIM_STUDIO_PORT:-8001}" "$api_port" "$gateway_port")
declare -A port=([ziggie-api]=$api_port [mcp-gateway]=$gateway_port [sim-studio]=$studio_port)

# The host holds only its config and the (empty) data folder; v1 and v2
# are laid out as a build would leave them. The config's runbook ports go
# through placeholders so that no replacement can hit another's result.
mkdir -p "$host/data"
sed -e 's/\([":]\)8000\(["/]\)/\1@API@\2/g' \
    -e 's/\([":]\)8080\(["/]\)/\1@GATEWAY@\2/g' \
    -e 's/\([":]\)8001\(["/]\)/\1@STUDIO@\2/g' \
    -e "s/@API@/$api_port/g; s/@GATEWAY@/$gateway_port/g; s/@STUDIO@/$studio_port/g" \
    "$here/lastgood.yml" >"$host/lastgood.yml"

# v1: a binary and an env file per service, and ziggie-api's migration 1.
dist1=$work/dist-v1
mkdir -p "$dist1/bin" "$dist1/etc" "$dist1/db/migrations"
for s in "${services[@]}"; do
	install -p -m 0755 "$SERVICE_BIN" "$dist1/bin/$s"
	printf 'VERSION=1\nMODE=healthy\nSTART_DELAY_MS=200\n' >"$dist1/etc/$s.env"
done
cp "$here"/db/migrations/0001_* "$dist1/db/migrations/"

# v2: ziggie-api's new env makes it unhealthy, mcp-gateway's is fine, and
# ziggie-api's migrations gain 0002 (the folder is replaced whole, so it
# holds 0001 too). sim-studio is not in it, so it keeps v1 and is not
# restarted; the binaries are v1's, to the modification time (install -p),
# so only the env files and the migrations switch.
dist2=$work/dist-v2
mkdir -p "$dist2/bin" "$dist2/etc" "$dist2/db/migrations"
for s in ziggie-api mcp-gateway; do
	install -p -m 0755 "$SERVICE_BIN" "$dist2/bin/$s"
done
printf 'VERSION=2\nMODE=unhealthy\nSTART_DELAY_MS=200\n' >"$dist2/etc/ziggie-api.env"
printf 'VERSION=2\nMODE=healthy\nSTART_DELAY_MS=200\n' >"$dist2/etc/mcp-gateway.env"
cp "$here"/db/migrations/000[12]_* "$dist2/db/migrations/"

# sql STATEMENT: run it on ziggie-api's database as the application would,
# echoing it first.
sql() {
	printf '%s$ sqlite3 data/ziggie-api.db "%s"%s\n' "$bold" "$1" "$plain"
	sqlite3 "$host/data/ziggie-api.db" "$1"
}

say "the ziggie stack in $host: ziggie-api :$api_port (SQLite database 'main'), mcp-gateway :$gateway_port, sim-studio :$studio_port"
lastgood check

say "deploy v1: its services start healthy, and migration 1 creates ziggie-api's table"
(cd "$work" && find dist-v1 -type f | sort)
lastgood deploy "$dist1" --label v1 --reason "v1, known good"
lastgood status

say "ziggie-api writes its rows; the database is at version 1"
sql "INSERT INTO sessions(user_name) VALUES ('ada'), ('grace'), ('linus')"
lastgood db status

say "v2 arrives: migration 2 adds a column, and ziggie-api is broken in it (its /health answers 503)"
(cd "$work" && find dist-v2 -type f | sort)
cat "$here/db/migrations/0002_add_session_expiry.up.sql"

say "deploy v2: lastgood sees ziggie-api fail and rolls back files and schema by itself (exit 3)"
deploy_rc=0
deploy_started=$(now_ms)
lastgood deploy "$dist2" --label v2 --reason "ship v2" || deploy_rc=$?
deploy_ended=$(now_ms)
[ "$deploy_rc" -eq 3 ] || die "deploy exited $deploy_rc, expected 3 (failed and rolled back)"
echo "deploy exited 3 after $((deploy_ended - deploy_started)) ms: failed and rolled back"

# The deploy is the newest operation; `--json history` prints one key per
# line, so its first "id" is the deploy's number.
op=$("$LG" -C "$host" --json history --limit 1 | sed -n 's/^ *"id": *\([0-9][0-9]*\).*/\1/p' | head -n 1)
[ -n "$op" ] || die "cannot find the deploy's operation number"

say "every service is back on v1"
lastgood status
for s in "${services[@]}"; do
	url=http://127.0.0.1:${port[$s]}/health
	printf '%s$ curl -s %s%s\n' "$bold" "$url" "$plain"
	body=$(curl -s --max-time 2 "$url") || die "$s does not answer on $url"
	echo "$body"
	case $body in
	*'"status":"healthy"'*'"version":"1"'*) ;;
	*) die "$s is not healthy on version 1" ;;
	esac
done

say "ziggie-api's database is at version 1 again, its rows intact"
lastgood db status
sql "SELECT id, user_name FROM sessions ORDER BY id"
users=$(sqlite3 "$host/data/ziggie-api.db" "SELECT group_concat(user_name) FROM sessions")
[ "$users" = ada,grace,linus ] || die "the rows written on v1 are not all there: $users"
columns=$(sqlite3 "$host/data/ziggie-api.db" "SELECT group_concat(name) FROM pragma_table_info('sessions')")
[ "$columns" = id,user_name,created_at ] || die "sessions has columns $columns, not v1's"

say "the record: v2 is marked bad, and the deploy's timeline (migrate 2, then migrate down 2)"
lastgood releases
lastgood history
lastgood show "$op"

# Time to recover, from the record (`--json show` prints one key per line,
# so awk reads it without jq). lastgood journals each service's wait for
# health as a "healthy" step that ends when the service was judged: failed,
# or healthy and then stable for `stabilize` (1s here). The failure was
# detected when the failed step ended; after it the old release's services
# restart, and the last "healthy" step ends when all are healthy again.
"$LG" -C "$host" --json show "$op" | awk '
	/^\{/ { top = 1 }
	/^ *"steps":/ { top = 0 }
	/^ *\{/ && !top { kind = result = ""; ended = 0 }
	/^ *"kind":/ { kind = $0; sub(/^[^:]*: *"/, "", kind); sub(/".*/, "", kind) }
	/^ *"result":/ { result = $0; sub(/^[^:]*: *"/, "", result); sub(/".*/, "", result) }
	/^ *"ended_ms":/ { ended = $0; gsub(/[^0-9]/, "", ended) }
	/^ *\}/ && !top && kind == "healthy" {
		if (!detected && result == "failed") detected = ended
		else if (detected && result == "ok") answered = ended
	}
	END {
		if (!detected || !answered) {
			print "demo: the timeline has no failed health wait followed by healthy ones" > "/dev/stderr"
			exit 1
		}
		printf "\nfailure detected -> every service healthy and stable again: %.3f s\n", (answered - detected) / 1000
	}'

say "stop the stack; nothing is left running"
lastgood stop
mapfile -t left < <(host_pids)
[ ${#left[@]} -eq 0 ] || die "still running after stop: ${left[*]}"
echo "no demo service left running"
