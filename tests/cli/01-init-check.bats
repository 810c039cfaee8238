#!/usr/bin/env bats
# `lastgood init` and `lastgood check`: the starter file, and config errors
# reported as one FILE:LINE:COL line with exit 2.

load helpers

# config TEXT: write lastgood.yml (printf escapes allowed, so line numbers
# stay visible in the test).
config() { printf "$1" >lastgood.yml; }

# check_fails MESSAGE: `check` exits 2 and says exactly MESSAGE.
check_fails() {
	lg_status 2 check
	expect_equal "$stderr" "lastgood: $1"
	expect_equal "$output" ""
}

@test "init writes a starter config that check accepts" {
	lg_ok init
	expect_equal "$output" "lastgood.yml"
	[ -f lastgood.yml ]
	expect_match "$(head -n 1 lastgood.yml)" '^# '
	lg_ok check
	expect_equal "$output" "lastgood.yml: ok (1 service, 0 files)"
}

@test "init never overwrites an existing config" {
	printf 'keep_releases: 3\n' >lastgood.yml
	lg_status 2 init
	expect_equal "$stderr" "lastgood: 'lastgood.yml' already exists; not overwriting"
	expect_equal "$(cat lastgood.yml)" "keep_releases: 3"
}

@test "init refuses a dangling symlink in the config's place" {
	ln -s elsewhere.yml lastgood.yml
	lg_status 2 init
	expect_equal "$stderr" "lastgood: 'lastgood.yml' already exists; not overwriting"
	[ ! -e elsewhere.yml ]
}

@test "init honours -C and -c" {
	mkdir site
	lg_ok -C site -c stack.yml init
	expect_equal "$output" "stack.yml"
	[ -f site/stack.yml ]
	[ ! -e lastgood.yml ]
	lg_ok -C site -c stack.yml check
	expect_equal "$output" "stack.yml: ok (1 service, 0 files)"
}

@test "init and check reject extra arguments" {
	lg_status 2 init now
	expect_match "$stderr" "unexpected argument 'now'"
	[ ! -e lastgood.yml ]
	lg_ok init
	lg_status 2 check twice
	expect_match "$stderr" "unexpected argument 'twice'"
}

@test "check summarizes the test stack" {
	make_stack
	lg_ok check
	expect_equal "$output" "lastgood.yml: ok (3 services, 4 files)"
}

@test "check without a config says how to make one" {
	lg_status 2 check
	expect_equal "$stderr" "lastgood: lastgood.yml: no such file (create one with 'lastgood init')"
}

@test "check: bad YAML names the line and column" {
	config 'services:\n  api:\n    run: [bin/api\n    files: [bin/api]\n'
	check_fails "lastgood.yml:4:10: invalid YAML: did not find expected ',' or ']' (while parsing a flow sequence at line 3)"
}

@test "check: a tab in the indentation" {
	config 'services:\n\tapi:\n'
	check_fails "lastgood.yml:2:1: invalid YAML: found character that cannot start any token (while scanning for the next token at line 2)"
}

@test "check: unknown key" {
	config 'services:\n  api:\n    run: [bin/api]\n    files: []\n\n    helth: []\n'
	check_fails "lastgood.yml:6:5: unknown key 'helth' in service 'api'"
}

@test "check: unknown top-level key" {
	config 'keep_releases: 3\nservice:\n  api: {run: [x]}\n'
	check_fails "lastgood.yml:2:1: unknown key 'service'"
}

@test "check: cycle in after" {
	config 'services:\n  api:\n    run: [x]\n    after: [db]\n  db:\n    run: [y]\n    after: [api]\n'
	check_fails "lastgood.yml:7:13: cycle in 'after': api -> db -> api"
}

@test "check: after names an unknown service" {
	config 'services:\n  api:\n    run: [x]\n    after: [postgres]\n'
	check_fails "lastgood.yml:4:13: unknown service 'postgres' in 'after' of service 'api'"
}

@test "check: duplicate service" {
	config 'services:\n  api:\n    run: [x]\n  worker:\n    run: [y]\n  api:\n    run: [z]\n'
	check_fails "lastgood.yml:6:3: duplicate service 'api' (first at line 2)"
}

@test "check: a listed file that does not exist yet is fine (recorded as absent)" {
	make_stack
	rm bin/worker
	lg_ok check
	expect_match "$output" "ok \(3 services, 4 files\)"
}

@test "check: two services claim the same path" {
	config 'services:\n  api:\n    run: [x]\n    files: [bin/api]\n  web:\n    run: [y]\n    files: [./bin/api]\n'
	check_fails "lastgood.yml:7:13: file './bin/api' of service 'web' is also 'bin/api' of service 'api' (line 4)"
}

@test "check: one service's path inside another's folder" {
	config 'services:\n  api:\n    run: [x]\n    files: [web/]\n  web:\n    run: [y]\n    files: [etc, web/static]\n'
	check_fails "lastgood.yml:7:18: file 'web/static' of service 'web' is inside 'web/' of service 'api' (line 4)"
}

@test "check: bad duration" {
	config 'services:\n  api:\n    run: [x]\npolicy:\n  start_timeout: 30 seconds\n'
	check_fails "lastgood.yml:5:18: invalid duration '30 seconds' for 'start_timeout' in 'policy' (use ms, s or m, e.g. 250ms, 5s, 2m)"
}

@test "check: manager without its required key" {
	config 'services:\n  operator:\n    manager: systemd\n    files: []\n'
	check_fails "lastgood.yml:2:3: service 'operator' needs 'unit' (manager 'systemd')"
}

@test "check: -c names the file in the message" {
	mkdir conf
	printf 'services: {}\n' >conf/stack.yml
	lg_status 2 -c conf/stack.yml check
	expect_equal "$stderr" "lastgood: conf/stack.yml:1:11: 'services' is empty; describe at least one service"
}

@test "check --json describes the services" {
	make_stack
	lg_ok check --json
	expect_equal "$(jq -r .config <<<"$output")" "lastgood.yml"
	expect_equal "$(jq .ok <<<"$output")" true
	expect_equal "$(jq -c '[.services[].name]' <<<"$output")" '["api","worker","web"]'
	expect_equal "$(jq -c '.services[0]' <<<"$output")" \
		'{"name":"api","manager":"command","files":["bin/api","etc/api.env"],"after":[]}'
	expect_equal "$(jq -c '.services[2].after' <<<"$output")" '["api"]'
	# The global option gives the same document.
	local after=$output
	lg_ok --json check
	expect_equal "$output" "$after"
}

@test "check --json of a stack with a listed file not there yet is ok" {
	make_stack
	rm etc/api.env
	lg_ok --json check
	expect_equal "$(jq .ok <<<"$output")" true
}
