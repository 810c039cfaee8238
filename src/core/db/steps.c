/*
 * The journaled steps on a database, shared by the schema resource (a
 * switch) and the `db` commands: connecting with the migrator lock, each
 * migration up or down as a step of the operation, backups into the state
 * folder's backups/ (recorded in db_backups) and their restore.
 */
#include "core/db/steps.h"
#include "core/config.h"
#include "core/db/command.h"
#include "core/operation.h"
#include "core/plan.h"
#include "core/state.h"
#include "core/store.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* "main 3 add_users": a migration step's target, in plan and journal. */
char *db_step_target(const struct database *db, const struct migration *m)
{
	return xstrfmt("%s %ld %s", db->name, m->version, m->name);
}

/* ---- running migrations ---- */

long db_newest_applied(const struct db_applied *rows, size_t n)
{
	return n ? rows[n - 1].version : 0;
}

/* The migration of version v in the first of sets that has it (with a
 * down script when down is set), or NULL. */
const struct migration *migration_in(const struct migration_set *const *sets, size_t nsets,
				       long v, int down)
{
	for (size_t i = 0; i < nsets; i++) {
		const struct migration *m = sets[i] ? migration_set_find(sets[i], v) : NULL;
		if (m && (!down || m->down[0]))
			return m;
	}
	return NULL;
}

int db_read_script(struct state *st, const char *digest, struct strbuf *sql,
		       struct error *err)
{
	strbuf_reset(sql);
	return store_read(&st->store, digest, sql, err);
}

/* One migration up (and its verify script), journaled. A verify that
 * fails takes the migration down again when it can, and fails. */
static int migrate_one_up(struct state *st, long op, const struct database *db,
			  const struct db_engine *e, struct db_conn *conn,
			  const struct migration *m, long release, struct error *err)
{
	struct strbuf sql = STRBUF_INIT;
	char *target = db_step_target(db, m);
	long step;
	int rc = -1;

	if (operation_step_begin(st, op, STEP_MIGRATE, target, &step, err) < 0)
		goto out;
	if (db_read_script(st, m->up, &sql, err) < 0)
		goto fail;
	struct db_applied row = {
		.version = m->version, .name = m->name, .release = release,
		.operator = db_operator(),
	};
	memcpy(row.checksum, m->up, sizeof(row.checksum));
	int transaction = !(migration_flags(sql.buf) & MIGRATION_NO_TRANSACTION);
	rc = e->up(conn, &row, sql.buf, transaction, err);
	free(row.operator);
	if (rc == 0 && m->verify[0]) {
		rc = db_read_script(st, m->verify, &sql, err);
		if (rc == 0)
			rc = e->verify(conn, m->version, sql.buf, err);
	}
	if (rc < 0)
		goto fail;
	rc = operation_step_end(st, step, STEP_OK, m->verify[0] ? "verified" : NULL, err);
	goto out;
fail:
	operation_step_fail(st, step, err);
	rc = -1;
out:
	free(target);
	strbuf_release(&sql);
	return rc;
}

static int migrate_one_down(struct state *st, long op, const struct database *db,
			    const struct db_engine *e, struct db_conn *conn,
			    const struct migration *m, struct error *err)
{
	struct strbuf sql = STRBUF_INIT;
	char *target = db_step_target(db, m);
	long step;
	int rc = -1;

	if (operation_step_begin(st, op, STEP_MIGRATE_DOWN, target, &step, err) < 0)
		goto out;
	int transaction = 1;
	rc = db_read_script(st, m->down, &sql, err);
	if (rc == 0) {
		transaction = !(migration_flags(sql.buf) & MIGRATION_NO_TRANSACTION);
		rc = e->down(conn, m->version, sql.buf, transaction, err);
	}
	if (rc < 0)
		operation_step_fail(st, step, err);
	else
		rc = operation_step_end(st, step, STEP_OK, NULL, err);
out:
	free(target);
	strbuf_release(&sql);
	return rc;
}

/* Bring db from what is applied to version `to`, each step journaled:
 * up scripts and down scripts from the first of sets that has them.
 * Stops at the first failure (the migration that failed changed nothing:
 * it ran in its own transaction). */
int db_migrate_to(struct state *st, long op, const struct database *db,
		      struct db_conn *conn, const struct migration_set *const *sets, size_t nsets,
		      long to, long release, struct error *err)
{
	const struct db_engine *e = db_engine_of(db);
	struct db_applied *rows;
	size_t n;

	if (e->applied(conn, &rows, &n, err) < 0)
		return -1;
	long at = db_newest_applied(rows, n);
	db_applied_free(rows, n);
	for (; at < to; at++) {
		const struct migration *m = migration_in(sets, nsets, at + 1, 0);
		if (!m)
			return error_set(err, ERROR_FAILED, "database '%s': no release at hand holds "
					 "migration %ld", db->name, at + 1);
		if (migrate_one_up(st, op, db, e, conn, m, release, err) < 0)
			return -1;
	}
	for (; at > to; at--) {
		const struct migration *m = migration_in(sets, nsets, at, 1);
		if (!m)
			return error_set(err, ERROR_FAILED, "database '%s': migration %ld has no down "
					 "script", db->name, at);
		if (migrate_one_down(st, op, db, e, conn, m, err) < 0)
			return -1;
	}
	return 0;
}

int db_version_now(const struct database *db, char **version, struct error *err)
{
	const struct db_engine *e = db_engine_of(db);
	struct db_conn *conn;
	struct db_applied *rows;
	size_t n;

	if (!e)
		return db_command_current(db, version, err);
	/* no file yet: no migration applied, and connecting would create it */
	struct stat sb;
	if (db->engine == DB_ENGINE_SQLITE && lstat(db->path, &sb) < 0 && errno == ENOENT) {
		*version = xstrdup("0");
		return 0;
	}
	if (e->connect(db, &conn, err) < 0)
		return -1;
	int rc = e->applied(conn, &rows, &n, err);
	e->close(conn);
	if (rc < 0)
		return -1;
	*version = xstrfmt("%ld", db_newest_applied(rows, n));
	db_applied_free(rows, n);
	return 0;
}

int db_go_back(struct state *st, long op, const struct database *db, struct db_conn *conn,
	       const struct migration_set *const *sets, size_t nsets, long from, long backup,
	       struct error *err)
{
	struct error first = ERROR_INIT;
	if (db_migrate_to(st, op, db, conn, sets, nsets, from, 0, &first) == 0)
		return 0;
	if (backup && db_backup_restore(st, op, db, conn, backup, err) == 0)
		return 0;
	if (!backup)
		*err = first;
	error_prefix(err, "database '%s' could not be brought back to version %ld", db->name, from);
	err->kind = ERROR_ATTENTION;
	return -1;
}

/* ---- backups ---- */

int db_backup_wanted(struct state *st, const struct database *db,
		     const struct migration_set *const *up_sets, size_t nup,
		     const struct migration_set *const *down_sets, size_t ndown, long from, long to)
{
	struct strbuf sql = STRBUF_INIT;
	struct error err = ERROR_INIT;
	int destructive = 0;

	if (db->backup != DB_BACKUP_DESTRUCTIVE)
		return db->backup == DB_BACKUP_ALWAYS;
	for (long v = from + 1; v <= to && !destructive; v++) {
		const struct migration *m = migration_in(up_sets, nup, v, 0);
		if (m && db_read_script(st, m->up, &sql, &err) == 0)
			destructive = migration_destructive(sql.buf);
	}
	for (long v = from; v > to && !destructive; v--) {
		const struct migration *m = migration_in(down_sets, ndown, v, 1);
		if (m && db_read_script(st, m->down, &sql, &err) == 0)
			destructive = migration_destructive(sql.buf);
	}
	strbuf_release(&sql);
	return destructive || err.msg[0];
}

static int backup_file_digest(const char *path, char hex[HASH_HEX_SIZE], long long *size,
			      struct error *err)
{
	struct strbuf sb = STRBUF_INIT;
	if (fs_read_file(path, &sb, err) < 0)
		return -1;
	hash_buffer(sb.buf, sb.len, hex);
	*size = (long long)sb.len;
	strbuf_release(&sb);
	return 0;
}

/* A built-in engine writes the backup itself (durably); a tool's is
 * made durable here, and must have written the file. */
static int backup_write(const struct database *db, struct db_conn *conn, const char *path,
			int schema_only, struct error *err)
{
	if (db->engine != DB_ENGINE_COMMAND)
		return db_engine_of(db)->backup(conn, path, schema_only, err);
	if (schema_only)
		return error_set(err, ERROR_USAGE, "database '%s': a command database's backup "
				 "is whatever its backup command writes: no schema-only backup",
				 db->name);
	if (db_command_run(db, "backup", &db->backup_cmd, NULL, path, err) < 0)
		return -1;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return error_errno(err, ERROR_FAILED, errno, "database '%s': backup wrote no "
				   "file '%s'", db->name, path);
	int rc = fs_fsync_fd(fd, path, err);
	close(fd);
	return rc < 0 ? -1 : fs_fsync_parent(path, err);
}

int db_backup_take(struct state *st, long op, const struct database *db, struct db_conn *conn,
		   const char *version, long release, int schema_only, long *id, struct error *err)
{
	char *folder = path_join(st->dir, "backups");
	char *name = xstrfmt("%s-op%ld.backup", db->name, op);
	char *path = path_join(folder, name);
	char hex[HASH_HEX_SIZE];
	long long size = 0;
	long step;
	int rc = -1;

	if (operation_step_begin(st, op, STEP_BACKUP, db->name, &step, err) < 0)
		goto out;
	if (mkdir(folder, 0700) < 0 && errno != EEXIST) {
		error_errno(err, ERROR_FAILED, errno, "cannot create backup folder '%s'", folder);
		goto fail;
	}
	/* a backup a crash left half written is no backup of anything */
	if (unlink(path) < 0 && errno != ENOENT) {
		error_errno(err, ERROR_FAILED, errno, "cannot remove '%s'", path);
		goto fail;
	}
	if (backup_write(db, conn, path, schema_only, err) < 0 ||
	    backup_file_digest(path, hex, &size, err) < 0)
		goto fail;

	sqlite3_stmt *stmt;
	/* a transaction, so that last_insert_rowid is this insert's */
	if (state_begin(st, err) < 0)
		goto fail;
	if (state_prepare(st, "INSERT INTO db_backups(database, operation, release, version, "
			  "file, size, sha256, schema_only, created_ms) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)",
			  &stmt,
			  err) < 0) {
		state_rollback(st);
		goto fail;
	}
	sqlite3_bind_text(stmt, 1, db->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, op);
	sqlite3_bind_int64(stmt, 3, release);
	sqlite3_bind_text(stmt, 4, version, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 5, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 6, size);
	sqlite3_bind_text(stmt, 7, hex, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 8, schema_only);
	sqlite3_bind_int64(stmt, 9, clock_wall_ms());
	int step_rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	if (step_rc != SQLITE_DONE) {
		state_db_error(st, "record backup", err);
		state_rollback(st);
		goto fail;
	}
	*id = (long)sqlite3_last_insert_rowid(st->db);
	if (state_commit(st, err) < 0) {
		state_rollback(st);
		goto fail;
	}
	char *detail = xstrfmt("%s, %lld bytes at version %s%s", name, size,
			       *version ? version : "none",
			       schema_only ? ", schema only" : "");
	rc = operation_step_end(st, step, STEP_OK, detail, err);
	free(detail);
	goto out;
fail:
	operation_step_fail(st, step, err);
out:
	free(folder);
	free(name);
	free(path);
	return rc;
}

int db_backup_restore(struct state *st, long op, const struct database *db, struct db_conn *conn,
		      long backup, struct error *err)
{
	sqlite3_stmt *stmt;
	char *file = NULL;
	long step;
	int rc = -1;
	const char *how = NULL;

	if (operation_step_begin(st, op, STEP_RESTORE, db->name, &step, err) < 0)
		return -1;
	int schema_only = 0;
	if (state_prepare(st, "SELECT file, schema_only FROM db_backups WHERE id = ? AND "
			  "database = ?", &stmt, err) == 0) {
		sqlite3_bind_int64(stmt, 1, backup);
		sqlite3_bind_text(stmt, 2, db->name, -1, SQLITE_STATIC);
		if (sqlite3_step(stmt) == SQLITE_ROW) {
			file = xstrdup((const char *)sqlite3_column_text(stmt, 0));
			schema_only = sqlite3_column_int(stmt, 1);
		}
		sqlite3_finalize(stmt);
		if (!file)
			error_set(err, ERROR_FAILED, "database '%s': backup %ld is not recorded",
				  db->name, backup);
	}
	if (file) {
		char *folder = path_join(st->dir, "backups");
		char *path = path_join(folder, file);
		rc = db->engine == DB_ENGINE_COMMAND
			     ? db_command_run(db, "restore", &db->restore_cmd, NULL, path, err)
			     : db_engine_of(db)->restore(conn, path, schema_only, &how, err);
		free(folder);
		free(path);
	}
	if (rc < 0)
		operation_step_fail(st, step, err);
	else {
		char *detail = how ? xstrfmt("%s (%s)", file, how) : xstrdup(file);
		rc = operation_step_end(st, step, STEP_OK, detail, err);
		free(detail);
	}
	free(file);
	return rc;
}

int db_open_locked(const struct database *db, long wait_ms, struct db_conn **conn,
		   struct error *err)
{
	const struct db_engine *e = db_engine_of(db);
	if (e->connect(db, conn, err) < 0)
		return -1;
	if (e->lock(*conn, wait_ms, err) < 0) {
		e->close(*conn);
		*conn = NULL;
		return -1;
	}
	return 0;
}

void db_close_locked(const struct database *db, struct db_conn **conn)
{
	if (!*conn)
		return;
	db_engine_of(db)->unlock(*conn);
	db_engine_of(db)->close(*conn);
	*conn = NULL;
}

