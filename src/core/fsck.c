/*
 * fsck: check the state database, re-hash the whole store and map each
 * missing or damaged object to the releases it breaks; then move damaged
 * objects aside and store again what the live files still hold.
 */
#include "core/fsck.h"
#include "core/db/backups.h"
#include "core/manifest.h"
#include "core/release.h"
#include "core/state.h"
#include "core/store.h"
#include "util/alloc.h"
#include "util/error.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fsck_walk {
	struct state *st;
	struct fsck_report *rep;
	struct digest_set intact;
	struct digest_set corrupt;
};

const char *fsck_problem_name(enum fsck_problem_kind kind)
{
	switch (kind) {
	case FSCK_MISSING: return "missing";
	case FSCK_CORRUPT: return "corrupt";
	case FSCK_MALFORMED: return "malformed";
	}
	return "?";
}

/* ---- the state database ---- */

static int fsck_code_is_damage(int code)
{
	return (code & 0xff) == SQLITE_CORRUPT || (code & 0xff) == SQLITE_NOTADB;
}

int fsck_error_is_damage(const struct error *err)
{
	return strstr(err->msg, sqlite3_errstr(SQLITE_CORRUPT)) ||
	       strstr(err->msg, sqlite3_errstr(SQLITE_NOTADB)) ||
	       strstr(err->msg, "malformed database schema");
}

int fsck_database_damaged(const struct fsck_report *rep)
{
	return rep->ndatabase > 0;
}

/* One line of damage: the first few are kept, the others counted. */
static void fsck_database_line(struct fsck_report *rep, const char *line, size_t len)
{
	if (rep->ndatabase == FSCK_DATABASE_LINES) {
		rep->database_more++;
		return;
	}
	rep->database = xrealloc(rep->database, (rep->ndatabase + 1) * sizeof(*rep->database));
	char *copy = xmalloc(len + 1);
	memcpy(copy, line, len);
	copy[len] = '\0';
	rep->database[rep->ndatabase++] = copy;
}

/* An error of the state database as a finding: its "state database: "
 * goes, since every finding is one of the state database. */
void fsck_note_database_damage(struct fsck_report *rep, const char *finding)
{
	static const char prefix[] = "state database: ";
	if (!strncmp(finding, prefix, sizeof(prefix) - 1))
		finding += sizeof(prefix) - 1;
	fsck_database_line(rep, finding, strlen(finding));
}

/* integrity_check gives its findings a row each, some of several lines,
 * the first behind a header naming the database; each line counts. */
static void fsck_database_text(struct fsck_report *rep, const char *text)
{
	static const char header[] = "*** in database main ***";
	while (text && *text) {
		size_t len = strcspn(text, "\n");
		if (len && strncmp(text, header, len))
			fsck_database_line(rep, text, len);
		text += len + (text[len] == '\n');
	}
}

/*
 * Run one of SQLite's checks. Each row but integrity_check's "ok" is
 * damage; so is the error that stops a check on a damaged file (SQLite
 * often cannot finish reading one). Any other failure (I/O, a busy
 * database) is the check's own: -1 with err.
 */
static int fsck_database_pragma(struct state *st, struct fsck_report *rep, const char *sql,
				int foreign_keys, struct error *err)
{
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL);
	while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *text = (const char *)sqlite3_column_text(stmt, 0);
		if (!foreign_keys) {
			if (text && strcmp(text, "ok"))
				fsck_database_text(rep, text);
			rc = SQLITE_OK;
			continue;
		}
		char *line = xstrfmt("foreign key: row %lld of table '%s' names a missing row of "
				     "'%s'", (long long)sqlite3_column_int64(stmt, 1),
				     text ? text : "?",
				     sqlite3_column_text(stmt, 2) ?
				     (const char *)sqlite3_column_text(stmt, 2) : "?");
		fsck_database_line(rep, line, strlen(line));
		free(line);
		rc = SQLITE_OK;
	}
	int code = rc == SQLITE_DONE ? SQLITE_OK : sqlite3_extended_errcode(st->db);
	char *message = code == SQLITE_OK ? NULL : xstrdup(sqlite3_errmsg(st->db));
	sqlite3_finalize(stmt);
	if (code != SQLITE_OK && fsck_code_is_damage(code)) {
		fsck_database_line(rep, message, strlen(message));
		code = SQLITE_OK;
	} else if (code != SQLITE_OK) {
		error_set(err, ERROR_FAILED, "state database: check: %s", message);
	}
	free(message);
	return code == SQLITE_OK ? 0 : -1;
}

static int fsck_check_database(struct state *st, struct fsck_report *rep, struct error *err)
{
	if (fsck_database_pragma(st, rep, "PRAGMA integrity_check", 0, err) < 0)
		return -1;
	return fsck_database_pragma(st, rep, "PRAGMA foreign_key_check", 1, err);
}

/* After a query of the state database failed: damage to report (and go
 * on without what the query would have given), else the check fails. */
static int fsck_database_failed(struct state *st, struct fsck_report *rep, struct error *err)
{
	if (!fsck_code_is_damage(sqlite3_extended_errcode(st->db)))
		return -1;
	fsck_note_database_damage(rep, err->msg);
	error_clear(err);
	return 0;
}

/* ---- the store ---- */

/* The problem recorded for digest, created on first sight. Problems are
 * few, so a linear search is enough. */
static struct fsck_problem *fsck_problem_for(struct fsck_report *rep,
					     enum fsck_problem_kind kind, const char *digest)
{
	for (size_t i = 0; i < rep->nproblems; i++)
		if (!strcmp(rep->problems[i].digest, digest))
			return &rep->problems[i];
	ALLOC_GROW(rep->problems, rep->nproblems + 1, rep->alloc);
	struct fsck_problem *p = &rep->problems[rep->nproblems++];
	memset(p, 0, sizeof(*p));
	p->kind = kind;
	memcpy(p->digest, digest, HASH_HEX_SIZE);
	return p;
}

/* A live path where p's content is, or was last seen; each once. */
static void fsck_problem_path(struct fsck_problem *p, const char *path)
{
	for (size_t i = 0; i < p->npaths; i++)
		if (!strcmp(p->paths[i], path))
			return;
	ALLOC_GROW(p->paths, p->npaths + 1, p->paths_alloc);
	p->paths[p->npaths++] = xstrdup(path);
}

/* path is NULL when the object is the release's manifest. Releases are
 * checked one at a time, so a release that uses one object twice shows up
 * twice in a row. */
static void fsck_problem_use(struct fsck_problem *p, long release, const char *path)
{
	if (!path)
		p->manifest = 1;
	else if (!p->path)
		p->path = xstrdup(path);
	if (path)
		fsck_problem_path(p, path);
	if (p->nreleases && p->releases[p->nreleases - 1] == release)
		return;
	ALLOC_GROW(p->releases, p->nreleases + 1, p->alloc);
	p->releases[p->nreleases++] = release;
}

static int fsck_object(const char *digest, const char *path, void *ctx)
{
	struct fsck_walk *w = ctx;
	struct error ignored = ERROR_INIT;
	(void)path;

	w->rep->objects++;
	switch (store_check(&w->st->store, digest, &ignored)) {
	case STORE_INTACT:
		digest_set_add(&w->intact, digest);
		break;
	case STORE_CORRUPT:
		digest_set_add(&w->corrupt, digest);
		fsck_problem_for(w->rep, FSCK_CORRUPT, digest);
		break;
	case STORE_MISSING:
		break;   /* removed since it was listed: not ours to judge */
	}
	return 0;
}

/* The problem digest is, when it is not an intact object; else NULL. */
static struct fsck_problem *fsck_damage(struct fsck_walk *w, const char *digest)
{
	if (digest_set_has(&w->corrupt, digest))
		return fsck_problem_for(w->rep, FSCK_CORRUPT, digest);
	if (!digest_set_has(&w->intact, digest))
		return fsck_problem_for(w->rep, FSCK_MISSING, digest);
	return NULL;
}

static void fsck_check_release(struct fsck_walk *w, const struct release *r)
{
	struct manifest m = MANIFEST_INIT;
	struct error cause = ERROR_INIT;
	struct fsck_problem *p;

	w->rep->releases++;
	/* the config the release was recorded with (rollback --config, diff,
	 * and every command when the config file does not load need it) */
	if (*r->config_digest && (p = fsck_damage(w, r->config_digest))) {
		p->config = 1;
		fsck_problem_use(p, r->id, NULL);
		p->manifest = 0;
	}
	if ((p = fsck_damage(w, r->digest))) {
		fsck_problem_use(p, r->id, NULL);
		return;
	}
	if (manifest_load(&w->st->store, r->digest, &m, &cause) < 0) {
		p = fsck_problem_for(w->rep, FSCK_MALFORMED, r->digest);
		if (!p->detail)
			p->detail = xstrdup(cause.msg);
		fsck_problem_use(p, r->id, NULL);
		return;
	}
	for (size_t i = 0; i < m.n; i++) {
		const struct manifest_entry *e = &m.entries[i];
		for (size_t j = 0; j < e->nnodes; j++) {
			char hex[HASH_HEX_SIZE];
			if (e->nodes[j].type != NODE_FILE)
				continue;
			hash_to_hex(e->nodes[j].digest, hex);
			if (!(p = fsck_damage(w, hex)))
				continue;
			char *where = manifest_node_path(e, &e->nodes[j]);
			fsck_problem_use(p, r->id, where);
			free(where);
		}
	}
	manifest_free(&m);
}

static int fsck_check_releases(struct fsck_walk *w, struct error *err)
{
	struct release *list = NULL;
	size_t n = 0;

	if (release_list(w->st, 0, &list, &n, err) < 0)
		return fsck_database_failed(w->st, w->rep, err);
	for (size_t i = 0; i < n; i++)
		fsck_check_release(w, &list[i]);
	release_list_free(list, n);
	return 0;
}

/* The stat cache knows where the capture last read each file: a live
 * file there may hold a damaged object's content even when no release
 * records it at that path. Only a place to look, so a query that fails
 * costs nothing but that. */
static void fsck_cached_paths(struct state *st, struct fsck_problem *p)
{
	sqlite3_stmt *stmt;
	if (sqlite3_prepare_v2(st->db, "SELECT path FROM stat_cache WHERE digest = ?", -1, &stmt,
			       NULL) != SQLITE_OK)
		return;
	sqlite3_bind_text(stmt, 1, p->digest, -1, SQLITE_STATIC);
	while (sqlite3_step(stmt) == SQLITE_ROW)
		if (sqlite3_column_text(stmt, 0))
			fsck_problem_path(p, (const char *)sqlite3_column_text(stmt, 0));
	sqlite3_finalize(stmt);
}

/* ---- repair ---- */

/*
 * Store p's content again from the first of its live paths that holds
 * it. A live file is only read, and what it gives is kept only when it
 * hashes to the object's name, so a path that now leads elsewhere (a
 * symbolic link on the way, another file) can do no harm.
 */
static void fsck_restore(struct state *st, struct fsck_problem *p)
{
	for (size_t i = 0; i < p->npaths && !p->restored_from; i++) {
		struct error err = ERROR_INIT;
		struct stat sb;
		int fd = open(p->paths[i], O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			continue;
		int rc = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode)
			 ? store_restore_fd(&st->store, fd, p->paths[i], p->digest, &err) : 0;
		close(fd);
		if (rc > 0)
			p->restored_from = xstrdup(p->paths[i]);
		else if (rc < 0 && !p->repair_error)
			p->repair_error = xstrdup(err.msg);
	}
}

/*
 * Under the lock, so that no operation is reading the store or writing
 * tmp/ meanwhile: an object moved away between a capture's look and its
 * release would leave that release naming an object the store lacks.
 * Each damaged object is looked at again first, since another command
 * may have replaced it between the re-hash and now.
 */
static void fsck_repair(struct state *st, long wait_ms, struct fsck_report *rep)
{
	struct error err = ERROR_INIT;

	if (state_lock_wait(st, "fsck", wait_ms, &err) < 0) {
		rep->repair_note = xstrfmt("damaged objects were left as they are: %s; run "
					   "'lastgood fsck' again once it is done (--wait SECONDS "
					   "waits for it)", err.msg);
		return;
	}
	for (size_t i = 0; i < rep->nproblems; i++) {
		struct fsck_problem *p = &rep->problems[i];
		struct error now = ERROR_INIT;
		if (p->kind == FSCK_MALFORMED)
			continue;   /* its bytes are the ones recorded: nothing to heal */
		enum store_damage damage = store_check(&st->store, p->digest, &now);
		if (damage == STORE_INTACT) {
			p->intact_again = 1;
			continue;
		}
		if (damage == STORE_CORRUPT &&
		    store_quarantine(&st->store, p->digest, &p->quarantined, &err) < 0) {
			p->repair_error = xstrdup(err.msg);
			continue;
		}
		fsck_restore(st, p);
	}
}

static int fsck_problem_order(const void *a, const void *b)
{
	const struct fsck_problem *x = a, *y = b;
	return strcmp(x->digest, y->digest);
}

static int fsck_release_order(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;
	return (x > y) - (x < y);
}

/* Every recorded database backup against its file: only named, never
 * moved or removed. */
static int fsck_check_backups(struct state *st, struct fsck_report *rep, struct error *err)
{
	struct db_backup *list;
	size_t n;
	int rc = 0;

	if (db_backups_list(st, NULL, &list, &n, err) < 0)
		return -1;
	for (size_t i = n; i-- > 0 && rc == 0;) {
		char *why;
		rc = db_backup_check(st, &list[i], &why, err);
		rep->backups++;
		if (rc == 1) {
			ALLOC_GROW(rep->backup_problems, rep->nbackup_problems + 1, rep->backup_alloc);
			struct fsck_backup_problem *p = &rep->backup_problems[rep->nbackup_problems++];
			p->id = list[i].id;
			p->database = xstrdup(list[i].database);
			p->file = xstrdup(list[i].file);
			p->why = why;
			rc = 0;
		}
	}
	db_backups_free(list, n);
	return rc;
}

int fsck_run(struct state *st, long wait_ms, struct fsck_report *rep, struct error *err)
{
	struct fsck_walk w = { st, rep, DIGEST_SET_INIT, DIGEST_SET_INIT };
	int rc;

	fsck_report_clear(rep);
	rc = fsck_check_database(st, rep, err);
	if (rc == 0)
		rc = store_for_each(&st->store, fsck_object, &w, err);
	digest_set_sort(&w.intact);
	digest_set_sort(&w.corrupt);
	if (rc == 0)
		rc = fsck_check_releases(&w, err);
	if (rc == 0 && !fsck_database_damaged(rep))
		rc = fsck_check_backups(st, rep, err);
	/* A damaged database is never written to, and what it says of the
	 * releases cannot be trusted to repair by. */
	if (rc == 0 && rep->nproblems && fsck_database_damaged(rep)) {
		rep->repair_note = xstrdup("nothing was repaired: the state database must be "
					   "repaired first");
	} else if (rc == 0 && rep->nproblems) {
		for (size_t i = 0; i < rep->nproblems; i++)
			fsck_cached_paths(st, &rep->problems[i]);
		fsck_repair(st, wait_ms, rep);
		/* A snapshot trusts the stat cache without asking the store:
		 * the rows naming damaged or missing objects go, so that the
		 * next one reads those files again. */
		struct error cache_err = ERROR_INIT;
		if (manifest_cache_forget(st, &w.intact, &cache_err) < 0)
			rep->cache_note = xstrdup(cache_err.msg);
	}
	digest_set_clear(&w.intact);
	digest_set_clear(&w.corrupt);
	if (rep->nproblems)
		qsort(rep->problems, rep->nproblems, sizeof(*rep->problems), fsck_problem_order);
	for (size_t i = 0; i < rep->nproblems; i++)
		if (rep->problems[i].nreleases)
			qsort(rep->problems[i].releases, rep->problems[i].nreleases,
			      sizeof(long), fsck_release_order);
	return rc;
}

static void fsck_free_strings(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void fsck_report_clear(struct fsck_report *rep)
{
	for (size_t i = 0; i < rep->nproblems; i++) {
		struct fsck_problem *p = &rep->problems[i];
		free(p->path);
		fsck_free_strings(p->paths, p->npaths);
		free(p->detail);
		free(p->releases);
		free(p->quarantined);
		free(p->restored_from);
		free(p->repair_error);
	}
	free(rep->problems);
	for (size_t i = 0; i < rep->nbackup_problems; i++) {
		free(rep->backup_problems[i].database);
		free(rep->backup_problems[i].file);
		free(rep->backup_problems[i].why);
	}
	free(rep->backup_problems);
	fsck_free_strings(rep->database, rep->ndatabase);
	free(rep->repair_note);
	free(rep->cache_note);
	memset(rep, 0, sizeof(*rep));
}
