/*
 * Unit tests for manifests (core/store/): capturing live trees, the
 * canonical text form and its round trip, and a parser that trusts nothing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/config.h"
#include "core/manifest.h"
#include "core/state.h"
#include "core/store.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/strbuf.h"
#include "util/xattr.h"

#include <fcntl.h>
#include <ftw.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

struct fixture {
	struct state st;
	char *work;      /* where test trees are built */
};

/* A state laid out by hand with no database: manifests must not need one. */
static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	char template[] = "/tmp/lastgood-manifest-XXXXXX";
	assert_non_null(mkdtemp(template));
	f->work = xstrdup(template);
	f->st.dir = path_join(f->work, "state");
	store_init(&f->st.store, f->st.dir);
	f->st.lock_fd = -1;
	assert_int_equal(mkdir(f->st.dir, 0700), 0);
	assert_int_equal(mkdir(f->st.store.objects_dir, 0700), 0);
	assert_int_equal(mkdir(f->st.store.tmp_dir, 0700), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	struct error err = ERROR_INIT;
	assert_int_equal(fs_remove_tree(f->work, &err), 0);
	free(f->work);
	free(f->st.dir);
	store_release(&f->st.store);
	free(f);
	return 0;
}

/* Create work/rel with content and mode (parents made as needed). */
static char *write_file(struct fixture *f, const char *rel, const char *content, mode_t mode)
{
	struct error err = ERROR_INIT;
	char *path = path_join(f->work, rel);
	char *dir = path_dirname(path);
	assert_int_equal(fs_mkdir_p(dir, 0755, &err), 0);
	free(dir);
	assert_int_equal(fs_write_atomic(path, content, strlen(content), mode, &err), 0);
	return path;
}

static void make_dir(struct fixture *f, const char *rel, mode_t mode)
{
	char *path = path_join(f->work, rel);
	assert_int_equal(mkdir(path, mode), 0);
	assert_int_equal(chmod(path, mode), 0);
	free(path);
}

static void make_link(struct fixture *f, const char *rel, const char *target)
{
	char *path = path_join(f->work, rel);
	assert_int_equal(symlink(target, path), 0);
	free(path);
}

/* The tree most tests record: files, an empty folder, a link out. */
static char *make_tree(struct fixture *f, const char *top)
{
	struct strbuf rel = STRBUF_INIT;
	strbuf_addf(&rel, "%s/bin/api", top);
	free(write_file(f, rel.buf, "#!/bin/sh\necho api\n", 0755));
	strbuf_reset(&rel);
	strbuf_addf(&rel, "%s/etc/api.env", top);
	free(write_file(f, rel.buf, "PORT=8000\n", 0640));
	strbuf_reset(&rel);
	strbuf_addf(&rel, "%s/empty", top);
	make_dir(f, rel.buf, 0750);
	strbuf_reset(&rel);
	strbuf_addf(&rel, "%s/passwd", top);
	make_link(f, rel.buf, "/etc/passwd");
	strbuf_release(&rel);
	return path_join(f->work, top);
}

static const struct manifest_node *find_node(const struct manifest_entry *e, const char *rel)
{
	for (size_t i = 0; i < e->nnodes; i++)
		if (!strcmp(e->nodes[i].rel, rel))
			return &e->nodes[i];
	return NULL;
}

static void capture(struct fixture *f, const char *path, struct manifest_entry *e,
		    struct capture_stats *stats)
{
	struct error err = ERROR_INIT;
	int rc = manifest_capture_entry(&f->st, "api", path, path, 0, e, stats, &err);
	if (rc < 0)
		fail_msg("%s", err.msg);
}

static void test_capture_tree(void **state)
{
	struct fixture *f = *state;
	struct manifest_entry e;
	struct capture_stats stats = { 0 };
	char *top = make_tree(f, "app");

	capture(f, top, &e, &stats);
	assert_string_equal(e.service, "api");
	assert_string_equal(e.path, top);
	/* Sorted by rel, the entry itself first, every folder recorded. */
	const char *order[] = { "", "bin", "bin/api", "empty", "etc", "etc/api.env", "passwd" };
	assert_int_equal(e.nnodes, 7);
	for (size_t i = 0; i < 7; i++)
		assert_string_equal(e.nodes[i].rel, order[i]);

	const struct manifest_node *n = find_node(&e, "bin/api");
	assert_int_equal(n->type, NODE_FILE);
	assert_int_equal(n->mode, 0755);
	assert_int_equal(n->size, 19);
	assert_int_equal(n->uid, geteuid());
	char hex[HASH_HEX_SIZE];
	hash_to_hex(n->digest, hex);
	assert_true(store_has(&f->st.store, hex));

	n = find_node(&e, "etc/api.env");
	assert_int_equal(n->mode, 0640);
	n = find_node(&e, "empty");
	assert_int_equal(n->type, NODE_DIR);
	assert_int_equal(n->mode, 0750);

	/* A link out of the tree is recorded as a link, never followed. */
	n = find_node(&e, "passwd");
	assert_int_equal(n->type, NODE_SYMLINK);
	assert_string_equal(n->link, "/etc/passwd");

	assert_int_equal(stats.files, 2);
	assert_int_equal(stats.bytes, 19 + 10);
	assert_int_equal(stats.added_bytes, 19 + 10);

	/* Again: nothing new reaches the store. */
	struct manifest_entry again;
	struct capture_stats stats2 = { 0 };
	capture(f, top, &again, &stats2);
	assert_int_equal(stats2.added_bytes, 0);
	assert_string_equal(again.digest, e.digest);
	manifest_entry_free(&again);
	manifest_entry_free(&e);
	free(top);
}

/* A real state database in the fixture's folder, and a tree to capture
 * whose files are old enough for the stat cache to trust (older than the
 * second a capture starts in). */
struct cache_case {
	struct state db;
	char *dir;
	char *top;
};

static void cache_case_open(struct fixture *f, struct cache_case *c)
{
	struct error err = ERROR_INIT;
	c->dir = path_join(f->work, "db-state");
	c->top = make_tree(f, "cached");
	if (state_open(&c->db, c->dir, STATE_CREATE, &err) < 0)
		fail_msg("%s", err.msg);
	usleep(1100 * 1000);
}

static void cache_case_close(struct cache_case *c)
{
	state_close(&c->db);
	free(c->top);
	free(c->dir);
}

/* A VFS that is the default one except that, once armed, every sync of
 * the state database fails as a dying disk's would. The default VFS gives
 * each kind of file its own methods (the database locks, its journal does
 * not), so each table gets its own copy with xSync replaced. */
#define FAILING_KINDS 4
static sqlite3_vfs *real_vfs;
static const sqlite3_io_methods *real_io[FAILING_KINDS];
static sqlite3_io_methods failing_io[FAILING_KINDS];
static sqlite3_vfs failing_vfs;
static int syncs_fail;

static int failing_sync(sqlite3_file *file, int flags)
{
	if (syncs_fail)
		return SQLITE_IOERR_FSYNC;
	for (int i = 0; i < FAILING_KINDS; i++)
		if (file->pMethods == &failing_io[i])
			return real_io[i]->xSync(file, flags);
	return SQLITE_IOERR_FSYNC;
}

static int failing_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
			int *out_flags)
{
	(void)vfs;
	int rc = real_vfs->xOpen(real_vfs, name, file, flags, out_flags);
	if (rc != SQLITE_OK || !file->pMethods)
		return rc;
	int i = 0;
	while (i < FAILING_KINDS && real_io[i] && real_io[i] != file->pMethods)
		i++;
	assert_true(i < FAILING_KINDS);
	if (!real_io[i]) {
		real_io[i] = file->pMethods;
		failing_io[i] = *file->pMethods;
		failing_io[i].xSync = failing_sync;
	}
	file->pMethods = &failing_io[i];
	return rc;
}

static void failing_vfs_install(void)
{
	real_vfs = sqlite3_vfs_find(NULL);
	assert_non_null(real_vfs);
	failing_vfs = *real_vfs;
	failing_vfs.zName = "lastgood-failing-sync";
	failing_vfs.pNext = NULL;
	failing_vfs.xOpen = failing_open;
	assert_int_equal(sqlite3_vfs_register(&failing_vfs, 1), SQLITE_OK);
}

static void failing_vfs_remove(void)
{
	assert_int_equal(sqlite3_vfs_register(real_vfs, 1), SQLITE_OK);
	assert_int_equal(sqlite3_vfs_unregister(&failing_vfs), SQLITE_OK);
}

/*
 * A stat cache whose COMMIT fails (its sync did) fails the capture, with
 * the error, and keeps none of its rows: a failed sync is never followed
 * by success.
 */
static void test_stat_cache_commit_failure(void **state)
{
	struct error err = ERROR_INIT;
	struct cache_case c;
	struct manifest_entry e;
	struct capture_stats stats = { 0 };

	failing_vfs_install();
	cache_case_open(*state, &c);
	syncs_fail = 1;
	assert_int_equal(manifest_capture_entry(&c.db, "api", c.top, c.top, 0, &e, &stats, &err), -1);
	syncs_fail = 0;
	assert_int_equal(err.kind, ERROR_FAILED);
	assert_non_null(strstr(err.msg, "cannot record the files read (stat cache)"));
	assert_non_null(strstr(err.msg, "disk I/O error"));
	assert_int_equal(e.nnodes, 0);

	/* Nothing was kept: the next capture reads every file again. */
	error_clear(&err);
	memset(&stats, 0, sizeof(stats));
	assert_int_equal(manifest_capture_entry(&c.db, "api", c.top, c.top, 0, &e, &stats, &err), 0);
	assert_int_equal(stats.files_read, 2);
	manifest_entry_free(&e);
	cache_case_close(&c);
	failing_vfs_remove();
}

/*
 * The stat cache, against a real state database: an unchanged file is
 * not read again; one rewritten with its size and mtime kept is (ctime
 * tells); one whose mtime is not older than the capture is read every
 * time (racily clean).
 */
static void test_stat_cache(void **state)
{
	struct error err = ERROR_INIT;
	struct cache_case c;
	struct manifest_entry e;
	struct capture_stats stats = { 0 };

	cache_case_open(*state, &c);
	struct state *db = &c.db;
	const char *top = c.top;
	char *env = path_join(top, "etc/api.env");
	assert_int_equal(manifest_capture_entry(db, "api", top, top, 0, &e, &stats, &err), 0);
	assert_int_equal(stats.files_read, 2);
	unsigned char first[HASH_SIZE];
	memcpy(first, find_node(&e, "etc/api.env")->digest, HASH_SIZE);
	manifest_entry_free(&e);

	memset(&stats, 0, sizeof(stats));
	assert_int_equal(manifest_capture_entry(db, "api", top, top, 0, &e, &stats, &err), 0);
	assert_int_equal(stats.files, 2);
	assert_int_equal(stats.files_read, 0);
	assert_memory_equal(find_node(&e, "etc/api.env")->digest, first, HASH_SIZE);
	manifest_entry_free(&e);

	/* Same size, other bytes, the old mtime put back. */
	struct stat sb;
	assert_int_equal(stat(env, &sb), 0);
	int fd = open(env, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "PORT=9000\n", 10, 0), 10);
	struct timespec times[2] = { sb.st_atim, sb.st_mtim };
	assert_int_equal(futimens(fd, times), 0);
	close(fd);
	memset(&stats, 0, sizeof(stats));
	assert_int_equal(manifest_capture_entry(db, "api", top, top, 0, &e, &stats, &err), 0);
	assert_int_equal(stats.files_read, 1);
	char want[HASH_HEX_SIZE], got[HASH_HEX_SIZE];
	hash_buffer("PORT=9000\n", 10, want);
	hash_to_hex(find_node(&e, "etc/api.env")->digest, got);
	assert_string_equal(got, want);
	manifest_entry_free(&e);

	/* An mtime ahead of the capture: never trusted. */
	struct timespec ahead[2] = { { 0, UTIME_OMIT }, { time(NULL) + 60, 0 } };
	assert_int_equal(utimensat(AT_FDCWD, env, ahead, 0), 0);
	usleep(1100 * 1000);
	for (int i = 0; i < 2; i++) {
		memset(&stats, 0, sizeof(stats));
		assert_int_equal(manifest_capture_entry(db, "api", top, top, 0, &e, &stats, &err), 0);
		assert_int_equal(stats.files_read, 1);
		manifest_entry_free(&e);
	}
	cache_case_close(&c);
	free(env);
}

/* Capture the case's tree into *e: how many files it read (the rest the
 * stat cache vouched for). */
static long cache_case_capture(struct cache_case *c, int check_store, struct manifest_entry *e)
{
	struct error err = ERROR_INIT;
	struct capture_stats stats = { 0 };
	if (manifest_capture_entry(&c->db, "api", c->top, c->top, check_store, e, &stats,
				   &err) < 0)
		fail_msg("%s", err.msg);
	return stats.files_read;
}

static long cache_case_reads(struct cache_case *c, int check_store)
{
	struct manifest_entry e;
	long reads = cache_case_capture(c, check_store, &e);
	manifest_entry_free(&e);
	return reads;
}

/*
 * A capture that does not check the store takes a cached file even when
 * its object is gone; one that checks it reads the file again and puts the
 * object back. manifest_cache_forget drops the rows keep says no to, and
 * only those: their files are read by the next capture.
 */
static void test_stat_cache_store_check(void **state)
{
	struct error err = ERROR_INIT;
	struct cache_case c;
	struct manifest_entry e;
	struct capture_stats stats = { 0 };
	char env[HASH_HEX_SIZE + 1], other[HASH_HEX_SIZE + 1];

	cache_case_open(*state, &c);
	assert_int_equal(manifest_capture_entry(&c.db, "api", c.top, c.top, 0, &e, &stats, &err), 0);
	assert_int_equal(stats.files_read, 2);
	hash_to_hex(find_node(&e, "etc/api.env")->digest, env);
	for (size_t i = 0; i < e.nnodes; i++)
		if (e.nodes[i].type == NODE_FILE && strcmp(e.nodes[i].rel, "etc/api.env"))
			hash_to_hex(e.nodes[i].digest, other);
	manifest_entry_free(&e);
	assert_int_equal(store_remove(&c.db.store, env, &err), 0);

	assert_int_equal(cache_case_reads(&c, 0), 0);
	assert_false(store_has(&c.db.store, env));

	assert_int_equal(cache_case_reads(&c, 1), 1);
	assert_true(store_has(&c.db.store, env));

	/* env's row kept, the other file's dropped: that one alone is read */
	struct digest_set kept = DIGEST_SET_INIT;
	digest_set_add(&kept, env);
	digest_set_sort(&kept);
	assert_int_equal(manifest_cache_forget(&c.db, &kept, &err), 0);
	digest_set_clear(&kept);
	assert_int_equal(store_remove(&c.db.store, other, &err), 0);
	assert_int_equal(cache_case_reads(&c, 0), 1);
	assert_true(store_has(&c.db.store, other));
	cache_case_close(&c);
}

static void test_capture_single_file_and_link(void **state)
{
	struct fixture *f = *state;
	struct manifest_entry e;
	char *file = write_file(f, "api.env", "X=1\n", 0600);
	char *link = path_join(f->work, "current");
	assert_int_equal(symlink("releases/7", link), 0);

	capture(f, file, &e, NULL);
	assert_int_equal(e.nnodes, 1);
	assert_string_equal(e.nodes[0].rel, "");
	assert_int_equal(e.nodes[0].type, NODE_FILE);
	assert_int_equal(e.nodes[0].mode, 0600);
	manifest_entry_free(&e);

	capture(f, link, &e, NULL);
	assert_int_equal(e.nnodes, 1);
	assert_int_equal(e.nodes[0].type, NODE_SYMLINK);
	assert_string_equal(e.nodes[0].link, "releases/7");
	manifest_entry_free(&e);
	free(file);
	free(link);
}

static void test_special_file_refused(void **state)
{
	struct fixture *f = *state;
	struct manifest_entry e;
	struct error err = ERROR_INIT;
	char *top = make_tree(f, "app");
	char *fifo = path_join(top, "etc/control");
	assert_int_equal(mkfifo(fifo, 0600), 0);

	assert_int_equal(manifest_capture_entry(&f->st, "api", top, top, 0, &e, NULL, &err), -1);
	assert_int_equal(err.kind, ERROR_FAILED);
	struct strbuf want = STRBUF_INIT;
	strbuf_addf(&want, "'%s': special file (fifo) cannot be recorded", fifo);
	assert_string_equal(err.msg, want.buf);
	assert_null(e.nodes);   /* left empty */
	strbuf_release(&want);

	assert_int_equal(manifest_capture_entry(&f->st, "api", fifo, fifo, 0, &e, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "special file (fifo)"));
	free(fifo);
	free(top);
}

static void test_missing_source(void **state)
{
	struct fixture *f = *state;
	struct manifest_entry e;
	struct error err = ERROR_INIT;
	char *path = path_join(f->work, "nope");

	assert_int_equal(manifest_capture_entry(&f->st, "api", path, path, 0, &e, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "cannot inspect '"));
	assert_non_null(strstr(err.msg, "No such file"));
	free(path);
}

/* Capture two entries into a manifest by way of a hand-made config. */
static void capture_config(struct fixture *f, char *paths[2], struct manifest *m)
{
	struct service_file files[2] = { { NULL, paths[0], { 1, 1 } },
					 { NULL, paths[1], { 2, 1 } } };
	struct service services[2];
	struct config cfg;
	struct error err = ERROR_INIT;
	struct capture_stats stats;

	memset(services, 0, sizeof(services));
	memset(&cfg, 0, sizeof(cfg));
	services[0].name = "web";
	services[0].files = &files[0];
	services[0].nfiles = 1;
	services[1].name = "api";
	services[1].files = &files[1];
	services[1].nfiles = 1;
	cfg.services = services;
	cfg.nservices = 2;
	if (manifest_capture(&f->st, &cfg, 0, m, &stats, &err) < 0)
		fail_msg("%s", err.msg);
}

static void test_capture_config_sorted_and_found(void **state)
{
	struct fixture *f = *state;
	struct manifest m = MANIFEST_INIT;
	char *paths[2] = { make_tree(f, "z-web"), write_file(f, "a-api.env", "A=1\n", 0644) };

	capture_config(f, paths, &m);
	assert_int_equal(m.n, 2);
	assert_string_equal(m.entries[0].path, paths[1]);    /* sorted by path */
	assert_string_equal(m.entries[0].service, "api");
	assert_string_equal(m.entries[1].service, "web");
	assert_ptr_equal(manifest_find(&m, paths[0]), &m.entries[1]);
	assert_null(manifest_find(&m, "/nowhere"));

	long files;
	long long bytes;
	manifest_totals(&m, &files, &bytes);
	assert_int_equal(files, 3);
	assert_int_equal(bytes, 19 + 10 + 4);

	struct manifest copy = MANIFEST_INIT;
	manifest_add_copy(&copy, &m.entries[1]);
	assert_string_equal(copy.entries[0].digest, m.entries[1].digest);
	assert_string_equal(copy.entries[0].nodes[6].link, "/etc/passwd");
	manifest_free(&copy);
	manifest_free(&m);
	free(paths[0]);
	free(paths[1]);
}

static void test_capture_config_rejects_one_path_twice(void **state)
{
	struct fixture *f = *state;
	struct manifest m = MANIFEST_INIT;
	char *file = write_file(f, "shared.env", "A=1\n", 0644);
	struct service_file files[1] = { { NULL, file, { 1, 1 } } };
	struct service services[2];
	struct config cfg;
	struct error err = ERROR_INIT;

	memset(services, 0, sizeof(services));
	memset(&cfg, 0, sizeof(cfg));
	services[0].name = "web";
	services[1].name = "api";
	for (int i = 0; i < 2; i++) {
		services[i].files = files;
		services[i].nfiles = 1;
	}
	cfg.services = services;
	cfg.nservices = 2;
	assert_int_equal(manifest_capture(&f->st, &cfg, 0, &m, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "is listed twice"));
	assert_int_equal(m.n, 0);
	free(file);
}

static void round_trip(const struct manifest *m, struct strbuf *text)
{
	struct manifest parsed = MANIFEST_INIT;
	struct error err = ERROR_INIT;
	struct strbuf again = STRBUF_INIT;

	manifest_serialize(m, text);
	if (manifest_parse(text->buf, text->len, &parsed, &err) < 0)
		fail_msg("%s", err.msg);
	manifest_serialize(&parsed, &again);
	assert_int_equal(again.len, text->len);
	assert_memory_equal(again.buf, text->buf, text->len);
	strbuf_release(&again);
	manifest_free(&parsed);
}

static void test_round_trip_byte_identical(void **state)
{
	struct fixture *f = *state;
	struct manifest m = MANIFEST_INIT;
	struct strbuf text = STRBUF_INIT;
	char *paths[2] = { make_tree(f, "web"), write_file(f, "api.env", "A=1\n", 0644) };

	capture_config(f, paths, &m);
	round_trip(&m, &text);
	assert_int_equal(strncmp(text.buf, "lastgood-manifest 2\nE\tapi\t", 26), 0);

	/* Through the store: the digest names the text. */
	char digest[HASH_HEX_SIZE], want[HASH_HEX_SIZE];
	struct error err = ERROR_INIT;
	struct manifest loaded = MANIFEST_INIT;
	assert_int_equal(manifest_store(&f->st.store, &m, digest, &err), 0);
	hash_buffer(text.buf, text.len, want);
	assert_string_equal(digest, want);
	assert_int_equal(manifest_load(&f->st.store, digest, &loaded, &err), 0);
	assert_int_equal(loaded.n, 2);
	assert_string_equal(loaded.entries[1].digest, m.entries[1].digest);
	manifest_free(&loaded);

	strbuf_release(&text);
	manifest_free(&m);
	free(paths[0]);
	free(paths[1]);
}

static void test_names_with_any_byte(void **state)
{
	struct fixture *f = *state;
	struct manifest m = MANIFEST_INIT;
	struct strbuf text = STRBUF_INIT;
	struct manifest parsed = MANIFEST_INIT;
	struct error err = ERROR_INIT;

	free(write_file(f, "odd\tdir/new\nline", "x", 0644));
	free(write_file(f, "odd\tdir/back\\slash \x01\xff", "y", 0644));
	make_link(f, "odd\tdir/link", "target\twith\ttabs\n");
	char *top = path_join(f->work, "odd\tdir");

	struct manifest_entry e;
	capture(f, top, &e, NULL);
	manifest_add_copy(&m, &e);
	manifest_entry_free(&e);

	round_trip(&m, &text);
	assert_null(memchr(text.buf, '\r', text.len));
	/* Each record is exactly one line: 1 header, 1 entry, 4 nodes. */
	size_t lines = 0;
	for (size_t i = 0; i < text.len; i++)
		lines += text.buf[i] == '\n';
	assert_int_equal(lines, 6);

	assert_int_equal(manifest_parse(text.buf, text.len, &parsed, &err), 0);
	assert_string_equal(parsed.entries[0].path, top);
	assert_non_null(find_node(&parsed.entries[0], "new\nline"));
	assert_non_null(find_node(&parsed.entries[0], "back\\slash \x01\xff"));
	assert_string_equal(find_node(&parsed.entries[0], "link")->link, "target\twith\ttabs\n");
	manifest_free(&parsed);
	manifest_free(&m);
	strbuf_release(&text);
	free(top);
}

static const struct timespec *fixed_time;

static int set_fixed_time(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	struct timespec times[2] = { *fixed_time, *fixed_time };
	return utimensat(AT_FDCWD, path, times, AT_SYMLINK_NOFOLLOW);
}

/* Every node of the tree at top gets the mtime when. */
static void set_tree_time(const char *top, const struct timespec *when)
{
	fixed_time = when;
	assert_int_equal(nftw(top, set_fixed_time, 16, FTW_PHYS), 0);
}

/*
 * What a version 2 capture keeps beyond mode and owner: each node's mtime
 * to the nanosecond, its extended attributes, and two names of one file
 * in the entry as a file and a hard link to it (the first name in order
 * keeps the file). A name outside the entry leaves the file a file.
 */
static void test_capture_metadata(void **state)
{
	struct fixture *f = *state;
	struct manifest_entry e;
	char *top = make_tree(f, "meta");
	char *api = path_join(top, "bin/api");
	char *alias = path_join(top, "etc/api-alias");
	char *outside = path_join(f->work, "outside");
	const struct timespec when = { 1600000000, 987654321 };

	assert_int_equal(link(api, alias), 0);
	char *env = path_join(top, "etc/api.env");
	assert_int_equal(link(env, outside), 0);
	assert_int_equal(setxattr(api, "user.b", "2", 1, 0), 0);
	assert_int_equal(setxattr(api, "user.a", "", 0, 0), 0);
	set_tree_time(top, &when);

	capture(f, top, &e, NULL);
	const struct manifest_node *n = find_node(&e, "bin/api");
	assert_int_equal(n->mtime_sec, when.tv_sec);
	assert_int_equal(n->mtime_nsec, when.tv_nsec);
	assert_null(n->link);
	assert_non_null(n->xattrs);
	assert_int_equal(n->xattrs->n, 2);
	assert_string_equal(n->xattrs->v[0].name, "user.a");
	assert_int_equal(n->xattrs->v[0].len, 0);
	assert_string_equal(n->xattrs->v[1].name, "user.b");
	assert_memory_equal(n->xattrs->v[1].value, "2", 1);
	/* bin/api sorts before etc/api-alias: the alias is the link */
	n = find_node(&e, "etc/api-alias");
	assert_true(MANIFEST_NODE_IS_HARD_LINK(n));
	assert_string_equal(n->link, "bin/api");
	assert_null(find_node(&e, "etc/api.env")->link);
	n = find_node(&e, "passwd");
	assert_int_equal(n->type, NODE_SYMLINK);
	assert_int_equal(n->mtime_sec, when.tv_sec);
	n = find_node(&e, "");
	assert_int_equal(n->mtime_nsec, when.tv_nsec);

	/* the text keeps all of it */
	struct manifest m = MANIFEST_INIT;
	struct strbuf text = STRBUF_INIT;
	manifest_add_copy(&m, &e);
	round_trip(&m, &text);
	assert_non_null(strstr(text.buf, "\nH\t/etc/api-alias\t/bin/api\n"));
	assert_non_null(strstr(text.buf, "\t1600000000.987654321\nX\tuser.a\t-\nX\tuser.b\t32\n"));
	strbuf_release(&text);
	manifest_free(&m);
	manifest_entry_free(&e);
	free(env);
	free(api);
	free(alias);
	free(outside);
	free(top);
}

/* A file the stat cache vouches for is not read, and its node still has
 * its attributes (kept with the row); changing one is seen. */
static void test_stat_cache_keeps_attributes(void **state)
{
	struct cache_case c;
	struct manifest_entry e;

	cache_case_open(*state, &c);
	char *env = path_join(c.top, "etc/api.env");
	assert_int_equal(setxattr(env, "user.kept", "yes", 3, 0), 0);
	usleep(1100 * 1000);
	assert_int_equal(cache_case_reads(&c, 0), 2);
	assert_int_equal(cache_case_capture(&c, 0, &e), 0);
	const struct manifest_node *n = find_node(&e, "etc/api.env");
	assert_non_null(n->xattrs);
	assert_string_equal(n->xattrs->v[0].name, "user.kept");
	assert_memory_equal(n->xattrs->v[0].value, "yes", 3);
	manifest_entry_free(&e);

	assert_int_equal(setxattr(env, "user.kept", "no", 2, 0), 0);
	assert_int_equal(cache_case_capture(&c, 0, &e), 1);
	assert_memory_equal(find_node(&e, "etc/api.env")->xattrs->v[0].value, "no", 2);
	manifest_entry_free(&e);
	free(env);
	cache_case_close(&c);
}

static void test_entry_digests(void **state)
{
	struct fixture *f = *state;
	struct manifest_entry a, b, c;
	char *one = make_tree(f, "one");
	char *two = make_tree(f, "two");
	const struct timespec when = { 1700000000, 123456789 };

	/* Equal trees at different places: equal digests. */
	set_tree_time(one, &when);
	set_tree_time(two, &when);
	capture(f, one, &a, NULL);
	capture(f, two, &b, NULL);
	assert_string_equal(a.digest, b.digest);

	/* A mode change alone changes it. */
	char *env = path_join(two, "etc/api.env");
	assert_int_equal(chmod(env, 0644), 0);
	capture(f, two, &c, NULL);
	assert_string_not_equal(a.digest, c.digest);
	manifest_entry_free(&c);

	/* So does an mtime, to the nanosecond. */
	assert_int_equal(chmod(env, 0640), 0);
	capture(f, two, &c, NULL);
	assert_string_equal(a.digest, c.digest);
	manifest_entry_free(&c);
	struct timespec later[2] = { when, { when.tv_sec, when.tv_nsec + 1 } };
	assert_int_equal(utimensat(AT_FDCWD, env, later, 0), 0);
	capture(f, two, &c, NULL);
	assert_string_not_equal(a.digest, c.digest);
	manifest_entry_free(&c);
	set_tree_time(two, &when);

	/* And an extended attribute. */
	assert_int_equal(setxattr(env, "user.lastgood-test", "1", 1, 0), 0);
	capture(f, two, &c, NULL);
	assert_string_not_equal(a.digest, c.digest);
	manifest_entry_free(&c);
	assert_int_equal(removexattr(env, "user.lastgood-test"), 0);

	/* So does one byte of content. */
	struct error err = ERROR_INIT;
	assert_int_equal(fs_write_atomic(env, "PORT=8001\n", 10, 0640, &err), 0);
	capture(f, two, &c, NULL);
	assert_string_not_equal(a.digest, c.digest);

	manifest_entry_free(&a);
	manifest_entry_free(&b);
	manifest_entry_free(&c);
	free(env);
	free(one);
	free(two);
}

#define D64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define E64 "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

/* An entry with no nodes, only what the service digest and the store's
 * order check look at. */
static void add_bare_entry(struct manifest *m, const char *service, const char *path,
			   const char *digest)
{
	ALLOC_GROW(m->entries, m->n + 1, m->alloc);
	struct manifest_entry *e = &m->entries[m->n++];
	memset(e, 0, sizeof(*e));
	e->service = xstrdup(service);
	e->path = xstrdup(path);
	memcpy(e->digest, digest, HASH_HEX_SIZE);
}

static void test_service_digest(void **state)
{
	(void)state;
	struct manifest a = MANIFEST_INIT, b = MANIFEST_INIT, c = MANIFEST_INIT;
	char da[HASH_HEX_SIZE], db[HASH_HEX_SIZE];

	add_bare_entry(&a, "api", "/srv/api", D64);
	add_bare_entry(&a, "web", "/srv/web", D64);
	add_bare_entry(&b, "api", "/srv/api", D64);
	add_bare_entry(&b, "web", "/srv/web", E64);
	/* Another service's entry changed: api's digest is the same. */
	manifest_service_digest(&a, "api", da);
	manifest_service_digest(&b, "api", db);
	assert_string_equal(da, db);
	/* Its own changed: not. */
	manifest_service_digest(&a, "web", da);
	manifest_service_digest(&b, "web", db);
	assert_string_not_equal(da, db);
	/* Nor when it gains a path, or the same digest moves to another. */
	add_bare_entry(&c, "api", "/srv/api", D64);
	add_bare_entry(&c, "api", "/srv/api2", D64);
	manifest_service_digest(&a, "api", da);
	manifest_service_digest(&c, "api", db);
	assert_string_not_equal(da, db);
	manifest_free(&c);
	add_bare_entry(&c, "api", "/srv/apj", D64);
	manifest_service_digest(&c, "api", db);
	assert_string_not_equal(da, db);
	manifest_free(&a);
	manifest_free(&b);
	manifest_free(&c);
}

/* A manifest manifest_parse would refuse is not stored. */
static void test_store_refuses_unordered_entries(void **state)
{
	struct fixture *f = *state;
	struct error err = ERROR_INIT;
	char digest[HASH_HEX_SIZE];
	struct manifest m = MANIFEST_INIT;

	add_bare_entry(&m, "web", "/srv/web", D64);
	add_bare_entry(&m, "api", "/srv/api", D64);
	assert_int_equal(manifest_store(&f->st.store, &m, digest, &err), -1);
	assert_non_null(strstr(err.msg, "'/srv/api' is out of order or repeated"));
	manifest_free(&m);
	add_bare_entry(&m, "api", "/srv/api", D64);
	add_bare_entry(&m, "web", "/srv/api", E64);
	assert_int_equal(manifest_store(&f->st.store, &m, digest, &err), -1);
	manifest_free(&m);
	/* nothing reached the store */
	assert_int_equal(rmdir(f->st.store.objects_dir), 0);
}

/* A manifest of this version with one entry /srv/app holding the node
 * lines given, its entry digest right (that of the lines). */
static void one_entry_text(int version, const char *node_lines, struct strbuf *out)
{
	char digest[HASH_HEX_SIZE];
	hash_buffer(node_lines, strlen(node_lines), digest);
	strbuf_addf(out, "lastgood-manifest %d\nE\tapp\t/srv/app\t%s\n%s", version, digest,
		    node_lines);
}

static void expect_rejected(const char *text, const char *want)
{
	struct manifest m = MANIFEST_INIT;
	struct error err = ERROR_INIT;
	if (manifest_parse(text, strlen(text), &m, &err) == 0)
		fail_msg("accepted: %s", text);
	if (!strstr(err.msg, want))
		fail_msg("wanted '%s', got '%s'", want, err.msg);
	assert_int_equal(m.n, 0);
	assert_null(m.entries);
}

static void expect_nodes_rejected(int version, const char *node_lines, const char *want)
{
	struct strbuf text = STRBUF_INIT;
	one_entry_text(version, node_lines, &text);
	expect_rejected(text.buf, want);
	strbuf_release(&text);
}

/* Parse text into *m, which must then be written back byte for byte. */
static void parse_canonical(const struct strbuf *text, struct manifest *m)
{
	struct error err = ERROR_INIT;
	struct strbuf again = STRBUF_INIT;
	if (manifest_parse(text->buf, text->len, m, &err) < 0)
		fail_msg("%s", err.msg);
	manifest_serialize(m, &again);
	assert_int_equal(again.len, text->len);
	assert_memory_equal(again.buf, text->buf, text->len);
	strbuf_release(&again);
}

static void test_parse_accepts_well_formed(void **state)
{
	(void)state;
	struct strbuf text = STRBUF_INIT;
	struct manifest m = MANIFEST_INIT;
	struct error err = ERROR_INIT;

	one_entry_text(1, "D\t/\t0755\t0\t0\n"
		       "F\t/a\t0644\t0\t0\t3\t" D64 "\n"
		       "L\t/b\t0\t0\t../x\n"
		       "F\t/c\t4755\t4294967294\t65534\t12345678901\t" D64 "\n"
		       "D\t/d\t0007\t10\t100\n", &text);
	parse_canonical(&text, &m);
	assert_int_equal(m.entries[0].nnodes, 5);
	assert_int_equal(m.entries[0].nodes[1].size, 3);
	assert_int_equal(m.entries[0].nodes[3].mode, 04755);
	assert_int_equal(m.entries[0].nodes[3].uid, 4294967294U);
	assert_int_equal(m.entries[0].nodes[3].size, 12345678901LL);
	assert_int_equal(m.entries[0].nodes[4].mode, 07);
	manifest_free(&m);
	strbuf_release(&text);

	/* No entries at all is a valid (empty) manifest. */
	assert_int_equal(manifest_parse("lastgood-manifest 1\n", 20, &m, &err), 0);
	assert_int_equal(m.n, 0);
}

static void test_parse_v2(void **state)
{
	(void)state;
	struct strbuf text = STRBUF_INIT;
	struct manifest m = MANIFEST_INIT;

	one_entry_text(2, "D\t/\t0755\t0\t0\t1700000000.000000001\n"
		       "X\tsystem.posix_acl_default\t0200\n"
		       "F\t/a\t0644\t0\t0\t3\t" D64 "\t-5.000000000\n"
		       "X\tsecurity.capability\t0100000200\n"
		       "X\tuser.empty\t-\n"
		       "H\t/b\t/a\n"
		       "L\t/c\t0\t0\t../x\t0.999999999\n"
		       "X\ttrusted.t\t31\n", &text);
	parse_canonical(&text, &m);
	const struct manifest_entry *e = &m.entries[0];
	assert_int_equal(e->nnodes, 4);
	assert_int_equal(e->nodes[0].mtime_sec, 1700000000);
	assert_int_equal(e->nodes[0].mtime_nsec, 1);
	assert_int_equal(e->nodes[1].mtime_sec, -5);
	assert_int_equal(e->nodes[1].xattrs->n, 2);
	assert_int_equal(e->nodes[1].xattrs->v[0].len, 5);
	assert_int_equal(e->nodes[1].xattrs->v[1].len, 0);
	/* the hard link is its file's copy */
	assert_string_equal(e->nodes[2].link, "a");
	assert_int_equal(e->nodes[2].type, NODE_FILE);
	assert_int_equal(e->nodes[2].size, 3);
	assert_int_equal(e->nodes[2].mtime_sec, -5);
	assert_memory_equal(e->nodes[2].digest, e->nodes[1].digest, HASH_SIZE);
	assert_true(xattr_list_equal(e->nodes[2].xattrs, e->nodes[1].xattrs));
	assert_string_equal(e->nodes[3].xattrs->v[0].name, "trusted.t");
	manifest_free(&m);
	strbuf_release(&text);

	expect_nodes_rejected(2, "D\t/\t0755\t0\t0\n", "manifest line 3: 'D' line needs 6 fields, not 5");
	expect_nodes_rejected(2, "D\t/\t0755\t0\t0\t1.5\n", "manifest line 3: bad mtime");
	expect_nodes_rejected(2, "D\t/\t0755\t0\t0\t1.0000000001\n", "manifest line 3: bad mtime");
	expect_nodes_rejected(2, "D\t/\t0755\t0\t0\t.000000000\n", "manifest line 3: bad mtime");
	expect_nodes_rejected(2, "D\t/\t0755\t0\t0\t1.00000000x\n", "manifest line 3: bad mtime");
	expect_nodes_rejected(2, "D\t/\t0755\t0\t0\t99999999999999999999.000000000\n",
			      "manifest line 3: bad mtime");
	expect_nodes_rejected(2, "D\t/\t0755\t0\t0\t01.000000000\n",
			      "manifest line 3: not in canonical form");
	expect_nodes_rejected(2, "D\t/\t0755\t0\t0\t-0.000000000\n",
			      "manifest line 3: not in canonical form");
	expect_nodes_rejected(2, "D\t/\t0755\t0\t0\t1.000000000\nF\t/a\t0644\t0\t0\t1\t" D64 "\t-\n",
			      "manifest line 4: entry '/srv/app' mixes nodes with and without");
	expect_nodes_rejected(2, "D\t/\t0755\t0\t0\t-\nF\t/a\t0644\t0\t0\t1\t" D64 "\t1.000000000\n",
			      "manifest line 4: entry '/srv/app' mixes nodes with and without");
	expect_nodes_rejected(2, "D\t/\t0755\t0\t0\t-\nX\tuser.a\t31\n",
			      "manifest line 4: attribute of '/', which can have none");
	expect_rejected("lastgood-manifest 2\nX\tuser.a\t31\n", "manifest line 2: attribute before any node");
	expect_nodes_rejected(2, "D\t/\t0755\t0\t0\t1.000000000\nX\tuser.b\t31\nX\tuser.a\t31\n",
			      "manifest line 5: attribute out of order or repeated");
	expect_nodes_rejected(2, "D\t/\t0755\t0\t0\t1.000000000\nX\tuser.a\t31\nX\tuser.a\t31\n",
			      "manifest line 5: attribute out of order or repeated");
	expect_nodes_rejected(2, "D\t/\t0755\t0\t0\t1.000000000\nX\tuser.a\t3\n",
			      "manifest line 4: bad attribute value");
	expect_nodes_rejected(2, "D\t/\t0755\t0\t0\t1.000000000\nX\tuser.a\t3G\n",
			      "manifest line 4: bad attribute value");
	expect_nodes_rejected(2, "D\t/\t0755\t0\t0\t1.000000000\nX\tuser.a\t\n",
			      "manifest line 4: bad attribute value");
	expect_nodes_rejected(2, "D\t/\t0755\t0\t0\t1.000000000\nX\tuser.a\t3A\n",
			      "manifest line 4: bad attribute value");
	expect_nodes_rejected(2, "D\t/\t0755\t0\t0\t1.000000000\nX\t\t31\n",
			      "manifest line 4: empty attribute name");
	expect_nodes_rejected(2, "D\t/\t0755\t0\t0\t1.000000000\nX\tuser.a\n",
			      "manifest line 4: 'X' line needs 3 fields, not 2");
	expect_nodes_rejected(2, "D\t/\t0755\t0\t0\t1.000000000\nH\t/b\t/a\n",
			      "manifest line 4: 'a' is not an earlier file of its entry");
	expect_nodes_rejected(2, "D\t/\t0755\t0\t0\t1.000000000\nD\t/a\t0755\t0\t0\t1.000000000\n"
			      "H\t/b\t/a\n", "manifest line 5: 'a' is not an earlier file");
	expect_nodes_rejected(2, "D\t/\t0755\t0\t0\t1.000000000\nF\t/a\t0644\t0\t0\t1\t" D64
			      "\t1.000000000\nH\t/b\t/a\nH\t/c\t/b\n",
			      "manifest line 6: 'b' is not an earlier file");
	expect_nodes_rejected(2, "D\t/\t0755\t0\t0\t1.000000000\nF\t/a\t0644\t0\t0\t1\t" D64
			      "\t1.000000000\nH\t/b\t/a\nX\tuser.a\t31\n",
			      "manifest line 6: attribute of '/b', which can have none");
	expect_nodes_rejected(2, "D\t/\t0755\t0\t0\t1.000000000\nH\t/b\t/c\nF\t/c\t0644\t0\t0\t1\t"
			      D64 "\t1.000000000\n", "manifest line 4: 'c' is not an earlier file");
	/* version 1 knows neither */
	expect_nodes_rejected(1, "D\t/\t0755\t0\t0\nF\t/a\t0644\t0\t0\t1\t" D64 "\nH\t/b\t/a\n",
			      "manifest line 5: unknown record 'H'");
	/* what version 1 writes is never written as version 2 (an entry of
	 * version 1 nodes is hashed as version 1 wrote it) */
	char v1_digest[HASH_HEX_SIZE];
	hash_buffer("D\t/\t0755\t0\t0\n", 13, v1_digest);
	strbuf_addf(&text, "lastgood-manifest 2\nE\tapp\t/srv/app\t%s\nD\t/\t0755\t0\t0\t-\n",
		    v1_digest);
	expect_rejected(text.buf, "not in canonical form: version 2, where version 1 is written");
	expect_rejected("lastgood-manifest 2\n", "not in canonical form: version 2, where version 1");
	strbuf_release(&text);
}

/*
 * The entries of a version 1 release keep their digests wherever they go:
 * alone they are written as version 1, byte for byte; beside an entry
 * with metadata (a rollback of one service to an old release) they are
 * written in version 2 with "-" for their mtimes, and read back the same.
 */
static void test_version_1_entries_in_version_2(void **state)
{
	struct fixture *f = *state;
	struct strbuf old = STRBUF_INIT, text = STRBUF_INIT;
	struct manifest m = MANIFEST_INIT;
	struct error err = ERROR_INIT;
	struct manifest_entry fresh;

	one_entry_text(1, "D\t/\t0755\t0\t0\nF\t/a\t0644\t0\t0\t3\t" D64 "\n", &old);
	assert_int_equal(manifest_parse(old.buf, old.len, &m, &err), 0);
	char v1_digest[HASH_HEX_SIZE];
	memcpy(v1_digest, m.entries[0].digest, HASH_HEX_SIZE);
	assert_int_equal(m.entries[0].nodes[1].mtime_nsec, MTIME_UNKNOWN);

	char *top = make_tree(f, "fresh");
	capture(f, top, &fresh, NULL);
	free(fresh.path);
	fresh.path = xstrdup("/srv/zzz");
	manifest_add_copy(&m, &fresh);
	manifest_entry_free(&fresh);
	manifest_sort(&m);
	round_trip(&m, &text);
	assert_int_equal(strncmp(text.buf, "lastgood-manifest 2\n", 20), 0);
	assert_non_null(strstr(text.buf, "\nD\t/\t0755\t0\t0\t-\nF\t/a\t0644\t0\t0\t3\t" D64 "\t-\n"));
	struct manifest parsed = MANIFEST_INIT;
	assert_int_equal(manifest_parse(text.buf, text.len, &parsed, &err), 0);
	assert_string_equal(parsed.entries[0].digest, v1_digest);
	manifest_free(&parsed);
	manifest_free(&m);
	strbuf_release(&text);
	strbuf_release(&old);
	free(top);
}

static void test_parse_rejects_malformed(void **state)
{
	(void)state;
	expect_rejected("", "manifest line 1: empty manifest");
	expect_rejected("lastgood-manifest 3\n", "manifest line 1: not a lastgood manifest");
	expect_rejected("lastgood-manifest 1", "manifest line 1: missing newline");
	expect_rejected("lastgood-manifest 1\nF\t/\t0644\t0\t0\t1\t" D64 "\n",
			"manifest line 2: node before any entry");
	expect_rejected("lastgood-manifest 1\nX\tfoo\n", "manifest line 2: unknown record 'X'");
	expect_rejected("lastgood-manifest 1\n\n", "manifest line 2: unknown record");
	expect_rejected("lastgood-manifest 1\nE\tapp\trelative\t" D64 "\n",
			"manifest line 2: path 'relative' is not absolute");
	expect_rejected("lastgood-manifest 1\nE\tapp\t/srv\t" D64 "\n",
			"manifest line 2: entry '/srv' has no nodes");
	expect_rejected("lastgood-manifest 1\nE\tapp\t/srv\tnot-a-digest\n",
			"manifest line 2: bad entry digest");

	char top_dir[HASH_HEX_SIZE];
	struct strbuf text = STRBUF_INIT;
	hash_buffer("D\t/\t0755\t0\t0\n", 13, top_dir);
	strbuf_addf(&text, "lastgood-manifest 1\nE\tapp\t/b\t%s\nD\t/\t0755\t0\t0\n"
		    "E\tapp\t/a\t%s\nD\t/\t0755\t0\t0\n", top_dir, top_dir);
	expect_rejected(text.buf, "manifest line 4: entry '/a' is out of order or repeated");
	strbuf_reset(&text);
	strbuf_addf(&text, "lastgood-manifest 1\nE\tapp\t/b\t%s\nD\t/\t0755\t0\t0\n"
		    "E\tapp\t/b\t%s\nD\t/\t0755\t0\t0\n", top_dir, top_dir);
	expect_rejected(text.buf, "manifest line 4: entry '/b' is out of order or repeated");
	strbuf_release(&text);
	expect_rejected("lastgood-manifest 1\nE\tapp\t/srv\t" D64 "\nD\t/\t0755\t0\t0\n",
			"manifest line 2: entry '/srv' does not match its digest");

	expect_nodes_rejected(1, "D\t/\t0755\t0\t0\nF\t/../etc/passwd\t0644\t0\t0\t1\t" D64 "\n",
			      "manifest line 4: relative path '../etc/passwd' leaves its entry");
	expect_nodes_rejected(1, "D\t/\t0755\t0\t0\nF\t/a/../../x\t0644\t0\t0\t1\t" D64 "\n",
			      "manifest line 4: relative path 'a/../../x' leaves its entry");
	expect_nodes_rejected(1, "D\t/\t0755\t0\t0\nD\t/a\t0755\t0\t0\nF\t/a//b\t0644\t0\t0\t1\t" D64 "\n",
			      "manifest line 5: relative path 'a//b'");
	expect_nodes_rejected(1, "D\t/\t0755\t0\t0\nF\t//etc\t0644\t0\t0\t1\t" D64 "\n",
			      "manifest line 4: relative path '/etc'");
	expect_nodes_rejected(1, "D\t/\t0755\t0\t0\nF\ta\t0644\t0\t0\t1\t" D64 "\n",
			      "manifest line 4: bad relative path");
	expect_nodes_rejected(1, "D\t/\t0755\t0\t0\nF\t/a\\x00b\t0644\t0\t0\t1\t" D64 "\n",
			      "manifest line 4: bad relative path");
	expect_nodes_rejected(1, "D\t/\t0755\t0\t0\nF\t/a\\q\t0644\t0\t0\t1\t" D64 "\n",
			      "manifest line 4: bad relative path");
	expect_nodes_rejected(1, "F\t/a\t0644\t0\t0\t1\t" D64 "\n",
			      "manifest line 3: entry must start with its top node '/'");
	expect_nodes_rejected(1, "D\t/\t0755\t0\t0\nF\t/b\t0644\t0\t0\t1\t" D64 "\nF\t/a\t0644\t0\t0\t1\t" D64 "\n",
			      "manifest line 5: 'a' is out of order or repeated");
	expect_nodes_rejected(1, "D\t/\t0755\t0\t0\nF\t/a\t0644\t0\t0\t1\t" D64 "\nF\t/a\t0644\t0\t0\t1\t" D64 "\n",
			      "manifest line 5: 'a' is out of order or repeated");
	expect_nodes_rejected(1, "D\t/\t0755\t0\t0\nF\t/a/b\t0644\t0\t0\t1\t" D64 "\n",
			      "manifest line 4: 'a/b' is not inside a folder of its entry");
	expect_nodes_rejected(1, "D\t/\t0755\t0\t0\nF\t/a\t0644\t0\t0\t1\t" D64 "\nF\t/a/b\t0644\t0\t0\t1\t" D64 "\n",
			      "manifest line 5: 'a/b' is not inside a folder of its entry");
	expect_nodes_rejected(1, "F\t/\t0644\t0\t0\t1\t" D64 "\nF\t/a\t0644\t0\t0\t1\t" D64 "\n",
			      "manifest line 4: 'a' is not inside a folder of its entry");
	expect_nodes_rejected(1, "D\t/\t0755\t0\t0\nF\t/a\t0644\t0\t0\t1\n",
			      "manifest line 4: 'F' line needs 7 fields, not 6");
	expect_nodes_rejected(1, "D\t/\t0755\t0\t0\t0\t0\t0\t0\n", "manifest line 3: too many fields");
	expect_nodes_rejected(1, "D\t/\t0758\t0\t0\n", "manifest line 3: bad mode");
	expect_nodes_rejected(1, "D\t/\t17777\t0\t0\n", "manifest line 3: bad mode");
	expect_nodes_rejected(1, "D\t/\t755\t0\t0\n", "manifest line 3: not in canonical form");
	expect_nodes_rejected(1, "D\t/\t0755\t00\t0\n", "manifest line 3: not in canonical form");
	expect_nodes_rejected(1, "D\t/\t0755\t-1\t0\n", "manifest line 3: bad owner");
	expect_nodes_rejected(1, "D\t/\t0755\t4294967296\t0\n", "manifest line 3: bad owner");
	expect_nodes_rejected(1, "F\t/\t0644\t0\t0\t99999999999999999999\t" D64 "\n",
			      "manifest line 3: bad size");
	expect_nodes_rejected(1, "F\t/\t0644\t0\t0\t1\t" "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef\n",
			      "manifest line 3: bad content digest");
	expect_nodes_rejected(1, "L\t/\t0\t0\t\n", "manifest line 3: empty link target");
	expect_nodes_rejected(1, "L\t/\t0\t0\ta\x01b\n", "manifest line 3: not in canonical form");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_capture_tree, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stat_cache, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stat_cache_commit_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stat_cache_store_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capture_single_file_and_link, setup, teardown),
		cmocka_unit_test_setup_teardown(test_special_file_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_source, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capture_config_sorted_and_found, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capture_config_rejects_one_path_twice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_round_trip_byte_identical, setup, teardown),
		cmocka_unit_test_setup_teardown(test_names_with_any_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_entry_digests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capture_metadata, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stat_cache_keeps_attributes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_version_1_entries_in_version_2, setup, teardown),
		cmocka_unit_test(test_parse_v2),
		cmocka_unit_test(test_service_digest),
		cmocka_unit_test_setup_teardown(test_store_refuses_unordered_entries, setup, teardown),
		cmocka_unit_test(test_parse_accepts_well_formed),
		cmocka_unit_test(test_parse_rejects_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
