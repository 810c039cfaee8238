#!/usr/bin/env bats
# A database's schema travels with the release: the migrations are files
# of the release (db/migrations, listed under a service's files), a deploy
# runs the new ones, a failed deploy and a rollback run the down scripts
# of the newer release, and the backup taken before the switch is restored
# when a down script is missing or fails. Real SQLite files, a real
# service answering HTTP.

load helpers
load helpers-services
load helpers-databases

# db_stack: api on API_PORT, healthy version 1, its files holding
# db/migrations (none yet); database main (SQLite, data/app.db) with api
# stopped while it is restored.
db_stack() {
	take_port API_PORT
	add_service api
	mkdir -p db/migrations data
	{
		config_head
		printf '  api:\n'
		printf '    manager: process\n'
		printf '    run: [bin/api, --port, "%s", --config, etc/api.conf]\n' "$API_PORT"
		printf '    files: [bin/api, etc/api.conf, db/migrations]\n'
		printf '    health:\n'
		printf '      - http: http://127.0.0.1:%s/health\n' "$API_PORT"
		printf '        json: {status: healthy}\n'
		printf 'databases:\n'
		printf '  main:\n'
		printf '    engine: sqlite\n'
		printf '    path: data/app.db\n'
		printf '    migrations: db/migrations\n'
		printf '    backup: %s\n' "${BACKUP:-always}"
		printf '    services: [api]\n'
	} >lastgood.yml
}

# copy_migrations DIR: the live migrations into the deploy SOURCE DIR (an
# entry is replaced whole: the new release holds the old ones too).
copy_migrations() {
	mkdir -p "$1/db"
	cp -a db/migrations "$1/db/"
}

# at_version_1: releases 1 (no migration) and 2 (migration 1: items),
# release 2 live and running, one row written by "the application".
at_version_1() {
	db_stack
	lg_ok snapshot --label v0
	migration ../v1 0001 create_items \
		'CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT NOT NULL);' \
		'DROP TABLE items;'
	lg_ok deploy ../v1 --label v1
	expect_equal "$(applied)" 1
	db "INSERT INTO items(name) VALUES('written before v2')"
}

# v2_adds_price DIR: a release bringing migration 2 (a column price, and
# its down script) on top of the live ones.
v2_adds_price() {
	copy_migrations "$1"
	migration "$1" 0002 add_price \
		'ALTER TABLE items ADD COLUMN price INTEGER;' \
		'ALTER TABLE items DROP COLUMN price;'
}

@test "a deploy runs the release's new migrations, each recorded in lastgood_migrations" {
	at_version_1
	v2_adds_price ../v2
	make_conf_source ../v2 api VERSION=2
	local backups
	backups=$(ls .lastgood/backups | wc -l)
	lg_ok deploy ../v2 --label v2
	expect_equal "$(applied)" 1,2
	expect_equal "$(columns)" id,name,price
	expect_equal "$(db 'SELECT name FROM items')" "written before v2"
	# what each row says of its migration
	expect_equal "$(db 'SELECT name FROM lastgood_migrations WHERE version = 2')" add_price
	expect_equal "$(db 'SELECT checksum FROM lastgood_migrations WHERE version = 2')" \
		"$(sha db/migrations/0002_add_price.up.sql)"
	expect_equal "$(db 'SELECT release FROM lastgood_migrations WHERE version = 2')" "$(live_release)"
	# the release records the version it runs with; the one before, its own
	lg_ok --json releases
	expect_equal "$(jq -r '.[] | select(.live) | .schemas.main' <<<"$output")" 2
	expect_equal "$(jq -r '.[] | select(.label == "v1") | .schemas.main' <<<"$output")" 1
	# v0, a snapshot before the database had a migration (or a file)
	expect_equal "$(jq -r '.[] | select(.label == "v0") | .schemas.main' <<<"$output")" 0
	# the journal names each migration
	lg_ok show "$(lg --json history | jq -r '.[0].id')"
	expect_match "$output" "migrate +main 2 add_price"
	expect_match "$output" "back up +main"
	# one more backup, taken before migration 2
	expect_equal "$(ls .lastgood/backups | wc -l)" $((backups + 1))
	expect_equal "$(version_at "$API_PORT")" 2
}

@test "a deploy that fails verification migrates back with the new release's down script; rows survive" {
	at_version_1
	v2_adds_price ../v2
	make_conf_source ../v2 api VERSION=2 MODE=unhealthy
	lg_status 3 deploy ../v2 --label v2
	expect_equal "$(applied)" 1
	expect_equal "$(columns)" id,name
	expect_equal "$(db 'SELECT name FROM items')" "written before v2"
	lg_ok show "$(lg --json history | jq -r '.[0].id')"
	expect_match "$output" "migrate +main 2 add_price"
	expect_match "$output" "migrate down +main 2 add_price"
	expect_no_match "$output" "restore +main"
	expect_equal "$(version_at "$API_PORT")" 1
	[ ! -e db/migrations/0002_add_price.up.sql ]
}

@test "a migration that fails changes nothing: files, schema and rows as before, exit 1" {
	at_version_1
	copy_migrations ../v2
	# the second statement fails: the first must not stay
	migration ../v2 0002 broken \
		'ALTER TABLE items ADD COLUMN price INTEGER; INSERT INTO no_such_table VALUES(1);' \
		'ALTER TABLE items DROP COLUMN price;'
	make_conf_source ../v2 api VERSION=2
	lg_status 1 deploy ../v2 --label v2
	expect_match "$stderr" "database 'main'"
	expect_match "$stderr" "no_such_table"
	expect_equal "$(applied)" 1
	expect_equal "$(columns)" id,name
	expect_equal "$(db 'SELECT name FROM items')" "written before v2"
	[ ! -e db/migrations/0002_broken.up.sql ]
	expect_equal "$(grep '^VERSION=' etc/api.conf)" VERSION=1
	expect_equal "$(version_at "$API_PORT")" 1
}

@test "a database SQLite can open only read-only: the deploy says why at the open, exit 1, nothing changed" {
	at_version_1
	copy_migrations ../v2
	migration ../v2 0002 add_price 'ALTER TABLE items ADD COLUMN price INTEGER;' \
		'ALTER TABLE items DROP COLUMN price;'
	make_conf_source ../v2 api VERSION=2
	# immutable: a read-write open fails (EPERM, even for root), a
	# read-only one works, and SQLite falls back to it without a word
	chattr +i data/app.db 2>/dev/null || skip "chattr +i is not supported on this file system"
	run --separate-stderr "$LASTGOOD" deploy ../v2 --label v2
	chattr -i data/app.db
	expect_equal "$status" 1
	expect_match "$stderr" "database 'main': cannot open '[^']*app.db' for writing: Operation not permitted"
	expect_equal "$(applied)" 1
	expect_equal "$(columns)" id,name
	expect_equal "$(grep '^VERSION=' etc/api.conf)" VERSION=1
}

@test "a failing down script: the backup taken before the deploy is restored" {
	at_version_1
	copy_migrations ../v2
	migration ../v2 0002 add_price \
		'ALTER TABLE items ADD COLUMN price INTEGER;' \
		'SELECT * FROM no_such_table;'
	make_conf_source ../v2 api VERSION=2 MODE=unhealthy
	lg_status 3 deploy ../v2 --label v2
	expect_equal "$(applied)" 1
	expect_equal "$(columns)" id,name
	expect_equal "$(db 'SELECT name FROM items')" "written before v2"
	lg_ok show "$(lg --json history | jq -r '.[0].id')"
	expect_match "$output" "restore +main"
}

@test "rollback to an older release migrates down with the live release's down scripts" {
	at_version_1
	v2_adds_price ../v2
	make_conf_source ../v2 api VERSION=2
	lg_ok deploy ../v2 --label v2
	db "UPDATE items SET price = 3"
	lg_ok rollback v1
	expect_equal "$(applied)" 1
	expect_equal "$(columns)" id,name
	expect_equal "$(db 'SELECT name FROM items')" "written before v2"
	# and forward again
	lg_ok rollback v2
	expect_equal "$(applied)" 1,2
}

@test "an applied migration whose file changed is refused before anything changes (exit 2)" {
	at_version_1
	copy_migrations ../v2
	printf -- '-- edited after it ran\n' >>../v2/db/migrations/0001_create_items.up.sql
	make_conf_source ../v2 api VERSION=2
	lg_status 2 deploy ../v2 --label v2
	expect_match "$stderr" "migration 1 \\(create_items\\) in 'db/migrations' changed since it was applied"
	expect_equal "$(grep '^VERSION=' etc/api.conf)" VERSION=1
	expect_equal "$(version_at "$API_PORT")" 1
}

# cmd_stack: sqlite_stack; ../B brings migration 2 and a good app.
cmd_stack() {
	sqlite_stack
	mkdir -p ../B
	cp -a db ../B/
	mkdir -p ../B/app
	echo "good B" >../B/app/version
	migration ../B 0002 add_price \
		'ALTER TABLE items ADD COLUMN price INTEGER;' 'ALTER TABLE items DROP COLUMN price;'
}

# on_one_release: the files and the schema are both A's or both B's, and
# the row written on A is there.
on_one_release() {
	local files schema
	files=$(cat app/version)
	schema=$(applied)
	case "$files/$schema" in
	"good/1" | "good B/1,2") ;;
	*) echo "$where: files say '$files', the schema is at '$schema'" >&2; return 1 ;;
	esac
	expect_equal "$(db 'SELECT name FROM items')" "written on A"
}

# kill_sweep ENDED: from the host as it is (its services stopped),
# `deploy ../B --label B` killed at each of its fdatasync and fsync calls
# in turn, each time from a fresh copy, then `recover`; ENDED (a function)
# prints A or B, where the host ended, or fails saying what is wrong. Every
# point must kill it, and both endings must be seen.
kill_sweep() {
	local ended=$1 call total n rc where tried=0 killed=0 ended_a=0 ended_b=0 on
	cd .. && cp -a "$HOST" start && cd "$HOST"
	ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" strace -qq -o ../trace \
		-e trace=fdatasync,fsync "$LG_REAL" -q deploy ../B --label B
	# strace counts each call on its own
	for call in fdatasync fsync; do
		total=$(grep -c "^$call(" ../trace)
		for n in $(seq 1 "$total"); do
			cd .. && rm -rf "$HOST" && cp -a start "$HOST" && cd "$HOST"
			rc=0
			LG=$LG_REAL kill_at "$call" "$n" deploy ../B --label B || rc=$?
			where="deploy killed at $call $n of $total (exit $rc)"
			tried=$((tried + 1))
			[ "$rc" != 137 ] || killed=$((killed + 1))
			lg -q recover >../recover.out 2>&1 ||
				{ echo "$where: recover failed: $(cat ../recover.out)" >&2; return 1; }
			on=$("$ended") || return 1
			if [ "$on" = A ]; then ended_a=$((ended_a + 1)); else ended_b=$((ended_b + 1)); fi
		done
	done
	echo "# $tried points, $killed kills: ended on A $ended_a, on B $ended_b" >&3
	[ "$tried" -gt 20 ]
	expect_equal "$killed" "$tried"
	[ "$ended_a" -gt 0 ] && [ "$ended_b" -gt 0 ]
}

# sqlite_ended: A or B for cmd_stack's host, when files and schema agree.
sqlite_ended() {
	on_one_release || return 1
	if [ "$(cat app/version)" = good ]; then echo A; else echo B; fi
}

@test "killed at any sync of a deploy with a migration, recover leaves files and schema on one release" {
	cmd_stack
	lg_ok stop
	kill_sweep sqlite_ended
}

@test "db status shows the version, the pending migrations and drift, in text and JSON" {
	at_version_1
	lg_ok db status
	expect_match "$output" "^main \\(sqlite\\)"
	expect_match "$output" "version 1; the live release's migrations reach 1"
	expect_match "$output" "^ +1 +create_items "
	# a migration the live release holds that the database lacks: pending
	migration . 0002 add_price 'ALTER TABLE items ADD COLUMN price INTEGER;'
	lg_ok snapshot --label pending
	lg_ok --json db status
	expect_equal "$(jq -r '.[0].version' <<<"$output")" 1
	expect_equal "$(jq -r '.[0].release_version' <<<"$output")" 2
	expect_equal "$(jq -r '[.[0].pending[].version] | join(",")' <<<"$output")" 2
	expect_equal "$(jq -r '.[0].drift | length' <<<"$output")" 0
	expect_equal "$(jq -r '.[0].applied[0].name' <<<"$output")" create_items
	# an applied script the live release holds otherwise: drift
	printf -- '-- edited\n' >>db/migrations/0001_create_items.up.sql
	lg_ok snapshot --label edited
	lg_ok --json db status
	expect_equal "$(jq -r '.[0].drift[0].version' <<<"$output")" 1
	expect_equal "$(jq -r '.[0].drift[0].release_checksum' <<<"$output")" \
		"$(sha db/migrations/0001_create_items.up.sql)"
	lg_ok db status main
	expect_match "$output" "drift: 1 create_items was applied as sha256"
	lg_status 2 db status nosuch
	expect_match "$stderr" "no database 'nosuch'"
}

# tool_stack: a service `app` (healthy while app/version says good) whose
# files hold tool/versions, the migrations of a stand-in for alembic
# (./migtool: N.up.sql and N.down.sql, applied versions in data/tool.db,
# `current` printing "N (head)" after a log line on stderr); database
# legacy of engine command driving it. Release A (version 1) is live with
# a row written; ../B brings version 2.
tool_stack() {
	mkdir -p app tool/versions data
	echo good >app/version
	cat >migtool <<'TOOL'
#!/bin/bash
set -e
db=data/tool.db
q() { sqlite3 -bail "$db" "$@"; }
q "CREATE TABLE IF NOT EXISTS tool_version(v INTEGER PRIMARY KEY)"
cur() { q "SELECT coalesce(max(v), '') FROM tool_version"; }
case $1 in
current) echo "INFO  [migtool] reading versions" >&2; v=$(cur); [ -z "$v" ] || echo "$v (head)" ;;
upgrade)
	c=$(cur)
	for f in $(ls tool/versions/*.up.sql | sort -V); do
		n=$(basename "$f" .up.sql)
		[ "$n" -le "${c:-0}" ] || q "BEGIN; $(cat "$f") INSERT INTO tool_version VALUES($n); COMMIT;"
	done ;;
downgrade)
	c=$(cur)
	while [ -n "$c" ] && [ "$c" -gt "$2" ]; do
		f=tool/versions/$c.down.sql
		[ -f "$f" ] || { echo "no down script for $c" >&2; exit 1; }
		q "BEGIN; $(cat "$f") DELETE FROM tool_version WHERE v = $c; COMMIT;"
		c=$(cur)
	done ;;
backup) cp "$db" "$2" ;;
restore) cp "$2" "$db" ;;
esac
TOOL
	chmod +x migtool
	{ app_yaml tool/versions; cat <<'YML'; } >lastgood.yml
databases:
  legacy:
    engine: command
    current: [./migtool, current]
    upgrade: [./migtool, upgrade]
    downgrade: [./migtool, downgrade, "{version}"]
    backup: [./migtool, backup, "{file}"]
    restore: [./migtool, restore, "{file}"]
    migrations: tool/versions
    services: [app]
YML
	mkdir -p ../A/tool/versions
	echo 'CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT NOT NULL);' >../A/tool/versions/1.up.sql
	echo 'DROP TABLE items;' >../A/tool/versions/1.down.sql
	lg_ok deploy ../A --label A
	sqlite3 data/tool.db "INSERT INTO items(name) VALUES('written on A')"
	mkdir -p ../B
	cp -a ../A/tool ../B/
	echo 'ALTER TABLE items ADD COLUMN price INTEGER;' >../B/tool/versions/2.up.sql
	echo 'ALTER TABLE items DROP COLUMN price;' >../B/tool/versions/2.down.sql
	mkdir -p ../B/app
}

tool_version() { sqlite3 data/tool.db 'SELECT coalesce(max(v), "") FROM tool_version'; }

@test "a command database: deploy upgrades, a failed release downgrades with its own scripts, rollback goes both ways" {
	tool_stack
	expect_equal "$(tool_version)" 1
	# a release that fails: the way back downgrades while its files (which
	# alone hold 2.down.sql) are still live
	echo bad >../B/app/version
	lg_status 3 deploy ../B --label B1
	expect_equal "$(tool_version)" 1
	expect_equal "$(sqlite3 data/tool.db 'SELECT name FROM items')" "written on A"
	[ ! -e tool/versions/2.up.sql ]
	lg_ok show "$(lg --json history | jq -r '.[0].id')"
	expect_match "$output" "back up +legacy"
	expect_match "$output" "migrate +legacy: 1 -> 2"
	expect_match "$output" "migrate down +legacy: 2 -> 1"
	# a good one
	echo "good B" >../B/app/version
	lg_ok deploy ../B --label B
	expect_equal "$(tool_version)" 2
	# back to A: down before A's files (without 2.down.sql) are live
	lg_ok rollback A
	expect_equal "$(tool_version)" 1
	expect_equal "$(cat app/version)" good
	# and forward to B again: up once B's files are live
	lg_ok rollback B
	expect_equal "$(tool_version)" 2
	expect_equal "$(cat app/version)" "good B"
	expect_equal "$(sqlite3 data/tool.db 'SELECT name FROM items')" "written on A"
}

@test "a command database without a migrations folder goes back when its services' files do" {
	tool_stack
	sed -i '/^    migrations: tool\/versions$/d' lastgood.yml
	echo "good B" >../B/app/version
	lg_ok deploy ../B --label B
	expect_equal "$(tool_version)" 2
	# back to A: its service's files change, so its tool goes down first
	lg_ok rollback A
	expect_equal "$(tool_version)" 1
	expect_equal "$(cat app/version)" good
	lg_ok show "$(lg --json history | jq -r '.[0].id')"
	expect_match "$output" "migrate +legacy: 2 -> 1"
}

@test "a command database whose downgrade fails is restored from its backup" {
	tool_stack
	echo bad >../B/app/version
	echo 'SELECT * FROM no_such_table;' >../B/tool/versions/2.down.sql
	lg_status 3 deploy ../B --label B
	expect_equal "$(tool_version)" 1
	expect_equal "$(sqlite3 data/tool.db "SELECT count(*) FROM pragma_table_info('items')")" 2
	lg_ok show "$(lg --json history | jq -r '.[0].id')"
	expect_match "$output" "restore +legacy"
}

@test "db status, migrate, rollback, backup and restore drive a command database's tool" {
	tool_stack
	lg_ok db status legacy
	expect_match "$output" "legacy \\(command\\)"
	expect_match "$output" "version '1' \\(its tool's current\\); the live release ran with '1'"
	expect_match "$output" "pending migrations and drift: its tool's to tell"
	expect_match "$output" "backup [0-9]+ .* backups/legacy-op[0-9]+\\.backup"
	lg_ok --json db status
	expect_equal "$(jq -r '.[0] | [.engine, .version, .release_version, .pending, .drift] | @tsv' <<<"$output")" \
		"$(printf 'command\t1\t1\t\t')"
	expect_equal "$(jq -r '.[0].backups | length' <<<"$output")" 1
	# B's files live without their migration (a deploy would have run it):
	# db migrate runs the upgrade, journaled, and the live release records it
	echo "good B" >../B/app/version
	lg_ok deploy ../B --label B
	lg_ok --json db rollback legacy --to 1
	expect_equal "$(jq -r '[.version_before, .version_after, .release_version] | @tsv' <<<"$output")" \
		"$(printf '2\t1\t2')"
	expect_equal "$(tool_version)" 1
	expect_match "$stderr" "ran with version '2': 'lastgood db migrate' brings the schema up again"
	lg_ok db migrate
	expect_equal "$output" "database 'legacy': version '1' -> '2'"
	expect_equal "$(tool_version)" 2
	lg_ok show "$(lg --json history | jq -r '.[0].id')"
	expect_match "$output" "back up +legacy"
	expect_match "$output" "migrate +legacy: 1 -> 2"
	lg_ok db migrate
	expect_equal "$output" "database 'legacy' is at version '2': nothing to do"
	# without --to: the version the previous good release (A) recorded
	lg_ok db rollback
	expect_equal "$output" "database 'legacy': version '2' -> '1'"
	expect_equal "$(lg --json releases | jq -r '.[0].schemas.legacy')" 2
	lg_ok db migrate
	# a backup now, the data changed, the restore brings it back
	lg_ok db backup legacy
	local id=$output
	sqlite3 data/tool.db "UPDATE items SET name = 'changed'"
	lg_ok db backups
	expect_match "$output" "legacy .* 2 .*backups/legacy-op[0-9]+\\.backup"
	lg_ok db restore legacy "$id"
	expect_equal "$(sqlite3 data/tool.db 'SELECT name FROM items')" "written on A"
	expect_match "$stderr" "database 'legacy' restored from backup $id"
	lg_status 2 db backup legacy --schema-only
	expect_equal "$stderr" "lastgood: database 'legacy' (engine command) has no schema-only backup: its 'backup' command writes what it writes"
}

@test "a command database's failed downgrade goes back up; --restore-backup restores the backup at that version" {
	tool_stack
	echo "good B" >../B/app/version
	echo 'SELECT * FROM no_such_table;' >../B/tool/versions/2.down.sql
	lg_ok deploy ../B --label B
	sqlite3 data/tool.db "INSERT INTO items(name, price) VALUES('written on B', 3)"
	lg_status 1 db rollback --to 1
	expect_match "$stderr" "downgrade .* failed"
	expect_equal "$(tool_version)" 2
	expect_equal "$(sqlite3 data/tool.db 'SELECT count(*) FROM items')" 2
	# the backup B's deploy took at version 1 is what --restore-backup puts back
	lg_ok db rollback --to 1 --restore-backup
	expect_equal "$(tool_version)" 1
	expect_equal "$(sqlite3 data/tool.db 'SELECT group_concat(name) FROM items')" "written on A"
	lg_ok --json history
	expect_equal "$(jq -r '.[0].result' <<<"$output")" ok
}

@test "a command database's db migrate killed after its tool upgraded: recover takes it back" {
	tool_stack
	echo "good B" >../B/app/version
	lg_ok deploy ../B --label B
	lg_ok db rollback legacy --to 1
	# the tool's upgrade kills lastgood (its parent) once it has upgraded
	sed -i 's|^upgrade)$|upgrade) trap "[ -e ../killed ] \|\| { touch ../killed; kill -KILL \$PPID; sleep 5; }" EXIT|' migtool
	lg_status 137 db migrate legacy
	expect_equal "$(tool_version)" 2
	lg_ok recover
	# back where the command started: the tool's downgrade, checked
	expect_equal "$(tool_version)" 1
	expect_equal "$(sqlite3 data/tool.db 'SELECT name FROM items')" "written on A"
	lg_ok --json status
	expect_equal "$(jq '.interrupted_operations | length' <<<"$output")" 0
}

@test "a command database's db restore killed mid-way: recover runs the restore again" {
	tool_stack
	lg_ok db backup legacy
	sqlite3 data/tool.db "DELETE FROM items"
	# the tool's restore kills lastgood (its parent) the first time, with
	# the database's services stopped and nothing restored yet
	sed -i 's|^restore) cp|restore) [ -e ../killed ] \|\| { touch ../killed; kill -KILL $PPID; sleep 5; }; cp|' migtool
	lg_status 137 db restore legacy
	expect_equal "$(sqlite3 data/tool.db 'SELECT count(*) FROM items')" 0
	lg_ok recover
	expect_match "$output$stderr" "restore was finished by recover"
	expect_equal "$(sqlite3 data/tool.db 'SELECT name FROM items')" "written on A"
	lg_ok --json status
	expect_equal "$(jq '.interrupted_operations | length' <<<"$output")" 0
}

@test "a command database without a backup command: db backup and db restore name the missing key" {
	tool_stack
	sed -i '/backup:/d; /restore:/d' lastgood.yml
	echo "    backup: never" >>lastgood.yml
	lg_status 2 db backup
	expect_equal "$stderr" "lastgood: database 'legacy' has no 'backup' command in lastgood.yml"
	lg_status 2 db restore
	expect_equal "$stderr" "lastgood: database 'legacy' has no 'backup' command in lastgood.yml"
	lg_ok --json history
	expect_equal "$(jq -r '.[0].command' <<<"$output")" deploy
}

# tool_ended: A or B for tool_stack's host, when files and the tool's
# version agree.
tool_ended() {
	case "$(cat app/version)/$(tool_version)" in
	good/1) echo A ;;
	"good B/2") echo B ;;
	*) echo "$where: files say '$(cat app/version)', the tool '$(tool_version)'" >&2
		return 1 ;;
	esac
}

@test "killed at any sync of a deploy with a command database, recover leaves files and the tool's version on one release" {
	tool_stack
	echo "good B" >../B/app/version
	lg_ok stop
	kill_sweep tool_ended
}

@test "an online migration runs before the services stop; the way back still takes it down" {
	cmd_stack
	printf -- '-- lastgood: online\nALTER TABLE items ADD COLUMN price INTEGER;\n' \
		>../B/db/migrations/0002_add_price.up.sql
	# B fails: its online migration ran before app stopped, and the way
	# back takes it down
	echo bad >../B/app/version
	lg_status 3 deploy ../B --label B
	expect_equal "$(applied)" 1
	expect_equal "$(columns)" id,name
	lg_ok show "$(lg --json history | jq -r '.[0].id')"
	local migrate stop
	migrate=$(grep -En "migrate +main 2 add_price" <<<"$output" | head -n 1 | cut -d: -f1)
	stop=$(grep -En " stop +app" <<<"$output" | head -n 1 | cut -d: -f1)
	[ -n "$migrate" ] || { echo "no migrate step in: $output" >&2; return 1; }
	[ -n "$stop" ] || { echo "no stop step in: $output" >&2; return 1; }
	[ "$migrate" -lt "$stop" ] || { echo "migrate at line $migrate, stop at $stop" >&2; return 1; }
	expect_match "$output" "migrate down +main 2 add_price"
	# a migration without the mark runs with the services stopped
	printf 'ALTER TABLE items ADD COLUMN price INTEGER;\n' >../B/db/migrations/0002_add_price.up.sql
	echo "good B" >../B/app/version
	lg_ok deploy ../B --label B2
	lg_ok show "$(lg --json history | jq -r '.[0].id')"
	migrate=$(grep -En "migrate +main 2 add_price" <<<"$output" | head -n 1 | cut -d: -f1)
	stop=$(grep -En " stop +app" <<<"$output" | head -n 1 | cut -d: -f1)
	[ "$migrate" -gt "$stop" ] || { echo "migrate at line $migrate, stop at $stop" >&2; return 1; }
	expect_equal "$(applied)" 1,2
}

@test "rollback past a migration without a down script needs --restore-backup, and restores the backup" {
	cmd_stack
	# migration 2 cannot be undone by a script
	rm ../B/db/migrations/0002_add_price.down.sql
	lg_ok deploy ../B --label B
	db "INSERT INTO items(name) VALUES('written on B')"
	lg_status 1 rollback A
	expect_match "$stderr" "database 'main' cannot go down from version 2 to 1: migration 2 has no down script; --restore-backup restores backup [0-9]+ \\('main-op[0-9]+\\.backup', taken .* ago at version 1\\)"
	expect_equal "$(applied)" 1,2
	expect_equal "$(cat app/version)" "good B"
	# the dry run shows the step the run refuses, and why
	lg_ok rollback A --dry-run
	expect_match "$output" "migrate down main 2 add_price"
	expect_match "$output" "cannot go down from version 2 to 1: migration 2 has no down script; --restore-backup restores backup [0-9]+ \\('main-op[0-9]+\\.backup', taken .* ago at version 1\\)"
	# the dry run with it names the restore instead of the missing step,
	# with the backup and its age
	lg_ok rollback A --dry-run --restore-backup
	expect_match "$output" "restore main"
	expect_match "$output" "backup [0-9]+ \\('main-op[0-9]+\\.backup', taken .* ago at version 1\\), discarding what was written since"
	expect_no_match "$output" "migrate down"
	lg_ok --json rollback A --dry-run --restore-backup
	expect_equal "$(jq -r '[.steps[] | select(.target == "main") | .kind] | join(",")' <<<"$output")" \
		"back up,restore"
	expect_match "$(jq -r '.steps[] | select(.kind == "restore") | .note' <<<"$output")" \
		"^backup [0-9]+ \\('main-op[0-9]+\\.backup', taken [0-9].* ago at version 1\\)"
	lg_ok rollback A --restore-backup
	expect_equal "$(applied)" 1
	expect_equal "$(columns)" id,name
	expect_equal "$(cat app/version)" good
	# what was written since the backup is gone, as the refusal said
	expect_equal "$(db 'SELECT group_concat(name) FROM items')" "written on A"
	lg_ok show "$(lg --json history | jq -r '.[0].id')"
	expect_match "$output" "restore +main"
}
