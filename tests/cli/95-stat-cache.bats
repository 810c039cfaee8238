#!/usr/bin/env bats
# The stat cache: a snapshot does not read a file again when its size,
# mtime, ctime, inode and device are those recorded and were older than the
# snapshot that read it; and it never lets a changed file go unrecorded
# (src/core/store/statcache.h).

load helpers

# reads TRACE NAME: how many times the traced lastgood opened NAME to
# read it (the capture opens files O_NOFOLLOW|O_NONBLOCK; nothing else does).
reads() {
	grep -c "\"$2\", O_RDONLY|O_NONBLOCK|O_NOFOLLOW" "$1" || true
}

# traced_snapshot TRACE: `lastgood snapshot` under strace, the openat calls
# of all its threads in TRACE; the release number in $output.
# (LeakSanitizer cannot run under ptrace.)
traced_snapshot() {
	ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" \
		run --separate-stderr strace -f -qq -o "$1" -e trace=openat "$LG" snapshot
	[ "$status" -eq 0 ] || { echo "snapshot failed: $stderr" >&2; return 1; }
}

# settle: let a second pass, so that what was just written is older than
# the next snapshot (the cache trusts only files older than the second in
# which they were read).
settle() { sleep 1.1; }

@test "an unchanged file is not read again" {
	make_stack
	settle
	lg_ok snapshot
	expect_equal "$output" 1
	traced_snapshot "$BATS_TEST_TMPDIR/trace"
	expect_equal "$output" 1
	expect_equal "$(reads "$BATS_TEST_TMPDIR/trace" index.html)" 0
	expect_equal "$(reads "$BATS_TEST_TMPDIR/trace" site.css)" 0
}

@test "a file rewritten in the same second with its size and mtime kept is read and recorded" {
	make_stack
	settle
	lg_ok snapshot
	expect_equal "$output" 1
	# Same length, other bytes, mtime put back: only ctime tells.
	local mtime
	mtime=$(stat -c %y web/index.html)
	printf '<h1>v9</h1>\n' >web/index.html
	touch -d "$mtime" web/index.html
	expect_equal "$(stat -c %y web/index.html)" "$mtime"
	traced_snapshot "$BATS_TEST_TMPDIR/trace"
	expect_equal "$output" 2
	expect_equal "$(reads "$BATS_TEST_TMPDIR/trace" index.html)" 1
	lg_ok --json diff 1 2
	expect_match "$output" 'index.html'
	lg_ok rollback 1
	expect_equal "$(cat web/index.html)" '<h1>v1</h1>'
	lg_ok rollback 2
	expect_equal "$(cat web/index.html)" '<h1>v9</h1>'
	lg_ok fsck
}

@test "a file replaced by another of the same size and mtime is read and recorded" {
	make_stack
	settle
	lg_ok snapshot
	# A new inode with the old file's size and mtime (cp -p keeps mtime).
	printf 'PORT=9000\nLOG_LEVEL=warn\n' >"$BATS_TEST_TMPDIR/api.env"
	touch -r etc/api.env "$BATS_TEST_TMPDIR/api.env"
	chmod 0640 "$BATS_TEST_TMPDIR/api.env"
	[ "$(stat -c %s "$BATS_TEST_TMPDIR/api.env")" -eq "$(stat -c %s etc/api.env)" ]
	mv "$BATS_TEST_TMPDIR/api.env" etc/api.env
	lg_ok snapshot
	expect_equal "$output" 2
	lg_ok rollback 1
	expect_equal "$(cat etc/api.env)" "$(printf 'PORT=8000\nLOG_LEVEL=info')"
	lg_ok rollback 2
	expect_equal "$(cat etc/api.env)" "$(printf 'PORT=9000\nLOG_LEVEL=warn')"
}

@test "racy: a file written in the second its snapshot started is read again next time" {
	# A snapshot under valgrind (make check-valgrind) takes more than the
	# second this needs it to finish in.
	[ -z "${LASTGOOD_VALGRIND:-}" ] || skip "needs a snapshot to take less than a second"
	make_stack
	local tries=0 before after
	# Write and snapshot within one second (retry when the clock turns
	# over in between: then the file is simply not racy). The second is
	# the file's own ctime: the kernel stamps it from a clock that can lag
	# date's by a tick, so a date taken before the write can be a second
	# ahead of the stamp.
	while :; do
		tries=$((tries + 1))
		[ "$tries" -le 10 ] || { echo "could not stay within one second" >&2; return 1; }
		rm -rf .lastgood
		printf 'console.log("racy")\n' >web/static/app.js
		before=$(stat -c %Z web/static/app.js)
		lg_ok snapshot
		after=$(date +%s)
		[ "$before" -ne "$after" ] || break
	done
	# Nothing changed since, but the cache cannot tell that from stat alone.
	traced_snapshot "$BATS_TEST_TMPDIR/trace"
	expect_equal "$output" 1
	expect_equal "$(reads "$BATS_TEST_TMPDIR/trace" app.js)" 1
}

@test "racy: a file whose mtime is not older than the snapshot is read again every time" {
	make_stack
	touch -d "@$(($(date +%s) + 30))" web/static/app.js
	settle
	lg_ok snapshot
	for i in 1 2; do
		traced_snapshot "$BATS_TEST_TMPDIR/trace"
		expect_equal "$output" 1
		expect_equal "$(reads "$BATS_TEST_TMPDIR/trace" app.js)" 1
		expect_equal "$(reads "$BATS_TEST_TMPDIR/trace" site.css)" 0
	done
}

@test "content the store lost: a snapshot trusts the cache, fsck names the loss, the next snapshot reads the file" {
	make_stack
	settle
	lg_ok snapshot
	lose_object web/index.html
	# the store is fsck's to check, not each snapshot's
	traced_snapshot "$BATS_TEST_TMPDIR/trace"
	expect_equal "$(reads "$BATS_TEST_TMPDIR/trace" index.html)" 0
	lg_status 1 fsck
	expect_match "$output" "missing object $(sha web/index.html) \\(.*web/index.html\\) used by release 1"
	traced_snapshot "$BATS_TEST_TMPDIR/trace"
	expect_equal "$output" 1
	expect_equal "$(reads "$BATS_TEST_TMPDIR/trace" index.html)" 1
	expect_equal "$(reads "$BATS_TEST_TMPDIR/trace" site.css)" 0
	lg_ok fsck
}

@test "content the store lost is read again by the record of the live files a rollback makes" {
	make_stack
	lg_ok snapshot
	change_stack
	settle
	lg_ok snapshot
	expect_equal "$output" 2
	lose_object web/index.html
	# release 2 is live and the one this rollback can go back to: it is
	# whole again before anything changes
	lg_ok rollback 1
	expect_equal "$(cat web/index.html)" '<h1>v1</h1>'
	lg_ok fsck
	lg_ok rollback 2
	expect_equal "$(cat web/index.html)" '<h1>v2</h1>'
}

@test "a folder of more entries than a chunk: the changed, new and damaged are read, the rest not" {
	make_stack
	# 600 files: more than one chunk of a folder (256), each inspected on
	# several threads; a link and a folder among them.
	mkdir web/many web/many/sub
	local i
	for i in $(seq -w 1 600); do printf 'file %s\n' "$i" >"web/many/f$i"; done
	echo inner >web/many/sub/inner
	ln -s f001 web/many/link
	settle
	lg_ok snapshot
	expect_equal "$output" 1
	local mtime
	mtime=$(stat -c %y web/many/f300)
	printf 'FILE 300\n' >web/many/f300
	touch -d "$mtime" web/many/f300
	printf 'file 599 v2\n' >web/many/f599
	echo new >web/many/fnew
	rm web/many/f002
	# f450's object damaged (shortened): once fsck has seen it, the cache
	# does not vouch for it.
	local obj
	obj=$(object_path "$(sha web/many/f450)")
	chmod u+w "$obj" "$(dirname "$obj")"
	: >"$obj"
	lg_status 1 fsck
	traced_snapshot "$BATS_TEST_TMPDIR/trace"
	expect_equal "$output" 2
	expect_equal "$(grep -cE '"(f[0-9]{3}|fnew|inner)", O_RDONLY\|O_NONBLOCK\|O_NOFOLLOW' \
		"$BATS_TEST_TMPDIR/trace")" 4
	for i in f300 f599 fnew f450; do
		expect_equal "$(reads "$BATS_TEST_TMPDIR/trace" "$i")" 1
	done
	lg_ok fsck
	lg_ok rollback 1
	expect_equal "$(cat web/many/f300)" 'file 300'
	expect_equal "$(cat web/many/f002)" 'file 002'
	[ ! -e web/many/fnew ]
	lg_ok rollback 2
	expect_equal "$(cat web/many/f300)" 'FILE 300'
	expect_equal "$(cat web/many/f450)" 'file 450'
	expect_equal "$(readlink web/many/link)" f001
	expect_equal "$(cat web/many/sub/inner)" inner
	[ ! -e web/many/f002 ]
	lg_ok --json diff 1 2
	expect_equal "$(echo "$output" | grep -o '"path": "[^"]*"' | sed 's|.*/||' | sort | tr '\n' ' ')" \
		'f002" f300" f599" fnew" '
}

@test "files removed from a tree leave the cache" {
	make_stack
	settle
	lg_ok snapshot
	run sqlite3 .lastgood/state.db "SELECT count(*) FROM stat_cache WHERE path LIKE '%old.html'"
	expect_equal "$output" 1
	rm web/static/old.html
	lg_ok snapshot
	run sqlite3 .lastgood/state.db "SELECT count(*) FROM stat_cache WHERE path LIKE '%old.html'"
	expect_equal "$output" 0
}

# add_pages N: N more files in web/pages, so that web is staged with one
# syncfs rather than an fsync a file.
add_pages() {
	local i
	mkdir -p web/pages
	for i in $(seq 1 "$1"); do
		printf '<p>page %d</p>\n' "$i" >"web/pages/p$i.html"
	done
}

# rollback_slow_sync REF: `lastgood rollback REF` with its syncfs calls held
# 1.1 s, so that every file it stages is older than the second in which
# staging ended (strace's delay injection; no -f: services are untouched).
rollback_slow_sync() {
	ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" \
		run --separate-stderr strace -qq -o /dev/null -e trace=syncfs \
		-e inject=syncfs:delay_exit=1100000 "$LG" rollback "$1"
	[ "$status" -eq 0 ] || { echo "rollback failed: $stderr" >&2; return 1; }
}

# rolled_back_slowly: release 1 (make_stack with 20 pages), release 2
# (change_stack), then release 1 put back by rollback_slow_sync.
rolled_back_slowly() {
	make_stack
	add_pages 20
	lg_ok snapshot
	change_stack
	lg_ok snapshot
	rollback_slow_sync 1
}

@test "files a rollback put in place are not read again by the next snapshot" {
	make_stack
	add_pages 20
	lg_ok snapshot
	change_stack
	printf '<p>page one, v2</p>\n' >web/pages/p1.html
	lg_ok snapshot
	expect_equal "$output" 2
	rollback_slow_sync 1
	traced_snapshot "$BATS_TEST_TMPDIR/trace"
	expect_equal "$output" 1
	expect_equal "$(reads "$BATS_TEST_TMPDIR/trace" index.html)" 0
	expect_equal "$(reads "$BATS_TEST_TMPDIR/trace" p1.html)" 0
	expect_equal "$(reads "$BATS_TEST_TMPDIR/trace" site.css)" 0
	lg_ok fsck
}

@test "a file a rollback put in place, then rewritten with its size and mtime kept, is read and recorded" {
	rolled_back_slowly
	local mtime
	mtime=$(stat -c %y web/index.html)
	printf '<h1>v7</h1>\n' >web/index.html
	touch -d "$mtime" web/index.html
	traced_snapshot "$BATS_TEST_TMPDIR/trace"
	expect_equal "$output" 3
	expect_equal "$(reads "$BATS_TEST_TMPDIR/trace" index.html)" 1
	expect_equal "$(reads "$BATS_TEST_TMPDIR/trace" p2.html)" 0
	lg_ok rollback 1
	expect_equal "$(cat web/index.html)" '<h1>v1</h1>'
	lg_ok rollback 3
	expect_equal "$(cat web/index.html)" '<h1>v7</h1>'
}

@test "a rollback checks the files it swaps out by their stat, without reading them" {
	rolled_back_slowly
	settle
	# The check after the services stop compares the live files with the
	# record by the cache's rows: they must still be the live files', not
	# already those of the files staged (held past a second by the syncfs
	# delay, so that the staged files could have rows of their own).
	ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" \
		run --separate-stderr strace -f -qq -o "$BATS_TEST_TMPDIR/trace" \
		-e trace=openat,syncfs -e inject=syncfs:delay_exit=1100000 "$LG" rollback 2
	[ "$status" -eq 0 ] || { echo "rollback failed: $stderr" >&2; return 1; }
	expect_equal "$(reads "$BATS_TEST_TMPDIR/trace" p2.html)" 0
	expect_equal "$(reads "$BATS_TEST_TMPDIR/trace" site.css)" 0
	lg_ok fsck
}
