/*
 * The state folder: safety checks on the folder itself, the SQLite database
 * (schema, durable settings, helpers) and the one-writer lock.
 */
#include "core/state.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/format.h"
#include "util/fs.h"
#include "util/interrupt.h"
#include "util/sqlite_error.h"
#include "util/strbuf.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/*
 * The schema, as numbered versions. PRAGMA user_version holds how many of
 * schema_versions a database has had applied; each one is applied in a
 * transaction of its own together with the new number, so a crash leaves
 * a database on one version or the next, never between. A database made
 * before versions were kept reads 0: its tables are version 1's (which
 * creates only what is missing), so it is brought forward like a new one.
 * A database of a later version than this binary knows is refused rather
 * than misread. Add a version by appending to the list; never edit one
 * that has shipped.
 */
static const char schema_v1[] =
	"CREATE TABLE IF NOT EXISTS meta("
	"  key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS releases("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT, digest TEXT NOT NULL,"
	"  created_ms INTEGER NOT NULL, label TEXT UNIQUE, commit_sha TEXT,"
	"  reason TEXT, actor TEXT, mark INTEGER NOT NULL DEFAULT 0,"
	"  files INTEGER NOT NULL DEFAULT 0, size INTEGER NOT NULL DEFAULT 0,"
	"  added INTEGER NOT NULL DEFAULT 0, operation INTEGER);"
	"CREATE TABLE IF NOT EXISTS operations("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT, command TEXT NOT NULL,"
	"  args TEXT, reason TEXT, actor TEXT, pid INTEGER,"
	"  started_ms INTEGER NOT NULL, ended_ms INTEGER,"
	"  result INTEGER NOT NULL DEFAULT 0, error TEXT,"
	"  from_release INTEGER, to_release INTEGER,"
	"  phase TEXT NOT NULL DEFAULT 'running');"
	"CREATE TABLE IF NOT EXISTS steps("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT, operation INTEGER NOT NULL,"
	"  seq INTEGER NOT NULL, kind TEXT NOT NULL, target TEXT, detail TEXT,"
	"  result INTEGER NOT NULL DEFAULT 0, started_ms INTEGER NOT NULL,"
	"  ended_ms INTEGER);"
	"CREATE INDEX IF NOT EXISTS steps_by_operation ON steps(operation, seq);"
	"CREATE TABLE IF NOT EXISTS switch_entries("
	"  operation INTEGER NOT NULL, seq INTEGER NOT NULL, path TEXT NOT NULL,"
	"  stage TEXT NOT NULL, created INTEGER NOT NULL,"
	"  staged_dev INTEGER, staged_ino INTEGER,"
	"  PRIMARY KEY(operation, seq));"
	"CREATE TABLE IF NOT EXISTS processes("
	"  service TEXT PRIMARY KEY, pid INTEGER NOT NULL,"
	"  start_ticks INTEGER NOT NULL, started_ms INTEGER NOT NULL);"
	/* What a capture read, so that the next one need not read unchanged
	 * files again (manifest.c says when a row is trusted). */
	"CREATE TABLE IF NOT EXISTS stat_cache("
	"  path TEXT PRIMARY KEY, dev INTEGER NOT NULL, ino INTEGER NOT NULL,"
	"  size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL,"
	"  recorded_ns INTEGER NOT NULL, digest TEXT NOT NULL) WITHOUT ROWID;"
	/* Each release's files per service, as manifest_service_digest
	 * gives them, so that `status` finds where a service's files came
	 * from without reading manifests. */
	"CREATE TABLE IF NOT EXISTS release_services("
	"  release INTEGER NOT NULL, service TEXT NOT NULL, digest TEXT NOT NULL,"
	"  PRIMARY KEY(release, service)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS release_services_by_files "
	"  ON release_services(service, digest, release);"
	/* Lookups that would otherwise scan every row of a long history:
	 * content already recorded (each capture), a commit deployed before,
	 * and operations left unfinished (status, recover). */
	"CREATE INDEX IF NOT EXISTS releases_by_digest ON releases(digest);"
	"CREATE INDEX IF NOT EXISTS releases_by_commit ON releases(commit_sha);"
	"CREATE INDEX IF NOT EXISTS operations_unfinished ON operations(id) WHERE result = 0;";

/* The switch journal proves what it may remove by inode: what was live
 * before a swap as well as the stage it made; an entry may go (the
 * target has none there); a failed deploy swaps back to revert_to. */
static const char schema_v2[] =
	"ALTER TABLE switch_entries ADD COLUMN live_dev INTEGER;"
	"ALTER TABLE switch_entries ADD COLUMN live_ino INTEGER;"
	"ALTER TABLE switch_entries ADD COLUMN absent INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE operations ADD COLUMN revert_to INTEGER;";

/* A failed release gives its label up to the retry that asks for it and
 * keeps it here, so that the label still names one release (release.c). */
static const char schema_v3[] =
	"ALTER TABLE releases ADD COLUMN former_label TEXT;";

/* A stat cache row keeps its file's extended attributes (manifest.c); a
 * row from before has none (NULL) and vouches for nothing. */
static const char schema_v4[] =
	"ALTER TABLE stat_cache ADD COLUMN xattrs BLOB;";

/* The config each release was made with: its text is an object of the
 * store, named here (NULL for releases recorded before). */
static const char schema_v5[] =
	"ALTER TABLE releases ADD COLUMN config_digest TEXT;";

/* Databases (core/resource/schema.c): the schema version each release
 * ran with (a version as its engine names it: "3", an alembic revision); the switch of a database an operation made, durable before
 * its first migration runs (what undo, revert and recover go back to:
 * the database itself says how far it got, in lastgood_migrations); and
 * the backups taken, each a file of the state folder's backups/. */
static const char schema_v6[] =
	"CREATE TABLE release_schemas("
	"  release INTEGER NOT NULL, database TEXT NOT NULL, version TEXT NOT NULL,"
	"  PRIMARY KEY(release, database)) WITHOUT ROWID;"
	"CREATE TABLE schema_switches("
	"  operation INTEGER NOT NULL, database TEXT NOT NULL, kind TEXT NOT NULL,"
	"  from_version TEXT NOT NULL, to_version TEXT NOT NULL,"
	"  migrating INTEGER NOT NULL DEFAULT 0,"
	"  settled INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY(operation, database)) WITHOUT ROWID;"
	"CREATE TABLE db_backups("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT, database TEXT NOT NULL,"
	"  operation INTEGER, release INTEGER, version TEXT NOT NULL,"
	"  file TEXT NOT NULL, size INTEGER NOT NULL, sha256 TEXT NOT NULL,"
	"  schema_only INTEGER NOT NULL DEFAULT 0, created_ms INTEGER NOT NULL);";

/* Compose (core/resource/images.c): the image each compose service of a
 * release ran, by ID, and the name its container was created from. */
static const char schema_v7[] =
	"CREATE TABLE release_images("
	"  release INTEGER NOT NULL, service TEXT NOT NULL, compose_service TEXT NOT NULL,"
	"  image_id TEXT NOT NULL, image_name TEXT NOT NULL,"
	"  PRIMARY KEY(release, service)) WITHOUT ROWID;";

/* Compose (core/resource/image_switch.c): each tag a switch makes, the
 * ID its name pointed to before and the one it goes to, durable before
 * the tag (what undo, revert and recover tag back, newest first). */
static const char schema_v8[] =
	"CREATE TABLE image_tags("
	"  id INTEGER PRIMARY KEY, operation INTEGER NOT NULL, service TEXT NOT NULL,"
	"  name TEXT NOT NULL, from_id TEXT NOT NULL DEFAULT '', to_id TEXT NOT NULL,"
	"  tagging INTEGER NOT NULL DEFAULT 0, settled INTEGER NOT NULL DEFAULT 0,"
	"  UNIQUE(operation, service));";

static const char *const schema_versions[] = {
	schema_v1,
	schema_v2,
	schema_v3,
	schema_v4,
	schema_v5,
	schema_v6,
	schema_v7,
	schema_v8,
};

#define SCHEMA_VERSION ((int)(sizeof(schema_versions) / sizeof(schema_versions[0])))

/* The folder must be ours alone: a state folder others can write (or swap
 * through a symlink) would let them plant content we later put live. */
static int check_folder_safe(const char *dir, const char *what, struct error *err)
{
	struct stat st;
	if (lstat(dir, &st) < 0)
		return error_errno(err, ERROR_USAGE, errno, "cannot use %s '%s'", what, dir);
	if (S_ISLNK(st.st_mode))
		return error_set(err, ERROR_USAGE, "refusing %s '%s': it is a symbolic link", what, dir);
	if (!S_ISDIR(st.st_mode))
		return error_set(err, ERROR_USAGE, "refusing %s '%s': not a folder", what, dir);
	if (st.st_uid != geteuid())
		return error_set(err, ERROR_USAGE, "refusing %s '%s': owned by uid %ld, not by uid %ld",
				 what, dir, (long)st.st_uid, (long)geteuid());
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return error_set(err, ERROR_USAGE, "refusing %s '%s': writable by others (mode %04o)",
				 what, dir, (unsigned)(st.st_mode & 07777));
	return 0;
}

static int make_private_folder(const char *dir, const char *what, struct error *err)
{
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return error_errno(err, ERROR_FAILED, errno, "cannot create %s '%s'", what, dir);
	return check_folder_safe(dir, what, err);
}

/* What lives in the state folder. Each is refused when it is a symlink:
 * the store, scratch space and logs are written below, the database and
 * lock are written to, and a planted link would send those writes (and
 * later the content put live) wherever it points. */
static const struct state_entry {
	const char *name;
	const char *what;
	enum { ENTRY_FOLDER_MADE, ENTRY_FOLDER, ENTRY_FILE } kind;
} state_entries[] = {
	{ "objects", "store folder", ENTRY_FOLDER_MADE },
	{ "tmp", "scratch folder", ENTRY_FOLDER_MADE },
	{ "logs", "log folder", ENTRY_FOLDER },        /* made by the first process service */
	{ "backups", "backup folder", ENTRY_FOLDER },  /* made by the first database backup */
	{ "state.db", "state database", ENTRY_FILE },
	{ "state.db-wal", "state database log", ENTRY_FILE },
	{ "state.db-shm", "state database index", ENTRY_FILE },
	{ "lock", "lock file", ENTRY_FILE },
};

/* Check one entry of the state folder, making it first when it is one of
 * the folders a new state needs. An entry not there yet is fine: it is
 * created later with O_NOFOLLOW or mkdir, which never follow a link. */
static int check_state_entry(const char *dir, const struct state_entry *e, int create,
			     struct error *err)
{
	char *path = path_join(dir, e->name);
	struct stat sb;
	int rc = 0;

	if (create && e->kind == ENTRY_FOLDER_MADE)
		rc = make_private_folder(path, e->what, err);
	else if (lstat(path, &sb) < 0)
		rc = errno == ENOENT ? 0 :
		     error_errno(err, ERROR_FAILED, errno, "cannot use %s '%s'", e->what, path);
	else if (S_ISLNK(sb.st_mode))
		rc = error_set(err, ERROR_USAGE, "refusing %s '%s': it is a symbolic link",
			       e->what, path);
	else if (e->kind != ENTRY_FILE)
		rc = check_folder_safe(path, e->what, err);
	else if (!S_ISREG(sb.st_mode))
		rc = error_set(err, ERROR_USAGE, "refusing %s '%s': not a regular file",
			       e->what, path);
	free(path);
	return rc;
}

/* ---- errors ---- */

int state_db_error(struct state *st, const char *what, struct error *err)
{
	if (!st->db)
		return error_set(err, ERROR_FAILED, "state database: %s: not open", what);
	char *text = sqlite_error_text(st->db);
	error_set(err, ERROR_FAILED, "state database: %s: %s", what, text);
	free(text);
	return -1;
}

int state_exec(struct state *st, const char *sql, const char *what, struct error *err)
{
	if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return state_db_error(st, what, err);
	return 0;
}

int state_exec_bound(struct state *st, const char *sql, long id, const char *a, const char *b,
		     const char *c, const char *what, struct error *err)
{
	const char *texts[] = { a, b, c };
	sqlite3_stmt *stmt;
	if (state_prepare(st, sql, &stmt, err) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, id);
	int params = sqlite3_bind_parameter_count(stmt);
	for (int i = 0; i < 3 && i + 2 <= params; i++)
		sqlite3_bind_text(stmt, i + 2, texts[i], -1, SQLITE_STATIC);
	int rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	return rc == SQLITE_DONE ? 0 : state_db_error(st, what, err);
}

char *state_column_text(sqlite3_stmt *stmt, int col)
{
	const unsigned char *t = sqlite3_column_text(stmt, col);
	return t ? xstrdup((const char *)t) : NULL;
}

int state_prepare(struct state *st, const char *sql, sqlite3_stmt **stmt, struct error *err)
{
	if (sqlite3_prepare_v2(st->db, sql, -1, stmt, NULL) != SQLITE_OK)
		return state_db_error(st, "prepare", err);
	return 0;
}

int state_begin(struct state *st, struct error *err)
{
	return state_exec(st, "BEGIN IMMEDIATE", "begin", err);
}

int state_commit(struct state *st, struct error *err)
{
	if (state_exec(st, "COMMIT", "commit", err) < 0) {
		state_rollback(st);
		return -1;
	}
	return 0;
}

void state_rollback(struct state *st)
{
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

/* ---- opening ---- */

/* sqlite3_open_v2 of name (a path, or a URI with SQLITE_OPEN_URI); on
 * failure an error naming path and st->db NULL. */
static int connect_database(struct state *st, const char *path, const char *name, int flags,
			    struct error *err)
{
	int rc = sqlite3_open_v2(name, &st->db, flags | SQLITE_OPEN_NOFOLLOW, NULL);
	if (rc != SQLITE_OK) {
		char *text = st->db ? sqlite_error_text(st->db) : xstrdup(sqlite3_errstr(rc));
		error_set(err, ERROR_FAILED, "cannot open state database '%s': %s", path, text);
		free(text);
		sqlite3_close(st->db);
		st->db = NULL;
		return -1;
	}
	sqlite3_busy_timeout(st->db, 10000);
	/* SQLite writes the log back into the database file on its own, at a
	 * commit past 1000 pages and at close, and ignores a failed fsync
	 * there. lastgood does it itself instead, at one place where a
	 * failure can still be reported before anything changed:
	 * state_checkpoint, once the lock is taken. */
	sqlite3_wal_autocheckpoint(st->db, 0);
	sqlite3_db_config(st->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	return 0;
}

static int schema_version(struct state *st, int *version, struct error *err)
{
	sqlite3_stmt *stmt;
	if (state_prepare(st, "PRAGMA user_version", &stmt, err) < 0)
		return -1;
	int rc = sqlite3_step(stmt);
	*version = rc == SQLITE_ROW ? sqlite3_column_int(stmt, 0) : 0;
	sqlite3_finalize(stmt);
	if (rc != SQLITE_ROW)
		return state_db_error(st, "read schema version", err);
	return 0;
}

static int schema_version_newer(const char *path, int version, struct error *err)
{
	return error_set(err, ERROR_USAGE, "refusing state database '%s': its schema is version %d, "
			 "newer than the %d this lastgood knows; use the lastgood that wrote it",
			 path, version, SCHEMA_VERSION);
}

/* Bring the schema to SCHEMA_VERSION, one version per transaction. The
 * version is read again inside each transaction: another process may have
 * brought it forward meanwhile. */
static int state_upgrade_schema(struct state *st, const char *path, struct error *err)
{
	int version;
	/* Outside a transaction first: a database already up to date (the
	 * usual case) costs a reader no wait on a writer's transaction. */
	if (schema_version(st, &version, err) < 0)
		return -1;
	if (version == SCHEMA_VERSION)
		return 0;
	for (;;) {
		if (state_begin(st, err) < 0)
			return -1;
		if (schema_version(st, &version, err) < 0)
			goto fail;
		if (version > SCHEMA_VERSION) {
			schema_version_newer(path, version, err);
			goto fail;
		}
		if (version == SCHEMA_VERSION) {
			state_rollback(st);
			return 0;
		}
		char *set = xstrfmt("PRAGMA user_version = %d", version + 1);
		int rc = state_exec(st, schema_versions[version], "bring schema forward", err);
		if (rc == 0)
			rc = state_exec(st, set, "record schema version", err);
		free(set);
		if (rc < 0 || state_commit(st, err) < 0)
			goto fail;
	}
fail:
	state_rollback(st);
	return -1;
}

static int open_for_writing(struct state *st, const char *path, struct error *err)
{
	if (connect_database(st, path, path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, err) < 0)
		return -1;
	/* SQLite opens read-only what it cannot open for writing, and says so
	 * only at the first write, mid-operation. */
	if (sqlite3_db_readonly(st->db, "main") == 1)
		return error_set(err, ERROR_FAILED, "cannot open state database '%s' for writing%s%s",
				 path, sqlite_failed_open_errno() ? ": " : "",
				 sqlite_failed_open_errno() ? strerror(sqlite_failed_open_errno()) : "");
	/* WAL so readers never wait on the writer; FULL so a committed
	 * journal record survives power loss, which recover relies on. */
	if (state_exec(st, "PRAGMA journal_mode=WAL", "set journal mode", err) < 0 ||
	    state_exec(st, "PRAGMA synchronous=FULL", "set synchronous", err) < 0)
		return -1;
	return state_upgrade_schema(st, path, err);
}

/* "file:PATH?QUERY", PATH percent-encoded where a URI needs it. */
static char *database_uri(const char *path, const char *query)
{
	struct strbuf uri = STRBUF_INIT;
	strbuf_addstr(&uri, "file:");
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if (isalnum(*p) || strchr("/-._~", *p))
			strbuf_addch(&uri, (char)*p);
		else
			strbuf_addf(&uri, "%%%02X", *p);
	}
	strbuf_addf(&uri, "?%s", query);
	return strbuf_detach(&uri);
}

/* How a database SQLite cannot set up its -shm for may still be read:
 * with the -shm there is, opened read-only (SQLite then reads the log
 * without it); else, when the log holds nothing, from the database file
 * alone (a writer would need the -shm too, so none runs). NULL when
 * neither applies. */
static const char *read_only_query(const char *path)
{
	char *shm = xstrfmt("%s-shm", path), *wal = xstrfmt("%s-wal", path);
	struct stat sb;
	const char *query = NULL;

	if (lstat(shm, &sb) == 0 && S_ISREG(sb.st_mode))
		query = "mode=ro&readonly_shm=1";
	else if (lstat(wal, &sb) < 0 ? errno == ENOENT : S_ISREG(sb.st_mode) && sb.st_size == 0)
		query = "mode=ro&immutable=1";
	free(shm);
	free(wal);
	return query;
}

/*
 * Read-only commands take the database as it is (lastgood made it WAL when
 * it created it) and read it once, so that SQLite sets up its -wal and -shm
 * here. On a disk with no byte free it cannot (the -shm grows by writing),
 * and reading without them is tried (read_only_query); when that fails too,
 * the first error stands.
 */
static int open_for_reading(struct state *st, const char *path, struct error *err)
{
	if (connect_database(st, path, path, SQLITE_OPEN_READWRITE, err) < 0)
		return -1;
	if (state_exec(st, "PRAGMA schema_version", "read", err) == 0) {
		if (state_exec(st, "PRAGMA synchronous=FULL", "set synchronous", err) < 0)
			return -1;
		return state_upgrade_schema(st, path, err);
	}
	int code = sqlite3_extended_errcode(st->db) & 0xff;
	const char *query = read_only_query(path);
	if ((code != SQLITE_IOERR && code != SQLITE_FULL && code != SQLITE_CANTOPEN) || !query)
		return -1;

	struct error retry_err = ERROR_INIT;
	char *uri = database_uri(path, query);
	sqlite3_close(st->db);
	st->db = NULL;
	int rc = connect_database(st, path, uri, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, &retry_err);
	int version = 0;
	if (rc == 0)
		rc = schema_version(st, &version, &retry_err);
	free(uri);
	/* Read only: a database of another version cannot be brought to
	 * this one's here. */
	if (rc == 0 && version > SCHEMA_VERSION)
		return schema_version_newer(path, version, err);
	if (rc == 0 && version < SCHEMA_VERSION)
		return error_set(err, ERROR_FAILED, "cannot bring state database '%s' from schema "
				 "version %d to %d while it cannot be written", path, version,
				 SCHEMA_VERSION);
	if (rc == 0)
		error_clear(err);
	return rc;
}

static int open_database(struct state *st, int create, struct error *err)
{
	char *path = path_join(st->dir, "state.db");
	int rc;

	sqlite_errors_watch();
	sqlite_errors_reset();
	rc = create ? open_for_writing(st, path, err) : open_for_reading(st, path, err);
	free(path);
	return rc;
}

int state_open(struct state *st, const char *dir, int flags, struct error *err)
{
	memset(st, 0, sizeof(*st));
	st->lock_fd = -1;
	st->dir = xstrdup(dir);
	store_init(&st->store, dir);

	if (flags & STATE_CREATE) {
		char *parent = path_dirname(dir);
		int rc = fs_mkdir_p(parent, 0755, err);
		free(parent);
		if (rc < 0 || make_private_folder(dir, "state folder", err) < 0)
			goto fail;
	} else if (check_folder_safe(dir, "state folder", err) < 0) {
		goto fail;
	}
	/* Only once the folder itself is known to be ours, so that nothing is
	 * created below a folder that is not. */
	for (size_t i = 0; i < sizeof(state_entries) / sizeof(state_entries[0]); i++)
		if (check_state_entry(dir, &state_entries[i], flags & STATE_CREATE, err) < 0)
			goto fail;
	if (open_database(st, flags & STATE_CREATE, err) < 0)
		goto fail;
	return 0;
fail:
	state_close(st);
	return -1;
}

void state_close(struct state *st)
{
	if (st->db)
		sqlite3_close(st->db);
	if (st->lock_fd >= 0)
		close(st->lock_fd);   /* releases the flock */
	free(st->dir);
	store_release(&st->store);
	memset(st, 0, sizeof(*st));
	st->lock_fd = -1;
}

static void describe_holder(int fd, struct strbuf *out)
{
	char buf[512];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	long pid = 0, op = 0;
	long long started = 0;
	char command[64] = "";

	if (n > 0) {
		buf[n] = '\0';
		if (sscanf(buf, "%ld %lld %ld %63s", &pid, &started, &op, command) < 2)
			pid = 0;
	}
	if (!pid) {
		strbuf_addstr(out, "another operation holds the lock");
		return;
	}
	long long age = (clock_wall_ms() - started) / 1000;
	strbuf_addstr(out, "another operation holds the lock: ");
	if (op)
		strbuf_addf(out, "operation %ld ", op);
	strbuf_addf(out, "'%s' by pid %ld, running for %llds", command, pid, age);
}

void state_lock_describe(struct state *st, long operation, const char *command)
{
	char buf[256];
	static long long started;

	if (st->lock_fd < 0)
		return;
	if (!started)
		started = clock_wall_ms();
	int n = snprintf(buf, sizeof(buf), "%ld %lld %ld %s\n", (long)getpid(), started,
			 operation, command);
	/* Advisory text for whoever finds the lock busy; losing it to a crash
	 * only makes that message vaguer. */
	if (ftruncate(st->lock_fd, 0) == 0 && n > 0)
		(void)!pwrite(st->lock_fd, buf, (size_t)n, 0);
}

enum lock_outcome {
	LOCK_FAILED = -1,    /* errno says why */
	LOCK_TAKEN = 0,
	LOCK_BUSY = 1,       /* still held at the deadline */
	LOCK_INTERRUPTED = 2,
};

/* flock with LOCK_NB in a loop rather than a blocking flock under alarm():
 * the deadline stays exact, no signal handler is needed, and a holder that
 * finishes is noticed within 200ms. The back-off starts short because most
 * operations that hold the lock are short. An operator's Ctrl-C ends the
 * wait (and is consumed here, so the operation it would otherwise reach
 * never starts); *waited_ms gets how long it waited. */
static enum lock_outcome lock_within(int fd, long wait_ms, long long *waited_ms)
{
	long long start = clock_monotonic_ms();
	long long pause = 10;

	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return LOCK_TAKEN;
		if (errno != EWOULDBLOCK)
			return LOCK_FAILED;
		*waited_ms = clock_monotonic_ms() - start;
		if (wait_ms > 0 && interrupt_take())
			return LOCK_INTERRUPTED;
		long long left = wait_ms - *waited_ms;
		if (left <= 0)
			return LOCK_BUSY;
		clock_sleep_ms(pause < left ? pause : left);
		if (pause < 200)
			pause = pause * 2 < 200 ? pause * 2 : 200;
	}
}

/* Write what the log holds back into the database file, checking every
 * write and fsync. PASSIVE: a reader in the middle of the log is not
 * waited for; what it still needs stays in the log for the next time.
 * A failure loses nothing (the log stays the record and is written back
 * again next time) but means the disk failed: it is reported. */
static int state_checkpoint(struct state *st, struct error *err)
{
	int rc = sqlite3_wal_checkpoint_v2(st->db, "main", SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	if (rc != SQLITE_OK && rc != SQLITE_BUSY)
		return state_db_error(st, "write the log back", err);
	return 0;
}

int state_lock_wait(struct state *st, const char *command, long wait_ms, struct error *err)
{
	char *path = path_join(st->dir, "lock");
	long long waited_ms = 0;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		error_errno(err, ERROR_FAILED, errno, "cannot open lock '%s'", path);
		free(path);
		return -1;
	}
	free(path);
	enum lock_outcome outcome = lock_within(fd, wait_ms, &waited_ms);
	if (outcome == LOCK_FAILED) {
		error_errno(err, ERROR_FAILED, errno, "cannot lock state folder '%s'", st->dir);
		close(fd);
		return -1;
	}
	if (outcome != LOCK_TAKEN) {
		struct strbuf sb = STRBUF_INIT;
		char waited[FORMAT_SIZE];
		describe_holder(fd, &sb);
		if (outcome == LOCK_INTERRUPTED)
			strbuf_addf(&sb, " (interrupted after waiting %s)",
				    format_duration(waited_ms, waited));
		else if (wait_ms > 0)
			strbuf_addf(&sb, " (gave up after waiting %s)",
				    format_duration(wait_ms, waited));
		error_set(err, ERROR_BUSY, "%s", sb.buf);
		strbuf_release(&sb);
		close(fd);
		return -1;
	}
	st->lock_fd = fd;
	state_lock_describe(st, 0, command);
	if (state_checkpoint(st, err) < 0) {
		close(st->lock_fd);
		st->lock_fd = -1;
		return -1;
	}
	return 0;
}

int state_lock(struct state *st, const char *command, struct error *err)
{
	return state_lock_wait(st, command, 0, err);
}

char *state_get_meta(struct state *st, const char *key)
{
	sqlite3_stmt *stmt;
	char *value = NULL;
	if (sqlite3_prepare_v2(st->db, "SELECT value FROM meta WHERE key = ?", -1, &stmt, NULL) != SQLITE_OK)
		return NULL;
	sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		value = xstrdup((const char *)sqlite3_column_text(stmt, 0));
	sqlite3_finalize(stmt);
	return value;
}

int state_set_meta(struct state *st, const char *key, const char *value, struct error *err)
{
	sqlite3_stmt *stmt;
	if (state_prepare(st, "INSERT INTO meta(key, value) VALUES(?, ?) "
			  "ON CONFLICT(key) DO UPDATE SET value = excluded.value", &stmt, err) < 0)
		return -1;
	sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, value, -1, SQLITE_STATIC);
	int rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE)
		return state_db_error(st, "set meta", err);
	return 0;
}

long state_live_release(struct state *st)
{
	char *v = state_get_meta(st, "live_release");
	long id = v ? strtol(v, NULL, 10) : 0;
	free(v);
	return id;
}

int state_set_live_release(struct state *st, long id, struct error *err)
{
	char number[32];
	snprintf(number, sizeof(number), "%ld", id);
	return state_set_meta(st, "live_release", number, err);
}

char *state_actor(void)
{
	char host[256] = "localhost";
	struct passwd *pw = getpwuid(geteuid());
	gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	if (pw)
		return xstrfmt("%s@%s", pw->pw_name, host);
	return xstrfmt("%ld@%s", (long)geteuid(), host);
}
