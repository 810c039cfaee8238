/*
 * The SQLite engine (db.h) through the SQLite library: migrations run on
 * the database file itself, each in a BEGIN IMMEDIATE transaction with its
 * row of lastgood_migrations, and backups are copies made with the online
 * backup API.
 */
#include "core/db/db.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/sqlite_error.h"

/* How long a statement waits for the application's own writes to end:
 * they are short, and a migration that gives up on them fails a deploy. */
#define STATEMENT_WAIT_MS 10000

struct db_conn {
	sqlite3 *db;
	char *name;                  /* the database's name in the config */
};

static const char create_table_sql[] =
	"CREATE TABLE IF NOT EXISTS lastgood_migrations ("
	"version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, "
	"applied_at INTEGER NOT NULL, duration_ms INTEGER NOT NULL, release INTEGER, "
	"operator TEXT)";

static const char columns_sql[] =
	"version, name, checksum, applied_at, duration_ms, release, operator";

/* "database 'NAME': WHAT: SQLite's message"; -1. */
static int sqlite_fail(struct db_conn *c, const char *what, struct error *err)
{
	char *text = sqlite_error_text(c->db);
	error_set(err, ERROR_FAILED, "database '%s': %s: %s", c->name, what, text);
	free(text);
	return -1;
}

static int sqlite_exec(struct db_conn *c, const char *sql, const char *what, struct error *err)
{
	if (sqlite3_exec(c->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return sqlite_fail(c, what, err);
	return 0;
}

static void sqlite_rollback(struct db_conn *c)
{
	if (!sqlite3_get_autocommit(c->db))
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
}

/* The write lock of the file, waited for as the busy timeout says; a
 * holder that stays is another migrator as far as the caller knows. */
static int begin_immediate(struct db_conn *c, struct error *err)
{
	int rc = sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc == SQLITE_BUSY)
		return error_set(err, ERROR_BUSY, "database '%s' is being migrated by another process",
				 c->name);
	if (rc != SQLITE_OK)
		return sqlite_fail(c, "cannot begin a transaction", err);
	return 0;
}

static int commit(struct db_conn *c, struct error *err)
{
	return sqlite_exec(c, "COMMIT", "cannot commit", err);
}

static int prepare(struct db_conn *c, const char *sql, sqlite3_stmt **stmt, struct error *err)
{
	if (sqlite3_prepare_v2(c->db, sql, -1, stmt, NULL) != SQLITE_OK)
		return sqlite_fail(c, "lastgood_migrations", err);
	return 0;
}

/* 1 when db has the table lastgood_migrations, 0 when not, -1 on error
 * (db's message says which). */
static int has_migrations_table(sqlite3 *db)
{
	sqlite3_stmt *stmt;
	if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_schema WHERE type = 'table' "
			       "AND name = 'lastgood_migrations'", -1, &stmt, NULL) != SQLITE_OK)
		return -1;
	int rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* Prepare sql, a statement on lastgood_migrations: 1 with *stmt, 0 when
 * the table does not exist yet (nothing prepared), -1 on error. */
static int prepare_recorded(struct db_conn *c, const char *sql, sqlite3_stmt **stmt,
			    struct error *err)
{
	int exists = has_migrations_table(c->db);
	if (exists < 0)
		return sqlite_fail(c, "cannot read the schema", err);
	if (!exists)
		return 0;
	return prepare(c, sql, stmt, err) < 0 ? -1 : 1;
}

/* The name recorded for version (allocated), or NULL when no row holds it
 * (or the table does not exist yet). */
static int recorded_name(struct db_conn *c, long version, char **name, struct error *err)
{
	sqlite3_stmt *stmt;
	*name = NULL;
	int prepared = prepare_recorded(c, "SELECT name FROM lastgood_migrations WHERE version = ?",
					&stmt, err);
	if (prepared <= 0)
		return prepared;
	sqlite3_bind_int64(stmt, 1, version);
	int rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*name = xstrdup((const char *)sqlite3_column_text(stmt, 0));
	sqlite3_finalize(stmt);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sqlite_fail(c, "lastgood_migrations", err);
	return 0;
}

/* Refuse an up whose row is already there: another migrator ran it. */
static int refuse_recorded(struct db_conn *c, const struct db_applied *row, struct error *err)
{
	char *name;
	if (recorded_name(c, row->version, &name, err) < 0)
		return -1;
	if (!name)
		return 0;
	error_set(err, ERROR_FAILED,
		  "database '%s': migration %ld (%s) is already applied, as '%s'", c->name,
		  row->version, row->name, name);
	free(name);
	return -1;
}

static int insert_row(struct db_conn *c, const struct db_applied *row, long long applied_at_ms,
		      long long duration_ms, struct error *err)
{
	sqlite3_stmt *stmt;
	char *sql = xstrfmt("INSERT INTO lastgood_migrations (%s) VALUES (?, ?, ?, ?, ?, ?, ?)",
			    columns_sql);
	int rc = prepare(c, sql, &stmt, err);
	free(sql);
	if (rc < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, row->version);
	sqlite3_bind_text(stmt, 2, row->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, row->checksum, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 4, applied_at_ms);
	sqlite3_bind_int64(stmt, 5, duration_ms);
	if (row->release)
		sqlite3_bind_int64(stmt, 6, row->release);
	if (row->operator)
		sqlite3_bind_text(stmt, 7, row->operator, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE)
		return sqlite_fail(c, "cannot record the migration in lastgood_migrations", err);
	return 0;
}

/* Delete version's row; none there (another migrator took it) is an
 * error. */
static int delete_row(struct db_conn *c, long version, struct error *err)
{
	sqlite3_stmt *stmt;
	if (prepare(c, "DELETE FROM lastgood_migrations WHERE version = ?", &stmt, err) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, version);
	int rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE)
		return sqlite_fail(c, "cannot delete the migration from lastgood_migrations", err);
	if (sqlite3_changes(c->db) == 0)
		return error_set(err, ERROR_FAILED,
				 "database '%s': migration %ld is no longer applied: another migrator "
				 "reverted it",
				 c->name, version);
	return 0;
}

/* A script inside lastgood's transaction may not end it: its COMMIT
 * would record half a migration, its BEGIN fail obscurely. */
static int deny_transactions(void *denied, int action, const char *a, const char *b,
			     const char *database, const char *trigger)
{
	(void)a, (void)b, (void)database, (void)trigger;
	if (action != SQLITE_TRANSACTION)
		return SQLITE_OK;
	*(int *)denied = 1;
	return SQLITE_DENY;
}

/*
 * Run sql, all of its statements; what names the script in messages
 * ("migration 3 (add_users)"). in_transaction: the caller's transaction is
 * open, and the script may not begin, commit or roll back one. Without,
 * the script must not leave one open (it is rolled back, and an error).
 */
static int run_script(struct db_conn *c, const char *sql, int in_transaction, const char *what,
		      struct error *err)
{
	int denied = 0;
	char *message = NULL;
	if (in_transaction)
		sqlite3_set_authorizer(c->db, deny_transactions, &denied);
	int rc = sqlite3_exec(c->db, sql, NULL, NULL, &message);
	if (in_transaction)
		sqlite3_set_authorizer(c->db, NULL, NULL);
	if (rc != SQLITE_OK) {
		if (denied)
			error_set(err, ERROR_FAILED,
				  "database '%s': %s failed: BEGIN, COMMIT and ROLLBACK are "
				  "lastgood's (or mark it '-- lastgood: no-transaction')",
				  c->name, what);
		else
			error_set(err, ERROR_FAILED, "database '%s': %s failed: %s", c->name, what,
				  message ? message : sqlite3_errstr(rc));
		sqlite3_free(message);
		return -1;
	}
	if (!in_transaction && !sqlite3_get_autocommit(c->db)) {
		sqlite_rollback(c);
		return error_set(err, ERROR_FAILED,
				 "database '%s': %s failed: it left a transaction open (rolled back)",
				 c->name, what);
	}
	return 0;
}

/* ---- the engine ---- */

/* SQLite opens read-only a file it could not open for writing (a failing
 * disk, a mode changed) and says so only at the first write, as "attempt
 * to write a readonly database": refuse at the open, naming why. */
static int opened_read_only(sqlite3 *db, const char *path, const char *name, struct error *err)
{
	if (sqlite3_db_readonly(db, "main") != 1)
		return 0;
	int e = sqlite_failed_open_errno();
	return error_set(err, ERROR_FAILED, "database '%s': cannot open '%s' for writing%s%s", name,
			 path, e ? ": " : "", e ? strerror(e) : "");
}

static int sqlite_connect(const struct database *database, struct db_conn **conn,
			  struct error *err)
{
	struct db_conn *c = xcalloc(1, sizeof(*c));
	c->name = xstrdup(database->name);
	/* a new application starts with an empty database: creating it is
	 * what its first migration expects; a link is refused, as lastgood
	 * never writes through one */
	sqlite_errors_watch();
	sqlite_errors_reset();
	int rc = sqlite3_open_v2(database->path, &c->db,
				 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOFOLLOW,
				 NULL);
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(c->db, STATEMENT_WAIT_MS);
		/* opening is lazy: read the schema now so that a file that is no
		 * database fails here */
		rc = sqlite3_exec(c->db, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL);
	}
	if (rc != SQLITE_OK) {
		char *text = c->db ? sqlite_error_text(c->db) : xstrdup(sqlite3_errstr(rc));
		error_set(err, ERROR_FAILED, "database '%s': cannot open '%s': %s", c->name,
			  database->path, text);
		free(text);
		goto fail;
	}
	if (opened_read_only(c->db, database->path, c->name, err) < 0)
		goto fail;
	*conn = c;
	return 0;
fail:
	sqlite3_close(c->db);
	free(c->name);
	free(c);
	return -1;
}

static void sqlite_close(struct db_conn *c)
{
	if (!c)
		return;
	sqlite_rollback(c);
	sqlite3_close(c->db);
	free(c->name);
	free(c);
}

/* SQLite has no lock to hold between transactions: each of up and down
 * takes the file's write lock (BEGIN IMMEDIATE) and checks there that its
 * row is as expected, so two migrators never both apply one migration.
 * lock waits for that write lock once, up to wait_ms, so that a second
 * migrator is told so at once rather than mid-deploy. */
static int sqlite_lock(struct db_conn *c, long wait_ms, struct error *err)
{
	sqlite3_busy_timeout(c->db, wait_ms > INT_MAX ? INT_MAX : (int)wait_ms);
	int rc = begin_immediate(c, err);
	sqlite3_busy_timeout(c->db, STATEMENT_WAIT_MS);
	if (rc < 0)
		return -1;
	sqlite_rollback(c);
	return 0;
}

static void sqlite_unlock(struct db_conn *c)
{
	(void)c;   /* sqlite_lock holds nothing between transactions */
}

static int sqlite_applied(struct db_conn *c, struct db_applied **rows, size_t *n,
			  struct error *err)
{
	sqlite3_stmt *stmt;
	*rows = NULL;
	*n = 0;
	char *sql = xstrfmt("SELECT %s FROM lastgood_migrations ORDER BY version", columns_sql);
	int rc = prepare_recorded(c, sql, &stmt, err);
	free(sql);
	if (rc <= 0)
		return rc;
	size_t alloc = 0;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *checksum = (const char *)sqlite3_column_text(stmt, 2);
		if (!checksum || !hash_is_valid_hex(checksum)) {
			error_set(err, ERROR_FAILED,
				  "database '%s': lastgood_migrations: version %lld has no valid "
				  "sha256 checksum",
				  c->name, (long long)sqlite3_column_int64(stmt, 0));
			break;
		}
		ALLOC_GROW(*rows, *n + 1, alloc);
		struct db_applied *row = &(*rows)[(*n)++];
		const char *name = (const char *)sqlite3_column_text(stmt, 1);
		const char *operator = (const char *)sqlite3_column_text(stmt, 6);
		row->version = (long)sqlite3_column_int64(stmt, 0);
		row->name = xstrdup(name ? name : "");
		memcpy(row->checksum, checksum, HASH_HEX_SIZE);
		row->applied_at_ms = sqlite3_column_int64(stmt, 3);
		row->duration_ms = sqlite3_column_int64(stmt, 4);
		row->release = (long)sqlite3_column_int64(stmt, 5);
		row->operator = xstrdup(operator ? operator : "");
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		if (rc != SQLITE_ROW)
			sqlite_fail(c, "cannot read lastgood_migrations", err);
		db_applied_free(*rows, *n);
		*rows = NULL;
		*n = 0;
		return -1;
	}
	return 0;
}

/* applied_at and duration_ms are the engine's: the wall clock when the
 * script started, and how long it ran (row's own two are not used). */
static int sqlite_up(struct db_conn *c, const struct db_applied *row, const char *sql,
		     int transaction, struct error *err)
{
	char *what = xstrfmt("migration %ld (%s)", row->version, row->name);
	long long applied_at = clock_wall_ms();
	long long start = clock_monotonic_ms();
	int rc = -1;
	if (transaction && begin_immediate(c, err) < 0)
		goto out;
	if (refuse_recorded(c, row, err) < 0 || run_script(c, sql, transaction, what, err) < 0)
		goto out;
	long long duration = clock_monotonic_ms() - start;
	/* a script run on its own let another migrator in: check again */
	if (!transaction && (begin_immediate(c, err) < 0 || refuse_recorded(c, row, err) < 0))
		goto out;
	if (sqlite_exec(c, create_table_sql, "cannot create lastgood_migrations", err) < 0 ||
	    insert_row(c, row, applied_at, duration, err) < 0 || commit(c, err) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		sqlite_rollback(c);
	free(what);
	return rc;
}

/* "migration 3 (add_users)" for messages about version's scripts, from
 * its row; NULL (and an error) when no row holds it. */
static char *applied_label(struct db_conn *c, long version, struct error *err)
{
	char *name;
	if (recorded_name(c, version, &name, err) < 0)
		return NULL;
	if (!name) {
		error_set(err, ERROR_FAILED, "database '%s': migration %ld is not applied", c->name,
			  version);
		return NULL;
	}
	char *label = xstrfmt("migration %ld (%s)", version, name);
	free(name);
	return label;
}

static int sqlite_down(struct db_conn *c, long version, const char *sql, int transaction,
		       struct error *err)
{
	char *label = NULL, *what = NULL;
	int rc = -1;
	if (transaction && begin_immediate(c, err) < 0)
		return -1;
	label = applied_label(c, version, err);
	if (!label)
		goto out;
	what = xstrfmt("down script of %s", label);
	if (run_script(c, sql, transaction, what, err) < 0)
		goto out;
	if (!transaction && begin_immediate(c, err) < 0)
		goto out;
	if (delete_row(c, version, err) < 0 || commit(c, err) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		sqlite_rollback(c);
	free(label);
	free(what);
	return rc;
}

static int sqlite_verify(struct db_conn *c, long version, const char *sql, struct error *err)
{
	char *name, *what;
	if (sqlite_exec(c, "BEGIN", "cannot begin a transaction", err) < 0)
		return -1;
	if (recorded_name(c, version, &name, err) < 0) {
		sqlite_rollback(c);
		return -1;
	}
	if (name)
		what = xstrfmt("verify script of migration %ld (%s)", version, name);
	else
		what = xstrfmt("verify script of migration %ld", version);
	int rc = run_script(c, sql, 1, what, err);
	/* whatever the script did is not kept: it only checks */
	sqlite_rollback(c);
	free(name);
	free(what);
	return rc;
}

/* ---- backups ---- */

/* Copy every page of from into to, in one go (one read transaction on
 * from, one write transaction on to). */
static int copy_pages(sqlite3 *to, sqlite3 *from)
{
	sqlite3_backup *backup = sqlite3_backup_init(to, "main", from, "main");
	if (!backup)
		return -1;
	int rc = sqlite3_backup_step(backup, -1);
	int finish = sqlite3_backup_finish(backup);
	return rc == SQLITE_DONE && finish == SQLITE_OK ? 0 : -1;
}

/* Fail naming the backup file, with dest's message when it has one. */
static int backup_fail(struct db_conn *c, const char *verb, const char *file, sqlite3 *db,
		       struct error *err)
{
	char *text = db ? sqlite_error_text(db) : sqlite_error_text(c->db);
	error_set(err, ERROR_FAILED, "database '%s': cannot %s '%s': %s", c->name, verb, file, text);
	free(text);
	return -1;
}

static int copy_integer_pragma(sqlite3 *to, sqlite3 *from, const char *pragma)
{
	sqlite3_stmt *stmt;
	char *sql = xstrfmt("PRAGMA %s", pragma);
	int rc = sqlite3_prepare_v2(from, sql, -1, &stmt, NULL);
	free(sql);
	if (rc != SQLITE_OK)
		return -1;
	rc = sqlite3_step(stmt);
	long long value = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	if (rc != SQLITE_ROW)
		return -1;
	sql = xstrfmt("PRAGMA %s = %lld", pragma, value);
	rc = sqlite3_exec(to, sql, NULL, NULL, NULL);
	free(sql);
	return rc == SQLITE_OK ? 0 : -1;
}

/* Run on to every row of select on from, each row's columns bound to
 * insert's parameters. */
static int copy_rows(sqlite3 *to, const char *insert, sqlite3 *from, const char *select)
{
	sqlite3_stmt *get, *put = NULL;
	if (sqlite3_prepare_v2(from, select, -1, &get, NULL) != SQLITE_OK)
		return -1;
	int rc = sqlite3_prepare_v2(to, insert, -1, &put, NULL) == SQLITE_OK ? SQLITE_ROW : SQLITE_ERROR;
	while (rc == SQLITE_ROW && (rc = sqlite3_step(get)) == SQLITE_ROW) {
		for (int i = 0; i < sqlite3_column_count(get); i++)
			sqlite3_bind_value(put, i + 1, sqlite3_column_value(get, i));
		if (sqlite3_step(put) != SQLITE_DONE)
			rc = SQLITE_ERROR;
		sqlite3_reset(put);
	}
	sqlite3_finalize(get);
	sqlite3_finalize(put);
	return rc == SQLITE_DONE ? 0 : -1;
}

/*
 * The schema of from written into the empty to: its CREATE statements
 * (tables first, so that indexes, views and triggers find theirs), its
 * page size and user_version (an application's own schema version), and
 * the rows of lastgood_migrations, which say what that schema holds. No
 * other row. from is read in one transaction, so the copy is of one
 * moment.
 */
static int copy_schema(sqlite3 *to, sqlite3 *from)
{
	static const char select_schema[] =
		"SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL "
		"AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
		"ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 "
		"WHEN 'view' THEN 2 ELSE 3 END, rowid";
	if (copy_integer_pragma(to, from, "page_size") < 0 ||
	    sqlite3_exec(from, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return -1;
	int rc = -1;
	sqlite3_stmt *stmt = NULL;
	if (sqlite3_exec(to, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(from, select_schema, -1, &stmt, NULL) != SQLITE_OK)
		goto out;
	int step;
	while ((step = sqlite3_step(stmt)) == SQLITE_ROW)
		if (sqlite3_exec(to, (const char *)sqlite3_column_text(stmt, 0), NULL, NULL, NULL) !=
		    SQLITE_OK)
			goto out;
	if (step != SQLITE_DONE || copy_integer_pragma(to, from, "user_version") < 0)
		goto out;
	char *select = xstrfmt("SELECT %s FROM lastgood_migrations", columns_sql);
	char *insert = xstrfmt("INSERT INTO lastgood_migrations (%s) VALUES (?, ?, ?, ?, ?, ?, ?)",
			       columns_sql);
	int recorded = has_migrations_table(from);
	int copied = recorded == 0 || (recorded > 0 && copy_rows(to, insert, from, select) == 0);
	free(select);
	free(insert);
	if (copied && sqlite3_exec(to, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
		rc = 0;
out:
	sqlite3_finalize(stmt);
	if (!sqlite3_get_autocommit(to))
		sqlite3_exec(to, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_exec(from, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

static int sqlite_backup(struct db_conn *c, const char *file, int schema_only, struct error *err)
{
	/* created here, not by SQLite, so that nothing already there (a
	 * link least of all) is written over */
	int fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		if (errno == EEXIST)
			return error_set(err, ERROR_USAGE,
					 "database '%s': backup '%s' already exists; not overwriting",
					 c->name, file);
		return error_errno(err, ERROR_FAILED, errno, "database '%s': cannot create backup '%s'",
				   c->name, file);
	}
	sqlite3 *dest = NULL;
	sqlite_errors_reset();
	int opened = sqlite3_open_v2(file, &dest, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW,
				     NULL) == SQLITE_OK;
	if (opened && opened_read_only(dest, file, c->name, err) < 0)
		goto fail;
	int written = opened &&
		      (schema_only ? copy_schema(dest, c->db) : copy_pages(dest, c->db)) == 0;
	if (!written || sqlite3_close(dest) != SQLITE_OK) {
		backup_fail(c, "write backup", file, dest, err);
		goto fail;
	}
	dest = NULL;
	/* SQLite wrote through its own descriptor; fsync on ours flushes the
	 * same file */
	if (fs_fsync_fd(fd, file, err) < 0 || fs_fsync_parent(file, err) < 0) {
		error_prefix(err, "database '%s'", c->name);
		goto fail;
	}
	close(fd);
	return 0;
fail:
	sqlite3_close(dest);
	close(fd);
	unlink(file);
	return -1;
}

/* Run PRAGMA integrity_check on db: NULL when it says "ok", else its
 * first complaint (allocated). */
static char *integrity_problem(sqlite3 *db)
{
	sqlite3_stmt *stmt;
	if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, NULL) != SQLITE_OK)
		return sqlite_error_text(db);
	char *problem;
	if (sqlite3_step(stmt) == SQLITE_ROW) {
		const char *text = (const char *)sqlite3_column_text(stmt, 0);
		problem = text && strcmp(text, "ok") == 0 ? NULL : xstrdup(text ? text : "?");
	} else {
		problem = sqlite_error_text(db);
	}
	sqlite3_finalize(stmt);
	return problem;
}

/* A schema-only backup is a database file too, holding no rows: it is
 * restored like a whole one (schema_only changes nothing here). The
 * backup is checked first, so that a damaged one changes nothing. */
static int sqlite_restore(struct db_conn *c, const char *file, int schema_only,
			  const char **how, struct error *err)
{
	(void)schema_only;
	*how = NULL;
	sqlite3 *src = NULL;
	int rc = sqlite3_open_v2(file, &src, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOFOLLOW, NULL);
	if (rc != SQLITE_OK) {
		backup_fail(c, "open backup", file, src, err);
		sqlite3_close(src);
		return -1;
	}
	char *problem = integrity_problem(src);
	if (problem) {
		error_set(err, ERROR_FAILED, "database '%s': backup '%s' is damaged: %s", c->name,
			  file, problem);
		free(problem);
		sqlite3_close(src);
		return -1;
	}
	if (copy_pages(c->db, src) < 0) {
		backup_fail(c, "restore backup", file, NULL, err);
		sqlite3_close(src);
		return -1;
	}
	sqlite3_close(src);
	problem = integrity_problem(c->db);
	if (problem) {
		error_set(err, ERROR_FAILED,
			  "database '%s': restored from '%s', but integrity_check says: %s", c->name,
			  file, problem);
		free(problem);
		return -1;
	}
	return 0;
}

const struct db_engine db_engine_sqlite = {
	.name = "sqlite",
	.connect = sqlite_connect,
	.close = sqlite_close,
	.lock = sqlite_lock,
	.unlock = sqlite_unlock,
	.applied = sqlite_applied,
	.up = sqlite_up,
	.down = sqlite_down,
	.verify = sqlite_verify,
	.backup = sqlite_backup,
	.restore = sqlite_restore,
};
