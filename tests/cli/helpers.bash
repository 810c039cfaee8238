# Shared set-up for the CLI tests. Each test runs in a fresh folder
# ($BATS_TEST_TMPDIR/host) holding a small stack of live files, and drives
# the real binary ($LASTGOOD, else ./lastgood at the top of the checkout).
#
#   load helpers
#   @test "..." { make_stack; lg_ok snapshot; expect_equal "$output" 1; }

bats_require_minimum_version 1.5.0

LG=${LASTGOOD:-$BATS_TEST_DIRNAME/../../lastgood}

# Every test gets its own host folder and its own sanitizer log; a sanitizer
# report from any lastgood run fails the test in teardown, even when the
# test expected a non-zero exit.
common_setup() {
	[ -x "$LG" ] || { echo "no lastgood binary at '$LG' (set LASTGOOD)" >&2; return 1; }
	SANITIZER_LOG=$BATS_TEST_TMPDIR/sanitizer
	export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}:log_path=$SANITIZER_LOG"
	export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1}:log_path=$SANITIZER_LOG"
	export LC_ALL=C TZ=UTC
	HOST=$BATS_TEST_TMPDIR/host
	mkdir -p "$HOST"
	cd "$HOST"
}

common_teardown() {
	local f found=0
	for f in "$BATS_TEST_TMPDIR"/sanitizer.*; do
		[ -e "$f" ] || continue
		echo "sanitizer report in $f:" >&2
		cat "$f" >&2
		found=1
	done
	return "$found"
}

setup() { common_setup; }
teardown() { common_teardown; }

# lg ARGS...: run lastgood (use with `run`, or directly).
lg() { "$LG" "$@"; }

# lg_ok ARGS...: run lastgood, require exit 0; stdout in $output, stderr in
# $stderr.
lg_ok() {
	run --separate-stderr "$LG" "$@"
	if [ "$status" -ne 0 ]; then
		printf 'lastgood %s\nexpected exit 0, got %s\nstdout: %s\nstderr: %s\n' \
			"$*" "$status" "$output" "$stderr" >&2
		return 1
	fi
}

# lg_status CODE ARGS...: run lastgood, require exit CODE.
lg_status() {
	local want=$1
	shift
	run --separate-stderr "$LG" "$@"
	if [ "$status" -ne "$want" ]; then
		printf 'lastgood %s\nexpected exit %s, got %s\nstdout: %s\nstderr: %s\n' \
			"$*" "$want" "$status" "$output" "$stderr" >&2
		return 1
	fi
}

expect_equal() {
	if [ "$1" != "$2" ]; then
		printf 'expected: %s\n  actual: %s\n' "$2" "$1" >&2
		return 1
	fi
}

# expect_match TEXT REGEX (grep -E, any line)
expect_match() {
	if ! grep -Eq -- "$2" <<<"$1"; then
		printf 'expected a line matching: %s\nin: %s\n' "$2" "$1" >&2
		return 1
	fi
}

expect_no_match() {
	if grep -Eq -- "$2" <<<"$1"; then
		printf 'expected no line matching: %s\nin: %s\n' "$2" "$1" >&2
		return 1
	fi
}

# make_stack: write lastgood.yml with three services and their live files:
# single files (bin/api, etc/api.env, bin/worker) and a folder tree (web/)
# with nested files, an empty folder and a symbolic link.
make_stack() {
	cat >lastgood.yml <<'YML'
# a test stack: three services, files only
keep_releases: 10
services:
  api:
    manager: command
    start: ["true"]
    stop: ["true"]
    files: [bin/api, etc/api.env]
  worker:
    manager: command
    start: ["true"]
    stop: ["true"]
    files: [bin/worker]
    after: [api]
  web:
    manager: command
    start: ["true"]
    stop: ["true"]
    files: [web]
    after: [api]
YML
	mkdir -p bin etc web/static/css web/empty
	printf '#!/bin/sh\necho api v1\n' >bin/api
	printf '#!/bin/sh\necho worker v1\n' >bin/worker
	chmod 0755 bin/api bin/worker
	printf 'PORT=8000\nLOG_LEVEL=info\n' >etc/api.env
	chmod 0640 etc/api.env
	printf '<h1>v1</h1>\n' >web/index.html
	printf 'console.log("v1")\n' >web/static/app.js
	printf 'body { color: black }\n' >web/static/css/site.css
	printf 'old page\n' >web/static/old.html
	ln -s static/app.js web/current.js
}

# change_stack: make the live files differ from make_stack's in every way a
# release can: content, mode, a file dropped, a file added deep in a new
# folder, a symlink retargeted, the empty folder removed.
change_stack() {
	printf '#!/bin/sh\necho api v2\n' >bin/api
	printf 'PORT=8001\nLOG_LEVEL=debug\n' >etc/api.env
	chmod 0600 etc/api.env
	printf '<h1>v2</h1>\n' >web/index.html
	rm web/static/old.html
	rmdir web/empty
	mkdir -p web/static/img/icons
	printf 'icon\n' >web/static/img/icons/a.svg
	printf 'console.log("v2")\n' >web/static/app2.js
	ln -sfn static/app2.js web/current.js
}

# tree_sum [DIR]: a deterministic listing of the live files below DIR
# (default: here): type, mode, path, and sha256 for files or the target for
# symlinks. Two trees are identical exactly when their listings are.
tree_sum() {
	(
		cd "${1:-.}" || exit 1
		find bin etc web -printf '%y\t%m\t%p\t%l\n' | LC_ALL=C sort -t "$(printf '\t')" -k3,3 |
			while IFS=$'\t' read -r type mode path link; do
				if [ "$type" = f ]; then
					link=$(sha256sum <"$path")
					link=${link%% *}
				fi
				printf '%s %s %s %s\n' "$type" "$mode" "$path" "$link"
			done
	)
}

# leftovers [DIR]: staging or backup files lastgood left beside the live
# files (anything named like lastgood's own outside the state folder and
# the config).
leftovers() {
	(
		cd "${1:-.}" || exit 1
		find . -path ./.lastgood -prune -o \( -name '*.lastgood-*' -o -name '.lastgood*' \) -print |
			grep -v '^\./\.lastgood$' || true
	)
}

# make_source DIR: a deploy SOURCE holding a new bin/api and a new web/
# tree (so etc/api.env and bin/worker are absent and must keep their live
# content).
make_source() {
	local dir=$1
	mkdir -p "$dir/bin" "$dir/web/static"
	printf '#!/bin/sh\necho api v3\n' >"$dir/bin/api"
	chmod 0755 "$dir/bin/api"
	printf '<h1>v3</h1>\n' >"$dir/web/index.html"
	printf 'console.log("v3")\n' >"$dir/web/static/app.js"
	ln -s static/app.js "$dir/web/current.js"
}

# kill_at CALLS N ARGS...: run `lastgood -q ARGS` under strace, killed with
# SIGKILL at its Nth call of each of CALLS (comma-separated); returns its
# exit status, 137 when the kill landed. Only lastgood's own process is
# traced: the commands it runs are not counted and never killed.
kill_at() {
	local calls=$1 n=$2
	shift 2
	# a subshell, so that the shell's "Killed" notice goes nowhere
	(
		ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" strace -qq -o /dev/null \
			-e trace="$calls" -e inject="$calls":signal=SIGKILL:when="$n" \
			"$LG" -q "$@" >/dev/null 2>&1
		exit $?
	) 2>/dev/null
}

# object_path DIGEST: the store file holding DIGEST (objects/xx/rest).
object_path() {
	local d=$1
	if [ -e ".lastgood/objects/${d:0:2}/${d:2}" ]; then
		echo ".lastgood/objects/${d:0:2}/${d:2}"
	else
		find .lastgood/objects -type f -name "*${d:2}*" | head -n 1
	fi
}

sha() { local h; h=$(sha256sum <"$1"); echo "${h%% *}"; }

# lose_object FILE: remove the store's object of FILE's content, as damage
# from outside lastgood would.
lose_object() {
	local obj
	obj=$(object_path "$(sha "$1")")
	chmod u+w "$(dirname "$obj")"
	rm "$obj"
}

# run_example SCRIPT [NAME=VALUE...]: `run` examples/SCRIPT with this
# lastgood, its scratch folder in the test's own and the given environment
# ($output and $stderr apart). Fails, showing both, when it exits non-zero,
# changes anything under examples/, or leaves its scratch folder behind.
run_example() {
	local examples=$BATS_TEST_DIRNAME/../../examples script=$1 before
	shift
	examples_listing() { (cd "$examples" && find . -printf '%p %m %s %T@\n' | LC_ALL=C sort); }
	before=$(examples_listing)
	run --separate-stderr timeout -k 5 300 env TMPDIR="$BATS_TEST_TMPDIR" LASTGOOD="$LG" "$@" \
		"$examples/$script"
	if [ "$status" -ne 0 ]; then
		printf '%s exited %s\n%s\n%s\n' "$script" "$status" "$output" "$stderr" >&2
		return 1
	fi
	expect_equal "$(examples_listing)" "$before"
	expect_equal "$(find "$BATS_TEST_TMPDIR" -maxdepth 1 -name 'lastgood-*')" ""
}
