#!/usr/bin/env bats
# Fidelity: a file rewritten while a snapshot reads it is never stored as
# a mix of two versions; a mount point inside a `files` entry is refused.

load helpers

# the digest of release N's manifest, and its text
manifest_of() {
	local digest
	digest=$(sqlite3 .lastgood/state.db "SELECT digest FROM releases WHERE id = $1")
	cat "$(object_path "$digest")"
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
