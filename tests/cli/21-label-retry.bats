#!/usr/bin/env bats
# Labels and retries: a deploy that failed gives its --label up to the
# retry that asks for it, and keeps it as its former label; a label still
# names one release, and one that a live or good release holds is never
# taken.

load helpers

# deploy_without_room ARGS...: lastgood deploy ARGS with the disk full at
# the moment it sets room aside for the switch (before anything live
# changes).
deploy_without_room() {
	run --separate-stderr env ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" strace -qq -o /dev/null \
		-e trace=fallocate -e inject=fallocate:error=ENOSPC:when=1 "$LG" deploy "$@"
}

@test "a deploy that failed on a full disk: the retry with the same label works, and the label moves to it" {
	make_stack
	lg_ok snapshot --label v1
	make_source ../src
	deploy_without_room ../src --label v2
	expect_equal "$status" 1
	expect_match "$stderr" 'No space left on device'
	lg_ok --json releases
	expect_equal "$(jq -c '[.[] | [.id, .label]]' <<<"$output")" '[[2,"v2"],[1,"v1"]]'
	# the disk has room again
	lg_ok deploy ../src --label v2
	expect_equal "$output" 3
	lg_ok --json releases
	expect_equal "$(jq -c '[.[] | [.id, .label, .former_label, .mark]]' <<<"$output")" \
		'[[3,"v2",null,"good"],[2,null,"v2",null],[1,"v1",null,null]]'
	lg_ok releases
	expect_match "$output" '^ +2 .* \(was v2\) '
	lg_ok show 3
	expect_match "$output" 'move label +v2: from release 2, which failed'
	lg_ok rollback v1
	lg_ok rollback v2
	lg_ok --json status
	expect_equal "$(jq -r '.live_release' <<<"$output")" 3
}

@test "a deploy rolled back for failing its checks: the fixed retry takes its label" {
	cat >lastgood.yml <<-'YML'
	services:
	  app:
	    manager: command
	    start: ["true"]
	    stop: ["true"]
	    files: [etc/app.conf]
	    health:
	      - exec: [grep, -qx, "mode=healthy", etc/app.conf]
	YML
	mkdir -p etc ../broken/etc ../fixed/etc
	echo mode=healthy >etc/app.conf
	echo mode=broken >../broken/etc/app.conf
	printf 'mode=healthy\n# v2, fixed\n' >../fixed/etc/app.conf
	lg_ok snapshot --label v1
	lg_status 3 deploy ../broken --label v2
	lg_ok deploy ../fixed --label v2
	lg_ok --json releases
	expect_equal "$(jq -c '[.[] | select(.label == "v2" or .former_label == "v2") | [.label, .former_label, .mark]]' <<<"$output")" \
		'[["v2",null,"good"],[null,"v2","bad"]]'
	lg_ok diff v1 v2
	expect_match "$output" 'M etc/app.conf'
}

@test "a label that a live or good release holds is still refused" {
	make_stack
	lg_ok snapshot --label v1
	make_source ../src
	lg_ok deploy ../src --label v2
	lg_status 2 snapshot --label v2
	expect_match "$stderr" "label 'v2' is already release 2"
	lg_ok rollback v1
	# v2 is not live now, but it passed: its label stays
	lg_status 2 deploy ../src --label v2
	expect_match "$stderr" "label 'v2' is already release 2"
	# v1 was only recorded, never failed: its label stays too
	echo 'worker v9' >bin/worker
	lg_ok snapshot
	lg_status 2 snapshot --label v1
	expect_match "$stderr" "label 'v1' is already release 1"
}
