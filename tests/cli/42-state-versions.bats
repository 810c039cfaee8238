#!/usr/bin/env bats
# The state database's schema versions: a state folder made by an older
# lastgood is brought forward on first use; a newer one is refused.

load helpers

# tests/cli/fixtures/state-v1.tar.gz is a stack and its state folder as the
# lastgood of b8fe09c (before schema versions) left them: release 1 'v1',
# 2 'v2' (good, live), 3 'v3' (bad, rolled back). Manifests name absolute
# live paths, so it unpacks where it was made.
FIXTURE_DIR=/tmp/lastgood-fixture-v1

unpack_fixture() {
	rm -rf "$FIXTURE_DIR"
	tar xzf "$BATS_TEST_DIRNAME/fixtures/state-v1.tar.gz" -C /tmp
	cd "$FIXTURE_DIR"
}

teardown() {
	rm -rf "$FIXTURE_DIR"
	common_teardown
}

schema_version() { sqlite3 "$1" 'PRAGMA user_version'; }

@test "a new state database is at the current schema version" {
	make_stack
	lg_ok snapshot
	[ "$(schema_version .lastgood/state.db)" -gt 0 ]
}

@test "a state folder from before schema versions is brought forward and keeps its record" {
	unpack_fixture
	expect_equal "$(schema_version .lastgood/state.db)" 0
	lg_ok --json releases
	expect_equal "$(jq -c '[.[] | [.id, .label, .mark]]' <<<"$output")" \
		'[[3,"v3","bad"],[2,"v2","good"],[1,"v1",null]]'
	local current
	current=$(cd "$BATS_TEST_TMPDIR" && mkdir new && cd new && make_stack >/dev/null &&
		"$LG" -q snapshot >/dev/null && schema_version .lastgood/state.db)
	expect_equal "$(schema_version .lastgood/state.db)" "$current"
	expect_equal "$(sqlite3 .lastgood/state.db 'PRAGMA integrity_check')" ok
	lg_ok fsck
	lg_ok history
	expect_match "$output" 'rolled-back'
	lg_ok rollback v1
	expect_equal "$(cat etc/app.conf)" "mode=1"
	expect_equal "$(cat www/index.html)" "<h1>v1</h1>"
	lg_ok rollback v2
	expect_equal "$(cat etc/app.conf)" "mode=2"
}

@test "a state database of a newer schema is refused and left as it is" {
	make_stack
	lg_ok snapshot
	sqlite3 .lastgood/state.db 'PRAGMA user_version = 9999'
	local before
	before=$(sha256sum .lastgood/state.db)
	lg_status 2 status
	expect_match "$stderr" "refusing state database '.*state.db': its schema is version 9999, newer than"
	lg_status 2 snapshot
	expect_match "$stderr" "version 9999"
	expect_equal "$(sha256sum .lastgood/state.db)" "$before"
}
