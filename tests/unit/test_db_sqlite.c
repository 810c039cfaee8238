/*
 * Unit tests for the SQLite engine (core/db/sqlite.c) on real database
 * files in a temporary folder: migrations up and down with their rows of
 * lastgood_migrations, failures that leave the file as it was, the
 * migrator lock, and backups restored.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/config.h"
#include "core/db/db.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/strbuf.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fixture {
	char dir[64];
	struct database database;
	struct db_conn *conn;
	sqlite3 *app;                /* the application's own connection */
};

static const struct db_engine *const engine = &db_engine_sqlite;

static int setup(void **state)
{
	struct fixture *fx = xcalloc(1, sizeof(*fx));
	struct error err = ERROR_INIT;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/lg-unit-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	fx->database.name = xstrdup("main");
	fx->database.path = path_join(fx->dir, "app.db");
	assert_int_equal(engine->connect(&fx->database, &fx->conn, &err), 0);
	assert_int_equal(sqlite3_open(fx->database.path, &fx->app), SQLITE_OK);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	struct error err = ERROR_INIT;
	engine->close(fx->conn);
	sqlite3_close(fx->app);
	fs_remove_tree(fx->dir, &err);
	free(fx->database.name);
	free(fx->database.path);
	free(fx);
	return 0;
}

static void app_exec(struct fixture *fx, const char *sql)
{
	char *message = NULL;
	if (sqlite3_exec(fx->app, sql, NULL, NULL, &message) != SQLITE_OK)
		fail_msg("%s: %s", sql, message);
}

/* Append every row of sql's result to out, one line each. */
static int add_row(void *data, int ncolumns, char **values, char **names)
{
	struct strbuf *out = data;
	(void)names;
	for (int i = 0; i < ncolumns; i++)
		strbuf_addf(out, "%s%s", i ? "|" : "", values[i] ? values[i] : "NULL");
	strbuf_addch(out, '\n');
	return 0;
}

static char *app_rows(struct fixture *fx, const char *sql)
{
	struct strbuf out = STRBUF_INIT;
	char *message = NULL;
	if (sqlite3_exec(fx->app, sql, add_row, &out, &message) != SQLITE_OK)
		fail_msg("%s: %s", sql, message);
	return strbuf_detach(&out);
}

/* The schema and the rows of lastgood_migrations: what a failed migration
 * must leave as it found. */
static char *snapshot(struct fixture *fx)
{
	char *schema = app_rows(fx, "SELECT type, name, sql FROM sqlite_schema ORDER BY name");
	char *rows = strstr(schema, "lastgood_migrations")
			     ? app_rows(fx, "SELECT * FROM lastgood_migrations ORDER BY version")
			     : xstrdup("");
	char *all = xstrfmt("%s--\n%s", schema, rows);
	free(schema);
	free(rows);
	return all;
}

static void assert_rows(struct fixture *fx, const char *sql, const char *expected)
{
	char *rows = app_rows(fx, sql);
	assert_string_equal(rows, expected);
	free(rows);
}

static struct db_applied make_row(long version, const char *name, const char *sql)
{
	struct db_applied row;
	memset(&row, 0, sizeof(row));
	row.version = version;
	row.name = (char *)name;
	hash_buffer(sql, strlen(sql), row.checksum);
	row.release = 7;
	row.operator = (char *)"alice";
	return row;
}

static int up(struct fixture *fx, long version, const char *name, const char *sql,
	      int transaction, struct error *err)
{
	struct db_applied row = make_row(version, name, sql);
	return engine->up(fx->conn, &row, sql, transaction, err);
}

static void up_ok(struct fixture *fx, long version, const char *name, const char *sql)
{
	struct error err = ERROR_INIT;
	if (up(fx, version, name, sql, 1, &err) < 0)
		fail_msg("%s", err.msg);
}

static const char users_up[] = "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);";
static const char email_up[] = "ALTER TABLE users ADD COLUMN email TEXT;\n"
			       "CREATE INDEX users_email ON users (email);";
static const char email_down[] = "DROP INDEX users_email; ALTER TABLE users DROP COLUMN email;";

static void test_up_down_round_trip_keeps_rows(void **state)
{
	struct fixture *fx = *state;
	struct error err = ERROR_INIT;
	struct db_applied *rows;
	size_t n;

	assert_int_equal(engine->applied(fx->conn, &rows, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_rows(fx, "SELECT name FROM sqlite_schema", "");   /* created nothing */

	up_ok(fx, 1, "users", users_up);
	app_exec(fx, "INSERT INTO users (name) VALUES ('ann'), ('bob')");
	up_ok(fx, 2, "email", email_up);
	app_exec(fx, "UPDATE users SET email = 'ann@x' WHERE name = 'ann'");

	assert_int_equal(engine->applied(fx->conn, &rows, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(rows[0].version, 1);
	assert_string_equal(rows[0].name, "users");
	struct db_applied expected = make_row(2, "email", email_up);
	assert_int_equal(rows[1].version, 2);
	assert_string_equal(rows[1].name, "email");
	assert_string_equal(rows[1].checksum, expected.checksum);
	assert_int_equal(rows[1].release, 7);
	assert_string_equal(rows[1].operator, "alice");
	assert_true(rows[1].applied_at_ms > 1600000000000LL);
	assert_true(rows[1].duration_ms >= 0);
	db_applied_free(rows, n);

	assert_int_equal(engine->down(fx->conn, 2, email_down, 1, &err), 0);
	assert_rows(fx, "SELECT * FROM users ORDER BY id", "1|ann\n2|bob\n");
	assert_rows(fx, "SELECT version FROM lastgood_migrations", "1\n");

	assert_int_equal(engine->down(fx->conn, 1, "DROP TABLE users", 0, &err), 0);
	assert_rows(fx, "SELECT name FROM sqlite_schema", "lastgood_migrations\n");
	assert_int_equal(engine->applied(fx->conn, &rows, &n, &err), 0);
	assert_int_equal(n, 0);
	db_applied_free(rows, n);

	/* a version no row holds has nothing to undo */
	assert_int_equal(engine->down(fx->conn, 1, "DROP TABLE users", 1, &err), -1);
	assert_string_equal(err.msg, "database 'main': migration 1 is not applied");
}

static void test_failing_up_leaves_nothing(void **state)
{
	struct fixture *fx = *state;
	struct error err = ERROR_INIT;

	/* the first one: not even lastgood_migrations stays */
	char *before = snapshot(fx);
	assert_int_equal(up(fx, 1, "users", "CREATE TABLE t (x); INSERT INTO nosuch VALUES (1);", 1,
			    &err),
			 -1);
	assert_string_equal(err.msg, "database 'main': migration 1 (users) failed: "
				     "no such table: nosuch");
	char *after = snapshot(fx);
	assert_string_equal(after, before);
	free(before);
	free(after);

	up_ok(fx, 1, "users", users_up);
	app_exec(fx, "INSERT INTO users (name) VALUES ('ann')");
	before = snapshot(fx);
	assert_int_equal(up(fx, 2, "broken", "CREATE TABLE t (x); DROP TABLE users; SELEC 1;", 1,
			    &err),
			 -1);
	assert_non_null(strstr(err.msg, "database 'main': migration 2 (broken) failed: "));
	after = snapshot(fx);
	assert_string_equal(after, before);
	assert_rows(fx, "SELECT name FROM users", "ann\n");
	free(before);
	free(after);

	/* a script may not end lastgood's transaction halfway */
	before = snapshot(fx);
	assert_int_equal(up(fx, 2, "commits", "CREATE TABLE t (x); COMMIT; CREATE TABLE u (y);", 1,
			    &err),
			 -1);
	assert_non_null(strstr(err.msg, "migration 2 (commits) failed: BEGIN, COMMIT"));
	after = snapshot(fx);
	assert_string_equal(after, before);
	free(before);
	free(after);
}

static void test_row_already_there_refused(void **state)
{
	struct fixture *fx = *state;
	struct error err = ERROR_INIT;

	up_ok(fx, 1, "users", users_up);
	char *before = snapshot(fx);
	for (int transaction = 0; transaction <= 1; transaction++) {
		assert_int_equal(up(fx, 1, "other", "CREATE TABLE other (x)", transaction, &err), -1);
		assert_string_equal(err.msg, "database 'main': migration 1 (other) is already "
					     "applied, as 'users'");
		char *after = snapshot(fx);
		assert_string_equal(after, before);
		free(after);
	}
	free(before);
}

static void test_verify(void **state)
{
	struct fixture *fx = *state;
	struct error err = ERROR_INIT;

	up_ok(fx, 1, "users", users_up);
	assert_int_equal(engine->verify(fx->conn, 1, "SELECT id, name FROM users", &err), 0);
	/* whatever it writes is rolled back */
	assert_int_equal(engine->verify(fx->conn, 1, "CREATE TABLE scratch (x)", &err), 0);
	assert_rows(fx, "SELECT count(*) FROM sqlite_schema WHERE name = 'scratch'", "0\n");
	assert_int_equal(engine->verify(fx->conn, 1, "SELECT email FROM users", &err), -1);
	assert_string_equal(err.msg, "database 'main': verify script of migration 1 (users) "
				     "failed: no such column: email");
}

static void test_no_transaction_up(void **state)
{
	struct fixture *fx = *state;
	struct error err = ERROR_INIT;
	/* VACUUM runs only outside a transaction */
	static const char script[] = "-- lastgood: no-transaction\n"
				     "BEGIN; CREATE TABLE a (x); COMMIT; VACUUM;";

	assert_int_equal(up(fx, 1, "a", script, 1, &err), -1);
	assert_int_equal(up(fx, 1, "a", script, 0, &err), 0);
	assert_rows(fx, "SELECT version, name, release, operator FROM lastgood_migrations",
		    "1|a|7|alice\n");
	assert_rows(fx, "SELECT count(*) FROM a", "0\n");

	/* one that leaves its transaction open is rolled back, not recorded */
	assert_int_equal(up(fx, 2, "open", "BEGIN; CREATE TABLE b (x);", 0, &err), -1);
	assert_string_equal(err.msg, "database 'main': migration 2 (open) failed: it left a "
				     "transaction open (rolled back)");
	assert_rows(fx, "SELECT count(*) FROM sqlite_schema WHERE name = 'b'", "0\n");
	assert_rows(fx, "SELECT version FROM lastgood_migrations", "1\n");
}

/* Backups, whole and of the schema alone, taken at version 1 with two
 * rows and restored over version 2 with a third: each gives back the
 * schema and lastgood_migrations of its time, and the rows (the whole one)
 * or none (the schema). journal_mode: the application's ("wal" is common). */
static void check_backup_then_restore(struct fixture *fx, const char *journal_mode)
{
	struct error err = ERROR_INIT;
	const char *how;
	char *file = path_join(fx->dir, "backup.db");
	char *schema_file = path_join(fx->dir, "schema.db");
	char *mode = xstrfmt("PRAGMA journal_mode = %s", journal_mode);
	char *mode_row = xstrfmt("%s\n", journal_mode);

	assert_rows(fx, mode, mode_row);
	up_ok(fx, 1, "users", users_up);
	app_exec(fx, "INSERT INTO users (name) VALUES ('ann'), ('bob'); PRAGMA user_version = 4");
	char *at_backup = snapshot(fx);
	assert_int_equal(engine->backup(fx->conn, file, 0, &err), 0);
	assert_int_equal(engine->backup(fx->conn, schema_file, 1, &err), 0);

	const char *const files[] = { file, schema_file };
	const char *const counts[] = { "2\n", "0\n" };
	for (int i = 0; i < 2; i++) {
		up_ok(fx, 2, "email", email_up);
		app_exec(fx, "INSERT INTO users (name) VALUES ('cy')");
		if (engine->restore(fx->conn, files[i], i, &how, &err) < 0)
			fail_msg("%s", err.msg);
		char *restored = snapshot(fx);
		assert_string_equal(restored, at_backup);
		free(restored);
		assert_rows(fx, "SELECT count(*) FROM users", counts[i]);
		assert_rows(fx, "PRAGMA user_version", "4\n");
		assert_rows(fx, "PRAGMA journal_mode", mode_row);
	}
	assert_rows(fx, "SELECT name FROM users", "");

	free(at_backup);
	free(file);
	free(schema_file);
	free(mode);
	free(mode_row);
}

static void test_backup_then_restore(void **state)
{
	check_backup_then_restore(*state, "delete");
}

static void test_backup_then_restore_in_wal_mode(void **state)
{
	check_backup_then_restore(*state, "wal");
}

static void test_backup_to_existing_file_refused(void **state)
{
	struct fixture *fx = *state;
	struct error err = ERROR_INIT;
	const char *how;
	char *file = path_join(fx->dir, "backup.db");
	struct strbuf content = STRBUF_INIT;

	up_ok(fx, 1, "users", users_up);
	assert_int_equal(fs_write_atomic(file, "keep", 4, 0600, &err), 0);
	assert_int_equal(engine->backup(fx->conn, file, 0, &err), -1);
	assert_int_equal(err.kind, ERROR_USAGE);
	assert_non_null(strstr(err.msg, "already exists; not overwriting"));
	assert_int_equal(fs_read_file(file, &content, &err), 0);
	assert_string_equal(content.buf, "keep");
	strbuf_release(&content);

	/* a file that is no backup restores nothing */
	assert_int_equal(engine->restore(fx->conn, file, 0, &how, &err), -1);
	assert_rows(fx, "SELECT version FROM lastgood_migrations", "1\n");
	free(file);
}

static void test_second_migrator_waits_then_busy(void **state)
{
	struct fixture *fx = *state;
	struct error err = ERROR_INIT;

	app_exec(fx, "BEGIN IMMEDIATE");
	assert_int_equal(engine->lock(fx->conn, 20, &err), -1);
	assert_int_equal(err.kind, ERROR_BUSY);
	assert_string_equal(err.msg, "database 'main' is being migrated by another process");
	app_exec(fx, "ROLLBACK");
	assert_int_equal(engine->lock(fx->conn, 20, &err), 0);
	/* the lock holds no transaction open: the application still writes */
	app_exec(fx, "CREATE TABLE t (x)");
	engine->unlock(fx->conn);
}

static void test_connect_refuses_links_and_non_databases(void **state)
{
	struct fixture *fx = *state;
	struct error err = ERROR_INIT;
	struct db_conn *conn = NULL;
	struct database other = fx->database;

	other.path = path_join(fx->dir, "link.db");
	assert_int_equal(symlink(fx->database.path, other.path), 0);
	assert_int_equal(engine->connect(&other, &conn, &err), -1);
	assert_non_null(strstr(err.msg, "database 'main': cannot open '"));
	assert_null(conn);
	free(other.path);

	other.path = path_join(fx->dir, "text.db");
	assert_int_equal(fs_write_atomic(other.path, "not a database, just some text here\n", 37,
					 0600, &err),
			 0);
	assert_int_equal(engine->connect(&other, &conn, &err), -1);
	assert_non_null(strstr(err.msg, "file is not a database"));
	free(other.path);
}

int main(void)
{
#define TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		TEST(test_up_down_round_trip_keeps_rows),
		TEST(test_failing_up_leaves_nothing),
		TEST(test_row_already_there_refused),
		TEST(test_verify),
		TEST(test_no_transaction_up),
		TEST(test_backup_then_restore),
		TEST(test_backup_then_restore_in_wal_mode),
		TEST(test_backup_to_existing_file_refused),
		TEST(test_second_migrator_waits_then_busy),
		TEST(test_connect_refuses_links_and_non_databases),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
