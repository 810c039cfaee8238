#!/usr/bin/env bats
# Fidelity: a round trip (snapshot A, deploy B, rollback A) gives back
# exactly what was there: mtimes, hard links within an entry, extended
# attributes, ACLs, capabilities, and sparse files as sparse; a file
# rewritten while a snapshot reads it is never stored as a mix of two
# versions; a mount point inside a `files` entry is refused.

load helpers

# meta_listing: every node of make_stack's entries with its type, mode,
# owner, size and mtime to the nanosecond (and a link's target), then
# every extended attribute (ACLs and capabilities included) and every ACL.
# (bin/ and etc/ are not entries: a switch stages beside their files.)
meta_listing() {
	local entries=(bin/api bin/worker etc/api.env web)
	find "${entries[@]}" -printf '%p %y %m %U:%G %s %T@ %l\n' | LC_ALL=C sort
	getfattr -R -h -d -m - -e hex "${entries[@]}" 2>/dev/null
	getfacl -R -p -n "${entries[@]}" 2>/dev/null
}

# the digest of release N's manifest, and its text
manifest_of() {
	local digest
	digest=$(sqlite3 .lastgood/state.db "SELECT digest FROM releases WHERE id = $1")
	cat "$(object_path "$digest")"
}

@test "a round trip gives back mtimes, hard links, attributes, ACLs and capabilities exactly" {
	make_stack
	ln web/index.html web/static/index-again.html
	ln bin/worker web/worker-too
	# names whose order differs between a sorted list ("a-c/" first) and
	# a walk of the tree ("a/" first)
	mkdir web/a web/a-c
	printf 'linked\n' >web/a-c/one
	ln web/a-c/one web/a/two
	setfattr -n user.origin -v build-7 web/index.html
	setfattr -n trusted.note -v root-only web/static/app.js
	setfattr -h -n trusted.link -v kept web/current.js
	setcap cap_net_bind_service+ep bin/api
	chmod 0640 web/static/css/site.css
	setfacl -m u:nobody:rwx,m::rwx web/static/css/site.css
	setfacl -d -m u:nobody:rx web/static
	touch -d '2001-02-03 04:05:06.123456789' bin/api web/index.html web/static/app.js
	touch -h -d '2002-03-04 05:06:07.987654321' web/current.js
	touch -d '2003-04-05 06:07:08.5' web/static/css web/static web/empty web
	local before
	before=$(meta_listing)
	lg_ok snapshot
	make_source src
	lg_ok deploy src
	[ "$(meta_listing)" != "$before" ]
	lg_ok rollback 1
	expect_equal "$(meta_listing)" "$before"
	# two names of one file in an entry are one file again; across
	# entries they are copies
	expect_equal "$(stat -c %i web/static/index-again.html)" "$(stat -c %i web/index.html)"
	expect_equal "$(stat -c %h web/index.html)" 2
	expect_equal "$(stat -c %i web/a/two)" "$(stat -c %i web/a-c/one)"
	[ "$(stat -c %i web/worker-too)" != "$(stat -c %i bin/worker)" ]
	expect_match "$(getcap bin/api)" 'cap_net_bind_service=ep'
	# the mask is rwx and the group entry what it was, not rwx
	expect_match "$(getfacl -p web/static/css/site.css)" '^group::r--$'
	expect_match "$(getfacl -p web/static/css/site.css)" '^mask::rwx$'
	lg_ok snapshot
	expect_equal "$output" 1
}

@test "snapshot records a change of mtime, attribute, ACL or hard link as a new release" {
	make_stack
	cp -p web/index.html web/copy.html
	lg_ok snapshot
	expect_equal "$output" 1
	touch -d '2001-01-01 00:00:00.000000001' web/index.html
	lg_ok snapshot
	expect_equal "$output" 2
	setfattr -n user.flag -v 1 etc/api.env
	lg_ok snapshot
	expect_equal "$output" 3
	setfacl -m u:nobody:r etc/api.env
	lg_ok snapshot
	expect_equal "$output" 4
	# the same bytes, mode and mtime, now one file with two names (the
	# folder's mtime put back)
	local folder
	folder=$(stat -c %y web)
	touch -r web/index.html web/copy.html
	lg_ok snapshot
	expect_equal "$output" 5
	ln -f web/index.html web/copy.html
	touch -d "$folder" web
	lg_ok snapshot
	expect_equal "$output" 6
	expect_match "$(manifest_of 6)" $'^H\t/index.html\t/copy.html$'
	lg_ok snapshot
	expect_equal "$output" 6
}

@test "a sparse file stays sparse in the store and live, and its digest is its content's" {
	make_stack
	truncate -s 1G web/disk.img
	head -c 4096 /dev/urandom | dd of=web/disk.img bs=4096 seek=1000 conv=notrunc status=none
	local digest
	digest=$(sha web/disk.img)
	lg_ok snapshot
	[ -n "$(object_path "$digest")" ]
	[ "$(du -sk .lastgood/objects | cut -f1)" -lt 1024 ]
	make_source src
	lg_ok deploy src
	[ ! -e web/disk.img ]
	lg_ok rollback 1
	[ "$(du -k web/disk.img | cut -f1)" -lt 1024 ]
	expect_equal "$(stat -c %s web/disk.img)" 1073741824
	expect_equal "$(sha web/disk.img)" "$digest"
}

@test "a stage that cannot set an attribute fails naming it, and nothing live changes" {
	# a stack of nobody's, in a folder nobody can reach
	local dir
	dir=$(mktemp -d /tmp/lastgood-nobody.XXXXXX)
	chmod 0755 "$dir"
	cd "$dir"
	make_stack
	chown -R 65534:65534 .
	setcap cap_net_bind_service+ep bin/api
	as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$LG" "$@"; }
	run --separate-stderr as_nobody snapshot
	expect_equal "$status" 0
	# nobody rewrites its file, which drops the capability
	setpriv --reuid=65534 --regid=65534 --clear-groups sh -c 'printf "api v2\n" >bin/api'
	run --separate-stderr as_nobody snapshot
	expect_equal "$output" 2
	local before
	before=$(tree_sum)
	run --separate-stderr as_nobody rollback 1
	expect_equal "$status" 1
	expect_match "$stderr" "cannot stage '$dir/bin/api': cannot set attribute 'security.capability' of '$dir/bin/\.lastgood-[0-9]+-[0-9]+-[0-9a-f]+': Operation not permitted"
	expect_equal "$(tree_sum)" "$before"
	expect_equal "$(leftovers)" ""
	expect_equal "$(cat bin/api)" "api v2"
	cd /
	rm -rf "$dir"
}

# a stack of one folder entry, data/ (LeakSanitizer does not run under
# strace, which the tests below run lastgood with)
make_data_stack() {
	cat >lastgood.yml <<'YML'
services:
  data:
    manager: command
    start: ["true"]
    stop: ["true"]
    files: [data]
YML
	mkdir data
}

@test "a file rewritten all the time while snapshot reads it is refused, naming it; nothing is recorded" {
	make_data_stack
	head -c $((64 << 20)) /dev/zero | tr '\0' a >a.bin
	head -c $((64 << 20)) /dev/zero | tr '\0' b >b.bin
	cp a.bin data/big
	# rewritten in place, over and over, a MiB at a time
	(
		while :; do
			dd if=a.bin of=data/big bs=1M conv=notrunc status=none
			dd if=b.bin of=data/big bs=1M conv=notrunc status=none
		done
	) &
	local writer=$!
	# each copy into the store ends a third of a second later, so the
	# writer has always written while it was read
	ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0" run --separate-stderr strace -f -qq -o /dev/null \
		-e inject=copy_file_range:delay_exit=300000 "$LG" snapshot
	kill "$writer"
	wait "$writer" || true
	expect_equal "$status" 1
	expect_equal "$output" ""
	expect_match "$stderr" "'$HOST/data/big' changed each of the 3 times it was read; nothing was recorded"
	lg_ok --json releases
	expect_equal "$output" "[]"
}

@test "a file rewritten while snapshot reads it is read again: its new bytes and mode are recorded together" {
	make_data_stack
	printf 'version a\n' >data/conf
	chmod 0644 data/conf
	# the first copy into the store waits 3 s before it starts: the file
	# is rewritten (and its mode changed) after snapshot opened it
	ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0" strace -f -qq -o /dev/null \
		-e inject=copy_file_range:delay_enter=3000000:when=1 "$LG" snapshot >out 2>err &
	local snapshot=$!
	local tries=0
	until ls -l /proc/[0-9]*/fd 2>/dev/null | grep -q -- "-> $HOST/data/conf\$"; do
		tries=$((tries + 1))
		[ "$tries" -lt 400 ] || { echo "snapshot never opened data/conf" >&2; return 1; }
		sleep 0.05
	done
	sleep 0.5
	printf 'version b, longer\n' >data/conf
	chmod 0755 data/conf
	wait "$snapshot"
	expect_equal "$(cat out)" 1
	expect_match "$(manifest_of 1)" $'^F\t/conf\t0755\t0\t0\t18\t'"$(sha data/conf)"
}

@test "a mount point inside a folder entry, or an entry that is one, is refused by check, snapshot and deploy" {
	unshare -m --propagation private true 2>/dev/null ||
		skip "cannot unshare a mount namespace here (needs root)"
	make_stack
	lg_ok snapshot
	make_source src
	mkdir web/uploads web/bound
	local before
	before=$(tree_sum)
	# In a mount namespace of the test's own: a tmpfs inside web/, a bind
	# mount of the same file system (same st_dev) inside web/, and web/
	# itself bound onto itself.
	run --separate-stderr unshare -m --propagation private bash -c '
		try() { "$1" "${@:2}" >/dev/null 2>err; echo "${*:2}: $? $(cat err)"; }
		mount -t tmpfs tmpfs web/uploads || exit 99
		try "$1" check
		try "$1" snapshot
		try "$1" deploy src
		umount web/uploads && mount --bind etc web/bound || exit 99
		try "$1" check
		try "$1" snapshot
		umount web/bound && mount --bind web web || exit 99
		try "$1" check
		try "$1" snapshot' check "$LG"
	expect_equal "$status" 0
	expect_equal "${#lines[@]}" 7
	local line
	line=$(grep -n 'files: \[web\]' lastgood.yml | cut -d: -f1)
	expect_match "${lines[0]}" "^check: 2 lastgood: .*lastgood.yml:$line:[0-9]+: '$HOST/web/uploads' is a mount point inside '$HOST/web' \(a 'files' entry of service 'web'\): a switch would move it with the old tree$"
	expect_match "${lines[1]}" "^snapshot: 2 lastgood: .*'$HOST/web/uploads' is a mount point inside '$HOST/web' \(a 'files' entry of service 'web'\)"
	expect_match "${lines[2]}" "^deploy src: 2 lastgood: .*'$HOST/web/uploads' is a mount point inside '$HOST/web'"
	expect_match "${lines[3]}" "^check: 2 .*'$HOST/web/bound' is a mount point inside '$HOST/web'"
	expect_match "${lines[4]}" "^snapshot: 2 .*'$HOST/web/bound' is a mount point inside '$HOST/web'"
	expect_match "${lines[5]}" "^check: 2 .*'$HOST/web' \(a 'files' entry of service 'web'\) is a mount point, which a switch cannot rename"
	expect_match "${lines[6]}" "^snapshot: 2 .*'$HOST/web' \(a 'files' entry of service 'web'\) is a mount point, which a switch cannot rename"
	expect_equal "$(tree_sum)" "$before"
	expect_equal "$(leftovers)" ""
	lg_ok --json releases
	expect_equal "$(jq length <<<"$output")" 1
}
