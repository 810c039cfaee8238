/*
 * Unit tests for the differences between two releases (core/diff.c): two
 * recorded manifests in, a change list out, in manifest order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/config.h"
#include "core/diff.h"
#include "core/manifest.h"
#include "core/release.h"
#include "core/state.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/fs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* One single-file entry at path; the digest is fake (tag repeated), so
 * no object exists and no patch is attempted. */
static void add_entry(struct manifest *m, const char *path, mode_t mode, char tag)
{
	ALLOC_GROW(m->entries, m->n + 1, m->alloc);
	struct manifest_entry *e = &m->entries[m->n++];
	memset(e, 0, sizeof(*e));
	e->service = xstrdup("api");
	e->path = xstrdup(path);
	ALLOC_GROW(e->nodes, 1, e->alloc);
	memset(&e->nodes[0], 0, sizeof(e->nodes[0]));
	e->nodes[0].rel = xstrdup("");
	e->nodes[0].type = NODE_FILE;
	e->nodes[0].mode = mode;
	e->nodes[0].size = 1;
	memset(e->nodes[0].digest, tag, HASH_SIZE);
	e->nnodes = 1;
	manifest_entry_finish(e);
}

static long add_release(struct state *st, struct manifest *m)
{
	struct error err = ERROR_INIT;
	struct release_meta meta = { 0 };
	long id = 0;
	int created = 0;
	assert_int_equal(release_create(st, m, &meta, &id, &created, &err), 0);
	manifest_free(m);
	return id;
}

static char *quote_plain(const char *name)
{
	return xstrdup(name);
}

/* A config in /srv that recorded nothing: only its names are read. */
static void srv_config(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->dir = "/srv";
	cfg->file = "/srv/lastgood.yml";
	cfg->path = "lastgood.yml";
}

static void test_diff_lists_changes_in_manifest_order(void **state)
{
	struct fixture *fx = *state;
	struct manifest m = MANIFEST_INIT;
	struct error err = ERROR_INIT;
	struct config cfg;
	struct diff_list list = DIFF_LIST_INIT;

	add_entry(&m, "/srv/bin/api", 0755, 'a');
	add_entry(&m, "/srv/bin/old", 0644, 'c');
	long from = add_release(&fx->st, &m);
	add_entry(&m, "/srv/bin/api", 0700, 'b');
	add_entry(&m, "/srv/etc/new", 0644, 'c');
	long to = add_release(&fx->st, &m);

	srv_config(&cfg);
	assert_int_equal(diff_releases(&fx->st, &cfg, from, to, quote_plain, &list, &err), 0);
	assert_int_equal(list.n, 3);
	assert_int_equal(list.v[0].kind, DIFF_MODIFIED);
	assert_string_equal(diff_shown_path(&list, list.v[0].path), "bin/api");
	assert_string_equal(list.v[0].details.buf, "mode 0755 -> 0700, content");
	assert_int_equal(list.v[0].patch.len, 0);
	assert_int_equal(list.v[1].kind, DIFF_REMOVED);
	assert_string_equal(list.v[1].path, "/srv/bin/old");
	assert_int_equal(list.v[2].kind, DIFF_ADDED);
	assert_string_equal(list.v[2].path, "/srv/etc/new");
	assert_string_equal(diff_type_name(list.v[2].node->type), "file");
	assert_int_equal(list.config.changed, 0);
	assert_null(list.patch_error);
	diff_list_free(&list);
}

static void test_diff_of_unknown_release_fails(void **state)
{
	struct fixture *fx = *state;
	struct manifest m = MANIFEST_INIT;
	struct error err = ERROR_INIT;
	struct config cfg;
	struct diff_list list = DIFF_LIST_INIT;

	add_entry(&m, "/srv/bin/api", 0755, 'a');
	long from = add_release(&fx->st, &m);
	srv_config(&cfg);
	assert_int_equal(diff_releases(&fx->st, &cfg, from, from + 1, quote_plain, &list, &err), -1);
	assert_int_not_equal(err.kind, 0);
	diff_list_free(&list);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_diff_lists_changes_in_manifest_order, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_diff_of_unknown_release_fails, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
