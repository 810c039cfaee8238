/*
 * Unit tests for the atomic switch: switching real files, refusing a
 * damaged release before the live files change, and recovering journals
 * left at each phase of an interrupted switch.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/manifest.h"
#include "core/operation.h"
#include "core/state.h"
#include "core/store.h"
#include "core/switch.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/strbuf.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fixture {
	char dir[64];
	struct state st;
	long op;
};

static void write_file(const char *path, const char *text)
{
	struct error err = ERROR_INIT;
	assert_int_equal(fs_write_atomic(path, text, strlen(text), 0644, &err), 0);
}

static char *read_text(const char *path)
{
	struct strbuf sb = STRBUF_INIT;
	struct error err = ERROR_INIT;
	if (fs_read_file(path, &sb, &err) < 0) {
		strbuf_release(&sb);
		return xstrdup("<missing>");
	}
	return strbuf_detach(&sb);
}

static void assert_file_text(const char *path, const char *expected)
{
	char *text = read_text(path);
	assert_string_equal(text, expected);
	free(text);
}

static char *in_dir(struct fixture *fx, const char *name)
{
	return path_join(fx->dir, name);
}

static int setup(void **state)
{
	struct fixture *fx = xcalloc(1, sizeof(*fx));
	struct error err = ERROR_INIT;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/lg-switch-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	char *sd = in_dir(fx, ".lastgood");
	assert_int_equal(state_open(&fx->st, sd, STATE_CREATE, &err), 0);
	free(sd);
	assert_int_equal(operation_begin(&fx->st, "test", NULL, NULL, &fx->op, &err), 0);
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

/* Capture the live entries "api" (a file) and "web" (a tree) into m. */
static void capture(struct fixture *fx, struct manifest *m)
{
	static const char *const names[] = { "api", "web" };
	struct error err = ERROR_INIT;
	struct capture_stats stats = { 0 };
	for (size_t i = 0; i < 2; i++) {
		char *p = in_dir(fx, names[i]);
		ALLOC_GROW(m->entries, m->n + 1, m->alloc);
		memset(&m->entries[m->n], 0, sizeof(m->entries[0]));
		assert_int_equal(manifest_capture_entry(&fx->st, "svc", p, p, 0, &m->entries[m->n],
							&stats, &err), 0);
		m->n++;
		free(p);
	}
	manifest_sort(m);
}

/* Live release A (written now), then release B's content captured and
 * the live files put back to A. */
static void make_two_releases(struct fixture *fx, struct manifest *a, struct manifest *b)
{
	char *api = in_dir(fx, "api"), *web = in_dir(fx, "web");
	char *index = path_join(web, "index.html"), *old = path_join(web, "old.css");
	char *fresh = path_join(web, "new.css");
	struct error err = ERROR_INIT;

	write_file(api, "api v1\n");
	assert_int_equal(mkdir(web, 0755), 0);
	write_file(index, "index v1\n");
	write_file(old, "old\n");
	capture(fx, a);

	write_file(api, "api v2\n");
	write_file(index, "index v2\n");
	assert_int_equal(unlink(old), 0);
	write_file(fresh, "new\n");
	capture(fx, b);

	/* Back to A on disk. */
	assert_int_equal(fs_remove_tree(web, &err), 0);
	assert_int_equal(mkdir(web, 0755), 0);
	write_file(api, "api v1\n");
	write_file(index, "index v1\n");
	write_file(old, "old\n");
	free(api), free(web), free(index), free(old), free(fresh);
}

static void assert_live_is_a(struct fixture *fx)
{
	char *api = in_dir(fx, "api"), *index = in_dir(fx, "web/index.html");
	char *old = in_dir(fx, "web/old.css"), *fresh = in_dir(fx, "web/new.css");
	assert_file_text(api, "api v1\n");
	assert_file_text(index, "index v1\n");
	assert_file_text(old, "old\n");
	assert_false(path_exists(fresh));
	free(api), free(index), free(old), free(fresh);
}

static void assert_live_is_b(struct fixture *fx)
{
	char *api = in_dir(fx, "api"), *index = in_dir(fx, "web/index.html");
	char *old = in_dir(fx, "web/old.css"), *fresh = in_dir(fx, "web/new.css");
	assert_file_text(api, "api v2\n");
	assert_file_text(index, "index v2\n");
	assert_false(path_exists(old));
	assert_file_text(fresh, "new\n");
	free(api), free(index), free(old), free(fresh);
}

static void assert_no_stage_left(struct fixture *fx)
{
	for (int seq = 1; seq <= 2; seq++) {
		char *name = xstrfmt("%s/.lastgood-%ld-%d", fx->dir, fx->op, seq);
		assert_false(path_exists(name));
		free(name);
	}
}

static void test_switch_whole_set(void **state)
{
	struct fixture *fx = *state;
	struct manifest a = MANIFEST_INIT, b = MANIFEST_INIT;
	struct switch_plan plan;
	struct error err = ERROR_INIT;

	make_two_releases(fx, &a, &b);
	switch_plan_build(&a, &b, &plan);
	assert_int_equal(plan.n, 2);
	assert_int_equal(switch_prepare(&fx->st, fx->op, &plan, &err), 0);
	int committed = 0;
	assert_int_equal(switch_commit(&fx->st, fx->op, 2, &committed, &err), 0);
	assert_int_equal(committed, 1);
	switch_plan_free(&plan);
	assert_live_is_b(fx);
	assert_int_equal(state_live_release(&fx->st), 2);
	/* The old copies stay until switch_finish (the services start
	 * first); finishing twice is harmless, and leaves nothing to recover. */
	char *old_api = xstrfmt("%s/.lastgood-%ld-1", fx->dir, fx->op);
	assert_file_text(old_api, "api v1\n");
	free(old_api);
	assert_int_equal(switch_finish(&fx->st, fx->op, &err), 0);
	assert_no_stage_left(fx);
	assert_int_equal(switch_finish(&fx->st, fx->op, &err), 0);
	enum switch_outcome outcome;
	assert_int_equal(switch_recover(&fx->st, fx->op, &outcome, &err), 0);
	assert_int_equal(outcome, SWITCH_COMPLETE);
	assert_live_is_b(fx);

	/* Mode is kept. */
	char *api = in_dir(fx, "api");
	struct stat sb;
	assert_int_equal(stat(api, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0644);
	free(api);
	manifest_free(&a);
	manifest_free(&b);
}

static void test_damaged_object_refused_before_live_changes(void **state)
{
	struct fixture *fx = *state;
	struct manifest a = MANIFEST_INIT, b = MANIFEST_INIT;
	struct switch_plan plan;
	struct error err = ERROR_INIT;

	make_two_releases(fx, &a, &b);
	/* Corrupt the object of web/new.css (staged after api). */
	const struct manifest_entry *web = &b.entries[1];
	char digest[HASH_HEX_SIZE] = "";
	for (size_t i = 0; i < web->nnodes; i++)
		if (!strcmp(web->nodes[i].rel, "new.css"))
			hash_to_hex(web->nodes[i].digest, digest);
	assert_true(digest[0]);
	char *obj = store_object_path(&fx->st, digest);
	assert_int_equal(chmod(obj, 0644), 0);
	write_file(obj, "tampered\n");
	free(obj);

	switch_plan_build(&a, &b, &plan);
	assert_int_equal(switch_prepare(&fx->st, fx->op, &plan, &err), -1);
	assert_non_null(strstr(err.msg, "corrupt"));
	switch_plan_free(&plan);
	assert_live_is_a(fx);
	assert_no_stage_left(fx);
	assert_int_equal(state_live_release(&fx->st), 0);
	manifest_free(&a);
	manifest_free(&b);
}

/* Journal a plan and stage it by hand, as an interrupted switch would have
 * left it: phase 'staging', 'swapping' (with `swapped` entries exchanged)
 * or 'committed'. */
static void leave_interrupted(struct fixture *fx, const char *phase, int swapped)
{
	static const char *const names[] = { "api", "web" };
	char sql[512];
	struct error err = ERROR_INIT;

	for (int i = 0; i < 2; i++) {
		char *live = in_dir(fx, names[i]);
		char *stage = xstrfmt("%s/.lastgood-%ld-%d", fx->dir, fx->op, i + 1);
		if (i == 0) {
			write_file(stage, "api v2\n");
		} else {
			char *index = path_join(stage, "index.html");
			char *fresh = path_join(stage, "new.css");
			assert_int_equal(mkdir(stage, 0755), 0);
			write_file(index, "index v2\n");
			write_file(fresh, "new\n");
			free(index), free(fresh);
		}
		struct stat sb;
		assert_int_equal(lstat(stage, &sb), 0);
		snprintf(sql, sizeof(sql), "INSERT INTO switch_entries(operation, seq, path, stage, "
			 "created, staged_dev, staged_ino) VALUES(%ld, %d, '%s', '%s', 0, %lld, %lld)",
			 fx->op, i + 1, live, stage, (long long)sb.st_dev, (long long)sb.st_ino);
		assert_int_equal(state_exec(&fx->st, sql, "test", &err), 0);
		if (i < swapped)
			assert_int_equal(renameat2(AT_FDCWD, stage, AT_FDCWD, live, RENAME_EXCHANGE), 0);
		free(live), free(stage);
	}
	snprintf(sql, sizeof(sql), "UPDATE operations SET phase = '%s' WHERE id = %ld", phase, fx->op);
	assert_int_equal(state_exec(&fx->st, sql, "test", &err), 0);
}

static void test_recover_undoes_partial_swap(void **state)
{
	struct fixture *fx = *state;
	struct manifest a = MANIFEST_INIT, b = MANIFEST_INIT;
	struct error err = ERROR_INIT;
	enum switch_outcome outcome;

	make_two_releases(fx, &a, &b);
	leave_interrupted(fx, "swapping", 1);
	assert_int_equal(switch_recover(&fx->st, fx->op, &outcome, &err), 0);
	assert_int_equal(outcome, SWITCH_UNDONE);
	assert_live_is_a(fx);
	assert_no_stage_left(fx);
	/* Running it again changes nothing. */
	assert_int_equal(switch_recover(&fx->st, fx->op, &outcome, &err), 0);
	assert_live_is_a(fx);
	manifest_free(&a);
	manifest_free(&b);
}

static void test_recover_cleans_staging(void **state)
{
	struct fixture *fx = *state;
	struct manifest a = MANIFEST_INIT, b = MANIFEST_INIT;
	struct error err = ERROR_INIT;
	enum switch_outcome outcome;

	make_two_releases(fx, &a, &b);
	leave_interrupted(fx, "staging", 0);
	assert_int_equal(switch_recover(&fx->st, fx->op, &outcome, &err), 0);
	assert_int_equal(outcome, SWITCH_UNDONE);
	assert_live_is_a(fx);
	assert_no_stage_left(fx);
	manifest_free(&a);
	manifest_free(&b);
}

static void test_recover_finishes_committed(void **state)
{
	struct fixture *fx = *state;
	struct manifest a = MANIFEST_INIT, b = MANIFEST_INIT;
	struct error err = ERROR_INIT;
	enum switch_outcome outcome;

	make_two_releases(fx, &a, &b);
	leave_interrupted(fx, "committed", 2);
	assert_int_equal(switch_recover(&fx->st, fx->op, &outcome, &err), 0);
	assert_int_equal(outcome, SWITCH_FINISHED);
	assert_live_is_b(fx);
	assert_no_stage_left(fx);
	manifest_free(&a);
	manifest_free(&b);
}

static void test_recover_refuses_foreign_stage(void **state)
{
	struct fixture *fx = *state;
	struct manifest a = MANIFEST_INIT, b = MANIFEST_INIT;
	struct error err = ERROR_INIT;
	enum switch_outcome outcome;

	make_two_releases(fx, &a, &b);
	leave_interrupted(fx, "swapping", 0);
	/* Something else now sits at the stage name: never delete it. */
	char *stage = xstrfmt("%s/.lastgood-%ld-1", fx->dir, fx->op);
	write_file(stage, "not ours\n");   /* a new inode, renamed over it */
	assert_int_equal(switch_recover(&fx->st, fx->op, &outcome, &err), -1);
	assert_int_equal(err.code, EXIT_NEEDS_ATTENTION);
	assert_file_text(stage, "not ours\n");
	free(stage);
	manifest_free(&a);
	manifest_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_switch_whole_set, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_object_refused_before_live_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recover_undoes_partial_swap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recover_cleans_staging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recover_finishes_committed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recover_refuses_foreign_stage, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
