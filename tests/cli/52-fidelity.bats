#!/usr/bin/env bats
# Fidelity: a mount point inside a `files` entry is refused.

load helpers

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
