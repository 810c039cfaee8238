/*
 * Unit tests for the images a release ran (core/resource/images.c) on a
 * real state database: recording and reading them, the state schema step
 * that brings the table, gc dropping them with their release, and which
 * images changed between two releases.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/gc.h"
#include "core/manifest.h"
#include "core/release.h"
#include "core/resource/images.h"
#include "core/state.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/fs.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ID_A "sha256:aaaaaaaaaaaa1111111111111111111111111111111111111111111111111111"
#define ID_B "sha256:bbbbbbbbbbbb2222222222222222222222222222222222222222222222222222"

struct fixture {
	char dir[64];
	char *state_dir;
	struct state st;
};

static int setup(void **state)
{
	struct fixture *fx = xcalloc(1, sizeof(*fx));
	struct error err = ERROR_INIT;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/lg-unit-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	fx->state_dir = path_join(fx->dir, ".lastgood");
	assert_int_equal(state_open(&fx->st, fx->state_dir, STATE_CREATE, &err), 0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	struct error err = ERROR_INIT;
	state_close(&fx->st);
	fs_remove_tree(fx->dir, &err);
	free(fx->state_dir);
	free(fx);
	return 0;
}

/* A release of one file with a made-up digest: neither the image table
 * nor gc's release rows read the file's object. */
static long add_release(struct state *st, const char *label, char tag)
{
	struct manifest m = MANIFEST_INIT;
	struct error err = ERROR_INIT;
	ALLOC_GROW(m.entries, 1, m.alloc);
	struct manifest_entry *e = &m.entries[0];
	memset(e, 0, sizeof(*e));
	e->service = xstrdup("api");
	e->path = xstrdup("/srv/compose.yml");
	ALLOC_GROW(e->nodes, 1, e->alloc);
	memset(&e->nodes[0], 0, sizeof(e->nodes[0]));
	e->nodes[0].rel = xstrdup("");
	e->nodes[0].type = NODE_FILE;
	e->nodes[0].mode = 0644;
	e->nodes[0].size = 1;
	memset(e->nodes[0].digest, tag, HASH_SIZE);
	e->nnodes = 1;
	manifest_entry_finish(e);
	m.n = 1;

	struct release_meta meta = { .label = label };
	long id = 0;
	int created = 0;
	assert_int_equal(release_create(st, &m, &meta, &id, &created, &err), 0);
	manifest_free(&m);
	return id;
}

static void record(struct state *st, long release, const char *service, const char *id,
		   const char *name)
{
	struct error err = ERROR_INIT;
	struct release_image image = { 0, (char *)service, (char *)service, (char *)id,
				       (char *)name };
	assert_int_equal(images_record(st, release, &image, &err), 0);
}

static size_t count_images(struct state *st, long release)
{
	struct error err = ERROR_INIT;
	struct release_image *rows;
	size_t n;
	assert_int_equal(release_images(st, release, release, &rows, &n, &err), 0);
	release_images_free(rows, n);
	return n;
}

static void test_recorded_images_read_back_in_order(void **state)
{
	struct fixture *fx = *state;
	struct error err = ERROR_INIT;
	struct release_image *rows;
	size_t n;
	long one = add_release(&fx->st, "v1", 1), two = add_release(&fx->st, "v2", 2);

	record(&fx->st, two, "web", ID_B, "web:2");
	record(&fx->st, one, "web", ID_A, "web:1");
	record(&fx->st, one, "api", ID_B, "api:latest");
	assert_int_equal(release_images(&fx->st, one, two, &rows, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_int_equal(rows[0].release, one);
	assert_string_equal(rows[0].service, "api");
	assert_string_equal(rows[0].id, ID_B);
	assert_string_equal(rows[0].name, "api:latest");
	assert_string_equal(rows[1].service, "web");
	assert_int_equal(rows[2].release, two);
	assert_string_equal(rows[2].name, "web:2");
	release_images_free(rows, n);
	assert_int_equal(count_images(&fx->st, two), 1);
}

/* A snapshot of the same files reuses the release: what it recorded as
 * run stays, and another image for it is refused, naming both. */
static void test_recorded_image_is_never_replaced(void **state)
{
	struct fixture *fx = *state;
	struct error err = ERROR_INIT;
	struct release_image *rows;
	size_t n;
	long one = add_release(&fx->st, "v1", 1);

	record(&fx->st, one, "api", ID_A, "api:1");
	record(&fx->st, one, "api", ID_A, "api:1");
	struct release_image other = { 0, "api", "api", ID_B, "api:1" };
	assert_int_equal(images_record(&fx->st, one, &other, &err), -1);
	assert_non_null(strstr(err.msg, ID_A));
	assert_non_null(strstr(err.msg, ID_B));
	assert_int_equal(release_images(&fx->st, one, one, &rows, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(rows[0].id, ID_A);
	release_images_free(rows, n);
}

static int user_version(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *stmt;
	int version = -1;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, NULL), SQLITE_OK);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		version = sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return version;
}

static void run_sql(const char *path, const char *sql)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/* A state of the version before the table (as the previous lastgood left
 * it) gets the table when opened, its releases kept; one newer than this
 * lastgood knows is refused and left as it is. */
static void test_schema_step_brings_the_table(void **state)
{
	struct fixture *fx = *state;
	struct error err = ERROR_INIT;
	char *db = path_join(fx->state_dir, "state.db");
	long one = add_release(&fx->st, "v1", 1);
	int current = user_version(db);

	state_close(&fx->st);
	char *back = xstrfmt("DROP TABLE release_images; PRAGMA user_version = %d", current - 1);
	run_sql(db, back);
	free(back);
	assert_int_equal(state_open(&fx->st, fx->state_dir, STATE_READ, &err), 0);
	assert_int_equal(user_version(db), current);
	record(&fx->st, one, "api", ID_A, "api:1");
	assert_int_equal(count_images(&fx->st, one), 1);

	state_close(&fx->st);
	char *newer = xstrfmt("PRAGMA user_version = %d", current + 1);
	run_sql(db, newer);
	free(newer);
	assert_int_equal(state_open(&fx->st, fx->state_dir, STATE_CREATE, &err), -1);
	assert_non_null(strstr(err.msg, "newer than"));
	assert_int_equal(user_version(db), current + 1);
	free(db);
}

static void test_gc_drops_images_with_their_release(void **state)
{
	struct fixture *fx = *state;
	struct error err = ERROR_INIT;
	struct gc_report report = GC_REPORT_INIT;
	long one = add_release(&fx->st, "v1", 1), two = add_release(&fx->st, "v2", 2);
	long three = add_release(&fx->st, "v3", 3);

	record(&fx->st, one, "api", ID_A, "api:1");
	record(&fx->st, two, "api", ID_B, "api:2");
	record(&fx->st, three, "api", ID_A, "api:1");
	assert_int_equal(state_set_live_release(&fx->st, three, &err), 0);
	assert_int_equal(gc_run(&fx->st, 2, &report, &err), 0);
	assert_int_equal(report.nremoved, 1);
	assert_int_equal(report.removed[0], one);
	gc_report_clear(&report);
	assert_int_equal(count_images(&fx->st, one), 0);
	assert_int_equal(count_images(&fx->st, two), 1);
	assert_int_equal(count_images(&fx->st, three), 1);
}

static void test_changed_images_by_service(void **state)
{
	struct release_image old[] = {
		{ 1, "api", "api", ID_A, "api:1" },
		{ 1, "cache", "cache", ID_A, "cache:1" },
		{ 1, "web", "web", ID_A, "web:1" },
	};
	struct release_image new[] = {
		{ 2, "api", "api", ID_B, "api:2" },
		{ 2, "db", "db", ID_B, "db:1" },
		{ 2, "web", "web", ID_A, "web:1" },
	};
	struct image_change *changes;
	size_t n;
	(void)state;

	images_changed(old, 3, new, 3, &changes, &n);
	assert_int_equal(n, 3);
	assert_string_equal(changes[0].service, "api");
	assert_ptr_equal(changes[0].old, &old[0]);
	assert_ptr_equal(changes[0].new, &new[0]);
	assert_string_equal(changes[1].service, "cache");
	assert_ptr_equal(changes[1].old, &old[1]);
	assert_null(changes[1].new);
	assert_string_equal(changes[2].service, "db");
	assert_null(changes[2].old);
	assert_ptr_equal(changes[2].new, &new[1]);
	free(changes);

	images_changed(old, 3, old, 3, &changes, &n);
	assert_int_equal(n, 0);
	free(changes);
}

static void test_short_id_drops_the_prefix(void **state)
{
	char shown[IMAGE_SHORT_ID_SIZE];
	(void)state;
	assert_string_equal(image_short_id(ID_B, shown), "bbbbbbbbbbbb");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_recorded_images_read_back_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recorded_image_is_never_replaced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_schema_step_brings_the_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gc_drops_images_with_their_release, setup, teardown),
		cmocka_unit_test(test_changed_images_by_service),
		cmocka_unit_test(test_short_id_drops_the_prefix),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
