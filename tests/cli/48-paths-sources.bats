#!/usr/bin/env bats
# Where live files may be and what a SOURCE may bring: entries judged on
# their resolved paths, no link or untrusted folder on the way to one, the
# config file never an entry; links in a deployed entry that leave it; a
# SOURCE holding none of the entries, and --strip-components; whose owners
# a deployed file gets.

load helpers

# two_services FILES_A FILES_B: a config with services a and b listing the
# given `files` lists (YAML flow sequences).
two_services() {
	cat >lastgood.yml <<YML
services:
  a:
    manager: command
    start: ["true"]
    stop: ["true"]
    files: $1
  b:
    manager: command
    start: ["true"]
    stop: ["true"]
    files: $2
YML
}

# refused_unchanged ARGS...: lastgood ARGS exits 2 and the live files and
# the number of releases are what they were.
refused_unchanged() {
	local files releases
	files=$(tree_sum)
	releases=$(sqlite3 .lastgood/state.db 'SELECT count(*) FROM releases')
	lg_status 2 "$@"
	expect_equal "$(tree_sum)" "$files"
	expect_equal "$(sqlite3 .lastgood/state.db 'SELECT count(*) FROM releases')" "$releases"
}

@test "two entries that are one file through a symbolic link are refused" {
	mkdir real
	echo one >real/b
	ln -s real realsym
	two_services '[real/b]' '[realsym/b]'
	lg_status 2 check
	expect_equal "$stderr" "lastgood: lastgood.yml:11:13: file 'realsym/b' of service 'b' is also 'real/b' of service 'a' (line 6)"
	lg_status 2 snapshot
	expect_match "$stderr" "'realsym/b' of service 'b' is also 'real/b'"
	[ ! -e .lastgood/state.db ] || expect_equal "$(sqlite3 .lastgood/state.db 'SELECT count(*) FROM releases')" 0
	# a folder entry that holds the other through the link
	two_services '[real]' '[realsym/b]'
	lg_status 2 check
	expect_match "$stderr" "file 'realsym/b' of service 'b' is inside 'real' of service 'a'"
}

@test "a symbolic link on the way to a live entry is refused at check and at rollback" {
	two_services '[www/site.conf]' '[]'
	mkdir www ../victim
	echo v1 >www/site.conf
	lg_ok snapshot
	mv www www.real
	ln -s ../victim www
	lg_status 2 check
	expect_equal "$stderr" "lastgood: lastgood.yml:6:13: file 'www/site.conf' of service 'a': refusing '$HOST/www' on the way to live files: it is a symbolic link"
	lg_status 2 rollback 1
	expect_match "$stderr" "refusing '$HOST/www' on the way to live files: it is a symbolic link"
	lg_status 2 snapshot
	lg_status 2 deploy www.real
	expect_equal "$(ls -A ../victim)" ""
	# reading the record still works
	lg_ok status
	lg_ok history
}

@test "as root, a folder on the way that another user owns or can write is refused" {
	[ "$(id -u)" -eq 0 ] || skip "needs root"
	make_stack
	lg_ok snapshot
	chown nobody bin
	lg_status 2 check
	expect_equal "$stderr" "lastgood: lastgood.yml:8:13: file 'bin/api' of service 'api': refusing folder '$HOST/bin' on the way to live files: owned by uid $(id -u nobody), who could replace what lastgood writes there as root"
	lg_status 2 rollback 1
	expect_match "$stderr" "file 'bin/api' of service 'api': refusing folder '$HOST/bin'"
	chown root bin
	# an entry's own folder is the entry: only the folders above it count
	chown nobody web
	lg_ok check
	chown root web
	chmod 0777 etc
	make_source ../dist
	refused_unchanged deploy ../dist
	expect_match "$stderr" "refusing folder '$HOST/etc' on the way to live files: writable by every user \(mode 0777\)"
	chmod 1777 etc   # sticky: others cannot swap what is not theirs
	lg_ok check
}

@test "the config file is never a live entry, named directly or through a link" {
	make_stack
	two_services '[bin/api, lastgood.yml]' '[]'
	lg_status 2 check
	expect_equal "$stderr" "lastgood: lastgood.yml:6:22: file 'lastgood.yml' of service 'a' is the config file 'lastgood.yml' (lastgood records the config with each release itself)"
	# the config is a link into a folder that is an entry
	two_services '[conf]' '[]'
	mkdir conf
	mv lastgood.yml conf/stack.yml
	ln -s conf/stack.yml lastgood.yml
	lg_status 2 check
	expect_match "$stderr" "file 'conf' of service 'a' holds the config file 'lastgood.yml'"
	lg_status 2 snapshot
}

# make_tarball NAME DIR ENTRIES...: ../t/NAME from ENTRIES below DIR.
make_tarball() {
	local name=$1 dir=$2
	shift 2
	mkdir -p ../t
	tar -cf "../t/$name" -C "$dir" "$@"
}

@test "a link in a deployed tarball that leaves its entry is refused, naming entry and target" {
	make_stack
	lg_ok snapshot
	make_source ../src
	local target n=0
	for target in ../lastgood.yml ../.lastgood ../bin/api; do
		n=$((n + 1))
		rm -f ../src/web/cfg
		ln -s "$target" ../src/web/cfg
		make_tarball "leave$n.tar" ../src bin web
		refused_unchanged deploy "../t/leave$n.tar"
		expect_equal "$stderr" "lastgood: '../t/leave$n.tar': refusing symbolic link 'web/cfg' to '$target': it leads out of file 'web' of service 'web'"
	done
	# from a folder deeper in the entry, ".." may climb as far as its root
	rm ../src/web/cfg
	mkdir -p ../src/web/a/b
	ln -s ../../../lastgood.yml ../src/web/a/b/cfg
	make_tarball deep.tar ../src web
	refused_unchanged deploy ../t/deep.tar
	expect_match "$stderr" "refusing symbolic link 'web/a/b/cfg' to '../../../lastgood.yml'"
	# an entry that is itself a link leaves itself whatever it names
	rm -r ../src/web/a ../src/bin/api
	ln -s api-v3 ../src/bin/api
	make_tarball entry.tar ../src bin
	refused_unchanged deploy ../t/entry.tar
	expect_match "$stderr" "refusing symbolic link 'bin/api' to 'api-v3': it leads out of file 'bin/api' of service 'api'"
}

@test "under an absolute entry, a link climbing out to /etc/shadow is refused" {
	local app=$BATS_TEST_TMPDIR/abs/app up=
	mkdir -p "$app"
	echo v1 >"$app/index.html"
	two_services "[$app]" '[]'
	lg_ok snapshot
	mkdir -p "../src$app"
	echo v2 >"../src$app/index.html"
	# from app/, one ".." per folder above it: the tarball's root, live "/"
	local _
	for _ in ${app//\// }; do
		up=../$up
	done
	ln -s "${up}etc/shadow" "../src$app/shadow"
	make_tarball abs.tar ../src "${app#/}"
	lg_status 2 deploy ../t/abs.tar
	expect_match "$stderr" "refusing symbolic link '$app/shadow' to '${up}etc/shadow': it leads out of file '$app' of service 'a'"
	[ ! -e "$app/shadow" ]
	expect_equal "$(cat "$app/index.html")" v1
}

@test "a folder SOURCE is judged the same way; links inside their entry deploy" {
	make_stack
	lg_ok snapshot
	make_source ../src
	ln -s ../lastgood.yml ../src/web/cfg
	refused_unchanged deploy ../src
	expect_equal "$stderr" "lastgood: '../src': refusing symbolic link 'web/cfg' to '../lastgood.yml': it leads out of file 'web' of service 'web'"
	rm ../src/web/cfg
	ln -s /etc/passwd ../src/web/passwd
	refused_unchanged deploy ../src
	expect_match "$stderr" "refusing symbolic link 'web/passwd' to '/etc/passwd'"
	rm ../src/web/passwd
	# inside the entry: climbing no higher than its root, or absolute into it
	mkdir ../src/web/sub
	ln -s ../static/app.js ../src/web/sub/app.js
	ln -s "$HOST/web/index.html" ../src/web/home.html
	lg_ok deploy ../src
	expect_equal "$(readlink web/sub/app.js)" ../static/app.js
	expect_equal "$(cat web/home.html)" '<h1>v3</h1>'
}

@test "live links that leave their entry are recorded and rolled back to, never deployed" {
	make_stack
	ln -s ../bin/api web/api-link
	lg_ok snapshot
	rm web/api-link
	lg_ok snapshot
	lg_ok rollback 1
	expect_equal "$(readlink web/api-link)" ../bin/api
	make_source ../src
	ln -s ../bin/api ../src/web/api-link
	refused_unchanged deploy ../src
	expect_match "$stderr" "refusing symbolic link 'web/api-link' to '../bin/api'"
}

# nested_tarball NAME: ../t/NAME holding the make_source tree below a single
# top folder, myapp-2.0/, as `tar czf v2.tar.gz -C t myapp-2.0` makes it.
nested_tarball() {
	make_source ../t/myapp-2.0
	tar -czf "../t/$1" -C ../t myapp-2.0
}

@test "a tarball whose files sit under one top folder is refused, suggesting --strip-components" {
	make_stack
	lg_ok snapshot
	nested_tarball v2.tar.gz
	refused_unchanged deploy ../t/v2.tar.gz --label v2 --commit abcdef1
	expect_equal "$stderr" "lastgood: '../t/v2.tar.gz' holds none of the files the config lists (it holds 'myapp-2.0/'); to deploy the files inside its single folder, add --strip-components 1"
	lg_ok --json releases
	expect_equal "$(jq '[.[] | select(.label == "v2")] | length' <<<"$output")" 0
	# a selection is judged on its own entries
	refused_unchanged deploy ../t/v2.tar.gz --services worker
	expect_match "$stderr" "holds none of the files the config lists for the services deployed"
}

@test "a source holding other names lists a few of them" {
	make_stack
	lg_ok snapshot
	mkdir -p ../other/docs ../other/src
	touch ../other/README ../other/a ../other/b ../other/c ../other/d
	refused_unchanged deploy ../other
	expect_equal "$stderr" "lastgood: '../other' holds none of the files the config lists (it holds 'README', 'a', 'b', 'c', 'd' and 2 more)"
	mkdir ../empty
	refused_unchanged deploy ../empty
	expect_match "$stderr" "(it holds nothing)"
}

@test "--strip-components deploys a tarball's files from below its top folder" {
	make_stack
	lg_ok snapshot
	nested_tarball v2.tar.gz
	lg_ok deploy ../t/v2.tar.gz --strip-components 1 --label v2 --commit abcdef1
	expect_equal "$(cat web/index.html)" '<h1>v3</h1>'
	expect_equal "$(cat bin/api)" "$(printf '#!/bin/sh\necho api v3')"
	expect_equal "$(readlink web/current.js)" static/app.js
	lg_ok --json status
	expect_equal "$(jq -r .live_release <<<"$output")" 2
	# a link is judged where it lands: inside the tarball before, out of
	# its entry once stripped
	ln -s ../../lastgood.yml ../t/myapp-2.0/web/cfg
	tar -cf ../t/link.tar -C ../t myapp-2.0
	refused_unchanged deploy ../t/link.tar --strip-components 1
	expect_match "$stderr" "refusing symbolic link 'web/cfg' to '../../lastgood.yml'"
	# stripping never launders a '..' away
	tar -cPf ../t/dotdot.tar -C ../t --transform 's,^myapp-2.0,../myapp-2.0,' myapp-2.0/bin/api
	refused_unchanged deploy ../t/dotdot.tar --strip-components 1
	expect_match "$stderr" "refusing entry '../myapp-2.0/bin/api'"
	local bad
	for bad in x -1 99999999999999999999; do
		lg_status 2 deploy ../t/v2.tar.gz --strip-components "$bad"
		expect_match "$stderr" "usage: lastgood deploy"
	done
}

@test "--strip-components on a folder SOURCE takes the files from its single folder" {
	make_stack
	lg_ok snapshot
	make_source ../rel/app-3/dist
	lg_ok deploy ../rel --strip-components 2
	expect_equal "$(cat web/index.html)" '<h1>v3</h1>'
	touch ../rel/app-3/NOTES
	refused_unchanged deploy ../rel --strip-components 2
	expect_equal "$stderr" "lastgood: '../rel': cannot take 2 leading folders off: '../rel/app-3' holds 'NOTES', 'dist/', not a single folder"
}

@test "a folder SOURCE keeps its owners; a tarball's files take the live owners" {
	[ "$(id -u)" -eq 0 ] || skip "needs root"
	make_stack
	lg_ok snapshot
	make_source ../src
	chown -R 1234:1234 ../src
	lg_ok deploy ../src
	expect_equal "$(stat -c %u:%g bin/api web/index.html)" "$(printf '1234:1234\n1234:1234')"
	lg_ok rollback 1
	expect_equal "$(stat -c %u:%g bin/api)" 0:0
	tar -cf ../src.tar -C ../src bin web
	expect_match "$(tar -tvf ../src.tar bin/api)" '1234/1234'
	lg_ok deploy ../src.tar
	expect_equal "$(stat -c %u:%g bin/api web/index.html)" "$(printf '0:0\n0:0')"
}
