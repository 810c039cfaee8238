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

#include <dirent.h>
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

/* The stages in the fixture's folder (".lastgood-*"; the state folder is
 * ".lastgood"). */
static int count_stages(struct fixture *fx)
{
	DIR *d = opendir(fx->dir);
	struct dirent *de;
	int n = 0;
	assert_non_null(d);
	while ((de = readdir(d)))
		n += !strncmp(de->d_name, ".lastgood-", 10);
	closedir(d);
	return n;
}

static void assert_no_stage_left(struct fixture *fx)
{
	assert_int_equal(count_stages(fx), 0);
}

/* The stage an entry of the journal names (caller frees). */
static char *journal_stage(struct fixture *fx, int seq)
{
	sqlite3_stmt *stmt;
	struct error err = ERROR_INIT;
	char *stage = NULL;
	assert_int_equal(state_prepare(&fx->st, "SELECT stage FROM switch_entries WHERE "
				       "operation = ? AND seq = ?", &stmt, &err), 0);
	sqlite3_bind_int64(stmt, 1, fx->op);
	sqlite3_bind_int(stmt, 2, seq);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		stage = xstrdup((const char *)sqlite3_column_text(stmt, 0));
	sqlite3_finalize(stmt);
	assert_non_null(stage);
	return stage;
}

/* Switch the live files from a to b and commit release 2. */
static void switch_to(struct fixture *fx, const struct manifest *a, const struct manifest *b,
		      size_t changes)
{
	struct switch_plan plan;
	struct error err = ERROR_INIT;
	switch_plan_build(a, b, &plan);
	assert_int_equal(plan.n, changes);
	assert_int_equal(switch_prepare(&fx->st, fx->op, &plan, &err), 0);
	assert_int_equal(switch_swap(&fx->st, fx->op, &err), 0);
	assert_int_equal(operation_commit(&fx->st, fx->op, 2, &err), 0);
	switch_plan_free(&plan);
}

static void test_switch_whole_set(void **state)
{
	struct fixture *fx = *state;
	struct manifest a = MANIFEST_INIT, b = MANIFEST_INIT;
	struct error err = ERROR_INIT;

	make_two_releases(fx, &a, &b);
	switch_to(fx, &a, &b, 2);
	assert_live_is_b(fx);
	assert_int_equal(state_live_release(&fx->st), 2);
	/* The old copies stay until switch_finish (the verdict first);
	 * finishing twice is harmless, and leaves nothing to recover. */
	char *old_api = journal_stage(fx, 1);
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
	char *obj = store_object_path(&fx->st.store, digest);
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
		struct stat sb, lb;
		assert_int_equal(lstat(stage, &sb), 0);
		assert_int_equal(lstat(live, &lb), 0);
		snprintf(sql, sizeof(sql), "INSERT INTO switch_entries(operation, seq, path, stage, "
			 "created, staged_dev, staged_ino, live_dev, live_ino) "
			 "VALUES(%ld, %d, '%s', '%s', 0, %lld, %lld, %lld, %lld)",
			 fx->op, i + 1, live, stage, (long long)sb.st_dev, (long long)sb.st_ino,
			 (long long)lb.st_dev, (long long)lb.st_ino);
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

static void test_recover_leaves_foreign_stage(void **state)
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
	assert_int_equal(switch_recover(&fx->st, fx->op, &outcome, &err), 0);
	assert_int_equal(outcome, SWITCH_UNDONE);
	assert_file_text(stage, "not ours\n");
	assert_live_is_a(fx);
	assert_int_equal(count_stages(fx), 1);
	free(stage);
	manifest_free(&a);
	manifest_free(&b);
}

/* Corrupt every object a file of m's entries names. */
static void damage_objects(struct fixture *fx, const struct manifest *m)
{
	for (size_t i = 0; i < m->n; i++)
		for (size_t k = 0; k < m->entries[i].nnodes; k++) {
			char hex[HASH_HEX_SIZE];
			if (m->entries[i].nodes[k].type != NODE_FILE)
				continue;
			hash_to_hex(m->entries[i].nodes[k].digest, hex);
			char *obj = store_object_path(&fx->st.store, hex);
			assert_int_equal(chmod(obj, 0644), 0);
			write_file(obj, "damaged\n");
			free(obj);
		}
}

static void test_revert_swaps_back_without_the_store(void **state)
{
	struct fixture *fx = *state;
	struct manifest a = MANIFEST_INIT, b = MANIFEST_INIT;
	struct error err = ERROR_INIT;

	make_two_releases(fx, &a, &b);
	switch_to(fx, &a, &b, 2);
	assert_int_equal(switch_kept_copies(&fx->st, fx->op, &err), 1);
	/* The store lost A: going back must not need it. */
	damage_objects(fx, &a);
	assert_int_equal(switch_revert(&fx->st, fx->op, 1, &err), 0);
	assert_live_is_a(fx);
	assert_int_equal(state_live_release(&fx->st), 1);
	assert_int_equal(switch_kept_copies(&fx->st, fx->op, &err), 0);
	/* The stages hold B until the verdict on A is final. */
	char *new_api = journal_stage(fx, 1);
	assert_file_text(new_api, "api v2\n");
	free(new_api);
	assert_int_equal(switch_finish(&fx->st, fx->op, &err), 0);
	assert_no_stage_left(fx);
	assert_live_is_a(fx);
	manifest_free(&a);
	manifest_free(&b);
}

static void test_recover_finishes_a_revert(void **state)
{
	struct fixture *fx = *state;
	struct manifest a = MANIFEST_INIT, b = MANIFEST_INIT;
	struct error err = ERROR_INIT;
	enum switch_outcome outcome;
	char sql[256];

	make_two_releases(fx, &a, &b);
	switch_to(fx, &a, &b, 2);
	/* Killed in the middle of swapping back: the second entry (web) is
	 * back, the first (api) not yet. */
	char *web = in_dir(fx, "web"), *stage = journal_stage(fx, 2);
	assert_int_equal(renameat2(AT_FDCWD, stage, AT_FDCWD, web, RENAME_EXCHANGE), 0);
	snprintf(sql, sizeof(sql), "UPDATE operations SET phase = 'reverting', revert_to = 1 "
		 "WHERE id = %ld", fx->op);
	assert_int_equal(state_exec(&fx->st, sql, "test", &err), 0);
	assert_int_equal(switch_recover(&fx->st, fx->op, &outcome, &err), 0);
	assert_int_equal(outcome, SWITCH_UNDONE);
	assert_live_is_a(fx);
	assert_int_equal(state_live_release(&fx->st), 1);
	assert_no_stage_left(fx);
	free(web), free(stage);
	manifest_free(&a);
	manifest_free(&b);
}

static void test_entry_the_target_lacks_goes_and_comes_back(void **state)
{
	struct fixture *fx = *state;
	struct manifest a = MANIFEST_INIT, b = MANIFEST_INIT;
	struct error err = ERROR_INIT;
	enum switch_outcome outcome;

	make_two_releases(fx, &a, &b);
	/* B without web: the switch removes it. */
	manifest_entry_free(&b.entries[1]);
	b.n = 1;
	switch_to(fx, &a, &b, 2);
	char *web = in_dir(fx, "web"), *api = in_dir(fx, "api");
	assert_false(path_exists(web));
	assert_file_text(api, "api v2\n");
	/* Swapped back, it returns whole. */
	assert_int_equal(switch_revert(&fx->st, fx->op, 1, &err), 0);
	assert_int_equal(switch_recover(&fx->st, fx->op, &outcome, &err), 0);
	assert_live_is_a(fx);
	assert_no_stage_left(fx);
	/* And switched for good, it is gone with no copy left beside. */
	switch_to(fx, &a, &b, 2);
	assert_int_equal(switch_finish(&fx->st, fx->op, &err), 0);
	assert_false(path_exists(web));
	assert_no_stage_left(fx);
	free(web), free(api);
	manifest_free(&a);
	manifest_free(&b);
}

/* A tree nested deeper than PATH_MAX is staged, swapped and removed: no
 * path of it is ever handed to the kernel whole. */
static void test_tree_deeper_than_path_max(void **state)
{
	struct fixture *fx = *state;
	struct manifest a = MANIFEST_INIT, b = MANIFEST_INIT;
	struct error err = ERROR_INIT;
	char name[201];
	memset(name, 'd', 200);
	name[200] = '\0';

	char *api = in_dir(fx, "api"), *web = in_dir(fx, "web");
	write_file(api, "api v1\n");
	assert_int_equal(mkdir(web, 0755), 0);
	capture(fx, &a);
	int fd = open(web, O_RDONLY | O_DIRECTORY);
	for (int depth = 0; depth < 30; depth++) {   /* 30 * 201 > PATH_MAX */
		assert_int_equal(mkdirat(fd, name, 0755), 0);
		int next = openat(fd, name, O_RDONLY | O_DIRECTORY);
		close(fd);
		fd = next;
	}
	int file = openat(fd, "deep.txt", O_WRONLY | O_CREAT, 0644);
	assert_int_equal(write(file, "deep\n", 5), 5);
	close(file);
	close(fd);
	capture(fx, &b);
	switch_to(fx, &b, &a, 1);   /* the deep tree goes */
	assert_int_equal(switch_revert(&fx->st, fx->op, 1, &err), 0);
	assert_int_equal(switch_finish(&fx->st, fx->op, &err), 0);
	assert_no_stage_left(fx);
	switch_to(fx, &b, &a, 1);
	assert_int_equal(switch_finish(&fx->st, fx->op, &err), 0);
	assert_no_stage_left(fx);
	/* And staged from the store, into a fresh folder. */
	struct switch_plan plan;
	switch_plan_build(&a, &b, &plan);
	assert_int_equal(switch_prepare(&fx->st, fx->op, &plan, &err), 0);
	assert_int_equal(switch_swap(&fx->st, fx->op, &err), 0);
	assert_int_equal(operation_commit(&fx->st, fx->op, 3, &err), 0);
	assert_int_equal(switch_finish(&fx->st, fx->op, &err), 0);
	switch_plan_free(&plan);
	struct manifest again = MANIFEST_INIT;
	capture(fx, &again);
	assert_string_equal(again.entries[1].digest, b.entries[1].digest);
	free(api), free(web);
	manifest_free(&a);
	manifest_free(&b);
	manifest_free(&again);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_switch_whole_set, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_object_refused_before_live_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recover_undoes_partial_swap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recover_cleans_staging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recover_finishes_committed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recover_leaves_foreign_stage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revert_swaps_back_without_the_store, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recover_finishes_a_revert, setup, teardown),
		cmocka_unit_test_setup_teardown(test_entry_the_target_lacks_goes_and_comes_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tree_deeper_than_path_max, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
