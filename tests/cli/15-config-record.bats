#!/usr/bin/env bats
# The config and the state folder: a state folder belongs to the config
# that made it (a second config is refused, a moved stack keeps working,
# `rebind` hands it over); each release records the config it was made
# with, `diff` shows its lines with secrets masked, a config that does not
# load still lets the record be read and a rollback run from the recorded
# one, and `rollback --config` puts a release's config back.

load helpers

# split_stack: make_stack's files, described by two configs side by side:
# api.yml (bin/api, etc/api.env) and web.yml (web); no lastgood.yml.
split_stack() {
	make_stack
	rm lastgood.yml
	local name files
	for name in api web; do
		case $name in
		api) files='[bin/api, etc/api.env]' ;;
		web) files='[web]' ;;
		esac
		cat >"$name.yml" <<YML
services:
  $name:
    manager: command
    start: ["true"]
    stop: ["true"]
    files: $files
YML
	done
}

@test "a second config beside the first is refused its state folder, naming both" {
	split_stack
	lg_ok -c api.yml snapshot --label api-v1
	printf '#!/bin/sh\necho api v2\n' >bin/api
	lg_ok -c api.yml snapshot --label api-v2
	lg_status 2 -c web.yml rollback api-v1
	expect_equal "$stderr" "lastgood: state folder '$HOST/.lastgood' belongs to config '$HOST/api.yml', not to '$HOST/web.yml': give this config a state folder of its own (state_dir or --state-dir), or run 'lastgood rebind' if it replaces that one"
	expect_equal "$(cat bin/api)" "$(printf '#!/bin/sh\necho api v2')"
	lg_status 2 -c web.yml status
	lg_status 2 -c web.yml snapshot
	lg_ok -c api.yml --json history
	expect_equal "$(jq length <<<"$output")" 2
	# with a state folder of its own, web.yml is a stack of its own
	printf 'state_dir: .lastgood-web\n' >>web.yml
	lg_ok -c web.yml snapshot
	expect_equal "$output" 1
}

@test "--state-dir naming another stack's state folder is refused" {
	make_stack
	lg_ok snapshot
	mkdir ../other
	cp -a bin etc web lastgood.yml ../other/
	cd ../other
	lg_status 2 --state-dir "$HOST/.lastgood" rollback 1
	expect_match "$stderr" "state folder '$HOST/.lastgood' belongs to config '$HOST/lastgood.yml', not to '$BATS_TEST_TMPDIR/other/lastgood.yml'"
	lg_status 2 --state-dir "$HOST/.lastgood" releases
	# fsck repairs a state folder: only its own config's
	lg_status 2 --state-dir "$HOST/.lastgood" fsck
	expect_match "$stderr" "belongs to config '$HOST/lastgood.yml'"
}

@test "a stack moved whole, or its state folder moved alone, keeps working; a renamed config is rebound" {
	make_stack
	lg_ok snapshot
	cd ..
	mv host moved
	cd moved
	lg_ok status
	change_stack
	lg_ok snapshot
	expect_equal "$output" 2
	mv .lastgood ../state
	lg_ok --state-dir ../state releases
	lg_ok --state-dir ../state snapshot
	mv ../state .lastgood
	mv lastgood.yml stack.yml
	lg_status 2 -c stack.yml status
	expect_match "$stderr" "belongs to config '$BATS_TEST_TMPDIR/moved/lastgood.yml', not to '$BATS_TEST_TMPDIR/moved/stack.yml'.*'lastgood rebind'"
	lg_ok -c stack.yml rebind
	expect_equal "$stderr" "lastgood: state folder bound to '$BATS_TEST_TMPDIR/moved/stack.yml' (was '$BATS_TEST_TMPDIR/moved/lastgood.yml')"
	lg_ok -c stack.yml rollback 1
	lg_ok -c stack.yml --json history
	expect_equal "$(jq -r '.[1].command' <<<"$output")" rebind
}

@test "a state folder from before bindings belongs to the first config that uses it" {
	split_stack
	lg_ok -c api.yml snapshot
	sqlite3 .lastgood/state.db "DELETE FROM meta WHERE key LIKE 'config_path%'"
	# reading binds nothing
	lg_ok -c web.yml --json releases
	lg_ok -c web.yml snapshot
	lg_status 2 -c api.yml status
	expect_match "$stderr" "belongs to config '$HOST/web.yml', not to '$HOST/api.yml'"
}

# config_text START TOKEN PASSWORD CHECK: make_stack's services, with the
# api's start command, a secret env value and a health check whose URL
# carries a password and ends in CHECK.
config_text() {
	cat <<YML
services:
  api:
    manager: command
    start: ["$1"]
    stop: ["true"]
    env: {MODE: plain, TOKEN: {value: "$2", secret: true}}
    files: [bin/api, etc/api.env]
    health:
      - http: http://ops:$3@127.0.0.1:1/$4
  web:
    manager: command
    start: ["true"]
    stop: ["true"]
    files: [web]
YML
}

@test "each release records its config, and diff shows its changed lines with secrets masked" {
	make_stack
	config_text true token-one-1234 pass-one-5678 health >lastgood.yml
	lg_ok snapshot
	config_text /bin/true token-two-1234 pass-two-5678 ready >lastgood.yml
	change_stack
	lg_ok snapshot
	expect_equal "$output" 2
	lg_ok diff 1 2
	expect_match "$output" '^M lastgood.yml \(config\)$'
	expect_match "$output" '^-    start: \["true"\]$'
	expect_match "$output" '^\+    start: \["/bin/true"\]$'
	expect_match "$output" 'TOKEN: \{value: "\*\*\*", secret: true\}'
	expect_match "$output" '^-      - http: http://ops:\*\*\*@127.0.0.1:1/health$'
	expect_match "$output" '^\+      - http: http://ops:\*\*\*@127.0.0.1:1/ready$'
	expect_no_match "$output" 'token-|pass-'
	lg_ok --json diff 1 2
	expect_equal "$(jq -r .config.path <<<"$output")" lastgood.yml
	expect_match "$(jq -r .config.patch <<<"$output")" '/bin/true'
	expect_no_match "$output" 'token-|pass-'
	# the recorded text is the file, secrets and all, in the private store
	local digest
	digest=$(sqlite3 .lastgood/state.db 'SELECT config_digest FROM releases WHERE id = 2')
	expect_equal "$(cat "$(object_path "$digest")")" "$(cat lastgood.yml)"
	# same config, same files: nothing to show
	lg_ok diff 2 2
	expect_equal "$output" ""
}

@test "a secret diff cannot find as written hides the config's lines" {
	make_stack
	config_text true token-one-1234 pass-one-5678 health >lastgood.yml
	lg_ok snapshot
	config_text true 'tok\x65n-two-1234' pass-one-5678 health >lastgood.yml
	change_stack
	lg_ok snapshot
	lg_ok diff 1 2
	expect_match "$output" '^M lastgood.yml \(config; lines not shown: a secret in it is written in a way lastgood cannot mask\)$'
	expect_no_match "$output" 'tok'
}

# break_config: an unknown key at the end of lastgood.yml (line 21 of make_stack's).
break_config() { printf 'helth: []\n' >>lastgood.yml; }

@test "a config that does not load still lets the record be read and a rollback run" {
	make_stack
	lg_ok snapshot
	local original changed
	original=$(tree_sum)
	change_stack
	changed=$(tree_sum)
	lg_ok snapshot
	break_config
	local note="lastgood: lastgood.yml:21:1: unknown key 'helth'; using the config recorded with release 2 instead"
	local cmd
	for cmd in status releases history "show 1"; do
		# shellcheck disable=SC2086
		lg_ok $cmd
		expect_equal "$stderr" "$note"
	done
	lg_ok --json status
	expect_equal "$(jq -r .live_release <<<"$output")" 2
	lg_ok recover
	expect_match "$stderr" "$note"
	lg_ok rollback 1
	expect_match "$stderr" "$note"
	expect_equal "$(tree_sum)" "$original"
	lg_ok -q --json status
	expect_equal "$(jq -r .live_release <<<"$output")" 1
	# everything else still needs a config that loads
	for cmd in check snapshot "deploy ." verify "diff 1" gc fsck start; do
		# shellcheck disable=SC2086
		lg_status 2 $cmd
		expect_equal "$stderr" "lastgood: lastgood.yml:21:1: unknown key 'helth'"
	done
	lg_ok -q rollback 2
	expect_equal "$(tree_sum)" "$changed"
}

@test "without a recorded config to stand in, the load error says why" {
	make_stack
	lg_ok snapshot
	sqlite3 .lastgood/state.db 'UPDATE releases SET config_digest = NULL'
	break_config
	lg_status 2 status
	expect_equal "$stderr" "lastgood: lastgood.yml:21:1: unknown key 'helth' (and no recorded config can stand in for it: release 1 has no recorded config (it was recorded before lastgood kept configs))"
	# a release from before configs were kept learns the one it is live with
	sed -i '$d' lastgood.yml
	lg_ok snapshot
	expect_equal "$output" 1
	break_config
	lg_ok status
	expect_match "$stderr" "using the config recorded with release 1 instead"
}

@test "rollback --config puts the release's config back and keeps the one it replaced" {
	make_stack
	lg_ok snapshot
	local good
	good=$(cat lastgood.yml)
	change_stack
	sed -i 's/keep_releases: 10/keep_releases: 9/' lastgood.yml
	lg_ok snapshot
	break_config
	local broken
	broken=$(cat lastgood.yml)
	chmod 0640 lastgood.yml
	lg_ok rollback 1 --config --dry-run
	expect_match "$output" "write the config of release 1 to 'lastgood.yml', keeping the one there"
	expect_equal "$(cat lastgood.yml)" "$broken"
	lg_ok rollback 1 --config
	expect_equal "$(cat lastgood.yml)" "$good"
	expect_equal "$(stat -c %a lastgood.yml)" 640
	op=$(jq -r '.[0].id' <<<"$(lg -q --json history)")
	expect_equal "$(cat "lastgood.yml.before-$op")" "$broken"
	expect_match "$stderr" "config of release 1 written; the one it replaced is 'lastgood.yml.before-$op'"
	lg_ok check
	lg_ok show "$op"
	expect_match "$output" 'restore config'
	# the rollback's own record says what it did, and the config was left
	# alone by a rollback that only switched files
	lg_ok rollback 2
	expect_equal "$(cat lastgood.yml)" "$good"
	lg_status 2 rollback 1 --config --services api
	expect_match "$stderr" "--config puts back a whole config"
}

@test "gc keeps the configs of the releases it keeps" {
	make_stack
	lg_ok snapshot
	local n
	for n in 2 3 4; do
		printf 'v%s\n' "$n" >web/index.html
		printf '# revision %s\n' "$n" >>lastgood.yml
		lg_ok snapshot
	done
	lg_ok gc --keep 1
	lg_ok fsck
	local digest
	digest=$(sqlite3 .lastgood/state.db 'SELECT config_digest FROM releases WHERE id = 4')
	expect_equal "$(cat "$(object_path "$digest")")" "$(cat lastgood.yml)"
}

@test "rollback --config switches by the config in use: a service only it defines is stopped before its file goes" {
	make_stack
	# release 1 is recorded by a config without the worker
	sed -i '/^  worker:/,/^    after: \[api\]$/d' lastgood.yml
	! grep -q worker lastgood.yml
	local old
	old=$(cat lastgood.yml)
	lg_ok snapshot
	# the worker joins, its file recorded in release 2
	rm web/current.js
	make_stack
	lg_ok snapshot
	lg_ok rollback 1 --config
	op=$(jq -r '.[0].id' <<<"$(lg -q --json history)")
	lg_ok --json show "$op"
	expect_equal "$(jq -r '[.steps[] | select(.kind == "stop" and .target == "worker")] | length' \
		<<<"$output")" 1
	[ ! -e bin/worker ]
	expect_equal "$(cat lastgood.yml)" "$old"
}
