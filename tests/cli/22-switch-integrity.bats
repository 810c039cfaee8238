#!/usr/bin/env bats
# The switch cannot be turned against the host or lose the only good copy:
# stages are reached through descriptors and proved by inode, the copies a
# switch swapped out are kept until the verdict, entries a release lacks
# go, and an operation that switched nothing still verifies (issue 15,
# items 1, 2, 4, 5, 6, 7, 10 and 12).

load helpers

# A stack whose `web` service is healthy while web/ok exists; the other
# two never fail. A deploy whose web/ lacks `ok` fails and is rolled back.
make_checked_stack() {
	make_stack
	touch web/ok
	# web is make_stack's last service: its check goes at the end
	cat >>lastgood.yml <<'YML'
    health:
      - exec: [test, -e, web/ok]
policy: {start_timeout: 1s, interval: 50ms, retries: 1, stop_timeout: 1s}
YML
}

# A SOURCE whose web/ has no `ok`: its deploy fails verification.
make_broken_source() {
	mkdir -p "$1/web"
	printf '<h1>broken</h1>\n' >"$1/web/index.html"
}

@test "a stage swapped for a link while lastgood sets its mode: nothing outside is touched, nothing swapped in" {
	make_stack
	mkdir app
	printf '#!/bin/sh\necho v1\n' >app/run.sh
	chmod 0755 app/run.sh
	sed -i 's|files: \[bin/worker\]|files: [bin/worker, app/run.sh]|' lastgood.yml
	lg_ok snapshot
	mkdir -p src/app
	printf '#!/bin/sh\necho v2\n' >src/app/run.sh
	chmod 4755 src/app/run.sh
	printf 'secret\n' >victim
	chmod 0644 victim
	# Hold lastgood at every chown (the stage's among them), and put a link
	# to the victim where the stage was as soon as it appears, as a user
	# who can write app/ could.
	ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" strace -f -qq -o /dev/null \
		-e inject=lchown,fchown,fchownat:delay_exit=500000:when=1+ \
		"$LG" deploy src >deploy.out 2>&1 &
	local pid=$! stage= i
	for i in $(seq 200); do
		stage=$(find app -name '.lastgood-*' -print -quit)
		[ -n "$stage" ] && break
		sleep 0.02
	done
	[ -n "$stage" ]
	mv "$stage" moved-aside
	ln -s "$PWD/victim" "$stage"
	local status=0
	wait "$pid" || status=$?
	expect_equal "$(stat -c %a victim)" 644
	expect_equal "$(cat victim)" secret
	expect_equal "$(cat app/run.sh)" "$(printf '#!/bin/sh\necho v1')"
	[ "$status" -ne 0 ]
	expect_match "$(cat deploy.out)" "is not the (file|stage) lastgood (created|made)"
	# the planted link is not lastgood's: it stays
	[ -L "$stage" ]
}

@test "a parent of a live entry that became a symbolic link is refused at every operation" {
	make_stack
	mkdir www
	printf 'v1\n' >www/site.conf
	sed -i 's|files: \[bin/worker\]|files: [bin/worker, www/site.conf]|' lastgood.yml
	lg_ok snapshot
	printf 'v2\n' >www/site.conf
	lg_ok snapshot
	mkdir victim
	mv www www.real
	ln -s "$PWD/victim" www
	lg_status 2 rollback 1
	expect_match "$stderr" "refusing '.*/www' on the way to live files: it is a symbolic link"
	[ ! -e victim/site.conf ]
	lg_status 2 snapshot
	expect_match "$stderr" "symbolic link"
	expect_equal "$(cat www.real/site.conf)" v2
}

@test "as root, a folder on the way that another user owns is refused before anything changes" {
	[ "$(id -u)" -eq 0 ] || skip "needs root"
	make_stack
	mkdir app
	printf 'v1\n' >app/run.sh
	sed -i 's|files: \[bin/worker\]|files: [bin/worker, app/run.sh]|' lastgood.yml
	lg_ok snapshot
	mkdir -p src/app
	printf 'v2\n' >src/app/run.sh
	chown nobody app
	lg_status 2 deploy src
	expect_match "$stderr" "refusing folder '.*/app' on the way to live files: owned by uid"
	expect_equal "$(cat app/run.sh)" v1
	expect_equal "$(leftovers)" ""
}

@test "a failed deploy goes back by swapping the old files in, even when the store lost them" {
	make_checked_stack
	lg_ok snapshot
	before=$(tree_sum)
	# Damage the store's copy of the live web/index.html, keeping its size:
	# the kept copy is then the only good one.
	obj=$(object_path "$(sha web/index.html)")
	chmod u+w "$obj" "$(dirname "$obj")"
	printf '%s' "$(head -c "$(stat -c %s web/index.html)" /dev/zero | tr '\0' x)" >"$obj"
	make_broken_source src
	lg_status 3 deploy src
	expect_match "$stderr" "rolled back to release 1"
	expect_equal "$(tree_sum)" "$before"
	expect_equal "$(leftovers)" ""
	lg_ok recover
}

@test "an edit made while the services stop is not swapped away: the switch stops and says so" {
	make_stack
	# The api's stop command edits a live file of the api, as an operator
	# could while a slow service takes its stop_timeout.
	sed -i '0,/stop: \["true"\]/s//stop: [sh, -c, "echo EDITED=1 >etc\/api.env"]/' lastgood.yml
	lg_ok snapshot
	mkdir -p src/etc src/bin
	printf 'PORT=9000\n' >src/etc/api.env
	printf '#!/bin/sh\necho api v3\n' >src/bin/api
	lg_status 1 deploy src
	expect_match "$stderr" "etc/api.env' changed after it was recorded as part of release 1, while the services were stopping"
	expect_equal "$(cat etc/api.env)" "EDITED=1"
	expect_equal "$(cat bin/api)" "$(printf '#!/bin/sh\necho api v1')"
	expect_equal "$(leftovers)" ""
	# the edit is recorded by the next operation
	sed -i 's/stop: \[sh, -c, "echo EDITED=1 >etc\/api.env"\]/stop: ["true"]/' lastgood.yml
	lg_ok snapshot
	edited=$output
	lg_ok rollback 1
	expect_equal "$(cat etc/api.env)" "$(printf 'PORT=8000\nLOG_LEVEL=info')"
	lg_ok rollback "$edited"
	expect_equal "$(cat etc/api.env)" "EDITED=1"
}

@test "a user's folder named like a stage is neither in the way nor removed" {
	make_stack
	lg_ok snapshot
	printf 'PORT=9\n' >etc/api.env
	lg_ok snapshot
	# the names the rollback (operation 3) would have used before
	mkdir -p etc/.lastgood-3-1 etc/.lastgood-3-2
	printf 'mine\n' >etc/.lastgood-3-1/notes
	lg_ok rollback 1
	expect_equal "$(cat etc/.lastgood-3-1/notes)" mine
	[ -d etc/.lastgood-3-2 ]
	expect_equal "$(cat etc/api.env)" "$(printf 'PORT=8000\nLOG_LEVEL=info')"
}

@test "two stacks with files in one folder switch at the same time without colliding" {
	mkdir shared a b
	printf 'a1\n' >shared/a.conf
	printf 'b1\n' >shared/b.conf
	for s in a b; do
		cat >"$s/lastgood.yml" <<YML
services:
  $s:
    manager: command
    start: ["true"]
    stop: ["true"]
    files: [$PWD/shared/$s.conf]
YML
		mkdir -p "$s/src$PWD/shared"
		printf '%s2\n' "$s" >"$s/src$PWD/shared/$s.conf"
		(cd "$s" && "$LG" -q snapshot >/dev/null)
	done
	# a is held between staging and swapping while b switches.
	(cd a && ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" strace -qq -o /dev/null \
		-e inject=renameat2:delay_enter=2000000:when=1 "$LG" -q deploy src >../a.out 2>&1) &
	local pid=$! i
	for i in $(seq 200); do
		[ -n "$(find shared -name '.lastgood-*' -print -quit)" ] && break
		sleep 0.02
	done
	(cd b && lg_ok deploy src)
	wait "$pid"
	expect_equal "$(cat shared/a.conf)" a2
	expect_equal "$(cat shared/b.conf)" b2
	expect_equal "$(leftovers shared)" ""
}

@test "a rollback to a release that lacked an entry removes it, and so does the way back from a failed deploy" {
	make_checked_stack
	sed -i 's|files: \[bin/worker\]|files: [bin/worker, plugins/extra.conf]|' lastgood.yml
	lg_ok check
	lg_ok snapshot
	# release 2 brings plugins/extra.conf and fails: it must go with it
	make_broken_source src
	mkdir -p src/plugins
	printf 'extra\n' >src/plugins/extra.conf
	lg_status 3 deploy src
	[ ! -e plugins/extra.conf ]
	expect_equal "$(leftovers)" ""
	# deployed for good, then rolled back: gone again
	touch src/web/ok
	lg_ok deploy src
	expect_equal "$(cat plugins/extra.conf)" extra
	lg_ok rollback 1
	[ ! -e plugins/extra.conf ]
	lg_ok --json status
	expect_equal "$(jq -r .live_release <<<"$output")" 1
	expect_equal "$(leftovers)" ""
}

@test "a deploy killed after its switch is undone by recover, entries it added included" {
	make_checked_stack
	sed -i 's|files: \[bin/worker\]|files: [bin/worker, plugins/extra.conf]|' lastgood.yml
	lg_ok snapshot
	before=$(tree_sum)
	mkdir -p src/plugins src/web
	printf 'extra\n' >src/plugins/extra.conf
	printf '<h1>v2</h1>\n' >src/web/index.html
	# web's start command kills lastgood: the switch is committed, nothing
	# is verified.
	awk 'BEGIN{n=0} /start: \["true"\]/{n++; if(n==3){print "    start: [sh, -c, \"kill -9 $PPID\"]"; next}} {print}' \
		lastgood.yml >lastgood.yml.new && mv lastgood.yml.new lastgood.yml
	run "$LG" -q deploy src
	[ "$status" -eq 137 ] || [ "$status" -gt 128 ]
	[ -e plugins/extra.conf ]
	sed -i 's|start: \[sh, -c, "kill -9 $PPID"\]|start: ["true"]|' lastgood.yml
	lg_ok recover
	[ ! -e plugins/extra.conf ]
	expect_equal "$(tree_sum)" "$before"
	expect_equal "$(leftovers)" ""
	lg_ok --json status
	expect_equal "$(jq -r .live_release <<<"$output")" 1
}

@test "a rollback to the release already live still verifies, and says when it fails" {
	make_checked_stack
	lg_ok snapshot
	rm web/ok
	lg_ok snapshot
	lg_status 4 rollback 2
	expect_no_match "$stderr" "live and healthy"
	expect_match "$stderr" "web"
	touch web/ok
	lg_ok snapshot
	local fixed=$output
	lg_ok rollback "$fixed"
	expect_match "$stderr" "release $fixed is live and healthy \(0 entries switched"
}

@test "a deploy of the content already live still verifies" {
	make_checked_stack
	lg_ok snapshot
	rm web/ok
	mkdir -p src/bin
	cp -p bin/api src/bin/api
	lg_status 1 deploy src
	expect_match "$stderr" "failing verification: nothing was switched"
}

@test "a rollback leaves alone the entries of the release that the config no longer lists" {
	make_stack
	lg_ok snapshot
	printf 'worker v2\n' >bin/worker
	sed -i 's|files: \[bin/worker\]|files: []|' lastgood.yml
	printf '<h1>v2</h1>\n' >web/index.html
	lg_ok rollback 1
	expect_match "$stderr" "left alone, not in the config: '.*/bin/worker'"
	expect_equal "$(cat bin/worker)" "worker v2"
	expect_equal "$(cat web/index.html)" "<h1>v1</h1>"
}

@test "a tree nested deeper than PATH_MAX deploys, rolls back and recovers" {
	make_stack
	name=$(printf 'd%.0s' $(seq 200))
	(
		cd web
		for i in $(seq 25); do mkdir "$name" && cd "$name"; done
		printf 'deep v1\n' >deep.txt
	)
	lg_ok snapshot
	mkdir -p src/web
	printf '<h1>v2</h1>\n' >src/web/index.html
	lg_ok deploy src
	lg_ok rollback 1
	lg_ok recover
	expect_equal "$(cd web && for i in $(seq 25); do cd "$name"; done && cat deep.txt)" "deep v1"
	expect_equal "$(leftovers)" ""
}
