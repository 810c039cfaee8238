/*
 * Unit tests for the migrations a release holds (core/db/migrations.c):
 * manifests built by hand in, a set of migrations or a one-line error out;
 * and what an up script's text says (its flags, whether it destroys).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/db/db.h"
#include "core/manifest.h"
#include "util/alloc.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>

#define FOLDER "/srv/app/db/migrations"

/* Add an entry at path holding the nodes rels (NULL-terminated, sorted,
 * the first ""): a rel ending in "/" is a folder, one starting with "@" a
 * symbolic link, anything else a file whose digest is its index repeated. */
static void add_entry(struct manifest *m, const char *path, const char *const *rels)
{
	ALLOC_GROW(m->entries, m->n + 1, m->alloc);
	struct manifest_entry *e = &m->entries[m->n++];
	memset(e, 0, sizeof(*e));
	e->service = xstrdup("api");
	e->path = xstrdup(path);
	for (size_t i = 0; rels[i]; i++) {
		ALLOC_GROW(e->nodes, e->nnodes + 1, e->alloc);
		struct manifest_node *n = &e->nodes[e->nnodes++];
		memset(n, 0, sizeof(*n));
		size_t len = strlen(rels[i]);
		if (rels[i][0] == '@') {
			n->rel = xstrdup(rels[i] + 1);
			n->type = NODE_SYMLINK;
			n->link = xstrdup("elsewhere");
		} else if (len == 0 || rels[i][len - 1] == '/') {
			n->rel = xstrndup(rels[i], len ? len - 1 : 0);
			n->type = NODE_DIR;
		} else {
			n->rel = xstrdup(rels[i]);
			n->type = NODE_FILE;
			memset(n->digest, (int)i, HASH_SIZE);
		}
	}
	manifest_entry_finish(e);
}

/* The hex name of the digest add_entry gives the node at index i. */
static void digest_of(size_t i, char hex[HASH_HEX_SIZE])
{
	unsigned char raw[HASH_SIZE];
	memset(raw, (int)i, HASH_SIZE);
	hash_to_hex(raw, hex);
}

/* Load the folder FOLDER from a manifest of one entry at FOLDER holding
 * files; -1 and err on failure. */
static int load_folder(const char *const *rels, struct migration_set *set, struct error *err)
{
	struct manifest m = MANIFEST_INIT;
	add_entry(&m, FOLDER, rels);
	int rc = migration_set_from_manifest(&m, FOLDER, set, err);
	manifest_free(&m);
	return rc;
}

static void test_entry_is_the_folder(void **state)
{
	(void)state;
	static const char *const rels[] = {
		"", "0001_init.down.sql", "0001_init.up.sql", "0002_users.up.sql",
		"0002_users.verify.sql", "README.md", "sub/", "sub/0007_deep.up.sql", NULL,
	};
	struct migration_set set = MIGRATION_SET_INIT;
	struct error err = ERROR_INIT;
	char hex[HASH_HEX_SIZE];

	assert_int_equal(load_folder(rels, &set, &err), 0);
	assert_int_equal(set.n, 2);
	assert_int_equal(migration_set_latest(&set), 2);
	const struct migration *init = migration_set_find(&set, 1);
	assert_non_null(init);
	assert_string_equal(init->name, "init");
	digest_of(2, hex);
	assert_string_equal(init->up, hex);
	digest_of(1, hex);
	assert_string_equal(init->down, hex);
	assert_string_equal(init->verify, "");
	const struct migration *users = migration_set_find(&set, 2);
	assert_non_null(users);
	assert_string_equal(users->name, "users");
	assert_string_equal(users->down, "");
	digest_of(4, hex);
	assert_string_equal(users->verify, hex);
	assert_null(migration_set_find(&set, 0));
	assert_null(migration_set_find(&set, 3));
	migration_set_free(&set);
}

static void test_folder_below_an_entry(void **state)
{
	(void)state;
	static const char *const rels[] = {
		"", "db/", "db/migrations/", "db/migrations/0003_a.up.sql",
		"db/migrations/0004_b.up.sql", "db/migrationsX/", "db/migrationsX/0009_z.up.sql",
		"db/other.sql", NULL,
	};
	struct manifest m = MANIFEST_INIT;
	struct migration_set set = MIGRATION_SET_INIT;
	struct error err = ERROR_INIT;
	static const char *const other[] = { "", "x.sql", NULL };

	add_entry(&m, "/srv/app", rels);
	add_entry(&m, "/srv/app2", other);
	assert_int_equal(migration_set_from_manifest(&m, FOLDER, &set, &err), 0);
	assert_int_equal(set.n, 2);
	assert_int_equal(set.v[0].version, 3);
	assert_string_equal(set.v[1].name, "b");
	assert_null(migration_set_find(&set, 2));
	assert_int_equal(migration_set_find(&set, 4)->version, 4);
	assert_null(migration_set_find(&set, 5));
	assert_int_equal(migration_set_latest(&set), 4);
	migration_set_free(&set);
	manifest_free(&m);
}

static void test_absent_folder_is_empty(void **state)
{
	(void)state;
	static const char *const rels[] = { "", "db/", "db/0001_a.up.sql", NULL };
	struct manifest m = MANIFEST_INIT;
	struct migration_set set = MIGRATION_SET_INIT;
	struct error err = ERROR_INIT;

	add_entry(&m, "/srv/app", rels);
	assert_int_equal(migration_set_from_manifest(&m, FOLDER, &set, &err), 0);
	assert_int_equal(set.n, 0);
	assert_int_equal(migration_set_latest(&set), 0);
	assert_null(migration_set_find(&set, 1));
	manifest_free(&m);
	m = (struct manifest)MANIFEST_INIT;
	assert_int_equal(migration_set_from_manifest(&m, FOLDER, &set, &err), 0);
	assert_int_equal(set.n, 0);
}

/* load_folder fails with ERROR_USAGE and exactly message. */
static void assert_refused(const char *const *rels, const char *message)
{
	struct migration_set set = MIGRATION_SET_INIT;
	struct error err = ERROR_INIT;
	assert_int_equal(load_folder(rels, &set, &err), -1);
	assert_int_equal(err.kind, ERROR_USAGE);
	assert_string_equal(err.msg, message);
	assert_int_equal(set.n, 0);
	assert_null(set.v);
}

static void test_bad_names_refused(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"0003_x.sql", "x_a.up.sql", "0001.up.sql", "0001_.up.sql", "0001_a.UP.sql",
		"_a.up.sql", "0001_a b.up.sql", "99999999999999999999_a.up.sql",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *rels[] = { "", bad[i], NULL };
		char *message = xstrfmt("migration '" FOLDER "/%s': not NNNN_name.up.sql, "
					".down.sql or .verify.sql",
					bad[i]);
		assert_refused(rels, message);
		free(message);
	}
	static const char *const zero[] = { "", "0000_init.up.sql", NULL };
	assert_refused(zero, "migration '" FOLDER "/0000_init.up.sql': version 0: versions "
			     "start at 1");
	static const char *const link[] = { "", "@0001_a.up.sql", NULL };
	assert_refused(link, "migration '" FOLDER "/0001_a.up.sql': not a regular file");
}

static void test_duplicates_refused(void **state)
{
	(void)state;
	static const char *const two_names[] = { "", "0001_a.up.sql", "0001_b.up.sql", NULL };
	assert_refused(two_names, "migration '" FOLDER "/0001_b.up.sql': version 1 given twice "
				  "(also '" FOLDER "/0001_a.up.sql')");
	static const char *const two_spellings[] = { "", "01_a.up.sql", "1_a.up.sql", NULL };
	assert_refused(two_spellings, "migration '" FOLDER "/1_a.up.sql': version 1 given twice "
				      "(also '" FOLDER "/01_a.up.sql')");
	static const char *const down_named_apart[] = {
		"", "0001_a.up.sql", "0001_b.down.sql", NULL,
	};
	assert_refused(down_named_apart, "migration '" FOLDER "/0001_b.down.sql': version 1 "
					 "given twice (also '" FOLDER "/0001_a.up.sql')");
}

static void test_script_without_up_refused(void **state)
{
	(void)state;
	static const char *const down[] = { "", "0001_a.up.sql", "0002_b.down.sql", NULL };
	assert_refused(down, "migration '" FOLDER "/0002_b.down.sql': no up script for version "
			     "2");
	static const char *const verify[] = { "", "0001_a.verify.sql", NULL };
	assert_refused(verify, "migration '" FOLDER "/0001_a.verify.sql': no up script for "
			       "version 1");
}

static void test_gap_refused(void **state)
{
	(void)state;
	static const char *const rels[] = {
		"", "0001_a.up.sql", "0002_b.up.sql", "0004_d.up.sql", NULL,
	};
	assert_refused(rels, "migration '" FOLDER "/0004_d.up.sql': version 4 follows version 2 "
			     "('" FOLDER "/0002_b.up.sql'); the versions between are missing");
}

static void test_flags(void **state)
{
	(void)state;
	assert_int_equal(migration_flags("CREATE TABLE t (x);\n"), 0);
	assert_int_equal(migration_flags(""), 0);
	assert_int_equal(migration_flags("-- lastgood: no-transaction\nCREATE INDEX ..."),
			 MIGRATION_NO_TRANSACTION);
	assert_int_equal(migration_flags("-- lastgood: online"), MIGRATION_ONLINE);
	assert_int_equal(migration_flags("--lastgood:online,no-transaction\r\n"),
			 MIGRATION_ONLINE | MIGRATION_NO_TRANSACTION);
	assert_int_equal(migration_flags("-- lastgood: no-transaction, online\n"),
			 MIGRATION_ONLINE | MIGRATION_NO_TRANSACTION);
	/* only the first line speaks */
	assert_int_equal(migration_flags("-- add users\n-- lastgood: online\n"), 0);
	assert_int_equal(migration_flags("-- lastgood: no-transactions\n"), 0);
	assert_int_equal(migration_flags("-- lastgood: online-ish\n"), 0);
	assert_int_equal(migration_flags("-- lastgood:\n-- online\n"), 0);
}

static void test_destructive(void **state)
{
	(void)state;
	static const char *const destructive[] = {
		"DROP TABLE users;",
		"drop index i",
		"CREATE TABLE a (x); truncate a;",
		"DELETE FROM users WHERE id = 1",
		"ALTER TABLE t ALTER COLUMN c TYPE bigint",
		"alter table t alter c type bigint",
		"ALTER TABLE t ALTER COLUMN \"c\" SET DATA TYPE text",
		"ALTER TABLE t DROP COLUMN c",
		"/* a */ DROP /* b */ TABLE t",
		"SELECT 'x'; DELETE FROM t",
		"CREATE TABLE a (b INT REFERENCES c ON DELETE CASCADE); DELETE FROM a",
	};
	static const char *const harmless[] = {
		"ALTER TABLE t ADD COLUMN c text",
		"ALTER TABLE events ADD COLUMN type text",
		"CREATE TYPE mood AS ENUM ('happy')",
		"-- DROP TABLE users\nCREATE TABLE a (x)",
		"/* DELETE FROM t */ CREATE TABLE a (x)",
		"INSERT INTO notes VALUES ('drop table users; delete')",
		"CREATE TABLE \"drop\" (\"delete\" int)",
		"INSERT INTO t VALUES ('it''s DROP')",
		"CREATE TABLE dropped (deleted_at int, truncated int)",
		"CREATE TABLE a (b INT REFERENCES c (id) ON DELETE CASCADE)",
		"CREATE TRIGGER g AFTER DELETE ON t BEGIN SELECT 1; END",
		"",
	};
	for (size_t i = 0; i < sizeof(destructive) / sizeof(destructive[0]); i++)
		if (!migration_destructive(destructive[i]))
			fail_msg("not seen as destructive: %s", destructive[i]);
	for (size_t i = 0; i < sizeof(harmless) / sizeof(harmless[0]); i++)
		if (migration_destructive(harmless[i]))
			fail_msg("seen as destructive: %s", harmless[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_entry_is_the_folder),
		cmocka_unit_test(test_folder_below_an_entry),
		cmocka_unit_test(test_absent_folder_is_empty),
		cmocka_unit_test(test_bad_names_refused),
		cmocka_unit_test(test_duplicates_refused),
		cmocka_unit_test(test_script_without_up_refused),
		cmocka_unit_test(test_gap_refused),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_destructive),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
