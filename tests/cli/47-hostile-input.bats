#!/usr/bin/env bats
# Hostile input: tarballs that try to write or read outside their tree,
# special files, set-ID bits, decompression bombs and compressions that need
# a program, links planted in the state folder, a state folder inside the
# live files, and labels, refs and reasons full of shell syntax. Each is
# refused with a message naming what was refused, or kept as plain text;
# nothing is ever written outside the live paths and the state folder, and
# nothing is ever run.

load helpers

# hostile_setup: the stack recorded as release 1; ../outside, a sentinel
# folder beside the host (with a file a hard link could reach); ../t, where
# the tarballs are made; $ELSEWHERE, a path a link aims at that must never
# come to exist.
hostile_setup() {
	make_stack
	lg_ok snapshot
	mkdir -p ../outside ../t
	echo 'keep me' >../outside/file
	OUTSIDE=$BATS_TEST_TMPDIR/outside
	ELSEWHERE=$BATS_TEST_TMPDIR/elsewhere
}

# outside_listing: everything in the test's folder but the state folder,
# ../t and bats' own files: type, mode, links, size, mtime, name, link
# target. A write anywhere else shows here; a folder's mtime moves even when
# what was made in it was removed again.
outside_listing() {
	find "$BATS_TEST_TMPDIR" -mindepth 1 \
		\( -path "$HOST/.lastgood" -o -path "$BATS_TEST_TMPDIR/t" \) -prune -o \
		! -name 'separate-stderr-*' -printf '%y %m %n %s %T@ %p %l\n' | LC_ALL=C sort
}

expect_contains() {
	if ! grep -Fq -- "$2" <<<"$1"; then
		printf 'expected the text: %s\nin: %s\n' "$2" "$1" >&2
		return 1
	fi
}

# deploy_refused TARBALL TEXT...: `deploy TARBALL` exits 2 with a message
# naming TARBALL and holding every TEXT; nothing changed outside the state
# folder, the scratch space is empty again, the live release is still 1 and
# the refused deploy is in the record as failed.
deploy_refused() {
	local tarball=$1 before text
	shift
	before=$(outside_listing)
	lg_status 2 deploy "$tarball"
	expect_contains "$stderr" "'$tarball'"
	for text; do
		expect_contains "$stderr" "$text"
	done
	expect_equal "$(outside_listing)" "$before"
	[ ! -e "$ELSEWHERE" ]
	expect_equal "$(ls -A .lastgood/tmp)" ""
	lg_ok --json status
	expect_equal "$(jq -r .live_release <<<"$output")" 1
	lg_ok --json history
	expect_equal "$(jq -r '.[0] | "\(.command) \(.result)"' <<<"$output")" "deploy failed"
	expect_equal "$(jq '[.[] | select(.ended_ms == null)] | length' <<<"$output")" 0
}

# member_list TARBALL: its members as tar lists them, names kept as stored,
# so a test can show the hostile entry really is in it.
member_list() { tar -tvPf "$1"; }

@test "tarball entries with '..' are refused and write nothing outside" {
	hostile_setup
	mkdir -p ../t/src/bin
	echo evil >../t/src/bin/api
	local name n=0
	for name in ../../../../outside/evil bin/../../../../../outside/evil ../bin/api; do
		n=$((n + 1))
		tar -cPf "../t/dotdot$n.tar" -C ../t/src --transform "s,^bin/api\$,$name," bin/api
		expect_match "$(member_list "../t/dotdot$n.tar")" " $name\$"
		deploy_refused "../t/dotdot$n.tar" "refusing entry '$name'" "'..' path"
	done
	tar -czPf ../t/dotdot.tar.gz -C ../t/src --transform 's,^bin/api$,../../../../outside/evil,' bin/api
	deploy_refused ../t/dotdot.tar.gz "refusing entry '../../../../outside/evil'"
}

@test "tarball entries with absolute names are refused and write nothing outside" {
	hostile_setup
	mkdir -p ../t/src/bin
	echo evil >../t/src/bin/api
	tar -cPf ../t/abs.tar -C ../t/src --transform "s,^bin/api\$,$OUTSIDE/abs," bin/api
	expect_match "$(member_list ../t/abs.tar)" " $OUTSIDE/abs\$"
	deploy_refused ../t/abs.tar "refusing entry '$OUTSIDE/abs'" "absolute"
	tar -cPf ../t/abs2.tar -C ../t/src --transform "s,^bin/api\$,/bin/api," bin/api
	deploy_refused ../t/abs2.tar "refusing entry '/bin/api'"
}

@test "a symlink out of the tree, then a file written through it, is refused at the link" {
	hostile_setup
	mkdir -p ../t/link ../t/file/bin
	echo evil >../t/file/bin/api
	local target n=0
	for target in "$OUTSIDE" "$ELSEWHERE" ../../../../outside ../outside; do
		n=$((n + 1))
		rm -f ../t/link/bin
		ln -s "$target" ../t/link/bin
		tar -cf "../t/through$n.tar" -C ../t/link bin
		tar -rf "../t/through$n.tar" -C ../t/file bin/api
		expect_match "$(member_list "../t/through$n.tar")" "bin -> $target\$"
		expect_match "$(member_list "../t/through$n.tar")" ' bin/api$'
		deploy_refused "../t/through$n.tar" "refusing symbolic link 'bin' to '$target'" \
			"leads out of the archive"
	done
	[ ! -e "$OUTSIDE/api" ]
}

@test "a link inside the tree cannot be written through either" {
	hostile_setup
	mkdir -p ../t/link/web ../t/file/web/l
	ln -s ../bin ../t/link/web/l
	echo evil >../t/file/web/l/api
	tar -cf ../t/inner.tar -C ../t/link web
	tar -rf ../t/inner.tar -C ../t/file web/l/api
	deploy_refused ../t/inner.tar "cannot unpack 'web/l/api'" "symlink"
	expect_equal "$(cat bin/api)" "$(printf '#!/bin/sh\necho api v1')"
}

@test "symlinks whose target leaves the tree are refused even with nothing written through them" {
	hostile_setup
	mkdir -p ../t/src/bin ../t/src/web
	local target n=0
	for target in /etc/passwd ../../../outside/file ../../etc/api.env web/../../x; do
		n=$((n + 1))
		rm -f ../t/src/bin/api
		ln -s "$target" ../t/src/bin/api
		tar -cf "../t/link$n.tar" -C ../t/src bin/api
		deploy_refused "../t/link$n.tar" "refusing symbolic link 'bin/api' to '$target'"
	done
	# "static/.." climbs back out of a name that may itself be a link
	ln -s static/../../../outside ../t/src/web/up
	tar -cf ../t/link-web.tar -C ../t/src web
	deploy_refused ../t/link-web.tar "refusing symbolic link 'web/up' to 'static/../../../outside'"
}

@test "symlinks that stay inside their entry deploy as links" {
	hostile_setup
	make_source ../dist
	mkdir ../dist/web/sub
	ln -s ../static/app.js ../dist/web/sub/up.js
	ln -s ./static/./app.js ../dist/web/dotted.js
	tar -cf ../dist.tar -C ../dist bin web
	lg_ok deploy ../dist.tar
	expect_equal "$(readlink web/sub/up.js)" ../static/app.js
	expect_equal "$(readlink web/dotted.js)" ./static/./app.js
	expect_equal "$(readlink web/current.js)" static/app.js
}

@test "hard links to files outside the archive are refused; hard links inside it deploy" {
	hostile_setup
	mkdir -p ../t/src/bin
	echo evil >../t/src/bin/api
	ln ../t/src/bin/api ../t/src/bin/api2
	local target n=0
	for target in "$OUTSIDE/file" ../../../../outside/file; do
		n=$((n + 1))
		tar -cPf "../t/hard$n.tar" -C ../t/src --transform "s,^bin/api\$,$target,Rh" bin/api bin/api2
		expect_match "$(member_list "../t/hard$n.tar")" "bin/api2 link to $target\$"
		deploy_refused "../t/hard$n.tar" "refusing hard link 'bin/api2' to '$target'"
	done
	expect_equal "$(stat -c %h ../outside/file)" 1

	make_source ../dist
	ln ../dist/web/index.html ../dist/web/copy.html
	tar -cf ../dist.tar -C ../dist bin web
	expect_match "$(member_list ../dist.tar)" ' link to web/(index|copy)\.html$'
	lg_ok deploy ../dist.tar
	expect_equal "$(cat web/copy.html)" '<h1>v3</h1>'
}

@test "fifos and device nodes in a tarball are refused" {
	hostile_setup
	mkdir -p ../t/src/web
	mkfifo ../t/src/web/pipe
	tar -cf ../t/fifo.tar -C ../t/src web
	deploy_refused ../t/fifo.tar "refusing special file 'web/pipe'"
	if [ "$(id -u)" -eq 0 ]; then
		rm ../t/src/web/pipe
		mknod ../t/src/web/null c 1 3
		mknod ../t/src/web/loop b 7 0
		tar -cf ../t/dev.tar -C ../t/src web
		deploy_refused ../t/dev.tar "refusing special file 'web/"
	fi
}

@test "control characters in an entry's name are shown escaped, never sent raw" {
	hostile_setup
	mkdir -p ../t/src/web
	mkfifo "../t/src/web/a$(printf '\033')]0;owned$(printf '\007')b"
	tar -cf ../t/ctl.tar -C ../t/src web
	deploy_refused ../t/ctl.tar "'web/a\\x1b]0;owned\\x07b'"
	expect_no_match "$stderr" "$(printf '\033')"
}

@test "deploy git:REV refuses a commit holding a symlink out of the tree" {
	hostile_setup
	mkdir -p ../repo/bin
	(
		cd ../repo
		git init -q
		ln -s /etc/passwd bin/api
		git add .
		git -c user.email=t@t -c user.name=t commit -qm hostile
	)
	printf 'source:\n  git: ../repo\n' >>lastgood.yml
	lg_status 2 deploy git:HEAD
	expect_contains "$stderr" "refusing symbolic link 'bin/api' to '/etc/passwd'"
	[ -f bin/api ] && [ ! -L bin/api ]
}

# plant_link NAME TARGET: replace .lastgood/NAME (moved to ../saved-NAME
# when present) with a symlink to TARGET.
plant_link() {
	rm -rf "../saved-$1"
	if [ -e ".lastgood/$1" ]; then
		mv ".lastgood/$1" "../saved-$1"
	fi
	ln -s "$2" ".lastgood/$1"
}

unplant_link() {
	rm ".lastgood/$1"
	if [ -e "../saved-$1" ]; then
		mv "../saved-$1" ".lastgood/$1"
	fi
}

@test "a symlink planted in the state folder is refused, and nothing is written where it points" {
	hostile_setup
	make_source ../dist
	local name before
	cp -a .lastgood/objects ../outside/objects
	cp -a .lastgood/state.db ../outside/state.db
	mkdir -m 0700 ../outside/tmp ../outside/logs
	for name in objects tmp logs state.db state.db-wal state.db-shm lock; do
		case $name in
		objects | tmp | logs | state.db) plant_link "$name" "$OUTSIDE/$name" ;;
		*) plant_link "$name" "$ELSEWHERE" ;;
		esac
		before=$(outside_listing)
		lg_status 2 snapshot
		expect_contains "$stderr" ".lastgood/$name'"
		expect_contains "$stderr" "it is a symbolic link"
		lg_status 2 deploy ../dist
		expect_contains "$stderr" ".lastgood/$name'"
		lg_status 2 --json releases
		lg_status 2 fsck
		expect_equal "$(outside_listing)" "$before"
		[ ! -e "$ELSEWHERE" ]
		unplant_link "$name"
	done
	lg_ok snapshot
	expect_equal "$output" 1
}

@test "a lock or database that is not a plain file, or a store others can write, is refused" {
	hostile_setup
	rm .lastgood/lock
	mkfifo .lastgood/lock
	lg_status 2 snapshot
	expect_contains "$stderr" "refusing lock file"
	expect_contains "$stderr" "not a regular file"
	rm .lastgood/lock
	chmod 0777 .lastgood/objects
	lg_status 2 snapshot
	expect_contains "$stderr" "refusing store folder"
	expect_contains "$stderr" "writable by others"
	chmod 0700 .lastgood/objects
	lg_ok snapshot
}

# Text an operator might paste, each meant to run `touch pwned` if a shell
# ever saw it. None has a space, so a label check that only refuses spaces
# lets them through to be stored as plain text.
hostile_texts=(
	'$(touch${IFS}pwned)'
	'`touch${IFS}pwned`'
	';touch${IFS}pwned'
	'a|touch${IFS}pwned'
	'&&touch${IFS}pwned'
	"'\$(touch\${IFS}pwned)'"
	'$(touch pwned)'
	$'a\ntouch pwned'
)

expect_nothing_ran() {
	local found
	found=$(find "$BATS_TEST_TMPDIR" -name pwned)
	expect_equal "$found" ""
}

@test "refs, commits and service names with shell syntax are refused as unknown, never run" {
	hostile_setup
	mkdir ../repo
	(
		cd ../repo
		git init -q
		echo x >file
		git add .
		git -c user.email=t@t -c user.name=t commit -qm one
	)
	printf 'source:\n  git: ../repo\n' >>lastgood.yml
	make_source ../dist
	local text
	for text in "${hostile_texts[@]}"; do
		lg_status 2 rollback "$text"
		expect_match "$stderr" 'unknown release|no release'
		lg_status 2 diff "$text"
		lg_status 2 snapshot --commit "$text"
		expect_match "$stderr" 'invalid commit'
		lg_status 2 deploy ../dist --services "$text"
		expect_match "$stderr" 'unknown service'
		run --separate-stderr lg deploy "$text"
		[ "$status" -eq 1 ] || [ "$status" -eq 2 ]
		expect_match "$stderr" 'source'
		lg_status 2 deploy "git:$text"
		expect_match "$stderr" 'no commit|invalid git revision'
	done
	expect_nothing_ran
	lg_ok --json status
	expect_equal "$(jq -r .live_release <<<"$output")" 1
}

@test "labels and reasons with shell syntax are plain text, or refused when they cannot print on one line" {
	hostile_setup
	local text n
	for text in "${hostile_texts[@]}"; do
		if [[ "$text" == *[[:space:]]* ]]; then
			lg_status 2 snapshot --label "$text"
			expect_match "$stderr" 'invalid label'
			continue
		fi
		lg_ok snapshot --label "$text" --reason "$text"
		n=$output
		lg_ok --json releases
		expect_equal "$(jq -r --argjson n "$n" '.[] | select(.id == $n) | .label' <<<"$output")" "$text"
		lg_ok --json history
		expect_equal "$(jq -r '.[0].reason' <<<"$output")" "$text"
		lg_ok rollback 1
		lg_ok rollback "$text"
		lg_ok --json status
		expect_equal "$(jq -r .live_release <<<"$output")" "$n"
	done
	lg_ok snapshot --reason $'two\nlines; $(touch pwned)'
	lg_ok --json history
	expect_equal "$(jq -r '.[0].reason' <<<"$output")" $'two\nlines; $(touch pwned)'
	expect_nothing_ran
}

@test "a REF holding a newline is quoted on one line, escaped" {
	make_stack
	lg_ok snapshot
	lg_status 2 rollback $'a\nb'
	expect_equal "$(printf '%s\n' "$stderr" | wc -l)" 1
	expect_match "$stderr" "unknown release 'a.x0ab'"
}

# A small file system some tests mount for a state folder; unmounted again
# whatever the test's end.
teardown() {
	if [ -n "${MOUNTED:-}" ]; then
		umount "$MOUNTED" || true
	fi
	common_teardown
}

# trace_programs: make $LG a stand-in that runs lastgood under strace,
# appending every program it or anything it starts execs (tried or run) to
# ../t/execs; programs_run lists their names, one a line, without lastgood
# (a wrapper such as valgrind's may add its own).
trace_programs() {
	# LeakSanitizer cannot work under ptrace.
	printf '#!/bin/sh\nASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0" exec strace -f -qq -A -e trace=execve -o "%s" "%s" "$@"\n' \
		"$BATS_TEST_TMPDIR/t/execs" "$LG" >../t/traced
	chmod +x ../t/traced
	LASTGOOD_UNTRACED=$LG
	LG=$BATS_TEST_TMPDIR/t/traced
}

programs_run() {
	sed -n 's/.*execve("\([^"]*\)".*/\1/p' ../t/execs | grep -Fvx "$LASTGOOD_UNTRACED" |
		sed 's,.*/,,' | LC_ALL=C sort -u
}

decompressors='^(gzip|gunzip|bzip2|bunzip2|xz|unxz|lzma|unlzma|zstd|unzstd|lz4|lzop|lrzip|lrunzip|grzip|lzip|compress|uncompress)$'

@test "compressed tarballs unpack in-process; one that needs a program is refused and none runs" {
	hostile_setup
	command -v strace >/dev/null || skip "no strace"
	trace_programs
	local ext tool made=0
	# Each starts as libarchive's lrzip, lzop and grzip readers look for;
	# those readers run an outside program.
	printf 'LRZI\000\006\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000' \
		>../t/dist.tar.lrz
	printf '\211LZO\000\r\n\032\n\020\060\040\240\011\100\001\005\003\000\000\001\000\000' \
		>../t/dist.tar.lzo
	printf 'GRZipII\000\002\004:)\000\000\000\000\000\000\000\000\000\000\000\000' \
		>../t/dist.tar.grz
	for ext in lrz lzo grz; do
		deploy_refused "../t/dist.tar.$ext" "cannot read '../t/dist.tar.$ext'"
	done
	expect_no_match "$(programs_run)" "$decompressors"

	make_source ../dist
	for ext in gz bz2 xz lzma zst lz4; do
		case $ext in
		gz) tool=(gzip -c) ;;
		bz2) tool=(bzip2 -c) ;;
		xz) tool=(xz -c) ;;
		lzma) tool=(xz --format=lzma -c) ;;
		zst) tool=(zstd -q -c) ;;
		lz4) tool=(lz4 -q -c) ;;
		esac
		command -v "${tool[0]}" >/dev/null || continue
		printf '<h1>%s</h1>\n' "$ext" >../dist/web/index.html
		tar -cf - -C ../dist bin web | "${tool[@]}" >"../t/dist.tar.$ext"
		lg_ok deploy "../t/dist.tar.$ext"
		expect_equal "$(cat web/index.html)" "<h1>$ext</h1>"
		made=$((made + 1))
	done
	[ "$made" -ge 1 ]
	expect_no_match "$(programs_run)" "$decompressors"
}

@test "set-user-ID and set-group-ID bits from a tarball are dropped, the sticky bit kept; a folder keeps all" {
	hostile_setup
	make_source ../dist
	mkdir ../dist/web/shared
	chmod 4755 ../dist/bin/api
	chmod 2755 ../dist/web/static
	chmod 1777 ../dist/web/shared
	tar -cf ../t/setid.tar -C ../dist bin web
	expect_match "$(member_list ../t/setid.tar)" '^-rwsr-xr-x .* bin/api$'
	expect_match "$(member_list ../t/setid.tar)" '^drwxr-sr-x .* web/static/$'
	lg_ok deploy ../t/setid.tar
	expect_equal "$(stat -c %a bin/api web/static web/shared)" "$(printf '755\n755\n1777')"

	# A folder is the operator's own tree, its owners recorded with it.
	printf '<h1>v4</h1>\n' >../dist/web/index.html
	lg_ok deploy ../dist
	expect_equal "$(stat -c %a bin/api web/static web/shared)" "$(printf '4755\n2755\n1777')"
}

@test "a tarball declaring more than half the free space is refused at its header" {
	hostile_setup
	local avail
	avail=$(df -B1 --output=avail .lastgood | tail -n 1)
	mkdir -p ../t/src/bin
	truncate -s "$avail" ../t/src/bin/api
	tar -cSf ../t/sparse.tar -C ../t/src bin
	[ "$(stat -c %s ../t/sparse.tar)" -lt 65536 ]
	# Were it unpacked, no file may grow past 512 MiB all the same.
	printf '#!/bin/sh\nulimit -f 1048576\nexec "%s" "$@"\n' "$LG" >../t/capped
	chmod +x ../t/capped
	LG=$BATS_TEST_TMPDIR/t/capped
	deploy_refused ../t/sparse.tar "refusing to unpack 'bin/api'" \
		"the tarball would take more than" "half the free space in '$HOST/.lastgood'"
}

@test "a gzip bomb and a flood of entries are refused by the state folder's free space and inodes" {
	hostile_setup
	mkdir ../small
	mount -t tmpfs -o size=16m,nr_inodes=400,mode=0700 tmpfs ../small 2>/dev/null ||
		skip "cannot mount a small file system here"
	MOUNTED=$BATS_TEST_TMPDIR/small
	lg_ok --state-dir ../small/state snapshot

	mkdir -p ../t/bomb/bin
	truncate -s 64M ../t/bomb/bin/api
	tar -cf - -C ../t/bomb bin | gzip -1 >../t/bomb.tar.gz
	[ "$(stat -c %s ../t/bomb.tar.gz)" -lt 1048576 ]
	lg_status 2 --state-dir ../small/state deploy ../t/bomb.tar.gz
	expect_contains "$stderr" "'../t/bomb.tar.gz': refusing to unpack 'bin/api': the tarball would take more than"
	expect_contains "$stderr" "half the free space in '../small/state'"

	mkdir -p ../t/flood/web
	touch ../t/flood/web/file{1..400}
	tar -cf ../t/flood.tar -C ../t/flood web
	lg_status 2 --state-dir ../small/state deploy ../t/flood.tar
	expect_match "$stderr" "'../t/flood.tar': refusing to unpack 'web/file[0-9]+': the tarball holds more than [0-9]+ entries, half the free inodes in '../small/state'"

	expect_equal "$(ls -A ../small/state/tmp)" ""
	lg_ok --state-dir ../small/state --json status
	expect_equal "$(jq -r .live_release <<<"$output")" 1
	expect_equal "$(cat bin/api)" "$(printf '#!/bin/sh\necho api v1')"
}

@test "--state-dir is refused inside, holding, or linked to a live path, as state_dir is" {
	make_stack
	lg_ok snapshot
	ln -s "$HOST/web" ../site
	local dir
	for dir in web web/state bin/api "$HOST/etc" .. ../host/web/state ../site/state; do
		lg_status 2 --state-dir "$dir" snapshot
		expect_match "$stderr" "^lastgood: lastgood.yml:[0-9]+:[0-9]+: file '[a-z/.]+' of service '[a-z]+' overlaps the state folder '$dir' \(--state-dir\)$"
		lg_status 2 --state-dir "$dir" status
	done
	[ ! -e web/state ] && [ ! -e ../site/state ]
	lg_ok --state-dir ../state status

	printf 'state_dir: ../site/state\n' >>lastgood.yml
	lg_status 2 snapshot
	expect_contains "$stderr" "file 'web' of service 'web' overlaps the state folder '$HOST/../site/state'"
	[ ! -e web/state ]
}
