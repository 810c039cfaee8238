#!/usr/bin/env bats
# What lastgood prints: a write to stdout that fails is an error, never a
# silent exit 0; JSON holds every item, whatever bytes its text has; diff
# shows names that cannot forge lines or drive the terminal, and JSON keeps
# their exact bytes.

load helpers

# to_full ARGS...: lastgood ARGS with its stdout on a full disk.
to_full() { "$LG" "$@" >/dev/full; }

@test "a snapshot or deploy whose output cannot be written exits 4, not 1, and what it did is in the record" {
	make_stack
	run --separate-stderr to_full snapshot --label v1
	expect_equal "$status" 4
	expect_match "$stderr" "^lastgood: cannot write the output: No space left on device; what the command did is recorded: 'lastgood status' says which release is live, 'lastgood history' what happened$"
	lg_ok --json releases
	expect_equal "$(jq -r '.[0].label' <<<"$output")" v1
	# exit 1 would say the old release is live: the new one is
	make_source src
	run --separate-stderr to_full deploy src --label v2
	expect_equal "$status" 4
	expect_equal "$(cat bin/api)" "$(cat src/bin/api)"
	lg_ok --json status
	expect_match "$output" '"v2"'
}

@test "every command whose output cannot be written exits 1" {
	make_stack
	lg_ok snapshot
	echo 'worker v2' >bin/worker
	lg_ok snapshot
	local args
	for args in releases history status "show 1" "diff 1 2" fsck check "--json releases" \
		"--json status" "--json diff 1 2" --version --help; do
		# shellcheck disable=SC2086
		run --separate-stderr to_full $args
		if [ "$status" -ne 1 ]; then
			printf 'lastgood %s >/dev/full: exit %s\nstderr: %s\n' "$args" "$status" "$stderr" >&2
			return 1
		fi
		expect_match "$stderr" '^lastgood: cannot write the output: No space left on device$'
	done
	# a command that failed keeps its own exit code
	run --separate-stderr to_full diff 1 99
	expect_equal "$status" 2
}

@test "--json status keeps a service whose status output is not UTF-8, its bytes replaced by U+FFFD" {
	cat >lastgood.yml <<-'YML'
	services:
	  odd:
	    manager: command
	    start: ["true"]
	    stop: ["true"]
	    status: [sh, -c, 'printf "down: caf\351 \377\n"; exit 3']
	  plain:
	    manager: command
	    start: ["true"]
	    stop: ["true"]
	    status: ["true"]
	YML
	lg_ok start
	lg_ok --json status
	expect_equal "$(jq -r '.services | length' <<<"$output")" 2
	expect_equal "$(jq -r '.services[] | select(.name == "odd") | .detail' <<<"$output")" \
		"down: caf$(printf '\357\277\275') $(printf '\357\277\275')"
	expect_equal "$(jq -r '.services[] | select(.name == "odd") | .state' <<<"$output")" stopped
}

@test "--json history and show keep an operation whose reason is not UTF-8" {
	make_stack
	lg_ok snapshot --reason "$(printf 'fix \377 build')"
	lg_ok snapshot --reason plain
	lg_ok --json history
	expect_equal "$(jq -r 'length' <<<"$output")" 2
	expect_equal "$(jq -r '.[1].reason' <<<"$output")" "fix $(printf '\357\277\275') build"
	lg_ok --json show 1
	expect_equal "$(jq -r '.id' <<<"$output")" 1
}

# odd_names: release 1 (make_stack), then release 2 adding files whose
# names hold a newline that would start a forged "+" line (a folder
# "evil\n+ web" holding "forged"), a terminal
# escape, bytes that are not UTF-8, a quote, and a symlink whose target
# holds a newline; and one plain name.
odd_names() {
	make_stack
	lg_ok snapshot
	printf 'x\n' >web/plain.txt
	mkdir "web/evil"$'\n'"+ web"
	printf 'x\n' >"web/evil"$'\n'"+ web/forged"
	printf 'x\n' >"web/esc"$'\e'"[2Jred"
	printf 'x\n' >"web/bad"$'\xff\xfe'"name"
	printf 'x\n' >'web/say "hi"'
	ln -s "tar"$'\n'"+ get" web/lnk
	lg_ok snapshot
}

@test "diff quotes names and link targets: no forged line, no escape reaches the terminal" {
	odd_names
	lg_ok diff 1 2
	# one line per change, and every line is a change
	expect_equal "$(grep -c '' <<<"$output")" 7
	expect_no_match "$output" '^\+ web/forged'
	if grep -q $'\e' <<<"$output"; then
		echo "an escape reached the output: $output" >&2
		return 1
	fi
	expect_match "$output" '^\+ "web/evil\\n\+ web"/$'
	expect_match "$output" '^\+ "web/evil\\n\+ web/forged"$'
	expect_match "$output" '^\+ "web/esc\\x1b\[2Jred"$'
	expect_match "$output" '^\+ "web/bad\\xff\\xfename"$'
	expect_match "$output" '^\+ "web/say \\"hi\\""$'
	expect_match "$output" '^\+ web/lnk -> "tar\\n\+ get"$'
	# a name like any other is shown as it is
	expect_match "$output" '^\+ web/plain\.txt$'
}

@test "--json diff drops no name: names that are not UTF-8 keep their bytes in base64" {
	odd_names
	lg_ok --json diff 1 2
	expect_equal "$(jq -r '.changes | length' <<<"$output")" 7
	local bad
	bad=$(jq -r '.changes[] | select(.path_base64 != null) | .path_base64' <<<"$output")
	expect_equal "$(base64 -d <<<"$bad" | od -An -c | tr -s ' ')" \
		"$(printf '%s' "$HOST/web/bad"$'\xff\xfe'"name" | od -An -c | tr -s ' ')"
	expect_equal "$(jq -r '.changes[] | select(.type == "symlink") | .target' <<<"$output")" \
		"tar"$'\n'"+ get"
	expect_equal "$(jq -r '[.changes[] | select(.path_base64 != null)] | length' <<<"$output")" 1
}
