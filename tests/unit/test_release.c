/*
 * Unit tests for the state database: operations and steps (the journal),
 * release records, marks, REF resolution (number, label, commit prefix,
 * -N, default target), and the images a release ran (recorded, read,
 * brought by a schema step, dropped by gc with their release).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/gc.h"
#include "core/manifest.h"
#include "core/operation.h"
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
#include <sys/stat.h>
#include <unistd.h>

struct fixture {
	char dir[64];
	struct state st;
};

static int setup(void **state)
{
	struct fixture *fx = xcalloc(1, sizeof(*fx));
	struct error err = ERROR_INIT;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/lg-unit-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	char *sd = path_join(fx->dir, ".lastgood");
	assert_int_equal(state_open(&fx->st, sd, STATE_CREATE, &err), 0);
	free(sd);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	struct error err = ERROR_INIT;
	state_close(&fx->st);
	fs_remove_tree(fx->dir, &err);
	free(fx);
	return 0;
}

/* A one-entry manifest whose single file has the given (fake) digest: the
 * release table never reads the objects. */
static long add_release(struct state *st, const char *label, const char *commit, char tag)
{
	struct manifest m = MANIFEST_INIT;
	struct error err = ERROR_INIT;
	ALLOC_GROW(m.entries, 1, m.alloc);
	struct manifest_entry *e = &m.entries[0];
	memset(e, 0, sizeof(*e));
	e->service = xstrdup("api");
	e->path = xstrdup("/srv/bin/api");
	ALLOC_GROW(e->nodes, 1, e->alloc);
	memset(&e->nodes[0], 0, sizeof(e->nodes[0]));
	e->nodes[0].rel = xstrdup("");
	e->nodes[0].type = NODE_FILE;
	e->nodes[0].mode = 0755;
	e->nodes[0].size = 1;
	memset(e->nodes[0].digest, tag, HASH_SIZE);
	e->nnodes = 1;
	manifest_entry_finish(e);
	m.n = 1;

	struct release_meta meta = { .label = label, .commit = commit };
	long id = 0;
	int created = 0;
	assert_int_equal(release_create(st, &m, &meta, &id, &created, &err), 0);
	manifest_free(&m);
	return id;
}

static void set_live(struct state *st, long id)
{
	struct error err = ERROR_INIT;
	char buf[32];
	snprintf(buf, sizeof(buf), "%ld", id);
	assert_int_equal(state_set_meta(st, "live_release", buf, &err), 0);
}

static void test_refs_resolve(void **state)
{
	struct fixture *fx = *state;
	struct error err = ERROR_INIT;
	long id;

	long r1 = add_release(&fx->st, "v1", "abc1234def", 'a');
	long r2 = add_release(&fx->st, "v2", "abc9999000", 'b');
	long r3 = add_release(&fx->st, NULL, "fedcba9876", 'c');
	set_live(&fx->st, r3);

	assert_int_equal(release_resolve(&fx->st, "2", &id, &err), 0);
	assert_int_equal(id, r2);
	assert_int_equal(release_resolve(&fx->st, "v1", &id, &err), 0);
	assert_int_equal(id, r1);
	assert_int_equal(release_resolve(&fx->st, "fedc", &id, &err), 0);
	assert_int_equal(id, r3);
	assert_int_equal(release_resolve(&fx->st, "abc1", &id, &err), 0);
	assert_int_equal(id, r1);
	assert_int_equal(release_resolve(&fx->st, "-1", &id, &err), 0);
	assert_int_equal(id, r2);
	assert_int_equal(release_resolve(&fx->st, "-2", &id, &err), 0);
	assert_int_equal(id, r1);
}

static void test_refs_errors(void **state)
{
	struct fixture *fx = *state;
	struct error err = ERROR_INIT;
	long id;

	add_release(&fx->st, NULL, "abc1234def", 'a');
	add_release(&fx->st, NULL, "abc1999000", 'b');
	set_live(&fx->st, 2);

	assert_int_equal(release_resolve(&fx->st, "abc1", &id, &err), -1);
	assert_int_equal(err.kind, ERROR_USAGE);
	assert_non_null(strstr(err.msg, "ambiguous"));
	assert_int_equal(release_resolve(&fx->st, "9", &id, &err), -1);
	assert_non_null(strstr(err.msg, "no release 9"));
	assert_int_equal(release_resolve(&fx->st, "nope", &id, &err), -1);
	assert_non_null(strstr(err.msg, "unknown release 'nope'"));
	assert_int_equal(release_resolve(&fx->st, "-5", &id, &err), -1);
	assert_int_equal(release_resolve(&fx->st, "-0", &id, &err), -1);
	assert_int_equal(release_resolve(&fx->st, "$(rm -rf /)", &id, &err), -1);
	assert_int_equal(err.kind, ERROR_USAGE);
}

static void test_labels_checked(void **state)
{
	struct fixture *fx = *state;
	struct error err = ERROR_INIT;
	struct manifest m = MANIFEST_INIT;
	long id;
	int created;
	static const char *const bad[] = { "12", "-x", "a b", "a\nb", "" };

	add_release(&fx->st, "v1", NULL, 'a');
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct release_meta meta = { .label = bad[i] };
		assert_int_equal(release_create(&fx->st, &m, &meta, &id, &created, &err), -1);
		assert_int_equal(err.kind, ERROR_USAGE);
	}
	struct release_meta dup = { .label = "v1" };
	assert_int_equal(release_create(&fx->st, &m, &dup, &id, &created, &err), -1);
	assert_non_null(strstr(err.msg, "already release 1"));
	struct release_meta badcommit = { .commit = "xyz" };
	assert_int_equal(release_create(&fx->st, &m, &badcommit, &id, &created, &err), -1);
}

static void test_same_content_as_live_is_not_a_new_release(void **state)
{
	struct fixture *fx = *state;
	long r1 = add_release(&fx->st, NULL, NULL, 'a');
	set_live(&fx->st, r1);
	assert_int_equal(add_release(&fx->st, NULL, NULL, 'a'), r1);
	assert_int_equal(add_release(&fx->st, NULL, NULL, 'b'), r1 + 1);
}

static void test_default_target_skips_bad(void **state)
{
	struct fixture *fx = *state;
	struct error err = ERROR_INIT;
	long id;

	long r1 = add_release(&fx->st, NULL, NULL, 'a');
	long r2 = add_release(&fx->st, NULL, NULL, 'b');
	long r3 = add_release(&fx->st, NULL, NULL, 'c');
	long r4 = add_release(&fx->st, NULL, NULL, 'd');
	set_live(&fx->st, r4);

	/* No marks: the previous release. */
	assert_int_equal(release_default_target(&fx->st, &id, &err), 0);
	assert_int_equal(id, r3);
	/* A good one wins over newer unmarked ones; bad ones are skipped. */
	assert_int_equal(release_set_mark(&fx->st, r1, MARK_GOOD, &err), 0);
	assert_int_equal(release_set_mark(&fx->st, r3, MARK_BAD, &err), 0);
	assert_int_equal(release_default_target(&fx->st, &id, &err), 0);
	assert_int_equal(id, r1);
	assert_int_equal(release_set_mark(&fx->st, r1, MARK_BAD, &err), 0);
	assert_int_equal(release_default_target(&fx->st, &id, &err), 0);
	assert_int_equal(id, r2);
	set_live(&fx->st, r1);
	assert_int_equal(release_default_target(&fx->st, &id, &err), -1);
}

static void test_journal_records_steps(void **state)
{
	struct fixture *fx = *state;
	struct error err = ERROR_INIT;
	struct operation_record rec;
	long op, step, *ops;
	size_t n;

	assert_int_equal(operation_begin(&fx->st, "deploy", "dist", "because", &op, &err), 0);
	assert_int_equal(operation_step_begin(&fx->st, op, STEP_STAGE, "/srv/a", &step, &err), 0);
	assert_int_equal(operation_step_end(&fx->st, step, STEP_OK, "done", &err), 0);
	assert_int_equal(operation_step_note(&fx->st, op, STEP_SWAP, "/srv/a", STEP_FAILED, "no", &err), 0);

	/* Still running: recover would find it. */
	assert_int_equal(operation_unfinished(&fx->st, &ops, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(ops[0], op);
	free(ops);

	assert_int_equal(operation_end(&fx->st, op, OP_FAILED, "boom", &err), 0);
	assert_int_equal(operation_unfinished(&fx->st, &ops, &n, &err), 0);
	assert_int_equal(n, 0);
	free(ops);

	assert_int_equal(operation_get(&fx->st, op, &rec, &err), 0);
	assert_string_equal(rec.command, "deploy");
	assert_string_equal(rec.reason, "because");
	assert_int_equal(rec.result, OP_FAILED);
	assert_string_equal(rec.error, "boom");
	assert_int_equal(rec.nsteps, 2);
	assert_int_equal(rec.steps[0].seq, 1);
	assert_string_equal(rec.steps[0].kind_name, "stage");
	assert_int_equal(rec.steps[0].kind, STEP_STAGE);
	assert_int_equal(rec.steps[0].result, STEP_OK);
	assert_int_equal(rec.steps[1].seq, 2);
	assert_int_equal(rec.steps[1].result, STEP_FAILED);
	assert_true(rec.steps[1].ended_ms >= rec.steps[1].started_ms);
	operation_record_clear(&rec);

	assert_int_equal(operation_get(&fx->st, op + 7, &rec, &err), -1);
	assert_int_equal(err.kind, ERROR_USAGE);
}

static void test_state_folder_refused_when_unsafe(void **state)
{
	struct fixture *fx = *state;
	struct error err = ERROR_INIT;
	struct state other;

	char *open_dir = path_join(fx->dir, "open");
	assert_int_equal(mkdir(open_dir, 0777), 0);
	assert_int_equal(chmod(open_dir, 0777), 0);
	assert_int_equal(state_open(&other, open_dir, STATE_CREATE, &err), -1);
	assert_non_null(strstr(err.msg, "writable by others"));

	char *link = path_join(fx->dir, "link");
	assert_int_equal(symlink(fx->st.dir, link), 0);
	assert_int_equal(state_open(&other, link, STATE_READ, &err), -1);
	assert_non_null(strstr(err.msg, "symbolic link"));
	free(open_dir);
	free(link);
}

static void test_lock_is_exclusive(void **state)
{
	struct fixture *fx = *state;
	struct error err = ERROR_INIT;
	struct state second;

	assert_int_equal(state_lock(&fx->st, "deploy", &err), 0);
	assert_int_equal(state_open(&second, fx->st.dir, STATE_READ, &err), 0);
	assert_int_equal(state_lock(&second, "rollback", &err), -1);
	assert_int_equal(err.kind, ERROR_BUSY);
	assert_non_null(strstr(err.msg, "'deploy'"));
	state_close(&second);
}

#define ID_A "sha256:aaaaaaaaaaaa1111111111111111111111111111111111111111111111111111"
#define ID_B "sha256:bbbbbbbbbbbb2222222222222222222222222222222222222222222222222222"

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
	long one = add_release(&fx->st, "v1", NULL, 1), two = add_release(&fx->st, "v2", NULL, 2);

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
	long one = add_release(&fx->st, "v1", NULL, 1);

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
	char *state_dir = xstrdup(fx->st.dir);
	char *db = path_join(state_dir, "state.db");
	long one = add_release(&fx->st, "v1", NULL, 1);
	int current = user_version(db);

	state_close(&fx->st);
	/* image_tags (the version after) goes too */
	char *back = xstrfmt("DROP TABLE image_tags; DROP TABLE release_images; "
			     "PRAGMA user_version = %d", current - 2);
	run_sql(db, back);
	free(back);
	assert_int_equal(state_open(&fx->st, state_dir, STATE_READ, &err), 0);
	assert_int_equal(user_version(db), current);
	record(&fx->st, one, "api", ID_A, "api:1");
	assert_int_equal(count_images(&fx->st, one), 1);

	state_close(&fx->st);
	char *newer = xstrfmt("PRAGMA user_version = %d", current + 1);
	run_sql(db, newer);
	free(newer);
	assert_int_equal(state_open(&fx->st, state_dir, STATE_CREATE, &err), -1);
	assert_non_null(strstr(err.msg, "newer than"));
	assert_int_equal(user_version(db), current + 1);
	free(db);
	free(state_dir);
}

static void test_gc_drops_images_with_their_release(void **state)
{
	struct fixture *fx = *state;
	struct error err = ERROR_INIT;
	struct gc_report report = GC_REPORT_INIT;
	long one = add_release(&fx->st, "v1", NULL, 1), two = add_release(&fx->st, "v2", NULL, 2);
	long three = add_release(&fx->st, "v3", NULL, 3);

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
		cmocka_unit_test_setup_teardown(test_refs_resolve, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refs_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_labels_checked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_same_content_as_live_is_not_a_new_release, setup, teardown),
		cmocka_unit_test_setup_teardown(test_default_target_skips_bad, setup, teardown),
		cmocka_unit_test_setup_teardown(test_journal_records_steps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_folder_refused_when_unsafe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_is_exclusive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recorded_images_read_back_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recorded_image_is_never_replaced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_schema_step_brings_the_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gc_drops_images_with_their_release, setup, teardown),
		cmocka_unit_test(test_changed_images_by_service),
		cmocka_unit_test(test_short_id_drops_the_prefix),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
