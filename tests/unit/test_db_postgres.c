/*
 * Unit tests for the postgres engine against a real server: the one
 * tests/run-tests starts (tests/lib/postgres.bash), reached through
 * LG_TEST_PGURL; each test gets a database of its own. Without the server
 * the tests skip, except under CI (CI=true), where they fail.
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

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct db_engine *pg = &db_engine_postgres;

struct pg_test {
	char *admin_url;             /* LG_TEST_PGURL */
	char *dbname;                /* this test's database */
	char *url;                   /* its URL */
	char *dir;                   /* a scratch folder for backups */
	struct database db;          /* "main", at url */
	struct db_conn *conn;        /* connected in setup */
};

static void ignore_notice(void *unused, const char *message)
{
	(void)unused;
	(void)message;
}

/* Run sql on url; fails the test on an error. Returns the first column of
 * the first row (caller frees), or NULL when there is none. */
static char *sql_value(const char *url, const char *sql)
{
	PGconn *c = PQconnectdb(url);
	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("cannot connect to %s: %s", url, PQerrorMessage(c));
	PQsetNoticeProcessor(c, ignore_notice, NULL);
	PGresult *res = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQresultErrorMessage(res));
	char *value = st == PGRES_TUPLES_OK && PQntuples(res) && !PQgetisnull(res, 0, 0)
		? xstrdup(PQgetvalue(res, 0, 0)) : NULL;
	PQclear(res);
	PQfinish(c);
	return value;
}

static void sql_run(const char *url, const char *sql)
{
	free(sql_value(url, sql));
}

static void expect_sql_value(const char *url, const char *sql, const char *want)
{
	char *got = sql_value(url, sql);
	if (!want)
		assert_null(got);
	else {
		assert_non_null(got);
		assert_string_equal(got, want);
	}
	free(got);
}

/* The tables of the test's database, "a,b,c" ("" when none). */
#define TABLES "SELECT coalesce(string_agg(tablename, ',' ORDER BY tablename), '') " \
	"FROM pg_tables WHERE schemaname = 'public'"

static int setup(void **state)
{
	static int counter;
	const char *admin = getenv("LG_TEST_PGURL");
	struct pg_test *t = xcalloc(1, sizeof(*t));
	*state = t;
	if (!admin || !*admin)
		return 0;
	t->admin_url = xstrdup(admin);
	t->dbname = xstrfmt("lg_test_%ld_%d", (long)getpid(), ++counter);
	char *create = xstrfmt("CREATE DATABASE %s", t->dbname);
	sql_run(admin, create);
	free(create);
	const char *slash = strrchr(admin, '/');
	t->url = xstrfmt("%.*s/%s", (int)(slash - admin), admin, t->dbname);
	char template[] = "/tmp/lastgood-pg-XXXXXX";
	assert_non_null(mkdtemp(template));
	t->dir = xstrdup(template);
	t->db.name = "main";
	t->db.url = t->url;
	struct error err = ERROR_INIT;
	if (pg->connect(&t->db, &t->conn, &err) < 0)
		fail_msg("%s", err.msg);
	return 0;
}

static int teardown(void **state)
{
	struct pg_test *t = *state;
	pg->close(t->conn);
	if (t->dbname) {
		char *drop = xstrfmt("DROP DATABASE IF EXISTS %s WITH (FORCE)", t->dbname);
		sql_run(t->admin_url, drop);
		free(drop);
	}
	if (t->dir) {
		struct error err = ERROR_INIT;
		fs_remove_tree(t->dir, &err);
	}
	free(t->admin_url);
	free(t->dbname);
	free(t->url);
	free(t->dir);
	free(t);
	return 0;
}

/* The test's state, once it is known the server is there: without one
 * the test skips, or fails under CI, where the harness must provide it. */
static struct pg_test *need_server(void **state)
{
	struct pg_test *t = *state;
	if (!t->url) {
		const char *ci = getenv("CI");
		if (ci && !strcmp(ci, "true"))
			fail_msg("LG_TEST_PGURL is unset under CI: tests/run-tests starts the server");
		skip();
	}
	return t;
}

/* A row as an up would record it: the checksum names the version. */
static struct db_applied row_of(long version, const char *name)
{
	struct db_applied row = { .version = version, .name = (char *)name,
				  .applied_at_ms = 1700000000000LL + version, .duration_ms = 7,
				  .release = version + 10, .operator = "tester" };
	memset(row.checksum, 'a' + (int)version % 26, HASH_HEX_SIZE - 1);
	row.checksum[HASH_HEX_SIZE - 1] = '\0';
	return row;
}

static void up_ok(struct pg_test *t, long version, const char *name, const char *sql)
{
	struct db_applied row = row_of(version, name);
	struct error err = ERROR_INIT;
	if (pg->up(t->conn, &row, sql, 1, &err) < 0)
		fail_msg("%s", err.msg);
}

static void expect_versions(struct pg_test *t, const char *want)
{
	struct db_applied *rows;
	size_t n;
	struct error err = ERROR_INIT;
	assert_int_equal(pg->applied(t->conn, &rows, &n, &err), 0);
	struct strbuf got = STRBUF_INIT;
	for (size_t i = 0; i < n; i++)
		strbuf_addf(&got, "%s%ld", i ? "," : "", rows[i].version);
	assert_string_equal(got.buf, want);
	strbuf_release(&got);
	db_applied_free(rows, n);
}

static void test_connect_refused(void **state)
{
	struct pg_test *t = need_server(state);
	struct database db = { .name = "main", .url = "postgresql://postgres@127.0.0.1:1/postgres" };
	struct db_conn *conn = NULL;
	struct error err = ERROR_INIT;
	(void)t;
	assert_int_equal(pg->connect(&db, &conn, &err), -1);
	assert_null(conn);
	assert_int_equal(err.kind, ERROR_FAILED);
	assert_string_equal(err.msg, "database 'main': cannot connect: connection to server at "
			    "\"127.0.0.1\", port 1 failed: Connection refused");
}

static void test_connect_wrong_password(void **state)
{
	struct pg_test *t = need_server(state);
	const char *url = getenv("LG_TEST_PGURL_PASSWORD");
	const char *password = getenv("LG_TEST_PG_PASSWORD");
	assert_non_null(url);
	assert_non_null(password);
	(void)t;

	struct database db = { .name = "main", .url = (char *)url, .password = "Wr0ngSecret" };
	struct db_conn *conn = NULL;
	struct error err = ERROR_INIT;
	assert_int_equal(pg->connect(&db, &conn, &err), -1);
	assert_non_null(strstr(err.msg, "database 'main': cannot connect: "));
	assert_non_null(strstr(err.msg, "password authentication failed for user \"lg_password\""));
	assert_null(strstr(err.msg, "Wr0ngSecret"));
	assert_null(strchr(err.msg, '\n'));

	/* a password written in the url is kept out of the message too */
	const char *at = strchr(url, '@');
	char *with_password = xstrfmt("postgresql://lg_password:Wr0ngInUrl%s", at);
	struct database in_url = { .name = "main", .url = with_password };
	error_clear(&err);
	assert_int_equal(pg->connect(&in_url, &conn, &err), -1);
	assert_non_null(strstr(err.msg, "password authentication failed"));
	assert_null(strstr(err.msg, "Wr0ngInUrl"));

	/* the password given apart wins over the url's */
	in_url.password = (char *)password;
	error_clear(&err);
	if (pg->connect(&in_url, &conn, &err) < 0)
		fail_msg("%s", err.msg);
	pg->close(conn);
	free(with_password);
}

/* Rows written before a deploy survive a down migration that keeps their
 * table; each step's row is recorded as given, with the
 * engine's times. */
static void test_up_down_round_trip(void **state)
{
	struct pg_test *t = need_server(state);
	struct error err = ERROR_INIT;
	expect_versions(t, "");
	up_ok(t, 1, "add_items", "CREATE TABLE items (id int PRIMARY KEY, label text);"
	      "INSERT INTO items VALUES (1, 'one');");
	sql_run(t->url, "INSERT INTO items VALUES (2, 'two')");
	up_ok(t, 2, "add_price", "ALTER TABLE items ADD COLUMN price int; "
	      "UPDATE items SET price = id * 100;");
	expect_versions(t, "1,2");

	struct db_applied *rows;
	size_t n;
	assert_int_equal(pg->applied(t->conn, &rows, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(rows[1].name, "add_price");
	assert_int_equal(rows[1].release, 12);
	/* the engine's own clock, not the row's (db.h) */
	assert_true(rows[1].applied_at_ms >= rows[0].applied_at_ms);
	assert_true(rows[1].applied_at_ms > 1700000000002LL);
	assert_true(rows[1].duration_ms >= 0 && rows[1].duration_ms < 3600000);
	assert_string_equal(rows[1].operator, "tester");
	struct db_applied want = row_of(2, "add_price");
	assert_string_equal(rows[1].checksum, want.checksum);
	db_applied_free(rows, n);

	if (pg->down(t->conn, 2, "ALTER TABLE items DROP COLUMN price;", 1, &err) < 0)
		fail_msg("%s", err.msg);
	expect_versions(t, "1");
	expect_sql_value(t->url, "SELECT string_agg(id || ':' || label, ',' ORDER BY id) FROM items",
		     "1:one,2:two");
	expect_sql_value(t->url, "SELECT count(*) FROM information_schema.columns "
		     "WHERE table_name = 'items' AND column_name = 'price'", "0");

	/* a version with no row is refused, its script not run */
	assert_int_equal(pg->down(t->conn, 2, "DROP TABLE items;", 1, &err), -1);
	assert_string_equal(err.msg, "database 'main': migration 2 is not applied");
	expect_sql_value(t->url, TABLES, "items,lastgood_migrations");
}

/* A failing migration leaves the tables and lastgood_migrations as they
 * were, whether the table existed before or not. */
static void test_failing_up_leaves_nothing(void **state)
{
	struct pg_test *t = need_server(state);
	struct db_applied first = row_of(1, "first");
	struct error err = ERROR_INIT;
	assert_int_equal(pg->up(t->conn, &first, "CREATE TABLE a (x int); SELECT 1/0;", 1, &err), -1);
	assert_int_equal(err.kind, ERROR_FAILED);
	assert_string_equal(err.msg, "database 'main': migration 1 (first) failed: division by zero");
	expect_sql_value(t->url, TABLES, "");

	up_ok(t, 1, "first", "CREATE TABLE a (x int); INSERT INTO a VALUES (1);");
	struct db_applied second = row_of(2, "add_users");
	error_clear(&err);
	assert_int_equal(pg->up(t->conn, &second, "CREATE TABLE users (id int); "
				"INSERT INTO a VALUES (2); CREATE TABLE a (y int);", 1, &err), -1);
	assert_string_equal(err.msg, "database 'main': migration 2 (add_users) failed: "
			    "relation \"a\" already exists");
	expect_sql_value(t->url, TABLES, "a,lastgood_migrations");
	expect_sql_value(t->url, "SELECT string_agg(x::text, ',') FROM a", "1");
	expect_versions(t, "1");
}

/* The row goes in with the script: a row that cannot be recorded (here a
 * lastgood_migrations of another shape, made by the script) undoes it. */
static void test_up_unrecorded_undoes_the_script(void **state)
{
	struct pg_test *t = need_server(state);
	struct db_applied row = row_of(1, "first");
	struct error err = ERROR_INIT;
	assert_int_equal(pg->up(t->conn, &row, "CREATE TABLE a (x int); "
				"CREATE TABLE lastgood_migrations (version int);", 1, &err), -1);
	assert_non_null(strstr(err.msg, "database 'main': cannot record the migration in "
			       "lastgood_migrations: column \"name\" of relation"));
	expect_sql_value(t->url, TABLES, "");
}

/* A row of that version already there (another migrator was first): an
 * error, and the script does not run. */
static void test_up_refuses_a_row_already_there(void **state)
{
	struct pg_test *t = need_server(state);
	up_ok(t, 1, "first", "CREATE TABLE a (x int);");
	for (int transaction = 1; transaction >= 0; transaction--) {
		struct db_applied again = row_of(1, "first");
		struct error err = ERROR_INIT;
		assert_int_equal(pg->up(t->conn, &again, "CREATE TABLE b (x int);", transaction,
					&err), -1);
		assert_string_equal(err.msg, "database 'main': migration 1 (first) is already "
				    "applied (another migrator?)");
		expect_sql_value(t->url, TABLES, "a,lastgood_migrations");
		expect_versions(t, "1");
	}
}

/* CREATE INDEX CONCURRENTLY, which refuses a transaction, runs without
 * one, and its row is recorded after it. */
static void test_up_without_transaction(void **state)
{
	struct pg_test *t = need_server(state);
	struct error err = ERROR_INIT;
	up_ok(t, 1, "first", "CREATE TABLE a (x int);");
	struct db_applied row = row_of(2, "index_a");
	const char *sql = "-- lastgood: no-transaction\nCREATE INDEX CONCURRENTLY a_x ON a (x);";
	assert_int_equal(pg->up(t->conn, &row, sql, 1, &err), -1);
	assert_non_null(strstr(err.msg, "cannot run inside a transaction block"));
	expect_versions(t, "1");
	error_clear(&err);
	if (pg->up(t->conn, &row, sql, 0, &err) < 0)
		fail_msg("%s", err.msg);
	expect_versions(t, "1,2");
	expect_sql_value(t->url, "SELECT indexname FROM pg_indexes WHERE tablename = 'a'", "a_x");
	if (pg->down(t->conn, 2, "DROP INDEX CONCURRENTLY a_x;", 0, &err) < 0)
		fail_msg("%s", err.msg);
	expect_versions(t, "1");
}

/* A verify script runs and is rolled back; one that fails is an error. */
static void test_verify(void **state)
{
	struct pg_test *t = need_server(state);
	struct error err = ERROR_INIT;
	up_ok(t, 1, "first", "CREATE TABLE a (x int);");
	if (pg->verify(t->conn, 1, "SELECT x FROM a; CREATE TABLE b (y int);", &err) < 0)
		fail_msg("%s", err.msg);
	expect_sql_value(t->url, TABLES, "a,lastgood_migrations");
	assert_int_equal(pg->verify(t->conn, 1, "SELECT missing FROM a;", &err), -1);
	assert_string_equal(err.msg, "database 'main': migration 1 verify failed: "
			    "column \"missing\" does not exist");
	/* the connection is usable after it */
	up_ok(t, 2, "second", "CREATE TABLE c (z int);");
	expect_versions(t, "1,2");
}

/* A second migrator waits for the lock, then gives up with ERROR_BUSY
 * naming the holder; once released, it takes it. */
static void test_second_migrator_is_busy(void **state)
{
	struct pg_test *t = need_server(state);
	struct db_conn *other;
	struct error err = ERROR_INIT;
	if (pg->connect(&t->db, &other, &err) < 0)
		fail_msg("%s", err.msg);
	if (pg->lock(t->conn, 0, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(pg->lock(other, 50, &err), -1);
	assert_int_equal(err.kind, ERROR_BUSY);
	char *want = xstrfmt("database 'main' is being migrated by another process (pid %ld)",
			     (long)getpid());
	assert_string_equal(err.msg, want);
	free(want);
	pg->unlock(t->conn);
	error_clear(&err);
	if (pg->lock(other, 0, &err) < 0)
		fail_msg("%s", err.msg);
	/* closing the connection releases it too, once the server has seen
	 * the close: waited for */
	pg->close(other);
	if (pg->lock(t->conn, 60000, &err) < 0)
		fail_msg("%s", err.msg);
	pg->unlock(t->conn);
}

/* A restore brings back the rows and migrations of the backup's time. */
static void test_backup_then_restore(void **state)
{
	struct pg_test *t = need_server(state);
	struct error err = ERROR_INIT;
	const char *how;
	up_ok(t, 1, "add_items", "CREATE TABLE items (id int PRIMARY KEY, label text);");
	sql_run(t->url, "INSERT INTO items VALUES (1, 'one'), (2, 'two')");
	char *file = xstrfmt("%s/main.dump", t->dir);
	if (pg->backup(t->conn, file, 0, &err) < 0)
		fail_msg("%s", err.msg);
	assert_true(path_exists(file));

	up_ok(t, 2, "drop_label", "ALTER TABLE items DROP COLUMN label; DELETE FROM items;");
	sql_run(t->url, "INSERT INTO items VALUES (3)");
	if (pg->restore(t->conn, file, 0, &how, &err) < 0)
		fail_msg("%s", err.msg);
	/* the harness's user may create databases: the copy is swapped in */
	assert_non_null(strstr(how, "swapped in"));
	expect_sql_value(t->url, "SELECT string_agg(id || ':' || label, ',' ORDER BY id) FROM items",
		     "1:one,2:two");
	expect_versions(t, "1");
	free(file);
}

/* An existing file is never written over; a failed dump leaves no file. */
static void test_backup_refuses_an_existing_file(void **state)
{
	struct pg_test *t = need_server(state);
	struct error err = ERROR_INIT;
	char *file = xstrfmt("%s/main.dump", t->dir);
	assert_int_equal(fs_write_atomic(file, "keep", 4, 0600, &err), 0);
	assert_int_equal(pg->backup(t->conn, file, 0, &err), -1);
	assert_int_equal(err.kind, ERROR_USAGE);
	assert_non_null(strstr(err.msg, "database 'main': cannot create backup '"));
	struct strbuf kept = STRBUF_INIT;
	assert_int_equal(fs_read_file(file, &kept, &err), 0);
	assert_string_equal(kept.buf, "keep");
	strbuf_release(&kept);
	free(file);

	/* a dump that fails (the database is gone) leaves nothing behind */
	char *drop = xstrfmt("DROP DATABASE %s WITH (FORCE)", t->dbname);
	sql_run(t->admin_url, drop);
	free(drop);
	file = xstrfmt("%s/gone.dump", t->dir);
	error_clear(&err);
	assert_int_equal(pg->backup(t->conn, file, 1, &err), -1);
	assert_non_null(strstr(err.msg, "database 'main': backup failed: "));
	assert_false(path_exists(file));
	free(file);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_connect_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connect_wrong_password, setup, teardown),
		cmocka_unit_test_setup_teardown(test_up_down_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failing_up_leaves_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_up_unrecorded_undoes_the_script, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_up_refuses_a_row_already_there, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_up_without_transaction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_second_migrator_is_busy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backup_then_restore, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backup_refuses_an_existing_file, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
