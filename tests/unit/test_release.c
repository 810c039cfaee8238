/*
 * Unit tests for the state database: operations and steps (the journal),
 * release records, marks, and REF resolution (number, label, commit
 * prefix, -N, default target).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/manifest.h"
#include "core/operation.h"
#include "core/release.h"
#include "core/state.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/fs.h"

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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
