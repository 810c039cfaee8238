/*
 * The postgres engine (db.h) over libpq: migrations run on one connection,
 * each with its row of lastgood_migrations in one transaction; one
 * migrator at a time through a session advisory lock; backups are pg_dump
 * custom-format files, restored with pg_restore.
 */
#include "core/db/db.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/secret.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/process.h"
#include "util/strbuf.h"

extern char **environ;

/* The advisory lock's key: the bytes of "lastgood" read as a big-endian
 * bigint (0x6c617374676f6f64), a number no other tool is likely to pick.
 * pg_locks shows it as classid (its high half) and objid (its low half). */
#define LOCK_KEY_TEXT "7809650172625907556"

/* How lastgood names its connections (application_name), so that a
 * second migrator can tell which process holds the lock. */
#define APPLICATION_NAME_FORMAT "lastgood (pid %ld)"

struct db_conn {
	PGconn *pg;
	char *name;                  /* the database's name in the config */
	char *password;              /* db->password, or NULL */
	char *url_password;          /* the password the url holds, or NULL */
	PGconn *dropping;            /* dropping what a restore swapped out, or NULL */
};

static const char create_table_sql[] =
	"CREATE TABLE IF NOT EXISTS lastgood_migrations ("
	"version bigint PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, "
	"applied_at bigint NOT NULL, duration_ms bigint NOT NULL, release bigint, "
	"operator text)";

/* The first line of text, with the secrets conn knows masked; text may be
 * NULL. Caller frees. */
static char *shown_line(const struct db_conn *conn, const char *text)
{
	struct strbuf sb = STRBUF_INIT;
	if (text)
		strbuf_add(&sb, text, strcspn(text, "\n"));
	while (sb.len && (sb.buf[sb.len - 1] == ' ' || sb.buf[sb.len - 1] == '\r'))
		strbuf_setlen(&sb, sb.len - 1);
	secret_scrub(&sb, conn->password);
	secret_scrub(&sb, conn->url_password);
	if (!sb.len)
		strbuf_addstr(&sb, "unknown error");
	return strbuf_detach(&sb);
}

/* The server's message for a failed result (the primary message, without
 * "ERROR:  "), else the connection's: one line, secrets masked. Caller
 * frees. */
static char *server_message(const struct db_conn *conn, const PGresult *res)
{
	const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	return shown_line(conn, primary ? primary : PQerrorMessage(conn->pg));
}

/* Whether res is a success. A script's last result is what PQexec
 * returns; COPY ... FROM STDIN or TO STDOUT in a script is ended here,
 * since a migration has no data to send or read. */
static int result_ok(struct db_conn *conn, PGresult *res)
{
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT) {
		if (st == PGRES_COPY_IN)
			PQputCopyEnd(conn->pg, "lastgood: COPY FROM STDIN is not supported in a migration");
		else {
			char *row;
			while (PQgetCopyData(conn->pg, &row, 0) > 0)
				PQfreemem(row);
		}
		PGresult *rest;
		while ((rest = PQgetResult(conn->pg)))
			PQclear(rest);
		return 0;
	}
	return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY;
}

/* Run sql (one statement or many, no parameters); on failure the error is
 * "database 'NAME': WHAT: message", WHAT a printf format. */
static int run_sql(struct db_conn *conn, const char *sql, struct error *err, const char *what, ...)
	__attribute__((format(printf, 4, 5)));
static int run_sql(struct db_conn *conn, const char *sql, struct error *err, const char *what, ...)
{
	PGresult *res = PQexec(conn->pg, sql);
	if (result_ok(conn, res)) {
		PQclear(res);
		return 0;
	}
	char *msg = server_message(conn, res);
	PQclear(res);
	struct strbuf sb = STRBUF_INIT;
	va_list ap;
	va_start(ap, what);
	strbuf_vaddf(&sb, what, ap);
	va_end(ap);
	error_set(err, ERROR_FAILED, "database '%s': %s: %s", conn->name, sb.buf, msg);
	strbuf_release(&sb);
	free(msg);
	return -1;
}

/* Leave a transaction this file began; a failure to is ignored (the
 * connection is then broken, and the server rolls back when it closes). */
static void rollback(struct db_conn *conn)
{
	if (PQtransactionStatus(conn->pg) != PQTRANS_IDLE)
		PQclear(PQexec(conn->pg, "ROLLBACK"));
}

/* The password a connection string (a URL or key=value words) holds,
 * or NULL. Caller frees with secret_free. */
static char *conninfo_password(const char *url)
{
	char *password = NULL;
	PQconninfoOption *opts = PQconninfoParse(url, NULL);
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (!strcmp(o->keyword, "password") && o->val && *o->val)
			password = xstrdup(o->val);
	PQconninfoFree(opts);
	return password;
}

/* Wait for the drop a restore left running (see swap_in_copy), if any; its
 * failure leaves the copy for the next restore, which drops it first. */
static void wait_dropped(struct db_conn *conn)
{
	PGresult *res;
	if (!conn->dropping)
		return;
	while ((res = PQgetResult(conn->dropping)))
		PQclear(res);
	PQfinish(conn->dropping);
	conn->dropping = NULL;
}

static void conn_free(struct db_conn *conn)
{
	wait_dropped(conn);
	PQfinish(conn->pg);
	free(conn->name);
	secret_free(conn->password);
	secret_free(conn->url_password);
	free(conn);
}

/* Notices (a migration's "table does not exist, skipping") are not errors,
 * and libpq would print them on our stderr, which core code never writes. */
static void ignore_notice(void *unused, const char *message)
{
	(void)unused;
	(void)message;
}

/* The url is libpq's (postgresql://user@host:port/db?...); db->password,
 * when set, goes in as its own parameter and wins over the url's. */
static int pg_connect(const struct database *db, struct db_conn **out, struct error *err)
{
	struct db_conn *conn = xcalloc(1, sizeof(*conn));
	conn->name = xstrdup(db->name);
	conn->password = db->password ? xstrdup(db->password) : NULL;
	conn->url_password = db->url ? conninfo_password(db->url) : NULL;
	char *application_name = xstrfmt(APPLICATION_NAME_FORMAT, (long)getpid());
	/* Later words win over earlier ones, and the url's over those before
	 * it: a connect_timeout in the url is kept, our name is not. */
	const char *keys[] = { "connect_timeout", "dbname", "application_name", "password", NULL };
	const char *values[] = { "10", db->url ? db->url : "", application_name, db->password, NULL };
	if (!db->password)
		keys[3] = NULL;
	conn->pg = PQconnectdbParams(keys, values, 1);
	free(application_name);
	if (!conn->pg || PQstatus(conn->pg) != CONNECTION_OK) {
		char *msg = shown_line(conn, conn->pg ? PQerrorMessage(conn->pg) : "out of memory");
		error_set(err, ERROR_FAILED, "database '%s': cannot connect: %s", db->name, msg);
		free(msg);
		conn_free(conn);
		return -1;
	}
	PQsetNoticeProcessor(conn->pg, ignore_notice, NULL);
	*out = conn;
	return 0;
}

static void pg_close(struct db_conn *conn)
{
	if (conn)
		conn_free(conn);
}

/* Run a query; *rows gets its result (caller PQclears). On failure the
 * error is "database 'NAME': WHAT: message". */
static int query_rows(struct db_conn *conn, const char *sql, PGresult **rows, struct error *err,
		      const char *what)
{
	PGresult *res = PQexec(conn->pg, sql);
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		char *msg = server_message(conn, res);
		PQclear(res);
		error_set(err, ERROR_FAILED, "database '%s': %s: %s", conn->name, what, msg);
		free(msg);
		return -1;
	}
	*rows = res;
	return 0;
}

/* Run a query that returns one row of one column; *value gets it (caller
 * frees), NULL when the query returns no row or a NULL. */
static int query_value(struct db_conn *conn, const char *sql, char **value, struct error *err,
		       const char *what)
{
	PGresult *res;
	if (query_rows(conn, sql, &res, err, what) < 0)
		return -1;
	*value = PQntuples(res) && !PQgetisnull(res, 0, 0) ? xstrdup(PQgetvalue(res, 0, 0)) : NULL;
	PQclear(res);
	return 0;
}

/* Who holds the lock, for the error: "pid N" of the lastgood that holds
 * it, else the server process's pid, else nothing. Caller frees. */
static char *lock_holder(struct db_conn *conn)
{
	static const char sql[] =
		"SELECT coalesce(a.application_name, '') || ' ' || l.pid FROM pg_locks l "
		"LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
		"WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
		"AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
		"AND ((l.classid::bigint << 32) | l.objid::bigint) = " LOCK_KEY_TEXT " LIMIT 1";
	struct error ignored = ERROR_INIT;
	char *row = NULL;
	if (query_value(conn, sql, &row, &ignored, "lock holder") < 0 || !row)
		return xstrdup("");
	long pid;
	char *shown;
	const char *server_pid = strrchr(row, ' ') + 1;
	if (sscanf(row, APPLICATION_NAME_FORMAT, &pid) == 1)
		shown = xstrfmt(" (pid %ld)", pid);
	else
		shown = xstrfmt(" (server process %s)", server_pid);
	free(row);
	return shown;
}

/* Polls pg_try_advisory_lock, backing off from 10 ms to 500 ms, rather
 * than blocking in pg_advisory_lock: a blocked call could only end with a
 * statement timeout, which would then stay set on the session. */
static int pg_lock(struct db_conn *conn, long wait_ms, struct error *err)
{
	long long deadline = clock_monotonic_ms() + (wait_ms > 0 ? wait_ms : 0);
	long long pause = 10;
	for (;;) {
		char *got = NULL;
		if (query_value(conn, "SELECT pg_try_advisory_lock(" LOCK_KEY_TEXT ")", &got, err,
				"cannot take the migration lock") < 0)
			return -1;
		int taken = got && !strcmp(got, "t");
		free(got);
		if (taken)
			return 0;
		long long left = deadline - clock_monotonic_ms();
		if (left <= 0)
			break;
		clock_sleep_ms(pause < left ? pause : left);
		pause = pause * 2 < 500 ? pause * 2 : 500;
	}
	char *holder = lock_holder(conn);
	error_set(err, ERROR_BUSY, "database '%s' is being migrated by another process%s",
		  conn->name, holder);
	free(holder);
	return -1;
}

static void pg_unlock(struct db_conn *conn)
{
	PQclear(PQexec(conn->pg, "SELECT pg_advisory_unlock(" LOCK_KEY_TEXT ")"));
}

static int table_exists(struct db_conn *conn, int *exists, struct error *err)
{
	char *oid = NULL;
	if (query_value(conn, "SELECT to_regclass('lastgood_migrations')::oid", &oid, err,
			"cannot read lastgood_migrations") < 0)
		return -1;
	*exists = oid != NULL;
	free(oid);
	return 0;
}

static int pg_applied(struct db_conn *conn, struct db_applied **rows, size_t *n, struct error *err)
{
	int exists;
	*rows = NULL;
	*n = 0;
	if (table_exists(conn, &exists, err) < 0)
		return -1;
	if (!exists)
		return 0;
	PGresult *res = PQexec(conn->pg,
			       "SELECT version, name, checksum, applied_at, duration_ms, "
			       "coalesce(release, 0), operator FROM lastgood_migrations ORDER BY version");
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		char *msg = server_message(conn, res);
		PQclear(res);
		error_set(err, ERROR_FAILED, "database '%s': cannot read lastgood_migrations: %s",
			  conn->name, msg);
		free(msg);
		return -1;
	}
	size_t count = (size_t)PQntuples(res);
	struct db_applied *v = xcalloc(count ? count : 1, sizeof(*v));
	for (size_t i = 0; i < count; i++) {
		int r = (int)i;
		v[i].version = strtol(PQgetvalue(res, r, 0), NULL, 10);
		v[i].name = xstrdup(PQgetvalue(res, r, 1));
		snprintf(v[i].checksum, sizeof(v[i].checksum), "%s", PQgetvalue(res, r, 2));
		v[i].applied_at_ms = strtoll(PQgetvalue(res, r, 3), NULL, 10);
		v[i].duration_ms = strtoll(PQgetvalue(res, r, 4), NULL, 10);
		v[i].release = strtol(PQgetvalue(res, r, 5), NULL, 10);
		v[i].operator = PQgetisnull(res, r, 6) ? NULL : xstrdup(PQgetvalue(res, r, 6));
	}
	PQclear(res);
	*rows = v;
	*n = count;
	return 0;
}

/* Run a statement with text parameters (NULL: SQL NULL). */
static int run_params(struct db_conn *conn, const char *sql, int nparams,
		      const char *const *params, struct error *err, const char *what)
{
	PGresult *res = PQexecParams(conn->pg, sql, nparams, NULL, params, NULL, NULL, 0);
	if (res && PQresultStatus(res) == PGRES_COMMAND_OK) {
		PQclear(res);
		return 0;
	}
	char *msg = server_message(conn, res);
	PQclear(res);
	error_set(err, ERROR_FAILED, "database '%s': %s: %s", conn->name, what, msg);
	free(msg);
	return -1;
}

/* Whether version has its row in lastgood_migrations (the table may be
 * missing: then it has none). */
static int row_present(struct db_conn *conn, long version, int *present, struct error *err)
{
	if (table_exists(conn, present, err) < 0)
		return -1;
	if (!*present)
		return 0;
	char *sql = xstrfmt("SELECT 1 FROM lastgood_migrations WHERE version = %ld", version);
	char *one = NULL;
	int rc = query_value(conn, sql, &one, err, "cannot read lastgood_migrations");
	free(sql);
	*present = one != NULL;
	free(one);
	return rc;
}

/* Record row, run from the wall clock's started_ms for duration_ms (the
 * engine's, not the row's: db.h): the table made when missing, then the
 * row; within the caller's transaction. */
static int record_row(struct db_conn *conn, const struct db_applied *row, long long started_ms,
		      long long duration_ms, struct error *err)
{
	char version[32], applied_at[32], duration[32], release[32];
	snprintf(version, sizeof(version), "%ld", row->version);
	snprintf(applied_at, sizeof(applied_at), "%lld", started_ms);
	snprintf(duration, sizeof(duration), "%lld", duration_ms);
	snprintf(release, sizeof(release), "%ld", row->release);
	const char *params[] = { version, row->name, row->checksum, applied_at, duration,
				 row->release ? release : NULL, row->operator };
	if (run_sql(conn, create_table_sql, err, "cannot create lastgood_migrations") < 0)
		return -1;
	return run_params(conn,
			  "INSERT INTO lastgood_migrations (version, name, checksum, applied_at, "
			  "duration_ms, release, operator) VALUES ($1, $2, $3, $4, $5, $6, $7)",
			  7, params, err, "cannot record the migration in lastgood_migrations");
}

/*
 * The script goes to the server as one simple query: several statements
 * are fine, and they run inside the transaction begun here. Without
 * transaction the server still runs a string of several statements as one
 * implicit transaction, which CREATE INDEX CONCURRENTLY refuses: such a
 * script must hold that one statement.
 *
 * A script that ends the transaction itself (its own COMMIT) has committed
 * its changes by the time it returns: its row is then recorded in a
 * transaction of its own, as for a script run without one, so that the
 * table still says what was applied.
 */
static int pg_up(struct db_conn *conn, const struct db_applied *row, const char *sql,
		 int transaction, struct error *err)
{
	int present;
	long long started_ms = clock_wall_ms(), started = clock_monotonic_ms();
	if (transaction && run_sql(conn, "BEGIN", err, "cannot begin a transaction") < 0)
		return -1;
	if (row_present(conn, row->version, &present, err) < 0)
		goto fail;
	if (present) {
		error_set(err, ERROR_FAILED,
			  "database '%s': migration %ld (%s) is already applied (another migrator?)",
			  conn->name, row->version, row->name);
		goto fail;
	}
	if (run_sql(conn, sql, err, "migration %ld (%s) failed", row->version, row->name) < 0)
		goto fail;
	if (PQtransactionStatus(conn->pg) == PQTRANS_IDLE &&
	    run_sql(conn, "BEGIN", err, "cannot begin a transaction") < 0)
		goto fail;
	if (record_row(conn, row, started_ms, clock_monotonic_ms() - started, err) < 0)
		goto fail;
	if (run_sql(conn, "COMMIT", err, "migration %ld (%s) failed to commit", row->version,
		    row->name) < 0)
		goto fail;
	return 0;
fail:
	rollback(conn);
	return -1;
}

static int pg_down(struct db_conn *conn, long version, const char *sql, int transaction,
		   struct error *err)
{
	int present;
	if (transaction && run_sql(conn, "BEGIN", err, "cannot begin a transaction") < 0)
		return -1;
	if (row_present(conn, version, &present, err) < 0)
		goto fail;
	if (!present) {
		error_set(err, ERROR_FAILED, "database '%s': migration %ld is not applied",
			  conn->name, version);
		goto fail;
	}
	if (run_sql(conn, sql, err, "migration %ld down failed", version) < 0)
		goto fail;
	char number[32];
	snprintf(number, sizeof(number), "%ld", version);
	const char *params[] = { number };
	if (run_params(conn, "DELETE FROM lastgood_migrations WHERE version = $1", 1, params, err,
		       "cannot delete the migration's row of lastgood_migrations") < 0)
		goto fail;
	if (PQtransactionStatus(conn->pg) != PQTRANS_IDLE &&
	    run_sql(conn, "COMMIT", err, "migration %ld down failed to commit", version) < 0)
		goto fail;
	return 0;
fail:
	rollback(conn);
	return -1;
}

static int pg_verify(struct db_conn *conn, long version, const char *sql, struct error *err)
{
	if (run_sql(conn, "BEGIN", err, "cannot begin a transaction") < 0)
		return -1;
	int rc = run_sql(conn, sql, err, "migration %ld verify failed", version);
	rollback(conn);
	return rc;
}

/* The newest version's copy of a PostgreSQL client program: PATH first,
 * then Debian's /usr/lib/postgresql/N/bin. Caller frees. */
static char *find_program(const char *name)
{
	const char *path = getenv("PATH");
	struct strbuf dir = STRBUF_INIT;
	for (const char *p = path ? path : ""; *p;) {
		size_t len = strcspn(p, ":");
		strbuf_reset(&dir);
		strbuf_add(&dir, p, len);
		char *candidate = path_join(len ? dir.buf : ".", name);
		if (!access(candidate, X_OK)) {
			strbuf_release(&dir);
			return candidate;
		}
		free(candidate);
		p += len + (p[len] == ':');
	}
	strbuf_release(&dir);
	char *pattern = xstrfmt("/usr/lib/postgresql/*/bin/%s", name);
	char *found = NULL;
	long newest = -1;
	glob_t g;
	if (!glob(pattern, 0, NULL, &g)) {
		for (size_t i = 0; i < g.gl_pathc; i++) {
			long version = strtol(g.gl_pathv[i] + strlen("/usr/lib/postgresql/"), NULL, 10);
			if (version > newest && !access(g.gl_pathv[i], X_OK)) {
				newest = version;
				free(found);
				found = xstrdup(g.gl_pathv[i]);
			}
		}
		globfree(&g);
	}
	free(pattern);
	return found ? found : xstrdup(name);
}

/* The live connection's settings as a conninfo string for --dbname (no
 * password: a command line is visible to every user), and *env the
 * environment for the child: ours, with PGPASSWORD set to the password the
 * connection used, if any. A passfile would do as well, but one left behind
 * by a kill -9 would keep the secret on disk; a child's environment is
 * readable only by its own user. Caller frees both (free_env). */
static char *child_conninfo(struct db_conn *conn, char ***env)
{
	struct strbuf info = STRBUF_INIT;
	char *password = NULL;
	PQconninfoOption *opts = PQconninfo(conn->pg);
	for (PQconninfoOption *o = opts; o && o->keyword; o++) {
		if (!o->val || !*o->val)
			continue;
		if (!strcmp(o->keyword, "password")) {
			password = xstrdup(o->val);
			continue;
		}
		if (o->dispchar[0] == '*')
			continue;
		strbuf_addf(&info, "%s%s='", info.len ? " " : "", o->keyword);
		for (const char *c = o->val; *c; c++) {
			if (*c == '\'' || *c == '\\')
				strbuf_addch(&info, '\\');
			strbuf_addch(&info, *c);
		}
		strbuf_addch(&info, '\'');
	}
	PQconninfoFree(opts);

	size_t n = 0, count = 0;
	while (environ[count])
		count++;
	char **v = xcalloc(count + 2, sizeof(*v));
	for (size_t i = 0; i < count; i++)
		if (!password || strncmp(environ[i], "PGPASSWORD=", strlen("PGPASSWORD=")))
			v[n++] = xstrdup(environ[i]);
	if (password)
		v[n++] = xstrfmt("PGPASSWORD=%s", password);
	secret_free(password);
	*env = v;
	return strbuf_detach(&info);
}

static void free_env(char **env)
{
	for (char **e = env; *e; e++)
		secret_free(*e);
	free(env);
}

/* Run a pg_dump or pg_restore argv (argv[0] a bare name, found here;
 * the connection goes in as --dbname, then file, when not NULL). On failure the error is
 * "database 'NAME': WHAT: the program's first line of output". */
static int run_client(struct db_conn *conn, const char **args, const char *file,
		      const char *what, struct error *err)
{
	char **env;
	char *conninfo = child_conninfo(conn, &env);
	char *dbname = xstrfmt("--dbname=%s", conninfo);
	char *program = find_program(args[0]);
	size_t n = 0;
	while (args[n])
		n++;
	char **argv = xcalloc(n + 3, sizeof(*argv));
	argv[0] = program;
	for (size_t i = 1; i < n; i++)
		argv[i] = (char *)args[i];
	argv[n] = dbname;
	argv[n + 1] = (char *)file;
	struct process_options opts = { .envp = env, .merge_stderr = 1 };
	struct strbuf out = STRBUF_INIT;
	int status = 0;
	int rc = process_run_with(argv, &opts, &out, &status, err);
	if (rc < 0)
		error_prefix(err, "database '%s': %s", conn->name, what);
	else if (status) {
		char *msg = shown_line(conn, out.buf);
		error_set(err, ERROR_FAILED, "database '%s': %s: %s (exit status %d)", conn->name,
			  what, msg, status);
		free(msg);
		rc = -1;
	}
	strbuf_release(&out);
	free(argv);
	free(program);
	free(dbname);
	free(conninfo);
	free_env(env);
	return rc;
}

/* The file is made here (O_EXCL, so an existing one is never written
 * over), then pg_dump writes it, and it is synced with its folder. */
static int pg_backup(struct db_conn *conn, const char *file, int schema_only, struct error *err)
{
	int fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return error_errno(err, errno == EEXIST ? ERROR_USAGE : ERROR_FAILED, errno,
				   "database '%s': cannot create backup '%s'", conn->name, file);
	close(fd);
	const char *args[] = { "pg_dump", "--no-password", "--format=custom", "--file", file,
			       schema_only ? "--schema-only" : NULL, NULL };
	if (run_client(conn, args, NULL, "backup failed", err) < 0)
		goto fail;
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		error_errno(err, ERROR_FAILED, errno, "database '%s': cannot open backup '%s'",
			    conn->name, file);
		goto fail;
	}
	int synced = fs_fsync_fd(fd, file, err);
	close(fd);
	if (synced < 0 || fs_fsync_parent(file, err) < 0)
		goto fail;
	return 0;
fail:
	unlink(file);
	return -1;
}

/* What file (a custom-format backup) holds, from its table of contents
 * (`pg_restore --list`: "ID; OID OID TYPE SCHEMA NAME OWNER", NAME maybe
 * holding spaces: "add(integer, integer)"): its relations, functions,
 * procedures, aggregates, types and domains as "SCHEMA NAME" lines into *names, and
 * each schema it names (as a schema, or one of its objects' schema) as a
 * line of *schemas. */
static int backup_objects(struct db_conn *conn, const char *file, struct strbuf *names,
			  struct strbuf *schemas, struct error *err)
{
	static const char *const types[] = { "TABLE ", "SEQUENCE ", "VIEW ",
					     "MATERIALIZED VIEW ", "FUNCTION ", "PROCEDURE ",
					     "AGGREGATE ", "TYPE ", "DOMAIN ", "SCHEMA " };
	char *program = find_program("pg_restore");
	char *argv[] = { program, "--list", (char *)file, NULL };
	struct process_options opts = { .output_max = PROCESS_OUTPUT_ALL };
	struct strbuf out = STRBUF_INIT;
	int status = 0;
	int rc = process_run_with(argv, &opts, &out, &status, err);
	free(program);
	if (rc == 0 && status)
		rc = error_set(err, ERROR_FAILED, "database '%s': cannot list backup '%s' (exit "
			       "status %d)", conn->name, file, status);
	for (char *line = out.buf; rc == 0 && line && *line;) {
		char *end = strchr(line, '\n');
		if (end)
			*end = '\0';
		/* past "ID; OID OID " */
		char *p = strchr(line, ';');
		for (int field = 0; p && field < 3; field++)
			p = strchr(p + 1, ' ');
		for (size_t t = 0; p && t < sizeof(types) / sizeof(types[0]); t++) {
			size_t len = strlen(types[t]);
			/* not "TABLE DATA", "SEQUENCE SET", "SEQUENCE OWNED BY" */
			if (strncmp(p + 1, types[t], len) || !strncmp(p + 1 + len, "DATA ", 5) ||
			    !strncmp(p + 1 + len, "SET ", 4) || !strncmp(p + 1 + len, "OWNED ", 6))
				continue;
			char *schema = p + 1 + len;
			char *name = strchr(schema, ' ');
			char *owner = strrchr(schema, ' ');
			if (!name || owner == name)
				break;
			*name++ = '\0';
			*owner = '\0';
			if (!strcmp(types[t], "SCHEMA "))
				strbuf_addf(schemas, "%s\n", name);
			else
				strbuf_addf(names, "%s %s\n", schema, name);
			if (strcmp(schema, "-"))
				strbuf_addf(schemas, "%s\n", schema);
			break;
		}
		line = end ? end + 1 : NULL;
	}
	strbuf_release(&out);
	return rc;
}

/* What the database holds outside the system schemas and extensions, as
 * the table of contents of a backup names it: "SCHEMA NAME" (a function's
 * NAME with its argument types as pg_dump writes them, whence the empty
 * search_path), the kind DROP takes, and the object as DROP names it.
 * Functions, procedures, aggregates, types and domains only in the
 * schemas $1 lists
 * (one per line); relations in any. */
static const char made_objects_sql[] =
	"SELECT n.nspname, c.relname, CASE c.relkind WHEN 'v' THEN 'VIEW' "
	"  WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, "
	"  format('%I.%I', n.nspname, c.relname), 1 "
	"FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
	"WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S') "
	"AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass "
	"  AND d.objid = c.oid AND d.deptype = 'e') "
	"AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%' "
	"UNION ALL "
	"SELECT n.nspname, p.proname || '(' || oidvectortypes(p.proargtypes) || ')', "
	"  CASE p.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END, "
	"  format('%I.%I(%s)', n.nspname, p.proname, oidvectortypes(p.proargtypes)), 2 "
	"FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
	"WHERE p.prokind IN ('f', 'p', 'a') AND n.nspname = ANY (string_to_array($1, E'\\n')) "
	"AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass "
	"  AND d.objid = p.oid AND d.deptype = 'e') "
	"UNION ALL "
	"SELECT n.nspname, t.typname, CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, "
	"  format('%I.%I', n.nspname, t.typname), 3 "
	"FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
	"WHERE (t.typtype IN ('d', 'e', 'r') OR (t.typtype = 'c' AND "
	"  (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c')) "
	"AND n.nspname = ANY (string_to_array($1, E'\\n')) "
	"AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass "
	"  AND d.objid = t.oid AND d.deptype = 'e') "
	"ORDER BY 5";

/* Drop, in one transaction, what the database holds (made_objects_sql,
 * within schemas) that `keep` ("SCHEMA NAME" lines) does not name: what
 * was made after the backup was taken. Relations first, then functions,
 * then types: CASCADE takes what depends on each. *dropped says whether
 * there was anything to drop. */
static int drop_made_since(struct db_conn *conn, const char *keep, const char *schemas,
			   int *dropped, struct error *err)
{
	if (run_sql(conn, "BEGIN; SET LOCAL search_path = ''", err,
		    "cannot drop what the backup does not hold") < 0)
		return -1;
	const char *params[] = { schemas };
	PGresult *res = PQexecParams(conn->pg, made_objects_sql, 1, NULL, params, NULL, NULL, 0);
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		char *msg = server_message(conn, res);
		PQclear(res);
		rollback(conn);
		error_set(err, ERROR_FAILED, "database '%s': cannot list what it holds: %s",
			  conn->name, msg);
		free(msg);
		return -1;
	}
	struct strbuf drop = STRBUF_INIT, line = STRBUF_INIT, within = STRBUF_INIT;
	strbuf_addf(&within, "\n%s", keep);
	for (int r = 0; r < PQntuples(res); r++) {
		strbuf_reset(&line);
		strbuf_addf(&line, "\n%s %s\n", PQgetvalue(res, r, 0), PQgetvalue(res, r, 1));
		if (!strstr(within.buf, line.buf))
			strbuf_addf(&drop, "DROP %s IF EXISTS %s CASCADE;", PQgetvalue(res, r, 2),
				    PQgetvalue(res, r, 3));
	}
	PQclear(res);
	strbuf_release(&line);
	strbuf_release(&within);
	*dropped = drop.len > 0;
	strbuf_addstr(&drop, "COMMIT");
	int rc = run_sql(conn, drop.buf, err, "cannot drop what the backup does not hold");
	if (rc < 0)
		rollback(conn);
	strbuf_release(&drop);
	return rc;
}

/*
 * A whole restore by swap: the backup is restored with `pg_restore -j`
 * (no single transaction is possible then) into a new database beside the
 * target, which the target's connection never touches, and the two are
 * swapped by renaming both in one transaction. Until that commit nothing
 * has changed; after it the target is the backup's. The names beside
 * the target, "<name>" SWAP_NEW_SUFFIX and SWAP_OLD_SUFFIX, are lastgood's
 * own: a crash leaves at most one of them, dropped by the next restore.
 */
#define SWAP_NEW_SUFFIX "_lastgood_new"
#define SWAP_OLD_SUFFIX "_lastgood_old"
/* The comment on a database beside the target that lastgood made (the
 * copy) or swapped out (the old one): only a database carrying it is ever
 * dropped; one named alike without it is someone else's. */
#define SWAP_MARK "lastgood: a copy a restore left; safe to drop"
#define RESTORE_JOBS "2"
/* The server cuts a longer name (NAMEDATALEN - 1) short, and the cut
 * "<name>_lastgood_old" could name another database, even the target. */
#define PG_NAME_MAX 63

/* What the new database copies of the target (pg_database): acl NULL when
 * datacl is (the defaults), else its rows (grantee, is it PUBLIC,
 * privilege, grantable); settings the database's own (setrole 0) as
 * "name=value" rows. */
struct db_identity {
	char *name;
	char *owner;
	char *encoding;
	char *collate;
	char *ctype;
	char *comment;               /* COMMENT ON DATABASE; NULL: none */
	char *provider;              /* LOCALE_PROVIDER other than libc: "icu",
	                                "builtin"; NULL: libc */
	char *locale;                /* that provider's locale */
	PGresult *acl;
	PGresult *settings;
};

static void identity_free(struct db_identity *id)
{
	free(id->name);
	free(id->owner);
	free(id->encoding);
	free(id->collate);
	free(id->ctype);
	free(id->comment);
	free(id->provider);
	free(id->locale);
	PQclear(id->acl);
	PQclear(id->settings);
}

/* The database's locale provider when it is not libc (PostgreSQL 15 made
 * it a database's own: ICU, and from 17 the builtin one), so that the
 * copy sorts text as the target did. */
static int read_locale_provider(struct db_conn *conn, struct db_identity *id,
				struct error *err)
{
	int version = PQserverVersion(conn->pg);
	PGresult *res;
	if (version < 150000)
		return 0;
	const char *sql = version >= 170000
		? "SELECT datlocprovider, datlocale FROM pg_database "
		  "WHERE datname = current_database()"
		: "SELECT datlocprovider, daticulocale FROM pg_database "
		  "WHERE datname = current_database()";
	if (query_rows(conn, sql, &res, err, "cannot read the database's locale provider") < 0)
		return -1;
	const char *provider = PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "c";
	if (strcmp(provider, "c")) {
		id->provider = xstrdup(!strcmp(provider, "i") ? "icu" : "builtin");
		id->locale = xstrdup(PQgetvalue(res, 0, 1));
	}
	PQclear(res);
	return 0;
}

static int read_identity(struct db_conn *conn, struct db_identity *id, struct error *err)
{
	static const char database_sql[] =
		"SELECT current_database(), pg_get_userbyid(datdba), pg_encoding_to_char(encoding), "
		"datcollate, datctype, datacl IS NULL, shobj_description(oid, 'pg_database') "
		"FROM pg_database "
		"WHERE datname = current_database()";
	static const char acl_sql[] =
		"SELECT pg_get_userbyid(a.grantee), a.grantee = 0, a.privilege_type, a.is_grantable "
		"FROM pg_database d, aclexplode(d.datacl) a WHERE d.datname = current_database()";
	static const char settings_sql[] =
		"SELECT unnest(s.setconfig) FROM pg_db_role_setting s "
		"JOIN pg_database d ON d.oid = s.setdatabase "
		"WHERE s.setrole = 0 AND d.datname = current_database()";
	const char *what = "cannot read what a restored copy must keep";
	PGresult *res;
	memset(id, 0, sizeof(*id));
	if (query_rows(conn, database_sql, &res, err, what) < 0)
		return -1;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return error_set(err, ERROR_FAILED, "database '%s': %s: not in pg_database",
				 conn->name, what);
	}
	id->name = xstrdup(PQgetvalue(res, 0, 0));
	id->owner = xstrdup(PQgetvalue(res, 0, 1));
	id->encoding = xstrdup(PQgetvalue(res, 0, 2));
	id->collate = xstrdup(PQgetvalue(res, 0, 3));
	id->ctype = xstrdup(PQgetvalue(res, 0, 4));
	int default_acl = !strcmp(PQgetvalue(res, 0, 5), "t");
	id->comment = PQgetisnull(res, 0, 6) ? NULL : xstrdup(PQgetvalue(res, 0, 6));
	PQclear(res);
	if (!default_acl && query_rows(conn, acl_sql, &id->acl, err, what) < 0)
		return -1;
	if (read_locale_provider(conn, id, err) < 0)
		return -1;
	return query_rows(conn, settings_sql, &id->settings, err, what);
}

/* A connection with conn's settings (host, port, user, password,
 * application_name) to database dbname instead: *out names itself as conn
 * does in errors. */
static int connect_sibling(struct db_conn *conn, const char *dbname, struct db_conn **out,
			   struct error *err)
{
	PQconninfoOption *opts = PQconninfo(conn->pg);
	size_t n = 0;
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		n++;
	const char **keys = xcalloc(n + 2, sizeof(*keys));
	const char **values = xcalloc(n + 2, sizeof(*values));
	size_t used = 0;
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (o->val && *o->val && strcmp(o->keyword, "dbname")) {
			keys[used] = o->keyword;
			values[used++] = o->val;
		}
	keys[used] = "dbname";
	values[used] = dbname;
	struct db_conn *sibling = xcalloc(1, sizeof(*sibling));
	sibling->name = xstrdup(conn->name);
	sibling->password = conn->password ? xstrdup(conn->password) : NULL;
	sibling->url_password = conn->url_password ? xstrdup(conn->url_password) : NULL;
	sibling->pg = PQconnectdbParams(keys, values, 0);
	PQconninfoFree(opts);
	free(keys);
	free(values);
	if (!sibling->pg || PQstatus(sibling->pg) != CONNECTION_OK) {
		char *msg = shown_line(sibling, sibling->pg ? PQerrorMessage(sibling->pg) : NULL);
		error_set(err, ERROR_FAILED, "database '%s': cannot connect to '%s': %s", conn->name,
			  dbname, msg);
		free(msg);
		conn_free(sibling);
		return -1;
	}
	PQsetNoticeProcessor(sibling->pg, ignore_notice, NULL);
	*out = sibling;
	return 0;
}

/* text quoted for SQL on conn (an identifier, else a literal) appended to
 * sb; -1 when libpq cannot (text invalid in the connection's encoding). */
static int add_quoted(struct db_conn *conn, struct strbuf *sb, const char *text, int identifier,
		      struct error *err)
{
	size_t len = strlen(text);
	char *quoted = identifier ? PQescapeIdentifier(conn->pg, text, len)
				  : PQescapeLiteral(conn->pg, text, len);
	if (!quoted) {
		char *msg = shown_line(conn, PQerrorMessage(conn->pg));
		error_set(err, ERROR_FAILED, "database '%s': cannot quote '%s': %s", conn->name,
			  text, msg);
		free(msg);
		return -1;
	}
	strbuf_addstr(sb, quoted);
	PQfreemem(quoted);
	return 0;
}

/* The settings whose value pg_db_role_setting keeps as a list of
 * elements, each double-quoted when it must be ("$user", public): each
 * element is given back as its own literal, as pg_dump does. */
static int list_setting(const char *name)
{
	static const char *const lists[] = { "search_path", "temp_tablespaces",
					     "session_preload_libraries",
					     "local_preload_libraries" };
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
		if (!strcmp(name, lists[i]))
			return 1;
	return 0;
}

/* A setting's value as ALTER DATABASE ... SET takes it, appended to sb. */
static int add_setting_value(struct db_conn *conn, struct strbuf *sb, const char *name,
			     const char *value, struct error *err)
{
	if (!list_setting(name))
		return add_quoted(conn, sb, value, 0, err);
	struct strbuf element = STRBUF_INIT;
	int rc = 0, first = 1;
	for (const char *p = value; rc == 0 && *p;) {
		strbuf_reset(&element);
		while (*p == ' ')
			p++;
		if (*p == '"') {
			for (p++; *p && !(*p == '"' && p[1] != '"'); p++) {
				p += *p == '"';
				strbuf_addch(&element, *p);
			}
			p += *p == '"';
		} else {
			size_t len = strcspn(p, ",");
			while (len && p[len - 1] == ' ')
				len--;
			strbuf_add(&element, p, len);
			p += len;
		}
		p += strspn(p, " ");
		p += *p == ',';
		strbuf_addstr(sb, first ? "" : ", ");
		first = 0;
		rc = add_quoted(conn, sb, element.buf, 0, err);
	}
	strbuf_release(&element);
	return rc;
}

/* The statements that give the new database (quoted_new) the target's ACL
 * and settings, quoted on conn, appended to sql. A privilege other than
 * those a database has is refused rather than spliced in. */
static int add_grants_and_settings(struct db_conn *conn, const struct db_identity *id,
				   const char *quoted_new, struct strbuf *sql, struct error *err)
{
	static const char *const privileges[] = { "CREATE", "TEMPORARY", "CONNECT" };
	if (id->acl) {
		strbuf_addf(sql, "REVOKE ALL ON DATABASE %s FROM PUBLIC, ", quoted_new);
		if (add_quoted(conn, sql, id->owner, 1, err) < 0)
			return -1;
		strbuf_addch(sql, ';');
	}
	for (int r = 0; id->acl && r < PQntuples(id->acl); r++) {
		const char *privilege = PQgetvalue(id->acl, r, 2);
		size_t known = 0;
		while (known < 3 && strcmp(privilege, privileges[known]))
			known++;
		if (known == 3)
			return error_set(err, ERROR_FAILED, "database '%s': unknown privilege '%s' "
					 "on the database", conn->name, privilege);
		strbuf_addf(sql, "GRANT %s ON DATABASE %s TO ", privilege, quoted_new);
		if (!strcmp(PQgetvalue(id->acl, r, 1), "t"))
			strbuf_addstr(sql, "PUBLIC");
		else if (add_quoted(conn, sql, PQgetvalue(id->acl, r, 0), 1, err) < 0)
			return -1;
		strbuf_addstr(sql, !strcmp(PQgetvalue(id->acl, r, 3), "t") ? " WITH GRANT OPTION;"
									   : ";");
	}
	for (int r = 0; r < PQntuples(id->settings); r++) {
		char *name = xstrdup(PQgetvalue(id->settings, r, 0));
		char *value = strchr(name, '=');
		int rc = -1;
		if (value) {
			*value++ = '\0';
			strbuf_addf(sql, "ALTER DATABASE %s SET ", quoted_new);
			rc = add_quoted(conn, sql, name, 1, err);
			strbuf_addstr(sql, " TO ");
			if (rc == 0)
				rc = add_setting_value(conn, sql, name, value, err);
			strbuf_addch(sql, ';');
		} else
			error_set(err, ERROR_FAILED, "database '%s': unreadable setting '%s'",
				  conn->name, name);
		free(name);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* Drop database quoted (a name beside the target) on maint, when there;
 * a failure is left for the next restore, which drops it first. */
static void drop_beside(struct db_conn *maint, const char *quoted)
{
	struct error ignored = ERROR_INIT;
	char *sql = xstrfmt("DROP DATABASE IF EXISTS %s", quoted);
	run_sql(maint, sql, &ignored, "cannot drop a copy");
	free(sql);
}

/* Drop what a restore left beside the target under name (quoted: the same
 * name quoted), when there. A database of that name without lastgood's
 * mark is not ours to drop: ERROR_FAILED, and the restore stops. */
static int drop_leftover(struct db_conn *maint, const char *name, const char *quoted,
			 struct error *err)
{
	struct strbuf sql = STRBUF_INIT;
	char *ours = NULL;
	strbuf_addstr(&sql, "SELECT (shobj_description(oid, 'pg_database') IS NOT DISTINCT FROM '"
		      SWAP_MARK "')::text FROM pg_database WHERE datname = ");
	int rc = add_quoted(maint, &sql, name, 0, err);
	if (rc == 0)
		rc = query_value(maint, sql.buf, &ours, err, "cannot look for a restore's leftovers");
	if (rc == 0 && ours && !strcmp(ours, "true"))
		drop_beside(maint, quoted);
	else if (rc == 0 && ours)
		rc = error_set(err, ERROR_FAILED, "database '%s': cannot restore by swap: a database "
			       "named '%s' is there and is not lastgood's (rename it, or drop it "
			       "if it is not needed)", maint->name, name);
	free(ours);
	strbuf_release(&sql);
	return rc;
}

/* CREATE DATABASE for the new copy on maint; *refused set (and 0
 * returned) when the server refuses it for lack of privilege (SQLSTATE
 * 42501: no CREATEDB, or not a member of the owner's role). */
static int create_copy(struct db_conn *maint, const struct db_identity *id,
		       const char *quoted_new, int *refused, struct error *err)
{
	struct strbuf sql = STRBUF_INIT;
	strbuf_addf(&sql, "CREATE DATABASE %s TEMPLATE template0 OWNER ", quoted_new);
	int rc = add_quoted(maint, &sql, id->owner, 1, err);
	strbuf_addstr(&sql, " ENCODING ");
	if (rc == 0)
		rc = add_quoted(maint, &sql, id->encoding, 0, err);
	strbuf_addstr(&sql, " LC_COLLATE ");
	if (rc == 0)
		rc = add_quoted(maint, &sql, id->collate, 0, err);
	strbuf_addstr(&sql, " LC_CTYPE ");
	if (rc == 0)
		rc = add_quoted(maint, &sql, id->ctype, 0, err);
	if (id->provider) {
		strbuf_addf(&sql, " LOCALE_PROVIDER %s %s_LOCALE ", id->provider,
			    !strcmp(id->provider, "icu") ? "ICU" : "BUILTIN");
		if (rc == 0)
			rc = add_quoted(maint, &sql, id->locale, 0, err);
	}
	if (rc == 0) {
		PGresult *res = PQexec(maint->pg, sql.buf);
		if (!result_ok(maint, res)) {
			const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
			*refused = state && !strcmp(state, "42501");
			if (!*refused) {
				char *msg = server_message(maint, res);
				rc = error_set(err, ERROR_FAILED, "database '%s': cannot create a "
					       "database to restore into: %s", maint->name, msg);
				free(msg);
			}
		}
		PQclear(res);
	}
	strbuf_release(&sql);
	return rc;
}

/*
 * !!! NOT ATOMIC: CREATE DATABASE cannot run in a transaction, so the
 * copy's mark (SWAP_MARK) is its first statement after the create. A
 * crash between the two leaves an empty copy without the mark, which the
 * next restore refuses to drop (drop_leftover names it): the operator
 * drops it by hand. Never the other way round: nothing unmarked is
 * dropped by guess.
 *
 * Give the new database (quoted_new, named new_name) the mark, the
 * target's ACL and settings, then restore file into it with pg_restore -j over a
 * connection of its own, closed before returning. */
static int fill_copy(struct db_conn *maint, const struct db_identity *id, const char *new_name,
		     const char *quoted_new, const char *file, struct error *err)
{
	struct strbuf sql = STRBUF_INIT;
	strbuf_addf(&sql, "COMMENT ON DATABASE %s IS '" SWAP_MARK "';", quoted_new);
	int rc = add_grants_and_settings(maint, id, quoted_new, &sql, err);
	if (rc == 0)
		rc = run_sql(maint, sql.buf, err, "cannot give the restored copy the database's "
			     "grants and settings");
	strbuf_release(&sql);
	struct db_conn *copy;
	if (rc < 0 || connect_sibling(maint, new_name, &copy, err) < 0)
		return -1;
	const char *args[] = { "pg_restore", "--no-password", "--exit-on-error",
			       "--jobs=" RESTORE_JOBS, NULL };
	rc = run_client(copy, args, file, "restore failed", err);
	conn_free(copy);
	return rc;
}

/* ERROR_FAILED naming them when sessions other than conn's are connected
 * to the target: the swap would fail on them (or, were they to wait, cut
 * them off). Autovacuum is not counted: the server stops it itself. */
static int refuse_other_sessions(struct db_conn *conn, struct error *err)
{
	static const char sql[] =
		"SELECT string_agg(format('%s (user %s, server process %s)', "
		"coalesce(nullif(application_name, ''), 'unnamed'), usename, pid), ', ' ORDER BY pid) "
		"FROM pg_stat_activity WHERE datname = current_database() "
		"AND pid <> pg_backend_pid() AND backend_type = 'client backend'";
	char *others = NULL;
	if (query_value(conn, sql, &others, err, "cannot list the sessions connected to it") < 0)
		return -1;
	if (!others)
		return 0;
	char *shown = shown_line(conn, others);
	error_set(err, ERROR_FAILED, "database '%s': cannot restore while other sessions are "
		  "connected to it: %s", conn->name, shown);
	free(shown);
	free(others);
	return -1;
}

/* How long the migrator lock is waited for again after the swap. */
#define RELOCK_WAIT_MS 10000
/* How long the target's own session is waited for to end before the swap,
 * and how often it is looked for meanwhile. */
#define SESSION_END_WAIT_MS 5000
#define SESSION_END_POLL_MS 1

/* Wait until the server process pid (the target's session, just closed)
 * is gone from pg_stat_activity, at most SESSION_END_WAIT_MS. The renames
 * would wait too, but in steps of 100 ms. A failure to look is no reason
 * not to try the renames. */
static void wait_session_end(struct db_conn *maint, int pid)
{
	char *sql = xstrfmt("SELECT 1 FROM pg_stat_activity WHERE pid = %d", pid);
	for (long waited = 0; waited < SESSION_END_WAIT_MS; waited += SESSION_END_POLL_MS) {
		PGresult *res = PQexec(maint->pg, sql);
		int gone = PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) == 0;
		PQclear(res);
		if (gone)
			break;
		clock_sleep_ms(SESSION_END_POLL_MS);
	}
	free(sql);
}

/*
 * Swap the filled copy in: close conn (the target's, and with it the
 * migrator lock), rename target and copy in one transaction on maint,
 * then connect conn again to the target and take the lock again. When the
 * renames fail, the copy is dropped and the target is as it was. When they
 * succeed, the old database is dropped by maint's session while the
 * caller goes on (its services start meanwhile): maint's connection moves
 * to conn->dropping, waited for when conn closes. Either way conn is
 * connected again (or, when that fails, left closed with the error set).
 */
static int swap_in_copy(struct db_conn *conn, struct db_conn *maint, const char *name,
			const char *quoted_name, const char *quoted_new, const char *quoted_old,
			const char *comment, struct error *err)
{
	struct error ignored = ERROR_INIT;
	int pid = PQbackendPID(conn->pg);
	/*
	 * !!! THE ONE WINDOW WITHOUT THE MIGRATOR LOCK !!!
	 * The advisory lock lives in the target's session, and the rename
	 * needs that session gone. From PQfinish here until pg_lock below,
	 * another lastgood may take the lock; it then sees either the old
	 * database or the restored one whole (the renames are one
	 * transaction), and pg_lock below waits for it, then fails busy.
	 */
	PQfinish(conn->pg);
	conn->pg = NULL;
	wait_session_end(maint, pid);
	/* The copy's mark goes to the old one, and the target's comment to
	 * the copy that becomes it, in the same transaction. */
	char *sql = xstrfmt("BEGIN; ALTER DATABASE %s RENAME TO %s; ALTER DATABASE %s RENAME TO %s; "
			    "COMMENT ON DATABASE %s IS '" SWAP_MARK "'; COMMENT ON DATABASE %s IS %s; "
			    "COMMIT", quoted_name, quoted_old, quoted_new, quoted_name, quoted_old,
			    quoted_name, comment);
	int rc = run_sql(maint, sql, err, "cannot swap the restored copy in");
	free(sql);
	if (rc < 0) {
		rollback(maint);
		drop_beside(maint, quoted_new);
	}
	struct db_conn *fresh;
	int connected = connect_sibling(maint, name, &fresh, rc < 0 ? &ignored : err);
	if (rc == 0) {
		sql = xstrfmt("DROP DATABASE IF EXISTS %s", quoted_old);
		if (PQsendQuery(maint->pg, sql)) {
			conn->dropping = maint->pg;
			maint->pg = NULL;
		}
		free(sql);
	}
	if (connected < 0)
		return -1;
	conn->pg = fresh->pg;
	fresh->pg = NULL;
	conn_free(fresh);
	if (pg_lock(conn, RELOCK_WAIT_MS, rc < 0 ? &ignored : err) < 0)
		return -1;
	return rc;
}

/* The names a swap uses: the target's, the new copy's, the old one's, as
 * they are (names) and quoted on maint (quoted); caller frees each. The
 * target's comment, as SQL (a literal, or NULL), in *comment. */
static int quote_swap_names(struct db_conn *maint, const struct db_identity *id,
			    char *names[3], char *quoted[3], char **comment, struct error *err)
{
	const char *suffixes[] = { "", SWAP_NEW_SUFFIX, SWAP_OLD_SUFFIX };
	struct strbuf sb = STRBUF_INIT;
	int rc = 0;
	for (int i = 0; i < 3; i++) {
		names[i] = xstrfmt("%s%s", id->name, suffixes[i]);
		if (rc == 0)
			rc = add_quoted(maint, &sb, names[i], 1, err);
		quoted[i] = strbuf_detach(&sb);
	}
	if (!id->comment)
		strbuf_addstr(&sb, "NULL");
	else if (rc == 0)
		rc = add_quoted(maint, &sb, id->comment, 0, err);
	*comment = strbuf_detach(&sb);
	return rc;
}

/* A whole restore by swap (see above). *in_place set (and 0 returned,
 * nothing done) when it cannot be had here: a name too long for the
 * names beside it, or no privilege to create a database. Any other
 * failure before the swap leaves the target untouched: ERROR_FAILED. */
static int restore_by_swap(struct db_conn *conn, const char *file, int *in_place,
			   struct error *err)
{
	struct db_identity id;
	struct db_conn *maint = NULL;
	char *names[3] = { NULL, NULL, NULL }, *quoted[3] = { NULL, NULL, NULL }, *comment = NULL;
	int rc = -1;
	*in_place = 0;
	if (read_identity(conn, &id, err) < 0)
		goto out;
	if (strlen(id.name) + strlen(SWAP_NEW_SUFFIX) > PG_NAME_MAX) {
		*in_place = 1;
		rc = 0;
		goto out;
	}
	wait_dropped(conn);
	if (connect_sibling(conn, "postgres", &maint, err) < 0 ||
	    quote_swap_names(maint, &id, names, quoted, &comment, err) < 0 ||
	    drop_leftover(maint, names[1], quoted[1], err) < 0 ||
	    drop_leftover(maint, names[2], quoted[2], err) < 0)
		goto out;
	if (create_copy(maint, &id, quoted[1], in_place, err) < 0 || *in_place) {
		rc = *in_place ? 0 : -1;
		goto out;
	}
	rc = fill_copy(maint, &id, names[1], quoted[1], file, err);
	if (rc == 0)
		rc = refuse_other_sessions(conn, err);
	if (rc < 0)
		drop_beside(maint, quoted[1]);
	else
		rc = swap_in_copy(conn, maint, id.name, quoted[0], quoted[1], quoted[2], comment,
				  err);
out:
	for (int i = 0; i < 3; i++) {
		free(names[i]);
		free(quoted[i]);
	}
	free(comment);
	pg_close(maint);
	identity_free(&id);
	return rc;
}

/*
 * What the backup does not hold (a table, function or type made after it
 * was taken) is dropped first, in one transaction: what was made since
 * often depends on what the backup holds (a view on its table, a function
 * taking its type), and would keep pg_restore from dropping that. Then
 * pg_restore in one transaction (--single-transaction) replaces the
 * dumped objects (--clean --if-exists) or changes nothing. The two steps
 * are each atomic and each safe to run again, so a crash between them is
 * finished by restoring again. When the second fails after the first
 * dropped something, the database is neither as it was nor as the backup:
 * ERROR_ATTENTION, naming the backup. The path of a schema-only restore,
 * and of a whole one that cannot be had by swap.
 */
static int restore_in_place(struct db_conn *conn, const char *file, int schema_only,
			    struct error *err)
{
	const char *args[] = { "pg_restore", "--clean", "--if-exists", "--single-transaction",
			       "--no-password", schema_only ? "--schema-only" : NULL, NULL };
	struct strbuf keep = STRBUF_INIT, schemas = STRBUF_INIT;
	int dropped = 0;
	int rc = backup_objects(conn, file, &keep, &schemas, err);
	if (rc == 0)
		rc = drop_made_since(conn, keep.buf, schemas.buf, &dropped, err);
	if (rc == 0 && run_client(conn, args, file, "restore failed", err) < 0) {
		rc = -1;
		if (dropped) {
			const char *slash = strrchr(file, '/');
			error_prefix(err, "database '%s': what was made after backup '%s' was dropped, "
				     "but the backup could not be restored over what remains (a "
				     "restore again runs both steps)", conn->name,
				     slash ? slash + 1 : file);
			err->kind = ERROR_ATTENTION;
		}
	}
	strbuf_release(&keep);
	strbuf_release(&schemas);
	return rc;
}

/* A whole restore by swap, as fast as pg_restore -j and still all or
 * nothing; in place when that cannot be had (restore_by_swap). */
static int pg_restore(struct db_conn *conn, const char *file, int schema_only, const char **how,
		      struct error *err)
{
	int in_place = 1;
	if (!schema_only && restore_by_swap(conn, file, &in_place, err) < 0)
		return -1;
	*how = !in_place ? "restored into a copy with pg_restore -j " RESTORE_JOBS ", swapped in"
	       : schema_only ? "schema only, in place, in one transaction"
			     : "in place, in one transaction: no right to create a database to "
			       "restore into, or a name too long for one beside it";
	return in_place ? restore_in_place(conn, file, schema_only, err) : 0;
}

const struct db_engine db_engine_postgres = {
	.name = "postgres",
	.connect = pg_connect,
	.close = pg_close,
	.lock = pg_lock,
	.unlock = pg_unlock,
	.applied = pg_applied,
	.up = pg_up,
	.down = pg_down,
	.verify = pg_verify,
	.backup = pg_backup,
	.restore = pg_restore,
};
