/*
 * Unit tests for the content store (core/store/objects.c): dedupe, read-only
 * objects, verified copies, damage detection and repair, tmp/ cleanup.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/state.h"
#include "core/store.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/strbuf.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* sha256("hello\n") */
#define HELLO_DIGEST "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"

/* A state folder laid out by hand, without a database: the store must
 * never need one. */
static int setup(void **state)
{
	struct state *st = xcalloc(1, sizeof(*st));
	char template[] = "/tmp/lastgood-store-XXXXXX";
	assert_non_null(mkdtemp(template));
	st->dir = xstrdup(template);
	store_init(&st->store, st->dir);
	st->lock_fd = -1;
	assert_int_equal(mkdir(st->store.objects_dir, 0700), 0);
	assert_int_equal(mkdir(st->store.tmp_dir, 0700), 0);
	*state = st;
	return 0;
}

static int teardown(void **state)
{
	struct state *st = *state;
	struct error err = ERROR_INIT;
	/* Objects are 0444 in 0700 folders; removal only needs the folders. */
	assert_int_equal(fs_remove_tree(st->dir, &err), 0);
	free(st->dir);
	store_release(&st->store);
	free(st);
	return 0;
}

static void put_hello(struct state *st, char digest[HASH_HEX_SIZE], int *added)
{
	struct error err = ERROR_INIT;
	assert_int_equal(store_put_buffer(&st->store, "hello\n", 6, digest, added, &err), 0);
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;
	assert_non_null(d);
	while ((de = readdir(d)))
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	return n;
}

/* Overwrite an object's bytes in place, as disk damage would. */
static void damage(struct state *st, const char *digest, const char *bytes)
{
	char *path = store_object_path(&st->store, digest);
	assert_int_equal(chmod(path, 0644), 0);
	int fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(fs_write_all(fd, bytes, strlen(bytes)), 0);
	close(fd);
	free(path);
}

static void test_put_dedupes(void **state)
{
	struct state *st = *state;
	struct error err = ERROR_INIT;
	char d1[HASH_HEX_SIZE], d2[HASH_HEX_SIZE], d3[HASH_HEX_SIZE];
	int added;
	long long size;

	put_hello(st, d1, &added);
	assert_string_equal(d1, HELLO_DIGEST);
	assert_int_equal(added, 1);
	put_hello(st, d2, &added);
	assert_int_equal(added, 0);

	/* The same bytes from a descriptor land on the same object. */
	char *src = path_join(st->dir, "src");
	assert_int_equal(fs_write_atomic(src, "hello\n", 6, 0600, &err), 0);
	int fd = open(src, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(store_put_fd(&st->store, fd, src, d3, &added, &size, &err), 0);
	close(fd);
	free(src);
	assert_string_equal(d3, HELLO_DIGEST);
	assert_int_equal(added, 0);
	assert_int_equal(size, 6);
	assert_true(store_has(&st->store, HELLO_DIGEST));

	/* Nothing is left behind in tmp/. */
	struct strbuf sb = STRBUF_INIT;
	assert_int_equal(store_read(&st->store, HELLO_DIGEST, &sb, &err), 0);
	assert_string_equal(sb.buf, "hello\n");
	strbuf_release(&sb);
	assert_int_equal(count_entries(st->store.tmp_dir), 0);
}

/* put `text` from a file through the batch. */
static void batch_put_text(struct state *st, struct store_batch *batch, const char *text,
			   char digest[HASH_HEX_SIZE], int *added)
{
	struct error err = ERROR_INIT;
	long long size;
	char *src = path_join(st->dir, "src");
	assert_int_equal(fs_write_atomic(src, text, strlen(text), 0600, &err), 0);
	int fd = open(src, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(store_batch_put_fd(batch, fd, src, digest, added, &size, &err), 0);
	assert_int_equal(size, (long long)strlen(text));
	close(fd);
	unlink(src);
	free(src);
}

/* Enough objects for the syncfs path, one of them twice: nothing is named
 * before the commit, everything is after, each once and intact. */
static void test_batch_commits_many(void **state)
{
	struct state *st = *state;
	struct error err = ERROR_INIT;
	struct store_batch batch;
	char digests[40][HASH_HEX_SIZE], again[HASH_HEX_SIZE];
	int added;

	store_batch_begin(&st->store, &batch);
	for (int i = 0; i < 40; i++) {
		char text[32];
		snprintf(text, sizeof(text), "object %d\n", i);
		batch_put_text(st, &batch, text, digests[i], &added);
		assert_int_equal(added, 1);
		assert_false(store_has(&st->store, digests[i]));
	}
	batch_put_text(st, &batch, "object 7\n", again, &added);
	assert_int_equal(added, 0);
	assert_string_equal(again, digests[7]);
	assert_int_equal(count_entries(st->store.tmp_dir), 40);

	assert_int_equal(store_batch_commit(&batch, &err), 0);
	for (int i = 0; i < 40; i++)
		assert_int_equal(store_verify(&st->store, digests[i], &err), 0);
	assert_int_equal(count_entries(st->store.tmp_dir), 0);

	/* Content already in the store is not added again. */
	store_batch_begin(&st->store, &batch);
	batch_put_text(st, &batch, "object 3\n", again, &added);
	assert_int_equal(added, 0);
	assert_int_equal(store_batch_commit(&batch, &err), 0);
	assert_int_equal(count_entries(st->store.tmp_dir), 0);
}

static void test_batch_abort_leaves_nothing(void **state)
{
	struct state *st = *state;
	struct store_batch batch;
	char d1[HASH_HEX_SIZE], d2[HASH_HEX_SIZE];
	int added;

	store_batch_begin(&st->store, &batch);
	batch_put_text(st, &batch, "one\n", d1, &added);
	batch_put_text(st, &batch, "two\n", d2, &added);
	store_batch_abort(&batch);
	assert_false(store_has(&st->store, d1));
	assert_false(store_has(&st->store, d2));
	assert_int_equal(count_entries(st->store.tmp_dir), 0);
}

static void test_objects_are_read_only(void **state)
{
	struct state *st = *state;
	char digest[HASH_HEX_SIZE];
	int added;
	struct stat sb;

	put_hello(st, digest, &added);
	char *path = store_object_path(&st->store, digest);
	assert_int_equal(lstat(path, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	assert_int_equal(sb.st_mode & 07777, 0444);
	/* The fan-out folder is private like the store. */
	char *dir = path_dirname(path);
	assert_int_equal(lstat(dir, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0700);
	free(dir);
	free(path);
}

/* store_materialize_fd into a new file at dest, as a stage makes them;
 * the file is removed when it fails, as a stage is. */
static int materialize(struct state *st, const char *digest, const char *dest,
		       struct error *err)
{
	int fd = open(dest, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	int rc = store_materialize_fd(&st->store, digest, fd, dest, 1, err);
	assert_int_equal(close(fd), 0);
	if (rc < 0)
		assert_int_equal(unlink(dest), 0);
	return rc;
}

static void test_materialize_copies(void **state)
{
	struct state *st = *state;
	struct error err = ERROR_INIT;
	char digest[HASH_HEX_SIZE];
	int added;

	put_hello(st, digest, &added);
	char *dest = path_join(st->dir, "copy");
	assert_int_equal(materialize(st, digest, dest, &err), 0);
	struct strbuf content = STRBUF_INIT;
	assert_int_equal(fs_read_file(dest, &content, &err), 0);
	assert_string_equal(content.buf, "hello\n");
	strbuf_release(&content);
	free(dest);
}

/* Blocks a file takes on disk, in bytes. */
static long long disk_bytes(const char *path)
{
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	return (long long)sb.st_blocks * 512;
}

/*
 * A sparse file (64 MiB, 4 KiB of data in the middle) is stored and put
 * back with its holes: a few KiB on disk each time, where a plain copy
 * takes 64 MiB. Its digest is that of its logical content, holes read as
 * zeros, whatever the layout.
 */
static void test_sparse_files_stay_sparse(void **state)
{
	struct state *st = *state;
	struct error err = ERROR_INIT;
	char digest[HASH_HEX_SIZE], want[HASH_HEX_SIZE];
	int added;
	long long size;
	const long long logical = 64LL << 20, at = 32LL << 20;
	char block[4096];

	char *src = path_join(st->dir, "sparse");
	int fd = open(src, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	memset(block, 'x', sizeof(block));
	assert_int_equal(pwrite(fd, block, sizeof(block), at), (ssize_t)sizeof(block));
	assert_int_equal(ftruncate(fd, logical), 0);
	assert_int_equal(fsync(fd), 0);
	if (disk_bytes(src) > (1 << 20)) {
		close(fd);
		free(src);
		skip();   /* a file system without holes */
	}
	assert_int_equal(store_put_fd(&st->store, fd, src, digest, &added, &size, &err), 0);
	close(fd);
	assert_int_equal(size, logical);

	struct hasher h;
	char *zeros = xcalloc(1, 1 << 20);
	hasher_init(&h);
	for (long long done = 0; done < logical; done += 1 << 20) {
		if (done == (at & ~((1LL << 20) - 1))) {
			memcpy(zeros + (at - done), block, sizeof(block));
			hasher_update(&h, zeros, 1 << 20);
			memset(zeros + (at - done), 0, sizeof(block));
		} else {
			hasher_update(&h, zeros, 1 << 20);
		}
	}
	hasher_final(&h, want);
	free(zeros);
	assert_string_equal(digest, want);

	char *object = store_object_path(&st->store, digest);
	assert_true(disk_bytes(object) < (1 << 20));
	char *dest = path_join(st->dir, "copy");
	assert_int_equal(materialize(st, digest, dest, &err), 0);
	assert_true(disk_bytes(dest) < (1 << 20));
	struct stat sb;
	assert_int_equal(stat(dest, &sb), 0);
	assert_int_equal(sb.st_size, logical);
	assert_int_equal(store_verify(&st->store, digest, &err), 0);
	free(dest);
	free(object);
	free(src);
}

static void test_corrupt_object_detected(void **state)
{
	struct state *st = *state;
	struct error err = ERROR_INIT;
	char digest[HASH_HEX_SIZE];
	int added;

	put_hello(st, digest, &added);
	damage(st, digest, "HELLO\n");

	assert_int_equal(store_verify(&st->store, digest, &err), -1);
	assert_int_equal(err.kind, ERROR_FAILED);
	assert_non_null(strstr(err.msg, "object '5891b5b522d5' is corrupt (expected 5891b5b522d5, got "));
	error_clear(&err);
	assert_int_equal(store_check(&st->store, digest, &err), STORE_CORRUPT);

	char *dest = path_join(st->dir, "copy");
	error_clear(&err);
	assert_int_equal(materialize(st, digest, dest, &err), -1);
	assert_non_null(strstr(err.msg, "is corrupt"));
	free(dest);

	struct strbuf sb = STRBUF_INIT;
	strbuf_addstr(&sb, "kept");
	assert_int_equal(store_read(&st->store, digest, &sb, &err), -1);
	assert_string_equal(sb.buf, "kept");
	strbuf_release(&sb);
}

static void test_truncated_object_repaired_by_put(void **state)
{
	struct state *st = *state;
	struct error err = ERROR_INIT;
	char digest[HASH_HEX_SIZE];
	int added;

	put_hello(st, digest, &added);
	damage(st, digest, "hel");
	assert_int_equal(store_verify(&st->store, digest, &err), -1);
	put_hello(st, digest, &added);
	assert_int_equal(added, 1);
	assert_int_equal(store_verify(&st->store, digest, &err), 0);
}

static void test_missing_object(void **state)
{
	struct state *st = *state;
	struct error err = ERROR_INIT;
	const char *digest = HELLO_DIGEST;

	assert_false(store_has(&st->store, digest));
	assert_int_equal(store_verify(&st->store, digest, &err), -1);
	assert_string_equal(err.msg, "object '5891b5b522d5' is missing from the store");
	assert_int_equal(store_check(&st->store, digest, &err), STORE_MISSING);

	char *dest = path_join(st->dir, "copy");
	assert_int_equal(materialize(st, digest, dest, &err), -1);
	assert_string_equal(err.msg, "object '5891b5b522d5' is missing from the store");
	free(dest);
}

static void test_bad_object_name(void **state)
{
	struct state *st = *state;
	struct error err = ERROR_INIT;

	assert_false(store_has(&st->store, "../../etc/passwd"));
	assert_int_equal(store_verify(&st->store, "../../etc/passwd", &err), -1);
	assert_string_equal(err.msg, "'../../etc/passwd' is not an object name");
	assert_int_equal(store_remove(&st->store, "ab", &err), -1);
}

static void test_clean_tmp(void **state)
{
	struct state *st = *state;
	struct error err = ERROR_INIT;
	char *stray = path_join(st->store.tmp_dir, "obj.4242.7");
	char *source = path_join(st->store.tmp_dir, "source-12");
	char *inside = path_join(source, "bin");

	/* Whatever a dead process left: a half-written object, an unpacked
	 * tarball with a read-only folder in it. */
	assert_int_equal(fs_write_atomic(stray, "x", 1, 0600, &err), 0);
	assert_int_equal(fs_mkdir_p(inside, 0700, &err), 0);
	assert_int_equal(chmod(inside, 0500), 0);
	assert_int_equal(store_clean_tmp(&st->store, &err), 0);
	assert_false(path_exists(stray));
	assert_false(path_exists(source));
	assert_true(path_exists(st->store.tmp_dir));
	free(stray);
	free(source);
	free(inside);
}

static int count_object(const char *digest, const char *path, void *ctx)
{
	struct strbuf *seen = ctx;
	assert_true(hash_is_valid_hex(digest));
	assert_true(path_exists(path));
	strbuf_addf(seen, "%.4s ", digest);
	return 0;
}

static void test_for_each_and_remove(void **state)
{
	struct state *st = *state;
	struct error err = ERROR_INIT;
	char a[HASH_HEX_SIZE], b[HASH_HEX_SIZE];
	int added;
	struct strbuf seen = STRBUF_INIT;

	assert_int_equal(store_put_buffer(&st->store, "a", 1, a, &added, &err), 0);
	assert_int_equal(store_put_buffer(&st->store, "b", 1, b, &added, &err), 0);
	/* Anything else in objects/ is not an object. */
	char *junk = path_join(st->store.objects_dir, "README");
	assert_int_equal(fs_write_atomic(junk, "x", 1, 0600, &err), 0);
	free(junk);

	assert_int_equal(store_for_each(&st->store, count_object, &seen, &err), 0);
	/* sha256("a") = ca97…, sha256("b") = 3e23…, in name order */
	assert_string_equal(seen.buf, "3e23 ca97 ");

	assert_int_equal(store_remove(&st->store, a, &err), 0);
	assert_false(store_has(&st->store, a));
	assert_int_equal(store_remove(&st->store, a, &err), 0);   /* already gone is fine */
	strbuf_reset(&seen);
	assert_int_equal(store_for_each(&st->store, count_object, &seen, &err), 0);
	assert_string_equal(seen.buf, "3e23 ");
	strbuf_release(&seen);
}

/* A damaged object leaves objects/ for the state folder's quarantine/,
 * whose name the store holds; a second one of that digest is kept beside
 * the first. */
static void test_quarantine(void **state)
{
	struct state *st = *state;
	struct error err = ERROR_INIT;
	char digest[HASH_HEX_SIZE], *where;
	int added;

	for (int round = 0; round < 2; round++) {
		put_hello(st, digest, &added);
		assert_true(added);
		damage(st, digest, "HELLO\n");
		assert_int_equal(store_quarantine(&st->store, digest, &where, &err), 0);
		char *expected = round ? xstrfmt("%s/quarantine/%s.1", st->dir, digest)
				       : xstrfmt("%s/quarantine/%s", st->dir, digest);
		assert_string_equal(where, expected);
		assert_true(path_exists(where));
		assert_false(store_has(&st->store, digest));
		free(expected);
		free(where);
	}
}

static int stop_at_first(const char *digest, const char *path, void *ctx)
{
	(void)digest;
	(void)path;
	(*(int *)ctx)++;
	return 7;
}

static void test_for_each_stops(void **state)
{
	struct state *st = *state;
	struct error err = ERROR_INIT;
	char d[HASH_HEX_SIZE];
	int added, calls = 0;

	assert_int_equal(store_put_buffer(&st->store, "a", 1, d, &added, &err), 0);
	assert_int_equal(store_put_buffer(&st->store, "b", 1, d, &added, &err), 0);
	assert_int_equal(store_for_each(&st->store, stop_at_first, &calls, &err), 7);
	assert_int_equal(calls, 1);
}

static void test_digest_set(void **state)
{
	(void)state;
	struct digest_set set = DIGEST_SET_INIT;
	char a[HASH_HEX_SIZE], b[HASH_HEX_SIZE], c[HASH_HEX_SIZE];

	hash_buffer("a", 1, a);
	hash_buffer("b", 1, b);
	hash_buffer("c", 1, c);
	digest_set_add(&set, b);
	digest_set_add(&set, a);
	digest_set_add(&set, b);
	digest_set_sort(&set);
	assert_int_equal(set.n, 2);
	assert_true(digest_set_has(&set, a));
	assert_true(digest_set_has(&set, b));
	assert_false(digest_set_has(&set, c));
	digest_set_clear(&set);
	assert_false(digest_set_has(&set, a));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_put_dedupes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_objects_are_read_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_commits_many, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_abort_leaves_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_materialize_copies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sparse_files_stay_sparse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_object_detected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_object_repaired_by_put, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_object, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_object_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clean_tmp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_for_each_and_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_for_each_stops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quarantine, setup, teardown),
		cmocka_unit_test(test_digest_set),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
