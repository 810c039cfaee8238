#!/usr/bin/env bash
# A deploy whose migration goes with a broken release, handled by lastgood:
# a private PostgreSQL server (initdb and pg_ctl on 127.0.0.1, as the tests
# start it: tests/lib/postgres.bash), a scratch host running the `notes`
# service, release v1 bringing migration 1 and v2 bringing migration 2 with
# a service that fails its health check. lastgood migrates v2 up, sees the
# service fail, migrates down with v2's down script and puts v1 back; the
# row written on v1 survives. Stops the service and the server and removes
# everything it made, even on error or Ctrl-C.
#
# Environment: LASTGOOD (the binary; default ../../lastgood).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LG=${LASTGOOD:-$here/../../lastgood}
[ -x "$LG" ] || { echo "demo: no lastgood binary at '$LG' (run 'make')" >&2; exit 1; }
command -v psql >/dev/null || { echo "demo: psql is missing (package postgresql-client)" >&2; exit 1; }

. "$here/../lib.sh"
. "$here/../../tests/lib/postgres.bash"

# The server's folder must be reachable by the postgres user when run as
# root, hence below /tmp and apart from the host.
work=$(mktemp -d "${TMPDIR:-/tmp}/lastgood-postgres.XXXXXX")
server=$(mktemp -d /tmp/lastgood-postgres-server.XXXXXX)
host=$work/host

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -f "$host/lastgood.yml" ]; then
		"$LG" -q -C "$host" stop >/dev/null 2>&1 || true
	fi
	pg_stop "$server" || true
	rm -rf "$work" "$server"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# release DIR STATUS VERSION...: a deploy SOURCE holding app/notes.conf and
# the migrations of the versions given.
release() {
	local dir=$1 status=$2 v
	shift 2
	mkdir -p "$dir/app" "$dir/db/migrations"
	printf 'STATUS=%s\n' "$status" >"$dir/app/notes.conf"
	for v in "$@"; do
		cp "$here/migrations/$v"_* "$dir/db/migrations/"
	done
}

sql() { psql -X -q -d "$url" "$@"; }

say "a private PostgreSQL server on 127.0.0.1"
pg_start "$server"
url=$(pg_new_db notes)
echo "$url"

mkdir -p "$host/app" "$host/db/migrations"
printf 'STATUS=ok\n' >"$host/app/notes.conf"
sed "s|@URL@|$url|" "$here/lastgood.yml" >"$host/lastgood.yml"
release "$work/v1" ok 0001
release "$work/v2" broken 0001 0002

say "record the stack as it is (no schema yet) and start it"
lastgood snapshot --label v0 --reason "before the database"
lastgood start

say "v1 brings migration 1: lastgood backs the database up, then migrates it"
lastgood deploy "$work/v1" --label v1 --reason "notes table"
sql -c "INSERT INTO notes (body) VALUES ('written on v1')"
lastgood db status

say "v2 brings migration 2 and a service that fails its health check"
rc=0
lastgood deploy "$work/v2" --label v2 --reason "pinned notes" || rc=$?
[ "$rc" -eq 3 ] || { echo "demo: expected exit 3 (rolled back), got $rc" >&2; exit 1; }
echo "(exit $rc: deploy failed and was rolled back automatically)"

say "the timeline: migrate up, the service fails, migrate down, v1 back"
lastgood show "$("$LG" -C "$host" --json history | jq -r '.[0].id')"

say "the schema is v1's again, and the row written on v1 is still there"
lastgood db status
sql -c "SELECT version, name FROM lastgood_migrations ORDER BY version" \
	-c "SELECT id, body FROM notes"

say "stop the stack and the server"
lastgood stop
