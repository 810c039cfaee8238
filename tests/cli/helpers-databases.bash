# Helpers of the CLI tests of databases (83-db-commands, 88-databases):
# migrations written as files of a release, the SQLite database they run
# on, and a stack whose one service is run by the command manager.

# migration DIR VERSION NAME UP [DOWN]: DIR/db/migrations/VERSION_NAME.up.sql
# (and .down.sql).
migration() {
	mkdir -p "$1/db/migrations"
	printf '%s\n' "$4" >"$1/db/migrations/$2_$3.up.sql"
	[ -z "${5:-}" ] || printf '%s\n' "$5" >"$1/db/migrations/$2_$3.down.sql"
}

db() { sqlite3 data/app.db "$@"; }

# applied: the versions lastgood_migrations holds, comma-separated.
applied() {
	db 'SELECT coalesce(group_concat(version), "") FROM (SELECT version FROM lastgood_migrations ORDER BY version)'
}

columns() {
	db "SELECT group_concat(name) FROM pragma_table_info('items')"
}

# app_yaml MIGRATIONS: the top of lastgood.yml: service app (`true`,
# healthy while app/version says good) whose files are app and the folder
# MIGRATIONS.
app_yaml() {
	cat <<YML
policy: {start_timeout: 3s, interval: 50ms, timeout: 2s, retries: 1, stabilize: 0s, stop_timeout: 2s}
services:
  app:
    manager: command
    start: ["true"]
    stop: ["true"]
    files: [app, $1]
    health:
      - exec: [grep, -q, good, app/version]
YML
}

# sqlite_stack [EXTRA_DATABASE_YAML]: service app (`true`, healthy while
# app/version says good) whose files hold db/migrations; database main
# (SQLite, backup: $BACKUP or always) with app stopped while it is
# restored. Release A (deployed, good) applied migration 1 (items); a row
# is written.
sqlite_stack() {
	mkdir -p app db/migrations data
	echo good >app/version
	{ app_yaml db/migrations; cat <<YML; } >lastgood.yml
databases:
  main:
    engine: sqlite
    path: data/app.db
    migrations: db/migrations
    backup: ${BACKUP:-always}
    services: [app]
${1:-}
YML
	migration ../A 0001 create_items \
		'CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT NOT NULL);' 'DROP TABLE items;'
	lg_ok deploy ../A --label A
	db "INSERT INTO items(name) VALUES('written on A')"
}
