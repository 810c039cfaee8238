#!/usr/bin/env bats
# deploy git:REV: export a commit from the repository named under `source:`,
# run the build in the export, deploy the result with the commit recorded;
# a commit deployed before comes back from the store without a rebuild.

load helpers

# A repository with two commits of etc/app.conf and a build that appends a
# line to it and counts its runs in a file outside the repository.
make_repo() {
	mkdir -p ../repo/etc
	(
		cd ../repo
		git init -q
		echo 'app v1' >etc/app.conf
		printf '#!/bin/sh\necho built >>etc/app.conf\necho run >>"$BUILD_LOG"\n' >build.sh
		git add .
		git -c user.email=t@t -c user.name=t commit -qm one
		echo 'app v2' >etc/app.conf
		git -c user.email=t@t -c user.name=t commit -qam two
	)
	export BUILD_LOG=$BATS_TEST_TMPDIR/builds
	mkdir -p etc
	echo 'app v0' >etc/app.conf
	cat >lastgood.yml <<'YML'
source:
  git: ../repo
  build: [sh, build.sh]
services:
  app:
    manager: command
    start: ["true"]
    stop: ["true"]
    files: [etc/app.conf]
YML
}

commit_of() { git -C ../repo rev-parse "$1"; }
builds() { wc -l <"$BUILD_LOG"; }

@test "deploy git:REV exports the commit, builds it and records the commit" {
	make_repo
	lg_ok deploy git:HEAD~1
	expect_equal "$(cat etc/app.conf)" "$(printf 'app v1\nbuilt')"
	lg_ok --json releases
	expect_equal "$(jq -r '.[0].commit' <<<"$output")" "$(commit_of HEAD~1)"
	expect_equal "$(jq -r '.[0].mark' <<<"$output")" good
	expect_equal "$(builds)" 1
	expect_equal "$(ls -A .lastgood/tmp)" ""
}

@test "a commit deployed before is switched back from the store, never rebuilt" {
	make_repo
	lg_ok deploy git:HEAD~1
	lg_ok deploy git:HEAD
	expect_equal "$(head -1 etc/app.conf)" 'app v2'
	expect_equal "$(builds)" 2
	lg_ok deploy git:HEAD~1
	expect_equal "$(cat etc/app.conf)" "$(printf 'app v1\nbuilt')"
	expect_equal "$(builds)" 2
	lg_ok show 3
	expect_match "$output" 'is release 2: not rebuilt'
}

@test "an unknown revision, or no source in the config, is refused and changes nothing" {
	make_repo
	lg_status 2 deploy git:no-such-branch
	expect_match "$stderr" "no commit 'no-such-branch'"
	expect_equal "$(cat etc/app.conf)" 'app v0'
	[ ! -e .lastgood/state.db ] || expect_equal "$(sqlite3 .lastgood/state.db 'SELECT count(*) FROM operations')" 0
	sed -i '/^source:/,/^  build:/d' lastgood.yml
	lg_status 2 deploy git:HEAD
	expect_match "$stderr" "needs 'source: {git: PATH}'"
}

@test "a failing build fails the deploy and leaves the live files alone" {
	make_repo
	printf 'source:\n  git: ../repo\n  build: [sh, -c, "echo compile error >&2; exit 3"]\n' >head.yml
	sed -n '/^services:/,$p' lastgood.yml >>head.yml
	mv head.yml lastgood.yml
	lg_status 1 deploy git:HEAD
	expect_match "$stderr" 'build of commit .* failed \(exit 3\): compile error'
	expect_equal "$(cat etc/app.conf)" 'app v0'
	expect_equal "$(ls -A .lastgood/tmp)" ""
}
