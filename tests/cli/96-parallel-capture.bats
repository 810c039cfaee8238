#!/usr/bin/env bats
# Files are read and stored on several threads when a folder holds enough
# bytes (src/core/store/capture.c, capture_run_queue; src/util/parallel.c):
# the release must be the one a single thread records, and a failure on
# any thread must fail the snapshot as one would on the main thread.

load helpers

# data_config: lastgood.yml of one service whose files are data/.
data_config() {
	cat >lastgood.yml <<'YML'
services:
  app:
    manager: command
    start: ["true"]
    stop: ["true"]
    files: [data]
YML
}

# make_big_stack: one service whose tree holds 24 files of random bytes in
# three folders, 1.4 MiB a folder (a folder's files are read in parallel
# from 1 MiB), four copies of one of them, an empty file and a symbolic
# link.
make_big_stack() {
	data_config
	local d i
	for d in a b c; do
		mkdir -p "data/$d"
		for i in 1 2 3 4 5 6 7 8; do
			head -c $((160 * 1024 + i * 4096)) /dev/urandom >"data/$d/f$i.bin"
		done
	done
	for i in 1 2 3 4; do
		cp data/a/f1.bin "data/c/copy$i.bin"
	done
	: >data/b/empty
	ln -s ../a/f1.bin data/b/link
}

# release_digest: the digest of the newest release (its manifest).
release_digest() {
	lg_ok --json releases
	jq -r '.[0].digest' <<<"$output"
}

@test "a big tree is recorded the same on four threads as on one, and can be restored" {
	make_big_stack
	LASTGOOD_THREADS=1 lg_ok snapshot
	one=$(release_digest)
	rm -rf .lastgood
	# strace -f follows the threads: proof that helpers were started
	ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" LASTGOOD_THREADS=4 \
		run --separate-stderr strace -f -qq -o "$BATS_TEST_TMPDIR/trace" \
		-e trace=clone,clone3 "$LG" snapshot
	expect_equal "$status" 0
	expect_equal "$output" 1
	[ "$(grep -c 'clone' "$BATS_TEST_TMPDIR/trace")" -ge 1 ]
	expect_equal "$(release_digest)" "$one"
	# every object is stored once: 25 distinct contents (24 random files
	# and the empty one), the manifest and the config
	expect_equal "$(find .lastgood/objects -type f | wc -l)" 27
	for f in data/a/f3.bin data/c/copy2.bin data/b/empty; do
		obj=$(object_path "$(sha "$f")")
		[ -n "$obj" ]
		expect_equal "$(sha "$obj")" "$(sha "$f")"
	done
	lg_ok fsck
	before=$(find data -type f -exec sha256sum {} + | sort)
	head -c 5000 /dev/urandom >data/b/f4.bin
	rm data/c/f8.bin
	lg_ok snapshot
	lg_ok rollback 1
	expect_equal "$(find data -type f -exec sha256sum {} + | sort)" "$before"
	expect_equal "$(readlink data/b/link)" ../a/f1.bin
}

@test "a copy failing on a helper thread fails the snapshot and leaves nothing behind" {
	make_big_stack
	# a second later, so the stat cache trusts the files left unchanged
	# below and only data/a is read again
	sleep 1.1
	lg_ok snapshot
	for i in 1 2 3 4 5 6 7 8; do
		head -c 200000 /dev/urandom >"data/a/f$i.bin"
	done
	# every thread's second copy into the store fails (data/a's eight
	# files are read on four threads)
	ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" LASTGOOD_THREADS=4 \
		run --separate-stderr strace -f -qq -o "$BATS_TEST_TMPDIR/trace" -e trace=copy_file_range,clone,clone3 \
		-e inject=copy_file_range:error=EIO:when=2 "$LG" snapshot
	expect_equal "$status" 1
	[ "$(grep -c 'clone' "$BATS_TEST_TMPDIR/trace")" -ge 1 ]
	expect_equal "$(wc -l <<<"$stderr")" 1
	expect_match "$stderr" "^lastgood: .*cannot copy '.*/data/a/f[1-8]\.bin': Input/output error$"
	expect_equal "$(ls -A .lastgood/tmp)" ""
	lg_ok --json releases
	expect_equal "$(jq length <<<"$output")" 1
	lg_ok fsck
	# and the next try records it
	lg_ok snapshot
	expect_equal "$output" 2
}

@test "one file changed in each of many folders: read together on several threads, recorded as on one" {
	data_config
	local d
	# 30 folders of 3 files: too few entries a folder to inspect them on
	# threads, and 40 KiB a folder, far from the 1 MiB that starts them
	for d in $(seq -w 1 30); do
		mkdir -p "data/d$d"
		head -c 40960 /dev/urandom >"data/d$d/a"
		head -c 40960 /dev/urandom >"data/d$d/b"
		echo "$d" >"data/d$d/c"
	done
	sleep 1.1
	lg_ok snapshot
	for d in $(seq -w 1 30); do
		head -c 40960 /dev/urandom >"data/d$d/b"
	done
	local want
	want=$(find data -type f -exec sha256sum {} + | sort)
	# the 30 changed files, 1.2 MiB in all, are one queue: threads start
	ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" LASTGOOD_THREADS=4 \
		run --separate-stderr strace -f -qq -o "$BATS_TEST_TMPDIR/trace" \
		-e trace=clone,clone3 "$LG" snapshot
	expect_equal "$status" 0
	expect_equal "$output" 2
	[ "$(grep -c 'clone' "$BATS_TEST_TMPDIR/trace")" -ge 1 ]
	local two
	two=$(release_digest)
	lg_ok fsck
	lg_ok rollback 1
	lg_ok rollback 2
	expect_equal "$(find data -type f -exec sha256sum {} + | sort)" "$want"
	rm -rf .lastgood
	LASTGOOD_THREADS=1 lg_ok snapshot
	expect_equal "$(release_digest)" "$two"
}
