#!/usr/bin/env bats
# The db commands that change a database, each an operation under the
# lock: db migrate, db rollback, db backup, db restore; db backups lists
# what is kept, gc drops the backups of dropped releases, fsck checks
# them. Real SQLite files; the one service is run by the command manager.

load helpers
load helpers-services
load helpers-databases

state() { sqlite3 .lastgood/state.db "$@"; }

# pending_price: migration 2 (a column price) added to the live files and
# recorded as the live release, not applied.
pending_price() {
	migration . 0002 add_price 'ALTER TABLE items ADD COLUMN price INTEGER;' \
		"${1-ALTER TABLE items DROP COLUMN price;}"
	lg_ok snapshot --label B
}

backups() { state 'SELECT count(*) FROM db_backups'; }

@test "db migrate applies the live release's pending migrations after a backup, and records the version" {
	sqlite_stack
	pending_price
	local before
	before=$(backups)
	lg_ok db migrate
	expect_equal "$output" "database 'main': version 1 -> 2"
	expect_equal "$(applied)" 1,2
	expect_equal "$(columns)" id,name,price
	expect_equal "$(db 'SELECT name FROM items')" "written on A"
	expect_equal "$(backups)" $((before + 1))
	expect_equal "$(state "SELECT version FROM db_backups ORDER BY id DESC LIMIT 1")" 1
	expect_equal "$(state "SELECT version FROM release_schemas WHERE release = $(live_release) AND database = 'main'")" 2
	lg_ok show "$(lg --json history | jq -r '.[0].id')"
	expect_match "$output" "db migrate"
	expect_match "$output" "back up +main"
	expect_match "$output" "migrate +main 2 add_price"
	# nothing left to do: said, exit 0, no backup
	lg_ok db migrate main
	expect_equal "$output" "database 'main' is at version 2: nothing to do"
	expect_equal "$(backups)" $((before + 1))
}

@test "db migrate --json prints one report object" {
	sqlite_stack
	pending_price
	lg_ok --json db migrate
	expect_equal "$(jq -r .command <<<"$output")" "db migrate"
	expect_equal "$(jq -r .result <<<"$output")" ok
	expect_equal "$(jq -r .database <<<"$output")" main
	expect_equal "$(jq -r '[.version_before, .version_after, .release_version] | @csv' <<<"$output")" 1,2,2
	expect_equal "$(jq -r .backup.version <<<"$output")" 1
	expect_equal "$(jq -r .restored <<<"$output")" false
}

@test "a failing migration: db migrate goes back to where it started, exit 1" {
	sqlite_stack
	migration . 0002 add_price 'ALTER TABLE items ADD COLUMN price INTEGER;' \
		'ALTER TABLE items DROP COLUMN price;'
	migration . 0003 broken 'INSERT INTO no_such_table VALUES(1);'
	lg_ok snapshot --label B
	lg_status 1 db migrate
	expect_match "$stderr" "no_such_table"
	expect_equal "$(applied)" 1
	expect_equal "$(columns)" id,name
	expect_equal "$(db 'SELECT name FROM items')" "written on A"
	lg_ok show "$(lg --json history | jq -r '.[0].id')"
	expect_match "$output" "migrate down +main 2 add_price"
	# the version the snapshot recorded, not the one it failed to reach
	expect_equal "$(state "SELECT version FROM release_schemas WHERE release = $(live_release)")" 1
}

@test "db rollback --to goes down with the live release's down scripts and says the files expect more" {
	sqlite_stack
	pending_price
	lg_ok db migrate
	db "UPDATE items SET price = 3"
	lg_ok db rollback --to 1
	expect_equal "$output" "database 'main': version 2 -> 1"
	expect_match "$stderr" "the live release's files \\(release $(live_release)\\) expect version 2"
	expect_equal "$(applied)" 1
	expect_equal "$(columns)" id,name
	expect_equal "$(db 'SELECT name FROM items')" "written on A"
	# a version above the applied one is db migrate's
	lg_status 2 db rollback --to 2
	expect_match "$stderr" "db migrate"
}

@test "db rollback without --to goes to the previous good release's version" {
	sqlite_stack
	pending_price
	lg_ok db migrate
	lg_ok db rollback
	expect_equal "$(applied)" 1
}

@test "db rollback with a missing down script refuses, naming the backup; --restore-backup restores it" {
	sqlite_stack
	pending_price ''
	lg_ok db migrate
	db "INSERT INTO items(name, price) VALUES('written on B', 5)"
	lg_status 1 db rollback --to 1
	expect_match "$stderr" "migration 2 has no down script"
	expect_match "$stderr" "--restore-backup restores backup [0-9]+ \\('main-op[0-9]+.backup', taken .* ago at version 1\\)"
	expect_equal "$(applied)" 1,2
	expect_equal "$(db 'SELECT count(*) FROM items')" 2
	lg_ok db rollback --to 1 --restore-backup
	expect_match "$stderr" "restored from backup [0-9]+ .*taken .* ago at version 1"
	expect_equal "$(applied)" 1
	expect_equal "$(columns)" id,name
	expect_equal "$(db 'SELECT name FROM items')" "written on A"
	lg_ok show "$(lg --json history | jq -r '.[0].id')"
	expect_match "$output" "stop +app"
	expect_match "$output" "restore +main"
	expect_match "$output" "start +app"
}

@test "db rollback with a missing down script and no backup at that version refuses either way" {
	BACKUP=destructive sqlite_stack
	pending_price ''
	lg_ok db migrate
	lg_status 1 db rollback --to 1
	expect_match "$stderr" "migration 2 has no down script, and no backup at version 1 is kept"
	lg_status 1 db rollback --to 1 --restore-backup
	expect_match "$stderr" "no backup at version 1 to restore"
	expect_equal "$(applied)" 1,2
}

@test "db backup takes a backup with the live release; db backups lists it" {
	sqlite_stack
	lg_ok db backup
	local id=$output
	lg_ok db backup --schema-only
	lg_ok db backups
	expect_match "${lines[0]}" "ID +DATABASE +WHEN +AGE +SIZE +VERSION +RELEASE +OPERATION +KIND +FILE"
	expect_match "$output" "main .* 1 +$(live_release) .* full +backups/main-op"
	expect_match "$output" "schema only"
	lg_ok --json db backups main
	# the deploy's, then these two, newest first
	expect_equal "$(jq length <<<"$output")" 3
	expect_equal "$(jq -r '.[1].id' <<<"$output")" "$id"
	expect_equal "$(jq -r '.[1] | [.database, .version, .release, .schema_only] | @csv' <<<"$output")" \
		"\"main\",\"1\",$(live_release),false"
	expect_equal "$(jq -r '.[0].schema_only' <<<"$output")" true
	[ -f ".lastgood/backups/$(jq -r '.[1].file' <<<"$output")" ]
	expect_equal "$(jq -r '.[1].size' <<<"$output")" \
		"$(stat -c %s ".lastgood/backups/$(jq -r '.[1].file' <<<"$output")")"
	expect_equal "$(stat -c %a .lastgood/backups)" 700
	lg_ok --json db backup
	expect_equal "$(jq -r .command <<<"$output")" "db backup"
	expect_equal "$(jq -r .backup.schema_only <<<"$output")" false
}

@test "db backups lists a command tool's text version as it is; numbers still find theirs" {
	sqlite_stack
	migration . 0002 add_price 'ALTER TABLE items ADD COLUMN price INTEGER;' ''
	lg_ok snapshot --label B
	lg_ok db migrate
	# an alembic revision that merely begins with the digit of version 1
	state "INSERT INTO db_backups(database, operation, release, version, file, size, sha256,
		created_ms) VALUES('main', NULL, 0, '1ae027a6acf', 'main-alembic.backup', 1, 'x', 0)"
	lg_ok db backups
	expect_match "$output" "main .* 1ae027a6acf +0 .* backups/main-alembic.backup"
	lg_ok --json db backups
	expect_equal "$(jq -r '.[0].version' <<<"$output")" 1ae027a6acf
	lg_status 1 db rollback --to 1
	expect_match "$stderr" "--restore-backup restores backup [0-9]+ \\('main-op[0-9]+.backup', taken .* ago at version 1\\)"
}

@test "snapshot records each database's version with its release; one it cannot read is named" {
	sqlite_stack
	# migration 2 is in the files, not applied: the database is at 1
	pending_price
	expect_equal "$(state "SELECT version FROM release_schemas WHERE release = $(live_release)")" 1
	# a database that cannot be opened: the release is recorded, without
	# a version for it, and the operator is told
	mv data/app.db data/kept.db
	mkdir data/app.db
	echo more >app/more
	lg_ok snapshot --label C
	local release=$output
	expect_match "$stderr" "no schema version recorded with release $release: database 'main': cannot open"
	expect_equal "$(state "SELECT count(*) FROM release_schemas WHERE release = $release")" 0
	echo again >app/more
	lg_ok --json snapshot
	expect_match "$(jq -r '.unversioned[0]' <<<"$output")" "^no schema version recorded with release [0-9]+: database 'main'"
	# no file yet: version 0, and the snapshot does not create one
	rmdir data/app.db
	echo once more >app/more
	lg_ok snapshot
	expect_equal "$(state "SELECT version FROM release_schemas WHERE release = $output")" 0
	[ ! -e data/app.db ]
}

@test "db restore brings back the rows of the newest backup, the database's services stopped around it" {
	sqlite_stack
	lg_ok db backup
	db "DELETE FROM items"
	db "CREATE TABLE junk(x)"
	lg_ok db restore
	expect_match "$stderr" "restored from backup [0-9]+ .*: what was written since it was taken is gone"
	expect_equal "$(db 'SELECT name FROM items')" "written on A"
	expect_equal "$(db "SELECT count(*) FROM sqlite_master WHERE name = 'junk'")" 0
	lg_ok show "$(lg --json history | jq -r '.[0].id')"
	expect_match "$output" "stop +app"
	expect_match "$output" "restore +main"
	expect_match "$output" "start +app"
	lg_ok --json db restore main
	expect_equal "$(jq -r .restored <<<"$output")" true
	expect_equal "$(jq -r .command <<<"$output")" "db restore"
}

# restore_ended WHERE: after a db restore that was killed, then recover:
# prints "restored" (the backup's rows, the junk made since gone) or
# "untouched" (killed before it stopped anything), or fails saying what
# is wrong; a service the restore stopped was started again.
restore_ended() {
	local op steps=
	op=$(lg --json history | jq -r '[.[] | select(.command == "db restore")][0].id // empty')
	# none when killed before it was recorded
	[ -z "$op" ] ||
		steps=$(lg --json show "$op" | jq -r '[.steps[] | .kind + " " + (.target // "")] | join(",")')
	if [[ $steps == *"stop app"* && ${steps##*stop app} != *"start app"* ]]; then
		echo "$1: app was stopped and not started again: $steps" >&2
		return 1
	fi
	case "$(db 'SELECT group_concat(name) FROM items')/$(db "SELECT count(*) FROM sqlite_master WHERE name = 'junk'")" in
	"written on A/0") echo restored ;;
	/1) [[ $steps != *"stop app"* ]] && echo untouched ||
		{ echo "$1: app was stopped, the database not restored: $steps" >&2; return 1; } ;;
	*) echo "$1: the database is neither the backup nor as before" >&2; return 1 ;;
	esac
}

@test "killed at any sync of db restore, recover finishes the restore and starts what it stopped" {
	sqlite_stack
	lg_ok db backup
	db "DELETE FROM items"
	db "CREATE TABLE junk(x)"
	local call total n rc where tried=0 restored=0 untouched=0 on
	cd .. && cp -a "$HOST" start && cd "$HOST"
	ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" strace -qq -o ../trace \
		-e trace=fdatasync,fsync "$LG_REAL" -q db restore
	for call in fdatasync fsync; do
		total=$(grep -c "^$call(" ../trace || true)
		for n in $(seq 1 "$total"); do
			cd .. && rm -rf "$HOST" && cp -a start "$HOST" && cd "$HOST"
			rc=0
			LG=$LG_REAL kill_at "$call" "$n" db restore || rc=$?
			where="db restore killed at $call $n of $total (exit $rc)"
			[ "$rc" = 137 ] || { echo "$where: not killed" >&2; return 1; }
			tried=$((tried + 1))
			lg -q recover >../recover.out 2>&1 ||
				{ echo "$where: recover failed: $(cat ../recover.out)" >&2; return 1; }
			on=$(restore_ended "$where") || return 1
			if [ "$on" = restored ]; then restored=$((restored + 1)); else untouched=$((untouched + 1)); fi
		done
	done
	echo "# $tried points: restored $restored, untouched $untouched" >&3
	[ "$tried" -gt 10 ] && [ "$restored" -gt 0 ] && [ "$untouched" -gt 0 ]
}

@test "db restore refuses a backup of the other kind, another database's, or an unknown one (exit 2)" {
	sqlite_stack
	lg_ok db backup
	local full=$output
	lg_ok db backup --schema-only
	local schema=$output
	db "DELETE FROM items"
	lg_status 2 db restore main "$full" --schema-only
	expect_match "$stderr" "backup $full of database 'main' is a full backup: restore it without --schema-only"
	lg_status 2 db restore main "$schema"
	expect_match "$stderr" "backup $schema of database 'main' holds the schema only: restore it with --schema-only"
	lg_status 2 db restore main 99
	expect_match "$stderr" "no backup 99 is recorded"
	expect_equal "$(db 'SELECT count(*) FROM items')" 0
	lg_status 2 --json db restore main 99
	expect_equal "$(jq -r .error.kind <<<"$output")" usage
}

@test "a database must be named among several; an unknown one is a usage error" {
	sqlite_stack '  other:
    engine: sqlite
    path: data/other.db
    migrations: db/migrations/other'
	lg_status 2 db backup
	expect_match "$stderr" "name the database: 'main', 'other'"
	lg_status 2 db migrate nosuch
	expect_match "$stderr" "no database 'nosuch'"
	lg_status 2 db backups nosuch
	lg_status 2 db rollback main --schema-only
	lg_ok db backup other
}

@test "gc removes the backups of the releases it drops and keeps the others" {
	sqlite_stack
	lg_ok db backup              # with A
	echo "good 2" >app/version
	lg_ok snapshot
	lg_ok db backup              # with the release after A
	echo "good 3" >app/version
	lg_ok snapshot
	lg_ok start                  # the live release is good: A is not the newest good
	lg_ok db backup
	local live kept dropped
	live=$(live_release)
	kept=$(state "SELECT file FROM db_backups WHERE release = $live")
	dropped=$(state "SELECT file FROM db_backups WHERE release != $live AND release != 0")
	# the deploy's (with the release recorded before A) too
	expect_equal "$(wc -w <<<"$dropped")" 3
	lg_ok --json gc --keep 0
	expect_equal "$(jq -r .backups_removed <<<"$output")" "$(wc -w <<<"$dropped")"
	[ "$(jq -r .backup_bytes_freed <<<"$output")" -gt 0 ]
	local f
	for f in $dropped; do [ ! -e ".lastgood/backups/$f" ]; done
	[ -f ".lastgood/backups/$kept" ]
	expect_equal "$(state 'SELECT group_concat(DISTINCT release) FROM db_backups WHERE release != 0')" "$live"
	lg_ok gc
	expect_equal "$output" "nothing to remove: 1 release kept"
}

@test "fsck names a changed and a missing backup, exit 1, and leaves them" {
	sqlite_stack
	lg_ok db backup
	lg_ok db backup --schema-only
	lg_ok fsck
	local changed missing
	changed=$(state 'SELECT file FROM db_backups WHERE schema_only = 0 ORDER BY id DESC LIMIT 1')
	missing=$(state 'SELECT file FROM db_backups WHERE schema_only = 1')
	printf x >>".lastgood/backups/$changed"
	rm ".lastgood/backups/$missing"
	lg_status 1 fsck
	expect_match "$output" "backup [0-9]+ of database 'main' \\(backups/$changed\\): [0-9]+ bytes, recorded"
	expect_match "$output" "backup [0-9]+ of database 'main' \\(backups/$missing\\): missing"
	[ -f ".lastgood/backups/$changed" ]
	expect_equal "$(backups)" 3
	lg_status 1 --json fsck
	expect_equal "$(jq -r .ok <<<"$output")" false
	expect_equal "$(jq -r '.backup_problems | length' <<<"$output")" 2
	# the recorded size, other bytes
	truncate -s -2 ".lastgood/backups/$changed"
	printf y >>".lastgood/backups/$changed"
	lg_status 1 fsck
	expect_match "$output" "backups/$changed\\): sha256"
}
