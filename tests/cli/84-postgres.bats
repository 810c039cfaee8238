#!/usr/bin/env bats
# The postgres engine end to end through the CLI: a real PostgreSQL server
# (tests/lib/postgres.bash) started once for the file, one fresh database
# per test. A deploy migrates up, a failed one goes back with the down
# scripts or the backup (pg_dump, pg_restore), a wrong password or an
# unreachable server changes nothing and shows no secret, and a second
# migrator is reported like the lock. The service is a command-manager
# stand-in: what matters here is the schema and the files.

load helpers
load helpers-services
# migration (and SQLite helpers this file redefines for PostgreSQL below)
load helpers-databases
load ../lib/postgres

# One server for the file. Without one the tests skip, except under CI,
# where they fail: scripts/install-deps installs postgresql.
setup_file() {
	PG_DIR=$(mktemp -d /tmp/lg-pg84.XXXXXX)
	export PG_DIR
	if ! pg_start "$PG_DIR"; then
		if [ "${CI:-}" = true ]; then
			echo "no PostgreSQL server under CI: scripts/install-deps check installs postgresql" >&2
			return 1
		fi
		unset LG_TEST_PGURL
	fi
}

teardown_file() {
	pg_stop "$PG_DIR"
	rm -rf "$PG_DIR"
}

# Like services_setup, without the HTTP test service this file has no use
# for.
setup() {
	common_setup || return 1
	LG_REAL=$LG
	LG=lg_bounded
	PORTS_FILE=$BATS_TEST_TMPDIR/ports
	: >"$PORTS_FILE"
	[ -n "${LG_TEST_PGURL:-}" ] ||
		skip "PostgreSQL server not installed (package postgresql; scripts/install-deps check installs it)"
	DB_NAME=lg84_$BATS_TEST_NUMBER
	DB_URL=$(pg_new_db "$DB_NAME")
}

teardown() {
	[ -z "${LOCK_PID:-}" ] || { exec {LOCK_FD}>&-; wait "$LOCK_PID" 2>/dev/null || true; }
	[ ! -e "$HOST/lastgood.yml" ] || (cd "$HOST" && LG_TIMEOUT=60 lg stop >/dev/null 2>&1)
	kill_leftovers
	common_teardown
}

# sql QUERY...: run on the test's database as the superuser; rows as
# unaligned text, one per line.
sql() {
	PGOPTIONS='-c client_min_messages=warning' psql -X -q -At -v ON_ERROR_STOP=1 \
		-d "$DB_URL" "$@"
}

# applied: the versions lastgood_migrations holds, comma-separated (empty
# without the table).
applied() {
	sql -c "SELECT coalesce(string_agg(version::text, ',' ORDER BY version), '')
		FROM lastgood_migrations" 2>/dev/null || true
}

columns() {
	sql -c "SELECT string_agg(column_name, ',' ORDER BY ordinal_position)
		FROM information_schema.columns WHERE table_name = 'items'"
}

tables() {
	sql -c "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables
		WHERE schemaname = 'public'"
}

# release DIR VERSION: a deploy SOURCE holding the live migrations and
# app/version saying VERSION ("good ..." passes the health check).
release() {
	mkdir -p "$1/db" "$1/app"
	cp -a db/migrations "$1/db/"
	echo "$2" >"$1/app/version"
}

# pg_stack [DATABASE_YAML_LINES...]: one service, app (command manager; its
# start and stop append to svc.log), healthy while app/version says good;
# its files hold db/migrations; database main on the test's database. The
# lines given replace the url line (a password, another url).
pg_stack() {
	mkdir -p app db/migrations
	echo good >app/version
	{
		cat <<-'YML'
			policy: {start_timeout: 3s, interval: 50ms, timeout: 2s, retries: 1, stabilize: 0s, stop_timeout: 2s}
			services:
			  app:
			    manager: command
			    start: [sh, -c, "echo start >>svc.log"]
			    stop: [sh, -c, "echo stop >>svc.log"]
			    files: [app, db/migrations]
			    health:
			      - exec: [grep, -q, good, app/version]
			databases:
			  main:
			    engine: postgres
		YML
		if [ $# -gt 0 ]; then printf '    %s\n' "$@"; else printf '    url: %s\n' "$DB_URL"; fi
		printf '    migrations: db/migrations\n'
		printf '    backup: %s\n' "${BACKUP:-always}"
		printf '    services: [app]\n'
	} >lastgood.yml
}

# at_version_1: release v0 (no migration) and v1 (migration 1: items),
# v1 live, one row written by "the application".
at_version_1() {
	pg_stack "$@"
	lg_ok snapshot --label v0
	migration ../v1 0001 create_items \
		'CREATE TABLE items(id serial PRIMARY KEY, name text NOT NULL);' \
		'DROP TABLE items;'
	release ../v1 good
	lg_ok deploy ../v1 --label v1
	expect_equal "$(applied)" 1
	sql -c "INSERT INTO items(name) VALUES('written before v2')"
}

# v2_adds_price DIR [VERSION]: a release bringing migration 2 (a column
# price, and its down script) on top of the live ones.
v2_adds_price() {
	release "$1" "${2:-good v2}"
	migration "$1" 0002 add_price \
		'ALTER TABLE items ADD COLUMN price integer;' \
		'ALTER TABLE items DROP COLUMN price;'
}

last_op_shown() {
	lg_ok show "$(lg --json history | jq -r '.[0].id')"
}

@test "a deploy runs the new migration, recorded in lastgood_migrations, after a backup" {
	at_version_1
	v2_adds_price ../v2
	local backups
	backups=$(ls .lastgood/backups | wc -l)
	lg_ok deploy ../v2 --label v2
	expect_equal "$(applied)" 1,2
	expect_equal "$(columns)" id,name,price
	expect_equal "$(sql -c 'SELECT name FROM items')" "written before v2"
	expect_equal "$(sql -c 'SELECT name FROM lastgood_migrations WHERE version = 2')" add_price
	expect_equal "$(sql -c 'SELECT checksum FROM lastgood_migrations WHERE version = 2')" \
		"$(sha db/migrations/0002_add_price.up.sql)"
	expect_equal "$(sql -c 'SELECT release FROM lastgood_migrations WHERE version = 2')" \
		"$(live_release)"
	last_op_shown
	expect_match "$output" "back up +main"
	expect_match "$output" "migrate +main 2 add_price"
	expect_equal "$(ls .lastgood/backups | wc -l)" $((backups + 1))
	# the backup is pg_dump's custom format
	expect_equal "$(head -c 5 .lastgood/backups/main-op*.backup | tail -c 5)" PGDMP
}

@test "a deploy that fails verification goes back with the down script; rows survive" {
	at_version_1
	v2_adds_price ../v2 "bad v2"
	lg_status 3 deploy ../v2 --label v2
	expect_equal "$(applied)" 1
	expect_equal "$(columns)" id,name
	expect_equal "$(sql -c 'SELECT name FROM items')" "written before v2"
	last_op_shown
	expect_match "$output" "migrate +main 2 add_price"
	expect_match "$output" "migrate down +main 2 add_price"
	expect_no_match "$output" "restore +main"
	expect_equal "$(cat app/version)" good
	[ ! -e db/migrations/0002_add_price.up.sql ]
}

@test "a migration that fails changes nothing: files, schema and rows as before, exit 1" {
	at_version_1
	release ../v2 "good v2"
	# the second statement fails: the first must not stay
	migration ../v2 0002 broken \
		'ALTER TABLE items ADD COLUMN price integer; INSERT INTO no_such_table VALUES(1);' \
		'ALTER TABLE items DROP COLUMN price;'
	local log
	log=$(cat svc.log)
	lg_status 1 deploy ../v2 --label v2
	expect_match "$stderr" "database 'main'"
	expect_match "$stderr" 'relation "no_such_table" does not exist'
	expect_equal "$(applied)" 1
	expect_equal "$(columns)" id,name
	expect_equal "$(sql -c 'SELECT name FROM items')" "written before v2"
	expect_equal "$(cat app/version)" good
	[ ! -e db/migrations/0002_broken.up.sql ]
	# stopped for the switch, started again on the old files
	expect_equal "$(tail -n 2 svc.log | tr '\n' ' ')" "stop start "
	[ "$(wc -l <svc.log)" -gt "$(wc -l <<<"$log")" ]
}

@test "a failing down script: the backup taken before the deploy is restored" {
	at_version_1
	release ../v2 "bad v2"
	migration ../v2 0002 add_price \
		'ALTER TABLE items ADD COLUMN price integer;' \
		'SELECT * FROM no_such_table;'
	lg_status 3 deploy ../v2 --label v2
	expect_equal "$(applied)" 1
	expect_equal "$(columns)" id,name
	expect_equal "$(sql -c 'SELECT name FROM items')" "written before v2"
	last_op_shown
	expect_match "$output" "migrate down +main 2 add_price"
	expect_match "$output" "restore +main"
	expect_equal "$(cat app/version)" good
}

@test "a failing down script of a migration that made a table: the restore leaves the schema of before" {
	at_version_1
	release ../v2 "bad v2"
	migration ../v2 0002 create_prices \
		'CREATE TABLE prices(item integer, price integer);' \
		'SELECT * FROM no_such_table;'
	lg_status 3 deploy ../v2 --label v2
	expect_equal "$(applied)" 1
	expect_equal "$(tables)" items,lastgood_migrations
	expect_equal "$(sql -c 'SELECT name FROM items')" "written before v2"
	# and the release, fixed, deploys again
	printf 'DROP TABLE prices;\n' >../v2/db/migrations/0002_create_prices.down.sql
	echo "good v2" >../v2/app/version
	lg_ok deploy ../v2 --label v2-fixed
	expect_equal "$(applied)" 1,2
}

# made_since KIND: the objects of that kind (function, type) in public,
# comma-separated.
made_since() {
	case $1 in
	function) sql -c "SELECT coalesce(string_agg(proname, ',' ORDER BY proname), '')
		FROM pg_proc WHERE pronamespace = 'public'::regnamespace" ;;
	type) sql -c "SELECT coalesce(string_agg(typname, ',' ORDER BY typname), '')
		FROM pg_type WHERE typnamespace = 'public'::regnamespace AND typtype IN ('d', 'e', 'c')
		AND typname NOT IN ('items', 'lastgood_migrations')" ;;
	esac
}

@test "a failing down script of a migration that made functions and types: the restore drops them" {
	at_version_1
	# a function and a type the backup holds stay
	sql -c "CREATE FUNCTION kept(a integer) RETURNS integer LANGUAGE sql AS 'SELECT a';
		CREATE TYPE kept_mood AS ENUM ('ok')"
	lg_ok snapshot --label v1b
	release ../v2 "bad v2"
	migration ../v2 0002 add_functions \
		"CREATE TYPE mood AS ENUM ('sad', 'happy');
		CREATE TYPE pair AS (a integer, b integer);
		CREATE DOMAIN positive AS integer CHECK (VALUE > 0);
		CREATE FUNCTION cheer(m mood, p kept_mood) RETURNS text LANGUAGE sql AS 'SELECT ''hi''';
		CREATE FUNCTION kept(a text) RETURNS text LANGUAGE sql AS 'SELECT a';
		CREATE PROCEDURE tidy() LANGUAGE sql AS 'SELECT 1';" \
		'SELECT * FROM no_such_table;'
	lg_status 3 deploy ../v2 --label v2
	expect_equal "$(applied)" 1
	expect_equal "$(made_since function)" kept
	expect_equal "$(sql -c "SELECT 'public.kept(integer)'::regprocedure")" "kept(integer)"
	expect_equal "$(made_since type)" kept_mood
	expect_equal "$(sql -c 'SELECT name FROM items')" "written before v2"
}

@test "a restore that fails after dropping what was made since: exit 4, naming the backup" {
	# a name too long for the copies beside it (the server's limit is 63
	# bytes): restored in place, the path this test is about
	DB_NAME=${DB_NAME}_restored_in_place_as_its_name_is_too_long_for_copies
	DB_URL=$(pg_new_db "$DB_NAME")
	at_version_1
	lg_ok db backup
	local id=$output
	# made after the backup: a table, and (in a schema the backup does
	# not cover, so left alone) an event trigger refusing CREATE TABLE,
	# which pg_restore runs
	sql -c "CREATE TABLE extra(x integer);
		CREATE SCHEMA guard;
		CREATE FUNCTION guard.no_create() RETURNS event_trigger LANGUAGE plpgsql AS \$\$
		BEGIN RAISE EXCEPTION 'no table is to be created'; END \$\$;
		CREATE EVENT TRIGGER no_create ON ddl_command_start WHEN TAG IN ('CREATE TABLE')
			EXECUTE FUNCTION guard.no_create();"
	lg_status 4 db restore
	expect_match "$stderr" "database 'main': what was made after backup 'main-op[0-9]+\\.backup' was dropped, but the backup could not be restored over what remains \\(a restore again runs both steps\\).*no table is to be created"
	expect_equal "$(tables)" items,lastgood_migrations
	expect_equal "$(sql -c 'SELECT name FROM items')" "written before v2"
	# the trigger gone, the restore runs again and finishes
	sql -c "DROP EVENT TRIGGER no_create"
	lg_ok db restore main "$id"
	expect_equal "$(tables)" items,lastgood_migrations
	expect_equal "$(sql -c "SELECT count(*) FROM pg_proc WHERE proname = 'no_create'")" 1
}

# db_oid: the test database's OID, which a restore by swap changes.
db_oid() {
	sql -c "SELECT oid FROM pg_database WHERE datname = '$DB_NAME'"
}

# copies_left: the databases lastgood made beside the test's and left.
copies_left() {
	sql -c "SELECT count(*) FROM pg_database WHERE datname LIKE '${DB_NAME}_lastgood%'"
}

# backup_taken [DATABASE_YAML_LINES...]: at version 1, a backup of main; its id in $BACKUP_ID, its
# database's OID in $OID.
backup_taken() {
	at_version_1 "$@"
	lg_ok db backup
	BACKUP_ID=$output
	OID=$(db_oid)
}

@test "a whole restore fills a copy and swaps it in: rows, a grant and settings kept" {
	backup_taken
	pg__psql -c "DO \$\$ BEGIN CREATE ROLE lg84_reader; EXCEPTION WHEN duplicate_object THEN END \$\$"
	sql -c "REVOKE CONNECT ON DATABASE $DB_NAME FROM PUBLIC" \
		-c "GRANT CONNECT ON DATABASE $DB_NAME TO lg84_reader" \
		-c "ALTER DATABASE $DB_NAME SET work_mem = '3MB'" \
		-c "ALTER DATABASE $DB_NAME SET search_path = \"\$user\", public, \"odd, name\"" \
		-c "COMMENT ON DATABASE $DB_NAME IS 'the shop''s orders'" \
		-c "INSERT INTO items(name) VALUES('after the backup')"
	lg_ok db restore main "$BACKUP_ID"
	# a new database under the old name (in place, the OID would stay)
	[ "$(db_oid)" != "$OID" ]
	expect_equal "$(copies_left)" 0
	expect_equal "$(sql -c 'SELECT name FROM items')" "written before v2"
	expect_equal "$(sql -c "SELECT has_database_privilege('lg84_reader', '$DB_NAME', 'CONNECT')")" t
	expect_equal "$(sql -c "SELECT has_database_privilege('lg_password', '$DB_NAME', 'CONNECT')")" f
	expect_equal "$(sql -c 'SHOW work_mem')" 3MB
	expect_equal "$(sql -c 'SHOW search_path')" '"$user", public, "odd, name"'
	expect_equal "$(sql -c "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '$DB_NAME'")" "the shop's orders"
	lg_ok show "$(lg --json history | jq -r '.[0].id')"
	expect_match "$output" "restore +main: .*restored into a copy with pg_restore -j 2, swapped in"
	# and the lock is held again: a migration still runs after it
	v2_adds_price ../v2
	lg_ok deploy ../v2 --label v2
	expect_equal "$(applied)" 1,2
}

@test "a database whose locale provider is ICU is restored as one, sorting as before" {
	pg__psql -c "DROP DATABASE \"$DB_NAME\" WITH (FORCE)" \
		-c "CREATE DATABASE \"$DB_NAME\" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
	backup_taken
	local provider="SELECT datlocprovider::text || ' ' || daticulocale FROM pg_database WHERE datname = '$DB_NAME'"
	expect_equal "$(sql -c "$provider")" "i en-US"
	lg_ok db restore main "$BACKUP_ID"
	[ "$(db_oid)" != "$OID" ]
	expect_equal "$(sql -c "$provider")" "i en-US"
	# ICU puts lower case first; the C collation of a libc copy would not
	expect_equal "$(sql -c "SELECT string_agg(x, ',' ORDER BY x) FROM (VALUES ('B'), ('a')) v(x)")" a,B
}

@test "a backup pg_restore cannot read: exit 1, the database untouched, no copy left" {
	backup_taken
	local file
	file=$(ls -t .lastgood/backups/main-op*.backup | head -n 1)
	truncate -s $(($(stat -c %s "$file") - 200)) "$file"
	# made since the backup: in place, it would be dropped before pg_restore failed
	sql -c "CREATE TABLE extra(x integer)"
	lg_status 1 db restore main "$BACKUP_ID"
	expect_match "$stderr" "database 'main': restore failed"
	expect_equal "$(db_oid)" "$OID"
	expect_equal "$(tables)" extra,items,lastgood_migrations
	expect_equal "$(sql -c 'SELECT name FROM items')" "written before v2"
	expect_equal "$(copies_left)" 0
}

@test "a database named like a restore's copy but not lastgood's is never dropped: the restore refuses" {
	backup_taken
	sql -c "INSERT INTO items(name) VALUES('after the backup')"
	local suffix
	for suffix in _lastgood_new _lastgood_old; do
		pg_new_db "$DB_NAME$suffix" >/dev/null
		lg_status 1 db restore main "$BACKUP_ID"
		expect_match "$stderr" "a database named '$DB_NAME$suffix' is there and is not lastgood's"
		expect_equal "$(copies_left)" 1
		expect_equal "$(db_oid)" "$OID"
		expect_equal "$(sql -c 'SELECT name FROM items ORDER BY id')" "$(printf 'written before v2\nafter the backup')"
		pg__psql -c "DROP DATABASE \"$DB_NAME$suffix\""
	done
	# a copy lastgood left (its mark on it) is dropped by the next restore
	pg_new_db "${DB_NAME}_lastgood_old" >/dev/null
	pg__psql -c "COMMENT ON DATABASE \"${DB_NAME}_lastgood_old\" IS 'lastgood: a copy a restore left; safe to drop'"
	lg_ok db restore main "$BACKUP_ID"
	expect_equal "$(copies_left)" 0
	expect_equal "$(sql -c 'SELECT name FROM items')" "written before v2"
}

@test "another session connected to the database: the restore is refused naming it, untouched" {
	backup_taken
	sql -c "INSERT INTO items(name) VALUES('after the backup')"
	local fifo=$BATS_TEST_TMPDIR/psql.in
	mkfifo "$fifo"
	PGAPPNAME=reporting psql -X -q -d "$DB_URL" <"$fifo" >/dev/null 2>&1 3>&- &
	local psql_pid=$! tries=0
	exec {PSQL_FD}>"$fifo"
	until [ "$(sql -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'reporting'")" = 1 ]; do
		tries=$((tries + 1))
		[ "$tries" -lt 100 ] || { echo "psql did not connect" >&2; return 1; }
		sleep 0.1
	done
	run --separate-stderr "$LG" db restore main "$BACKUP_ID"
	exec {PSQL_FD}>&-
	wait "$psql_pid" || true
	expect_equal "$status" 1
	expect_match "$stderr" "database 'main': cannot restore while other sessions are connected to it: reporting \\(user postgres, server process [0-9]+\\)"
	expect_equal "$(db_oid)" "$OID"
	expect_equal "$(sql -c 'SELECT count(*) FROM items')" 2
	expect_equal "$(copies_left)" 0
}

@test "a role that may not create databases: the restore is done in place" {
	owned_by_password_role
	local url=${LG_TEST_PGURL_PASSWORD%/*}/$DB_NAME
	backup_taken "url: $url" "password: {value: \"$LG_TEST_PG_PASSWORD\", secret: true}"
	sql -c "INSERT INTO items(name) VALUES('after the backup')"
	# made since the backup by the database's owner: the restore drops it
	PGPASSWORD=$LG_TEST_PG_PASSWORD psql -X -q -v ON_ERROR_STOP=1 -d "$url" \
		-c "CREATE AGGREGATE total(integer) (SFUNC = int4pl, STYPE = integer)"
	lg_ok db restore main "$BACKUP_ID"
	expect_equal "$(sql -c "SELECT count(*) FROM pg_proc WHERE proname = 'total'")" 0
	expect_equal "$(db_oid)" "$OID"
	expect_equal "$(sql -c 'SELECT name FROM items')" "written before v2"
	expect_equal "$(copies_left)" 0
	# the record says why it was not the faster way
	lg_ok show "$(lg --json history | jq -r '.[0].id')"
	expect_match "$output" "restore +main: .*in place, in one transaction: no right to create a database"
}

@test "rollback to an older release migrates down with the live release's down scripts" {
	at_version_1
	v2_adds_price ../v2
	lg_ok deploy ../v2 --label v2
	sql -c "UPDATE items SET price = 3"
	lg_ok rollback v1
	expect_equal "$(applied)" 1
	expect_equal "$(columns)" id,name
	expect_equal "$(sql -c 'SELECT name FROM items')" "written before v2"
	expect_equal "$(cat app/version)" good
	last_op_shown
	expect_match "$output" "migrate down +main 2 add_price"
	# and forward again
	lg_ok rollback v2
	expect_equal "$(applied)" 1,2
	expect_equal "$(columns)" id,name,price
	# and down to no schema at all
	lg_ok rollback v0
	expect_equal "$(applied)" ""
	expect_equal "$(tables)" lastgood_migrations
}

# deploy_refused CODE PATTERN: deploying ../v2 exits CODE with an error
# matching PATTERN before anything changed: schema at version 1, v1's files,
# the service neither stopped nor started.
deploy_refused() {
	local log
	log=$(cat svc.log)
	lg_status "$1" deploy ../v2 --label v2
	expect_match "$stderr" "$2"
	expect_equal "$(applied)" 1
	expect_equal "$(cat app/version)" good
	expect_equal "$(cat svc.log)" "$log"
}

@test "an applied migration whose file changed is refused before anything changes (exit 2)" {
	at_version_1
	release ../v2 "good v2"
	printf -- '-- edited after it ran\n' >>../v2/db/migrations/0001_create_items.up.sql
	deploy_refused 2 "migration 1 \\(create_items\\) in 'db/migrations' changed since it was applied"
}

@test "a no-transaction migration runs CREATE INDEX CONCURRENTLY, and its down script too" {
	at_version_1
	release ../v2 "good v2"
	migration ../v2 0002 index_names \
		"$(printf -- '-- lastgood: no-transaction\nCREATE INDEX CONCURRENTLY items_name ON items(name);')" \
		"$(printf -- '-- lastgood: no-transaction\nDROP INDEX CONCURRENTLY items_name;')"
	lg_ok deploy ../v2 --label v2
	expect_equal "$(applied)" 1,2
	expect_equal "$(sql -c "SELECT indexname FROM pg_indexes WHERE indexname = 'items_name'")" items_name
	lg_ok rollback v1
	expect_equal "$(applied)" 1
	expect_equal "$(sql -c "SELECT count(*) FROM pg_indexes WHERE indexname = 'items_name'")" 0
	expect_equal "$(sql -c 'SELECT name FROM items')" "written before v2"
}

@test "without the no-transaction line, CREATE INDEX CONCURRENTLY fails and changes nothing" {
	at_version_1
	release ../v2 "good v2"
	migration ../v2 0002 index_names 'CREATE INDEX CONCURRENTLY items_name ON items(name);'
	lg_status 1 deploy ../v2 --label v2
	expect_match "$stderr" "cannot run inside a transaction block"
	expect_equal "$(applied)" 1
	expect_equal "$(sql -c "SELECT count(*) FROM pg_indexes WHERE indexname = 'items_name'")" 0
	expect_equal "$(cat app/version)" good
}

# expect_no_secret SECRET [TEXT...]: SECRET appears nowhere in the output
# of the last run, in TEXT, or in the state folder: the database (dumped,
# and its files as they are, WAL included), backups, logs. Not the content
# store, which keeps the config's text as written (as 90-secrets).
expect_no_secret() {
	local secret=$1 found
	shift
	sqlite3 .lastgood/state.db .dump >"$BATS_TEST_TMPDIR/state.sql"
	found=$(grep -rlaF --exclude-dir=objects -- "$secret" .lastgood "$BATS_TEST_TMPDIR/state.sql") || true
	if [ -n "$found" ] || grep -qF -- "$secret" <<<"$output$stderr$*"; then
		echo "the password '$secret' was found in: ${found:-the output}" >&2
		return 1
	fi
}

# owned_by_password_role: the test's database and its public schema belong
# to the harness's password role, so that it may migrate and dump it.
owned_by_password_role() {
	sql -c "ALTER DATABASE $DB_NAME OWNER TO lg_password" \
		-c "ALTER SCHEMA public OWNER TO lg_password"
}

@test "a password given as a secret migrates, backs up and restores, and is never shown or stored" {
	owned_by_password_role
	local url=${LG_TEST_PGURL_PASSWORD%/*}/$DB_NAME all=
	at_version_1 "url: $url" "password: {value: \"$LG_TEST_PG_PASSWORD\", secret: true}"
	all+=$output$stderr
	release ../v2 "bad v2"
	# a failing down script: pg_restore needs the password too
	migration ../v2 0002 add_price 'ALTER TABLE items ADD COLUMN price integer;' 'SELECT nothing;'
	lg_status 3 deploy ../v2 --label v2
	all+=$output$stderr
	expect_equal "$(applied)" 1
	expect_equal "$(columns)" id,name
	expect_equal "$(sql -c "SELECT operator IS NOT NULL FROM lastgood_migrations")" t
	last_op_shown
	expect_match "$output" "restore +main"
	all+=$output$stderr
	run lg --json show "$(lg --json history | jq -r '.[0].id')"
	all+=$output
	run lg db status --json
	all+=$output
	expect_no_secret "$LG_TEST_PG_PASSWORD" "$all"
}

# deploy_cannot_connect PATTERN LINE...: on a stack whose database is
# given by the lines (pg_stack), a deploy bringing a migration fails with
# one line naming the database and matching PATTERN, exit 1, and changes
# nothing: files, services, schema.
deploy_cannot_connect() {
	local pattern=$1 log
	shift
	pg_stack "$@"
	lg_ok snapshot --label v0
	lg_ok start
	migration ../v1 0001 create_items 'CREATE TABLE items(id integer);' 'DROP TABLE items;'
	release ../v1 "good v1"
	log=$(cat svc.log)
	lg_status 1 deploy ../v1 --label v1
	expect_equal "$(wc -l <<<"$stderr")" 1
	expect_match "$stderr" "^lastgood: .*database 'main': cannot connect: $pattern"
	expect_equal "$(cat app/version)" good
	[ ! -e db/migrations/0001_create_items.up.sql ]
	expect_equal "$(cat svc.log)" "$log"
	expect_equal "$(tables)" ""
}

@test "a wrong password: a one-line error naming the database, exit 1, nothing changed, no secret shown" {
	owned_by_password_role
	local url=${LG_TEST_PGURL_PASSWORD%/*}/$DB_NAME wrong=not-the-password-5c2e
	deploy_cannot_connect '.*password authentication failed for user "lg_password"' \
		"url: $url" "password: {value: \"$wrong\", secret: true}"
	expect_no_secret "$wrong"
	# the password of a url is masked as well (on a fresh host)
	cd .. && rm -rf "$HOST" && mkdir "$HOST" && cd "$HOST"
	deploy_cannot_connect '.*password authentication failed' \
		"url: postgresql://lg_password:$wrong@${url#*@}"
	expect_no_secret "$wrong"
}

@test "an unreachable server: a one-line error naming the database, exit 1, nothing changed" {
	local port
	take_port port
	deploy_cannot_connect ".*127\\.0\\.0\\.1.*$port" "url: postgresql://postgres@127.0.0.1:$port/$DB_NAME"
}

# hold_migration_lock: another session takes lastgood's advisory lock
# (postgres.c's key: "lastgood" as a big-endian bigint) on the test's
# database and keeps it until teardown closes its input.
hold_migration_lock() {
	mkfifo "$BATS_TEST_TMPDIR/lock.in"
	psql -X -q -d "$DB_URL" <"$BATS_TEST_TMPDIR/lock.in" >/dev/null 2>&1 &
	LOCK_PID=$!
	exec {LOCK_FD}>"$BATS_TEST_TMPDIR/lock.in"
	echo "SELECT pg_advisory_lock(7809650172625907556);" >&"$LOCK_FD"
	wait_until 200 lock_held
}

lock_held() {
	[ "$(sql -c "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted
		AND ((classid::bigint << 32) | objid::bigint) = 7809650172625907556")" = 1 ]
}

@test "a second migrator: a deploy that would migrate is refused like the lock (exit 75), nothing changed" {
	at_version_1
	v2_adds_price ../v2
	hold_migration_lock
	deploy_refused 75 "database 'main' is being migrated by another process \\(server process [0-9]+\\)"
	# a deploy that changes no schema does not need the lock
	release ../v3 "good v3"
	lg_ok deploy ../v3 --label v3
	# once the other migrator is done, the deploy goes through
	exec {LOCK_FD}>&-
	wait "$LOCK_PID" || true
	LOCK_PID=
	v2_adds_price ../v2
	lg_ok deploy ../v2 --label v2
	expect_equal "$(applied)" 1,2
}

# on_one_release: the files and the schema are both v1's or both v2's, and
# the row written on v1 is there.
on_one_release() {
	local state
	state="$(cat app/version)/$(applied)/$(columns)"
	case "$state" in
	"good/1/id,name" | "good v2/1,2/id,name,price") ;;
	*) echo "$where: files/applied/columns are '$state'" >&2; return 1 ;;
	esac
	expect_equal "$(sql -c 'SELECT name FROM items')" "written before v2"
}

# no_lastgood_session: the server has seen a killed lastgood's connection
# go (its transaction rolled back, its advisory lock released).
no_lastgood_session() {
	[ "$(sql -c "SELECT count(*) FROM pg_stat_activity
		WHERE application_name LIKE 'lastgood%'")" = 0 ]
}

# reset_database: the test's database as it was saved in ${DB_NAME}_start.
reset_database() {
	pg__psql -c "DROP DATABASE \"$DB_NAME\" WITH (FORCE)" \
		-c "CREATE DATABASE \"$DB_NAME\" TEMPLATE \"${DB_NAME}_start\""
}

@test "killed at any exchange with the server during a deploy, recover leaves files and schema on one release" {
	at_version_1
	v2_adds_price ../v2
	lg_ok stop
	cd .. && cp -a "$HOST" start && cd "$HOST"
	pg__psql -c "CREATE DATABASE \"${DB_NAME}_start\" TEMPLATE \"$DB_NAME\""
	ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" strace -qq -o ../trace \
		-e trace=sendto,recvfrom "$LG_REAL" -q deploy ../v2 --label v2
	local where="the deploy without a kill" call total n rc killed=0 tried=0 committed=0
	on_one_release
	# Every exchange with the server comes before the operation's commit
	# point (the state database's), so each kill ends on v1; the points
	# differ in whether migration 2 had committed on the server, which
	# recover must then take down. Only lastgood's own calls are counted:
	# pg_dump's are not traced.
	for call in sendto recvfrom; do
		total=$(grep -c "^$call(" ../trace)
		for n in $(seq 1 "$total"); do
			cd .. && rm -rf "$HOST" && cp -a start "$HOST" && cd "$HOST"
			reset_database
			rc=0
			LG=$LG_REAL kill_at "$call" "$n" deploy ../v2 --label v2 || rc=$?
			where="deploy killed at $call $n of $total (exit $rc)"
			tried=$((tried + 1))
			[ "$rc" != 137 ] || killed=$((killed + 1))
			wait_until 200 no_lastgood_session
			[ "$(applied)" != 1,2 ] || committed=$((committed + 1))
			lg -q recover >../recover.out 2>&1 ||
				{ echo "$where: recover failed: $(cat ../recover.out)" >&2; return 1; }
			on_one_release
			# a kill ends on v1; a run whose reads came in fewer calls
			# than the traced one (libpq reads as the data arrives) can
			# end before the Nth, a whole deploy
			if [ "$rc" = 137 ]; then
				expect_equal "$(cat app/version)" good
			else
				expect_equal "$rc:$(cat app/version)" "0:good v2"
			fi
		done
	done
	echo "# $tried points, $killed kills, $committed after migration 2 committed" >&3
	[ "$tried" -gt 20 ]
	[ "$killed" -ge $((tried * 3 / 4)) ]
	[ "$committed" -gt 0 ] && [ "$committed" -lt "$tried" ]
}
