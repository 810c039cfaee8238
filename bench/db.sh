#!/usr/bin/env bash
# Databases: a deploy whose one migration goes with a broken release, on a
# generated PostgreSQL database of 1 GB (at BENCH_SCALE=1), rolled back by
# lastgood two ways: the migration's down script (the down path) and, for
# the same migration without one, the backup the deploy took (the restore
# path); each against its floor run by hand (the down script with psql;
# pg_restore -j 2, pg_restore --single-transaction and psql of a plain
# dump). Then `lastgood db backup` of a generated 100 MB SQLite database
# against sqlite3's .backup. Writes $BENCH_RESULTS/50-db.md.
#
# The server is the tests' own (tests/lib/postgres.bash: initdb and pg_ctl
# on a loopback port, as the postgres user when run as root), with its
# settings: fsync off. Environment: BENCH_ROUNDS_DB (rounds of the
# PostgreSQL measurements, default 3), BENCH_RUNS_SQLITE (default 5).
source "$(dirname "$0")/lib.sh"
source "$BENCH_DIR/../tests/lib/postgres.bash"

for tool in psql pg_dump pg_restore; do
	command -v "$tool" >/dev/null ||
		{ say "db: '$tool' is missing (scripts/install-deps bench)"; exit 1; }
done

work=$BENCH_WORK/db
pg_host=$work/pg
lite_host=$work/sqlite
rounds=${BENCH_ROUNDS_DB:-3}
rm -rf "$work"
mkdir -p "$pg_host" "$lite_host"
# The server's folder must be reachable by the postgres user: not below
# BENCH_WORK, which only its owner may enter.
server=$(mktemp -d "${TMPDIR:-/tmp}/lastgood-bench-pg.XXXXXX")

cleanup() {
	local host
	for host in "$pg_host" "$lite_host"; do
		[ ! -f "$host/lastgood.yml" ] || "$LASTGOOD" -q -C "$host" stop >/dev/null 2>&1 || true
		drop_state "$host/.lastgood"
	done
	pg_stop "$server" || true
	rm -rf "$work" "$server"
}
trap cleanup EXIT

pg_start "$server"
# No autovacuum: a worker that wakes during one command and not another
# takes one of the two cores from it (each restore leaves a gigabyte
# never vacuumed behind), and the commands compared would not run alike.
PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 -d "$LG_TEST_PGURL" \
	-c "ALTER SYSTEM SET autovacuum = off" -c "SELECT pg_reload_conf()" >/dev/null
url=$(pg_new_db bench)

# psql_run ARGS...: psql on the benchmark's database, quiet, stopping at
# the first error.
psql_run() {
	PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 -d "$url" "$@"
}

# The data: four tables of different sizes, each with its primary key and
# further indexes, and a foreign key, so that pg_restore -j has tables and
# indexes to spread over its jobs. Rows per table chosen so that the
# database is about 1 GB at BENCH_SCALE=1 (pg_database_size says what it
# is).
accounts=$(scaled 1370000 100)
orders=$(scaled 1200000 100)
events=$(scaled 3480000 100)
say "db: generating $(human "$((accounts + orders + events))") rows"
psql_run -v accounts="$accounts" -v orders="$orders" -v events="$events" <<'SQL'
CREATE TABLE accounts (id bigint PRIMARY KEY, email text NOT NULL, name text NOT NULL,
	created_at timestamptz NOT NULL);
INSERT INTO accounts SELECT i, 'user' || i || '@example' || (i % 97) || '.org', md5(i::text),
	timestamptz '2026-01-01' - i * interval '1 minute' FROM generate_series(1::bigint, :accounts) i;
CREATE UNIQUE INDEX accounts_email ON accounts (email);

CREATE TABLE orders (id bigint PRIMARY KEY, account_id bigint NOT NULL REFERENCES accounts,
	total_cents bigint NOT NULL, status text NOT NULL, placed_at timestamptz NOT NULL);
INSERT INTO orders SELECT i, 1 + (i * 7919) % :accounts, (i * 31) % 100000,
	(ARRAY['new', 'paid', 'shipped', 'returned'])[1 + i % 4],
	timestamptz '2026-01-01' - i * interval '7 seconds' FROM generate_series(1::bigint, :orders) i;
CREATE INDEX orders_account ON orders (account_id);
CREATE INDEX orders_placed ON orders (placed_at);

CREATE TABLE events (id bigint PRIMARY KEY, account_id bigint NOT NULL, kind smallint NOT NULL,
	at timestamptz NOT NULL, payload text NOT NULL);
INSERT INTO events SELECT i, 1 + (i * 104729) % :accounts, i % 12,
	timestamptz '2026-01-01' - i * interval '3 seconds', md5(i::text) || md5((i + 1)::text)
	FROM generate_series(1::bigint, :events) i;
CREATE INDEX events_account_at ON events (account_id, at);

CREATE TABLE settings (key text PRIMARY KEY, value text NOT NULL);
INSERT INTO settings SELECT 'key' || i, md5(i::text) FROM generate_series(1, 1000) i;
VACUUM ANALYZE;
SQL
db_size=$(psql_run -At -c "SELECT pg_database_size(current_database())")

# The one migration: a column with a default (no rewrite) and an index on
# the orders table. Its down script undoes both.
migration=0001_order_currency
cat >"$work/up.sql" <<'SQL'
ALTER TABLE orders ADD COLUMN currency char(3) NOT NULL DEFAULT 'EUR';
CREATE INDEX orders_status_placed ON orders (status, placed_at);
SQL
cat >"$work/down.sql" <<'SQL'
DROP INDEX orders_status_placed;
ALTER TABLE orders DROP COLUMN currency;
SQL

# services_yaml: the one service of both stacks (`sleep infinity`), whose
# health check reads its config file.
services_yaml() {
	cat <<'EOF'
services:
  app:
    manager: process
    run: [sleep, infinity]
    files: [app, db/migrations]
    health:
      - exec: [grep, -qx, STATUS=ok, app/app.conf]
EOF
}

# The stack: that service; the database backed up before every schema
# change (backup: always, the default) with the service stopped while it
# is restored.
mkdir -p "$pg_host/app" "$pg_host/db/migrations"
echo STATUS=ok >"$pg_host/app/app.conf"
{ echo "policy: {start_timeout: 1s, interval: 50ms, timeout: 2s, retries: 1, stabilize: 0s, stop_timeout: 5s}"
  services_yaml
  cat <<EOF; } >"$pg_host/lastgood.yml"
databases:
  main:
    engine: postgres
    url: "$url"
    migrations: db/migrations
    backup: always
    services: [app]
EOF
"$LASTGOOD" -q -C "$pg_host" snapshot --label v1 >/dev/null
"$LASTGOOD" -q -C "$pg_host" start >/dev/null

# The broken release, made afresh for each deploy (a new version each
# time, so that no deploy is mistaken for one before): the migration, with
# its down script for the down path and without it for the restore path,
# and a config the health check refuses.
cat >"$work/deploy-broken.sh" <<EOF
#!/usr/bin/env bash
# deploy-broken.sh down|restore: deploy the broken release; exit 3 expected
set -e
n=\$(( \$(cat "$work/count" 2>/dev/null || echo 0) + 1 ))
echo "\$n" >"$work/count"
dist=$work/dist-\$n
mkdir -p "\$dist/app" "\$dist/db/migrations"
printf 'STATUS=broken\nRELEASE=2.%d\n' "\$n" >"\$dist/app/app.conf"
cp "$work/up.sql" "\$dist/db/migrations/$migration.up.sql"
[ "\$1" = restore ] || cp "$work/down.sql" "\$dist/db/migrations/$migration.down.sql"
rc=0
"$LASTGOOD" -q -C "$pg_host" deploy "\$dist" >/dev/null 2>&1 || rc=\$?
rm -rf "\$dist"
[ "\$rc" -eq 3 ] || { echo "deploy-broken.sh: deploy exited \$rc, not 3" >&2; exit 1; }
EOF
chmod +x "$work/deploy-broken.sh"

# The dumps restored by hand: one the restore path's deploy took, copied
# (lastgood's own backup, custom format), and a plain SQL one of the same
# database.
"$work/deploy-broken.sh" restore
newest=$("$LASTGOOD" -C "$pg_host" --json db backups main | jq -r '.[0].file')
cp "$pg_host/.lastgood/backups/$newest" "$work/backup.dump"
pg_dump --no-password --clean --if-exists --format=plain --file "$work/plain.sql" "$url"
mark=$("$LASTGOOD" -C "$pg_host" --json history --limit 1 | jq '.[0].id')

section 50-db
out "## Databases" "" \
    "### PostgreSQL: a deploy rolled back with its migration" "" \
    "A private PostgreSQL $(pg_restore --version | awk '{ print $3 }') server (\`tests/lib/postgres.bash\`: \`initdb\`, \`pg_ctl\` on 127.0.0.1," \
    "with the tests' settings, among them \`fsync = off\`) and a database of" \
    "$(bytes_h "$db_size") (\`pg_database_size\`) generated by \`bench/db.sh\`: tables \`events\`" \
    "($(human "$events") rows), \`accounts\` ($(human "$accounts")), \`orders\` ($(human "$orders"), a foreign key to" \
    "\`accounts\`) and \`settings\` (1,000), each with its primary key and one or two more indexes." \
    "The stack is one service (\`sleep infinity\`) whose health check reads its config; the" \
    "database is backed up before every schema change (\`backup: always\`) and the service is" \
    "stopped while it is restored. The broken release brings migration \`$migration\`" \
    "(\`orders\` gains a column with a default and an index on \`(status, placed_at)\`) and a" \
    "config the health check refuses: the deploy backs up, migrates, sees the service fail" \
    "and goes back (exit 3). On the down path the release holds the down script" \
    "(\`DROP INDEX\`, \`DROP COLUMN\`); on the restore path it does not, and the backup that" \
    "deploy took is restored. The floors are run by hand on the same database, each after the" \
    "up script (\`psql -f up.sql\`, not timed): the down script in one transaction, and the" \
    "backup of a restore-path deploy ($(bytes_h "$(stat -c %s "$work/backup.dump")"), \`pg_dump -Fc\`) restored three ways, and" \
    "a plain dump of the same database ($(bytes_h "$(stat -c %s "$work/plain.sql")"), \`pg_dump -Fp --clean --if-exists\`) through" \
    "\`psql\`. Each round runs every command once, one after the other, each after a" \
    "\`CHECKPOINT\` (a restore writes about as much WAL as \`max_wal_size\`, and a command" \
    "started with the previous one's buffers dirty pays for its checkpoint), with autovacuum" \
    "off (a worker that wakes during one command and not another takes a core from it)." \
    "\`\$URL\` is the database's (\`postgresql://postgres@127.0.0.1:PORT/bench\`)." ""

say "db: $rounds rounds of the PostgreSQL commands"
by_hand_psql="psql -X -q -v ON_ERROR_STOP=1 -d $url"
restore_args="--clean --if-exists --no-password -d $url"
hyperfine_rounds "$work/pg.json" "$rounds" \
	--prepare "$by_hand_psql -c CHECKPOINT" --prepare "$by_hand_psql -c CHECKPOINT" \
	--prepare "$by_hand_psql -f $work/up.sql -c CHECKPOINT" \
	--prepare "$by_hand_psql -f $work/up.sql -c CHECKPOINT" \
	--prepare "$by_hand_psql -f $work/up.sql -c CHECKPOINT" \
	--prepare "$by_hand_psql -f $work/up.sql -c CHECKPOINT" \
	"$work/deploy-broken.sh down" "$work/deploy-broken.sh restore" \
	"$by_hand_psql -1 -f $work/down.sql" \
	"pg_restore -j 2 $restore_args $work/backup.dump" \
	"pg_restore --single-transaction $restore_args $work/backup.dump" \
	"$by_hand_psql -f $work/plain.sql"
hf_table "$work/pg.json"

# The deploys' own record: per deploy, its kind (down or restore: whether
# a restore step ran), the whole deploy, its back up and migrate steps,
# the migrate down or restore step, and the way back: from the
# failed health check to the deploy's end (in ms).
: >"$work/deploys"
for op in $("$LASTGOOD" -C "$pg_host" --json history --limit 100 |
	    jq -r --argjson m "$mark" '.[] | select(.id > $m and .command == "deploy") | .id' | sort -n); do
	"$LASTGOOD" -C "$pg_host" --json show "$op" | jq -r '
		def took(k): [.steps[] | select(.kind == k) | .ended_ms - .started_ms] | add // 0;
		([.steps[] | select(.kind == "healthy" and .result == "failed") | .ended_ms] | first) as $failed
		| [(if any(.steps[]; .kind == "restore") then "restore" else "down" end),
		   .ended_ms - .started_ms, took("back up"), took("migrate"), took("migrate down"),
		   took("restore"), .ended_ms - $failed] | @tsv' >>"$work/deploys"
done

# col KIND N: the median of column N of the deploys of KIND, in seconds.
col() { awk -v k="$1" -v n="$2" '$1 == k { print $n / 1000 }' "$work/deploys" | median_of; }
# cell KIND N: that median for a table, "-" for a step the path does not take.
cell() {
	local v
	v=$(col "$1" "$2")
	if [ "$(lt 0 "$v")" = 1 ]; then ms "$v"; else echo -; fi
}
hf=$work/pg.json
down_script=$(hf_median "$hf" 2)
pg_j2=$(hf_median "$hf" 3)
pg_single=$(hf_median "$hf" 4)
pg_plain=$(hf_median "$hf" 5)
down_path=$(col down 7)
down_step=$(col down 5)
restore_path=$(col restore 7)
restore_step=$(col restore 6)
out "" "From each deploy's own record (\`lastgood --json show\`), the medians over the rounds;" \
    "*the way back* is from the failed health check to the end of the deploy: the migration" \
    "undone, the files swapped back, the service started and found healthy." "" \
    "| path | deploy | back up | migrate | migrate down | restore | the way back |" \
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for kind in down restore; do
	out "| $kind | $(cell "$kind" 2) | $(cell "$kind" 3) | $(cell "$kind" 4) | $(cell "$kind" 5) | $(cell "$kind" 6) | $(cell "$kind" 7) |"
done
added=$(awk -v a="$down_path" -v b="$down_script" 'BEGIN { print a - b }')
out "" "Targets:" "" \
    "- the down path adds at most 1 s over the down script's own time:" \
    "  $(verdict "$(lt "$added" 1)") (the way back $(ms "$down_path"), of which the migrate down step" \
    "  $(ms "$down_step"); the down script by hand $(ms "$down_script"), psql's start and" \
    "  connection included: $(ms "$added") added)." \
    "- the restore no slower than \`pg_restore -j 2\` by hand:" \
    "  $(verdict "$(lt "$restore_step" "$pg_j2")") (the restore step $(ms "$restore_step"), the way back" \
    "  $(ms "$restore_path"); \`pg_restore -j 2\` $(ms "$pg_j2"), $(ratio "$restore_step" "$pg_j2") times;" \
    "  \`pg_restore --single-transaction\`, lastgood's way without the right to create a database," \
    "  $(ms "$pg_single"); plain \`psql\`" \
    "  $(ms "$pg_plain"))." ""
out "lastgood restores a whole backup with \`pg_restore -j 2\` into a new database beside the" \
    "target and swaps the two names in one transaction (\`src/core/db/postgres.c\`), so that a" \
    "restore that fails changes nothing; around the pg_restore it creates that database, gives" \
    "it the target's grants and settings and renames both; the old one is dropped while the" \
    "services start, after the step. Its restore step" \
    "took $(ratio "$restore_step" "$pg_j2") times \`pg_restore -j 2\` by hand into the live database." \
    "A role that may not create databases is restored in place with" \
    "\`pg_restore --single-transaction\` (pg_restore cannot combine one transaction with" \
    "\`-j\`), $(ratio "$pg_single" "$pg_j2") times \`-j 2\` by hand in this run." ""

# SQLite: a database of 100 MB (at BENCH_SCALE=1) of rows of 1 KiB of
# random bytes with an index, backed up by lastgood (the online backup
# API, then fsync) and by sqlite3's .backup.
rows=$(scaled 76000 100)
mkdir -p "$lite_host/app" "$lite_host/data" "$lite_host/db/migrations"
echo STATUS=ok >"$lite_host/app/app.conf"
sqlite3 "$lite_host/data/app.db" >/dev/null <<SQL
PRAGMA journal_mode = WAL;
CREATE TABLE blobs (id INTEGER PRIMARY KEY, k INTEGER NOT NULL, body BLOB NOT NULL);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $rows)
INSERT INTO blobs SELECT i, (i * 7919) % 100003, randomblob(1024) FROM n;
CREATE INDEX blobs_k ON blobs (k);
SQL
lite_size=$(stat -c %s "$lite_host/data/app.db")
{ services_yaml; cat <<EOF; } >"$lite_host/lastgood.yml"
databases:
  main:
    engine: sqlite
    path: data/app.db
    migrations: db/migrations
    services: [app]
EOF
"$LASTGOOD" -q -C "$lite_host" snapshot --label v1 >/dev/null

out "### SQLite: a backup" "" \
    "A database of $(bytes_h "$lite_size") ($(human "$rows") rows of 1 KiB of random bytes, an index, WAL mode)," \
    "backed up by \`lastgood db backup\` (SQLite's online backup API into the state folder," \
    "then \`fsync\`) and by hand with \`sqlite3 .backup\`, which does not \`fsync\`: the third" \
    "command adds \`sync\` of the file for a durable copy." ""
copy=$work/copy.db
hyperfine_run "$work/sqlite.json" --runs "${BENCH_RUNS_SQLITE:-5}" --prepare "rm -f $copy" \
	"$LASTGOOD -q -C $lite_host db backup" \
	"sqlite3 $lite_host/data/app.db '.backup $copy'" \
	"sqlite3 $lite_host/data/app.db '.backup $copy' && sync $copy"
hf_table "$work/sqlite.json"
lite_lg=$(hf_median "$work/sqlite.json" 0)
per100=$(awk -v t="$lite_lg" -v b="$lite_size" 'BEGIN { print t * 100 * 1048576 / b }')
out "" "Target: at most 1 s per 100 MB: $(verdict "$(lt "$per100" 1)") ($(ms "$per100") per 100 MiB;" \
    "$(ratio "$lite_lg" "$(hf_median "$work/sqlite.json" 1)") times \`sqlite3 .backup\`," \
    "$(ratio "$lite_lg" "$(hf_median "$work/sqlite.json" 2)") times it with \`sync\`)." ""

# The server's port changes from run to run: the section names its URL.
sed -i "s|$url|\\\$URL|g" "$BENCH_RESULTS/50-db.md"
