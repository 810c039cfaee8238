#!/usr/bin/env bats
# Secrets stay secret: one unique token, seeded into every kind of config
# value that carries credentials (a secret env entry, a health URL's
# password and query, a basic-auth password, an Authorization header),
# appears nowhere in what a whole session prints, nor in anything lastgood
# writes to its state folder, except the content store (which holds the
# live files' own bytes).

load helpers
load helpers-services

setup() {
	services_setup || return 1
	TOKEN=S3cr3t-$RANDOM$RANDOM-$$-tok
	OUT=$BATS_TEST_TMPDIR/session.out
	: >"$OUT"
	AUTH_PID=
}

teardown() {
	if [ -n "$AUTH_PID" ]; then
		kill "$AUTH_PID" 2>/dev/null || true
		wait "$AUTH_PID" 2>/dev/null || true
	fi
	services_teardown
}

# secret_config PORT: lastgood.yml for one test service on PORT whose
# checks carry TOKEN every way a check can. The demo service answers only
# its own paths, so /health with a query gets 404, which that check expects:
# what matters here is that its URL is shown.
secret_config() {
	local port=$1
	config_head
	cat <<-YML
	  api:
	    manager: process
	    run: [bin/api, --port, "$port", --config, etc/api.conf]
	    files: [bin/api, etc/api.conf]
	    env:
	      API_MODE: production
	      API_TOKEN: {value: "$TOKEN", secret: true}
	    health:
	      - http: http://ops:$TOKEN@127.0.0.1:$port/health
	        json: {status: healthy}
	      - http: http://127.0.0.1:$port/health
	        username: ops
	        password: "$TOKEN"
	        headers: {Authorization: "Bearer $TOKEN"}
	      - http: http://127.0.0.1:$port/health?token=$TOKEN&verbose
	        status: 404
	YML
}

# session STATUS ARGS...: run lastgood ARGS with its stdout and stderr
# appended to OUT; require exit STATUS.
session() {
	local want=$1 rc=0
	shift
	echo "\$ lastgood $*" >>"$OUT"
	"$LG" "$@" >>"$OUT" 2>&1 || rc=$?
	if [ "$rc" -ne "$want" ]; then
		printf 'lastgood %s: expected exit %s, got %s\n' "$*" "$want" "$rc" >&2
		tail -n 20 "$OUT" >&2
		return 1
	fi
}

# expect_no_token WHAT FILE: FILE does not hold TOKEN anywhere.
expect_no_token() {
	if grep -aqF -- "$TOKEN" "$2"; then
		echo "the token leaked into $1:" >&2
		grep -anF -- "$TOKEN" "$2" | head -n 5 >&2
		return 1
	fi
}

@test "a whole session never prints or records a secret" {
	take_port API_PORT
	add_service api
	secret_config "$API_PORT" >lastgood.yml
	make_conf_source ../v2 api VERSION=2 MODE=unhealthy

	session 0 check
	session 0 --json check
	session 0 -v snapshot --label v1 --reason "first release"
	session 0 -v start
	# the secret reached the service: the test is not vacuous
	pid=$(service_pid api)
	tr '\0' '\n' <"/proc/$pid/environ" | grep -qxF "API_TOKEN=$TOKEN"
	session 0 verify
	session 0 --json verify
	session 0 status
	session 0 --json status
	session 3 -v deploy ../v2 --label v2 --reason "a broken release"
	session 0 releases
	session 0 --json releases
	session 0 diff 1 2
	session 0 -v restart --reason "a fresh start"
	session 0 history
	session 0 --json history
	ops=$(lg --json history | jq -r '.[].id')
	[ -n "$ops" ]
	for op in $ops; do
		session 0 show "$op"
		session 0 --json show "$op"
	done
	session 0 -v stop
	# every check fails now, each showing its URL and error
	session 1 verify
	session 1 --json verify
	session 0 status
	session 0 fsck

	# the URLs were shown, masked
	expect_match "$(cat "$OUT")" "http://ops:\\*\\*\\*@127\\.0\\.0\\.1:$API_PORT/health"
	expect_match "$(cat "$OUT")" "/health\\?token=\\*\\*\\*&\\*\\*\\*"
	expect_match "$(cat "$OUT")" '503'
	expect_no_token "the output" "$OUT"

	# the state folder: the database (dumped, and its files as they are),
	# the lock, the service logs, scratch space; not the content store
	sqlite3 .lastgood/state.db .dump >"$BATS_TEST_TMPDIR/state.sql"
	expect_match "$(cat "$BATS_TEST_TMPDIR/state.sql")" 'a broken release'
	expect_match "$(cat "$BATS_TEST_TMPDIR/state.sql")" "GET http://ops:\\*\\*\\*@127\\.0\\.0\\.1:$API_PORT/health -> 503"
	expect_no_token "state.db" "$BATS_TEST_TMPDIR/state.sql"
	scanned=0
	while IFS= read -r -d '' file; do
		expect_no_token "$file" "$file"
		scanned=$((scanned + 1))
	done < <(find .lastgood -path .lastgood/objects -prune -o -type f -print0)
	[ -e .lastgood/lock ] && [ -e .lastgood/logs/api.log ]
	[ "$scanned" -ge 3 ]
}

# echoing_job_session: a command service whose start, stop and status
# programs echo its secret env entry (TOKEN) and fail, and a session of
# every command that shows or records what they said; then nothing may
# hold TOKEN, though the lines were shown, masked.
echoing_job_session() {
	cat >lastgood.yml <<-YML
	services:
	  job:
	    manager: command
	    start: [sh, -c, 'echo "token is \$JOB_TOKEN" >&2; exit 3']
	    stop: [sh, -c, 'echo "still \$JOB_TOKEN"; exit 4']
	    status: [sh, -c, 'echo "down, token \$JOB_TOKEN"; exit 1']
	    env:
	      JOB_TOKEN: {value: "$TOKEN", secret: true}
	YML
	session 0 snapshot
	session 1 start
	session 1 --json start
	session 1 stop
	session 0 status
	session 0 --json status
	session 0 history
	session 0 --json history
	for op in $(lg --json history | jq -r '.[].id'); do
		session 0 show "$op"
		session 0 --json show "$op"
	done
	# the last lines were shown, masked: the test is not vacuous
	expect_match "$(cat "$OUT")" "exited with status 3: token is \\*\\*\\*"
	expect_match "$(cat "$OUT")" "exited with status 4: still \\*\\*\\*"
	expect_match "$(cat "$OUT")" "down, token \\*\\*\\*"
	expect_no_token "the output" "$OUT"
	sqlite3 .lastgood/state.db .dump >"$BATS_TEST_TMPDIR/state.sql"
	expect_match "$(cat "$BATS_TEST_TMPDIR/state.sql")" "token is \\*\\*\\*"
	expect_no_token "state.db" "$BATS_TEST_TMPDIR/state.sql"
	while IFS= read -r -d '' file; do
		expect_no_token "$file" "$file"
	done < <(find .lastgood -path .lastgood/objects -prune -o -type f -print0)
}

@test "a command service that echoes its secret env and fails: the error shows its output masked" {
	echoing_job_session
}

@test "a secret shorter than six characters is masked too, wherever it stands alone" {
	# a five-character PIN: letters in it, so that no pid, time or digest
	# can hold it by chance
	TOKEN=Qz7k9
	echoing_job_session
}

@test "config errors name the key and mask URLs, never quoting a secret" {
	printf 'services:\n  api:\n    run: [bin/api]\n    health:\n      - http: ftp://ops:%s@h/x?token=%s\n' \
		"$TOKEN" "$TOKEN" >url.yml
	lg_status 2 -c url.yml check
	expect_match "$stderr" "not 'ftp://ops:\\*\\*\\*@h/x\\?token=\\*\\*\\*'"

	printf 'services:\n  api:\n    run: [bin/api]\n    env:\n      API_TOKEN: {value: x, secret: %s}\n' \
		"$TOKEN" >flag.yml
	lg_status 2 -c flag.yml check
	expect_match "$stderr" "'secret' in 'API_TOKEN' in 'env' in service 'api' must be true or false"

	printf 'services:\n  api:\n    run: [bin/api]\n    env:\n      API_TOKEN: {value: [%s], secret: true}\n' \
		"$TOKEN" >value.yml
	lg_status 2 -c value.yml check
	expect_match "$stderr" "'value' in 'API_TOKEN' in 'env' in service 'api' must be a string"

	printf 'services:\n  api:\n    run: [bin/api]\n    health:\n      - http: http://h/\n        password: %s\n' \
		"$TOKEN" >password.yml
	lg_status 2 -c password.yml check
	expect_match "$stderr" "'password' in health check 1 of service 'api' needs 'username'"

	for file in url flag value password; do
		run --separate-stderr "$LG" -c "$file.yml" check
		printf '%s\n%s\n' "$output" "$stderr" >>"$OUT"
	done
	expect_no_token "config errors" "$OUT"
}

# basic_auth_server PORT LOG: a one-line-per-request HTTP server on
# 127.0.0.1:PORT that records every request's head in LOG and answers
# {"status":"healthy"}, standing in for a service behind basic auth.
basic_auth_server() {
	perl -MIO::Socket::INET -e '
		my ($port, $log) = @ARGV;
		my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => $port,
					      Listen => 8, ReuseAddr => 1) or die "listen: $!";
		open(my $out, ">>", $log) or die "$log: $!";
		$out->autoflush(1);
		while (my $c = $s->accept) {
			my $head = "";
			while (defined(my $line = <$c>)) { $head .= $line; last if $line eq "\r\n"; }
			print $out $head;
			my $body = "{\"status\":\"healthy\"}\n";
			print $c "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n",
				"Content-Length: ", length($body), "\r\nConnection: close\r\n\r\n", $body;
			close $c;
		}' "$1" "$2" </dev/null >/dev/null 2>"$BATS_TEST_TMPDIR/auth-server.log" &
	AUTH_PID=$!
}

@test "basic auth and URL credentials reach the server, and only the server" {
	take_port AUTH_PORT
	requests=$BATS_TEST_TMPDIR/requests
	basic_auth_server "$AUTH_PORT" "$requests"
	wait_until 50 bash -c "exec 3<>/dev/tcp/127.0.0.1/$AUTH_PORT"
	cat >lastgood.yml <<-YML
	services:
	  api:
	    manager: command
	    start: ["true"]
	    stop: ["true"]
	    health:
	      - http: http://127.0.0.1:$AUTH_PORT/health
	        username: ops
	        password: "$TOKEN"
	      - http: http://url-user:$TOKEN@127.0.0.1:$AUTH_PORT/health
	        json: {status: healthy}
	YML
	lg_ok verify
	expect_match "$output" "ok +api +GET http://127\\.0\\.0\\.1:$AUTH_PORT/health -> 200"
	expect_match "$output" "GET http://url-user:\\*\\*\\*@127\\.0\\.0\\.1:$AUTH_PORT/health -> 200"
	printf '%s\n%s\n' "$output" "$stderr" >"$OUT"
	expect_no_token "verify" "$OUT"

	for user in ops url-user; do
		grep -qF "Authorization: Basic $(printf '%s:%s' "$user" "$TOKEN" | base64 -w 0)" "$requests" ||
			{ echo "no basic auth for '$user' in:" >&2; cat "$requests" >&2; return 1; }
	done
}
