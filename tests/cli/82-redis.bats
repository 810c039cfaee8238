#!/usr/bin/env bats
# A backup-only command database against a real Redis server: `redis-cli
# --rdb` takes the backup, a small restore script puts the dump back into
# the running server; db backups, fsck and gc see those backups as they
# see any other, and a deploy that changes the database's services takes
# one first.

load helpers
load helpers-databases
load ../lib/redis

setup() {
	common_setup
	REDIS_DIR=$BATS_TEST_TMPDIR/redis
	redis_start "$REDIS_DIR"
}

teardown() {
	redis_stop "$REDIS_DIR"
	common_teardown
}

# redis_stack: service app (`true`, healthy while app/version says good)
# and database cache, backed up with redis-cli --rdb and restored by
# ./restore-rdb (the dump copied into the server's dir, then loaded
# with DEBUG RELOAD NOSAVE). Release A is live.
redis_stack() {
	mkdir -p app
	echo good >app/version
	cat >restore-rdb <<SH
#!/bin/sh
set -e
cp "\$1" "$REDIS_DIR/dump.rdb.new"
mv "$REDIS_DIR/dump.rdb.new" "$REDIS_DIR/dump.rdb"
redis-cli -h 127.0.0.1 -p $LG_TEST_REDIS_PORT debug reload nosave
SH
	chmod +x restore-rdb
	{ app_yaml app; cat <<YML; } >lastgood.yml
databases:
  cache:
    engine: command
    backup: [redis-cli, -h, 127.0.0.1, -p, "$LG_TEST_REDIS_PORT", --rdb, "{file}"]
    restore: [./restore-rdb, "{file}"]
    services: [app]
YML
	sed -i 's/files: \[app, app\]/files: [app]/' lastgood.yml
	lg_ok snapshot --label A
}

@test "a Redis backup is taken, listed, checked by fsck and restored into the running server" {
	redis_stack
	redis_cli set greeting hello >/dev/null
	redis_cli set counter 1 >/dev/null
	lg_ok db backup cache
	local id=$output
	lg_ok db backups
	expect_match "$output" "cache .* full +backups/cache-op[0-9]+\\.backup"
	lg_ok fsck
	# what the keys hold now is what the restore discards
	redis_cli set greeting changed >/dev/null
	redis_cli set added later >/dev/null
	lg_ok db restore
	expect_equal "$output" "database 'cache' restored"
	expect_match "$stderr" "database 'cache' restored from backup $id"
	expect_equal "$(redis_cli get greeting)" hello
	expect_equal "$(redis_cli get counter)" 1
	expect_equal "$(redis_cli exists added)" 0
	lg_ok db status cache
	expect_match "$output" "no migration tool: backed up and restored only"
	expect_match "$output" "backup $id "
	# a backup whose file changed is named by fsck
	printf 'x' >>.lastgood/backups/cache-op*.backup
	lg_status 1 fsck
	expect_match "$output$stderr" "cache-op[0-9]+\\.backup"
}

@test "a deploy that changes the Redis database's services backs it up first; gc drops it with its release" {
	redis_stack
	redis_cli set greeting hello >/dev/null
	mkdir -p ../B/app
	echo "good B" >../B/app/version
	lg_ok deploy ../B --label B
	lg_ok show "$(lg --json history | jq -r '.[0].id')"
	expect_match "$output" "back up +cache"
	lg_ok --json db backups cache
	expect_equal "$(jq -r 'length' <<<"$output")" 1
	expect_equal "$(jq -r '.[0].release' <<<"$output")" 1
	local file
	file=.lastgood/backups/$(jq -r '.[0].file' <<<"$output")
	[ -f "$file" ]
	lg_ok gc --keep 1
	lg_ok --json db backups cache
	expect_equal "$(jq -r 'length' <<<"$output")" 0
	[ ! -e "$file" ]
}

@test "a backup-only database refuses what moves a schema, and --schema-only" {
	redis_stack
	lg_status 2 db migrate
	expect_equal "$stderr" "lastgood: database 'cache' has no migration tool ('current', 'upgrade' and 'downgrade' in lastgood.yml): it is backed up and restored only ('lastgood db restore' puts a backup back)"
	lg_status 2 db rollback
	lg_status 2 db backup --schema-only
	expect_match "$stderr" "database 'cache' \\(engine command\\) has no schema-only backup"
	lg_ok --json history
	expect_equal "$(jq -r 'length' <<<"$output")" 1
	# nothing listens but on the loopback
	! ss -ltnH 2>/dev/null | grep ":$LG_TEST_REDIS_PORT " | grep -v "127.0.0.1:$LG_TEST_REDIS_PORT "
}
