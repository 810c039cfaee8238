#!/usr/bin/env bats
# --json on every command that changes anything: one object on stdout with
# the operation, its result, the releases before and after, each service's
# state and health, and the error with its kind, for a failure too (the
# exit code unchanged, the human lines still on stderr).

load helpers

# json_stack: make_stack whose api is judged by an exec check that passes
# while etc/api.env says it is good.
json_stack() {
	make_stack
	printf 'PORT=8000\nSTATE=good\n' >etc/api.env
	sed -i -e 's/^keep_releases: 10$/&\npolicy: {start_timeout: 2s, interval: 50ms, retries: 1, stabilize: 0s}/' \
		-e 's|^    files: \[bin/api, etc/api.env\]$|&\n    health:\n      - exec: [grep, -q, STATE=good, etc/api.env]|' \
		lastgood.yml
}

# jq_is FILTER WANT: the filter applied to $output gives WANT.
jq_is() {
	expect_equal "$(jq -c "$1" <<<"$output")" "$2"
}

@test "snapshot --json reports the new release and nothing on stdout but the object" {
	json_stack
	lg_ok --json snapshot --label v1
	jq_is '[.command, .operation, .result, .exit_code, .created]' '["snapshot",1,"ok",0,true]'
	jq_is '.releases' '{"before":null,"after":1,"target":1}'
	jq_is '.error' 'null'
	jq_is '[.services[].name]' '["api","worker","web"]'
	lg_ok snapshot
	expect_equal "$output" 1
	lg_ok --json snapshot
	jq_is '.created' 'false'
}

@test "deploy --json: a good deploy, then a failing one rolled back (exit 3)" {
	json_stack
	lg_ok snapshot --label v1
	mkdir -p ../v2/etc ../v3/etc
	printf 'PORT=8001\nSTATE=good\n' >../v2/etc/api.env
	lg_ok --json deploy ../v2 --label v2
	jq_is '[.command, .result, .exit_code, .changed]' '["deploy","ok",0,1]'
	jq_is '.releases' '{"before":1,"after":2,"target":2}'
	jq_is '[.services[] | [.name, .running, .health]]' '[["api",null,"healthy"],["worker",null,null],["web",null,null]]'
	printf 'PORT=8002\nSTATE=bad\n' >../v3/etc/api.env
	lg_status 3 --json deploy ../v3 --label v3
	jq_is '[.result, .exit_code, .releases.after, .releases.target]' '["rolled-back",3,2,3]'
	jq_is '.error.kind' '"rolled-back"'
	expect_match "$(jq -r .error.message <<<"$output")" '^api: '
	expect_match "$(jq -r .failure.text <<<"$output")" '^api: exec grep'
	# the human lines still go to stderr
	expect_match "$stderr" 'rolled back to release 2'
}

@test "rollback --json reports the release put back; a bad REF is a usage error" {
	json_stack
	lg_ok snapshot
	printf 'changed\n' >web/index.html
	lg_ok snapshot
	lg_ok --json rollback 1
	jq_is '[.command, .result, .releases.before, .releases.after, .changed]' \
		'["rollback","ok",2,1,1]'
	jq_is '.config' 'null'
	lg_status 2 --json rollback nosuch
	jq_is '[.result, .exit_code, .error.kind, .operation]' '["failed",2,"usage",null]'
}

@test "start, stop and restart --json report the services" {
	json_stack
	lg_ok snapshot
	lg_ok --json stop --services web
	jq_is '[.command, .result, .exit_code]' '["stop","ok",0]'
	lg_ok --json start
	jq_is '[.command, .result]' '["start","ok"]'
	jq_is '[.services[].health]' '["healthy","healthy","healthy"]'
	lg_ok --json restart --services api
	jq_is '[.command, .result, (.services | length)]' '["restart","ok",3]'
	printf 'PORT=8000\nSTATE=bad\n' >etc/api.env
	lg_status 1 --json restart --services api
	jq_is '[.result, .exit_code, .error.kind]' '["failed",1,"failed"]'
	jq_is '[.services[] | select(.name == "api") | .health]' '["failing"]'
	expect_match "$stderr" '^lastgood: restart failed: api: '
}

@test "gc --json keeps its keys and adds the common ones" {
	json_stack
	lg_ok snapshot
	printf 'changed\n' >web/index.html
	lg_ok snapshot
	lg_ok --json gc --keep 0
	jq_is '[.keep, .releases_removed, .releases_kept]' '[0,[1],1]'
	jq_is '[.command, .result, .exit_code, .releases.after]' '["gc","ok",0,2]'
	jq_is 'has("objects_removed") and has("objects_kept") and has("bytes_freed")' 'true'
}

@test "recover --json lists the operations it settled" {
	json_stack
	lg_ok snapshot
	# an operation whose process died before it changed anything
	run kill_at clone,clone3,vfork 1 stop
	expect_equal "$status" 137
	lg_ok --json recover
	jq_is '[.command, .result, .exit_code, .releases.after]' '["recover","ok",0,1]'
	jq_is '[.recovered[] | .command]' '["stop"]'
	jq_is '.recovered[0].result' '"undone"'
	lg_ok --json recover
	jq_is '.recovered' '[]'
}

@test "a busy lock with --json: exit 75 and one object naming the error" {
	json_stack
	lg_ok snapshot
	# a start that holds the lock until told to go on
	sed -i 's|^    start: \["true"\]$|    start: [sh, -c, "touch ../started; while [ ! -e ../go ]; do sleep 0.05; done"]|' \
		lastgood.yml
	lg_ok stop --services web
	lg start --services web >/dev/null 2>&1 &
	holder=$!
	while [ ! -e ../started ]; do sleep 0.05; done
	run --separate-stderr lg --json snapshot
	busy=$status
	touch ../go
	wait "$holder"
	expect_equal "$busy" 75
	jq_is '[.command, .operation, .result, .exit_code, .error.kind]' \
		'["snapshot",null,"failed",75,"busy"]'
	expect_match "$(jq -r .error.message <<<"$output")" 'start'
	expect_match "$stderr" 'start'
}

@test "a config that does not load, with --json: exit 2 and one object naming the error" {
	json_stack
	lg_ok snapshot
	echo 'services: [' >lastgood.yml
	run --separate-stderr lg --json deploy ../nowhere
	expect_equal "$status" 2
	jq_is '[.command, .operation, .result, .exit_code, .error.kind]' \
		'["deploy",null,"failed",2,"usage"]'
	expect_match "$(jq -r .error.message <<<"$output")" 'lastgood.yml'
	expect_match "$stderr" 'lastgood.yml'
}
