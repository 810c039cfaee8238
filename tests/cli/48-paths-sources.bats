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
