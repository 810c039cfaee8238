/*
 * Release rows: creating, reading, marking and resolving the REFs users
 * type (a number, a label, a commit prefix, -N).
 */
#include "core/release.h"
#include "core/manifest.h"
#include "core/operation.h"
#include "core/config.h"
#include "core/state.h"
#include "core/store.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/strbuf.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RELEASE_COLUMNS "id, digest, created_ms, label, commit_sha, reason, actor, " \
			"mark, files, size, added, operation, config_digest"

static void read_release_row(sqlite3_stmt *stmt, struct release *r)
{
	memset(r, 0, sizeof(*r));
	r->id = (long)sqlite3_column_int64(stmt, 0);
	const unsigned char *digest = sqlite3_column_text(stmt, 1);
	snprintf(r->digest, sizeof(r->digest), "%s", digest ? (const char *)digest : "");
	r->created_ms = sqlite3_column_int64(stmt, 2);
	r->label = state_column_text(stmt, 3);
	r->commit = state_column_text(stmt, 4);
	r->reason = state_column_text(stmt, 5);
	r->actor = state_column_text(stmt, 6);
	r->mark = (enum release_mark)sqlite3_column_int(stmt, 7);
	r->files = (long)sqlite3_column_int64(stmt, 8);
	r->size = sqlite3_column_int64(stmt, 9);
	r->added = sqlite3_column_int64(stmt, 10);
	r->operation = (long)sqlite3_column_int64(stmt, 11);
	const unsigned char *config = sqlite3_column_text(stmt, 12);
	snprintf(r->config_digest, sizeof(r->config_digest), "%s",
		 config ? (const char *)config : "");
}

static int all_digits(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return 0;
	return 1;
}

static int is_hex_prefix(const char *s, size_t min)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (!isxdigit((unsigned char)s[n]))
			return 0;
	return n >= min && n <= 64;
}

/* A label must not be mistaken for another kind of REF, and must print on
 * one line. */
static int check_label(const char *label, struct error *err)
{
	if (!*label || all_digits(label) || label[0] == '-')
		return error_set(err, ERROR_USAGE, "invalid label '%s': must not be empty, "
				 "all digits or start with '-'", label);
	for (const unsigned char *p = (const unsigned char *)label; *p; p++)
		if (*p <= ' ' || *p == 0x7f)
			return error_set(err, ERROR_USAGE, "invalid label: it holds a space or "
					 "control character");
	if (strlen(label) > 128)
		return error_set(err, ERROR_USAGE, "invalid label: longer than 128 characters");
	return 0;
}

static int check_commit(const char *commit, struct error *err)
{
	if (!is_hex_prefix(commit, 4))
		return error_set(err, ERROR_USAGE, "invalid commit '%s': want 4 to 64 hex digits",
				 commit);
	return 0;
}

static int find_by_label(struct state *st, const char *label, long *id)
{
	sqlite3_stmt *stmt;
	*id = 0;
	if (sqlite3_prepare_v2(st->db, "SELECT id FROM releases WHERE label = ?", -1, &stmt, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(stmt, 1, label, -1, SQLITE_STATIC);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		*id = (long)sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return 0;
}

/* The release to reuse for this content: the live one when it matches,
 * else the newest with exactly this manifest digest; 0 when none. */
static long release_with_digest(struct state *st, const char *digest)
{
	struct release r;
	struct error ignored = ERROR_INIT;
	long live = state_live_release(st), id = 0;
	if (live && release_get(st, live, &r, &ignored) == 0) {
		if (!strcmp(r.digest, digest))
			id = live;
		release_clear(&r);
	}
	sqlite3_stmt *stmt;
	if (!id && sqlite3_prepare_v2(st->db, "SELECT id FROM releases WHERE digest = ? "
				      "ORDER BY id DESC LIMIT 1", -1, &stmt, NULL) == SQLITE_OK) {
		sqlite3_bind_text(stmt, 1, digest, -1, SQLITE_STATIC);
		if (sqlite3_step(stmt) == SQLITE_ROW)
			id = (long)sqlite3_column_int64(stmt, 0);
		sqlite3_finalize(stmt);
	}
	return id;
}

static int insert_release(struct state *st, const struct manifest *m,
			  const struct release_meta *meta, const char *digest,
			  const char *config_digest, long *id, struct error *err);
static int record_services(struct state *st, long id, const struct manifest *m,
			   struct error *err);

/*
 * Whether release id, which holds a label a new release asks for, may give
 * it up: a release that failed, never one that is live or passed. Failed
 * means marked bad, or recorded by an operation that did not succeed (a
 * deploy whose switch failed on a full disk, one rolled back or undone).
 * Then a retry of `deploy --label v2` takes the label over, and the old
 * release keeps it as its former label.
 */
static int release_label_movable(struct state *st, long id)
{
	sqlite3_stmt *stmt;
	int movable = 0;
	if (id == state_live_release(st) ||
	    sqlite3_prepare_v2(st->db, "SELECT r.mark, o.result FROM releases AS r LEFT JOIN "
			       "operations AS o ON o.id = r.operation WHERE r.id = ?", -1, &stmt,
			       NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_int64(stmt, 1, id);
	if (sqlite3_step(stmt) == SQLITE_ROW) {
		int mark = sqlite3_column_int(stmt, 0), result = sqlite3_column_int(stmt, 1);
		int failed = sqlite3_column_type(stmt, 1) != SQLITE_NULL &&
			     (result == OP_FAILED || result == OP_ROLLED_BACK || result == OP_UNDONE ||
			      result == OP_NEEDS_ATTENTION);
		movable = mark == MARK_BAD || (mark != MARK_GOOD && failed);
	}
	sqlite3_finalize(stmt);
	return movable;
}

/* Take label away from release id, which keeps it as its former label;
 * the operation running says so in its timeline. */
static int release_move_label(struct state *st, long id, const char *label, struct error *err)
{
	sqlite3_stmt *stmt;
	if (state_prepare(st, "UPDATE releases SET former_label = label, label = NULL "
			  "WHERE id = ?", &stmt, err) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, id);
	int rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE)
		return state_db_error(st, "move label", err);
	if (!st->operation)
		return 0;
	char *detail = xstrfmt("from release %ld, which failed", id);
	rc = operation_step_note(st, st->operation, STEP_MOVE_LABEL, label, STEP_OK, detail, err);
	free(detail);
	return rc;
}

char *release_former_label(struct state *st, long id)
{
	sqlite3_stmt *stmt;
	char *label = NULL;
	if (sqlite3_prepare_v2(st->db, "SELECT former_label FROM releases WHERE id = ?", -1, &stmt,
			       NULL) != SQLITE_OK)
		return NULL;
	sqlite3_bind_int64(stmt, 1, id);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		label = state_column_text(stmt, 0);
	sqlite3_finalize(stmt);
	return label;
}

/* Put meta->config's text in the store: *config_digest names it, "" when
 * there is no config to record. */
static int store_config(struct state *st, const struct release_meta *meta,
			char config_digest[HASH_HEX_SIZE], struct error *err)
{
	int added;
	config_digest[0] = '\0';
	if (!meta->config || !meta->config->text)
		return 0;
	return store_put_buffer(&st->store, meta->config->text, meta->config->text_len,
				config_digest, &added, err);
}

/* A release recorded before configs were kept learns the one it is live
 * with now; one that has a config keeps it. */
static int adopt_config(struct state *st, long id, const char *config_digest,
			struct error *err)
{
	sqlite3_stmt *stmt;
	if (!*config_digest)
		return 0;
	if (state_prepare(st, "UPDATE releases SET config_digest = ? WHERE id = ? AND "
			  "config_digest IS NULL", &stmt, err) < 0)
		return -1;
	sqlite3_bind_text(stmt, 1, config_digest, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, id);
	int rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE)
		return state_db_error(st, "record release config", err);
	return 0;
}

long release_reusable(struct state *st, const struct manifest *m,
		      const struct release_meta *meta)
{
	char digest[HASH_HEX_SIZE];
	if (meta && (meta->label || meta->commit))
		return 0;
	manifest_digest(m, digest);
	return release_with_digest(st, digest);
}

int release_create(struct state *st, const struct manifest *m,
		   const struct release_meta *meta, long *id, int *created,
		   struct error *err)
{
	char digest[HASH_HEX_SIZE], config_digest[HASH_HEX_SIZE];
	long existing = 0;

	*created = 0;
	if (meta->label && (check_label(meta->label, err) < 0))
		return -1;
	if (meta->commit && check_commit(meta->commit, err) < 0)
		return -1;
	if (meta->label && find_by_label(st, meta->label, &existing) == 0 && existing &&
	    !release_label_movable(st, existing))
		return error_set(err, ERROR_USAGE, "label '%s' is already release %ld",
				 meta->label, existing);
	/* The manifest and the config go into the store before the row that
	 * names them, so a crash never leaves a release pointing at nothing. */
	if (manifest_store(&st->store, m, digest, err) < 0 ||
	    store_config(st, meta, config_digest, err) < 0)
		return -1;
	if (!meta->label && !meta->commit && (*id = release_with_digest(st, digest)))
		return adopt_config(st, *id, config_digest, err);

	/* The release, its service rows and the label it takes over,
	 * together or not at all. */
	if (state_exec(st, "SAVEPOINT release_create", "record release", err) < 0)
		return -1;
	if ((existing && release_move_label(st, existing, meta->label, err) < 0) ||
	    insert_release(st, m, meta, digest, config_digest, id, err) < 0 ||
	    record_services(st, *id, m, err) < 0) {
		struct error ignored = ERROR_INIT;
		state_exec(st, "ROLLBACK TO release_create; RELEASE release_create", "record release",
			   &ignored);
		return -1;
	}
	if (state_exec(st, "RELEASE release_create", "record release", err) < 0)
		return -1;
	*created = 1;
	return 0;
}

static int insert_release(struct state *st, const struct manifest *m,
			  const struct release_meta *meta, const char *digest,
			  const char *config_digest, long *id, struct error *err)
{
	long files;
	long long size;
	manifest_totals(m, &files, &size);
	char *actor = state_actor();
	sqlite3_stmt *stmt;
	if (state_prepare(st, "INSERT INTO releases(digest, created_ms, label, commit_sha, reason, "
			  "actor, files, size, added, operation, config_digest) "
			  "VALUES(?,?,?,?,?,?,?,?,?,?,?)",
			  &stmt, err) < 0) {
		free(actor);
		return -1;
	}
	sqlite3_bind_text(stmt, 1, digest, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(stmt, 2, clock_wall_ms());
	sqlite3_bind_text(stmt, 3, meta->label, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 4, meta->commit, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 5, meta->reason, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 6, actor, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(stmt, 7, files);
	sqlite3_bind_int64(stmt, 8, size);
	sqlite3_bind_int64(stmt, 9, meta->added);
	if (st->operation)
		sqlite3_bind_int64(stmt, 10, st->operation);
	if (*config_digest)
		sqlite3_bind_text(stmt, 11, config_digest, -1, SQLITE_STATIC);
	free(actor);
	int rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE)
		return state_db_error(st, "record release", err);
	*id = (long)sqlite3_last_insert_rowid(st->db);
	return 0;
}

/* A row per service with files in m: its manifest_service_digest. */
static int record_services(struct state *st, long id, const struct manifest *m,
			   struct error *err)
{
	sqlite3_stmt *stmt;
	int rc = 0;
	if (state_prepare(st, "INSERT OR REPLACE INTO release_services(release, service, digest) "
			  "VALUES(?,?,?)", &stmt, err) < 0)
		return -1;
	for (size_t i = 0; i < m->n && rc == 0; i++) {
		const char *service = m->entries[i].service;
		int seen = 0;
		for (size_t j = 0; j < i && !seen; j++)
			seen = !strcmp(m->entries[j].service, service);
		if (seen)
			continue;
		char digest[HASH_HEX_SIZE];
		manifest_service_digest(m, service, digest);
		sqlite3_reset(stmt);
		sqlite3_bind_int64(stmt, 1, id);
		sqlite3_bind_text(stmt, 2, service, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 3, digest, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(stmt) != SQLITE_DONE)
			rc = state_db_error(st, "record release services", err);
	}
	sqlite3_finalize(stmt);
	return rc;
}

long release_files_origin(struct state *st, long id, const char *service)
{
	sqlite3_stmt *stmt;
	long origin = 0;
	if (sqlite3_prepare_v2(st->db, "SELECT o.release FROM release_services AS l "
			       "JOIN release_services AS o ON o.service = l.service AND "
			       "o.digest = l.digest WHERE l.release = ?1 AND l.service = ?2 AND "
			       "o.release IN (SELECT id FROM releases) ORDER BY o.release LIMIT 1",
			       -1, &stmt, NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_int64(stmt, 1, id);
	sqlite3_bind_text(stmt, 2, service, -1, SQLITE_STATIC);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		origin = (long)sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return origin;
}

int release_get(struct state *st, long id, struct release *r, struct error *err)
{
	sqlite3_stmt *stmt;
	if (state_prepare(st, "SELECT " RELEASE_COLUMNS " FROM releases WHERE id = ?", &stmt, err) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, id);
	int rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		read_release_row(stmt, r);
	sqlite3_finalize(stmt);
	if (rc == SQLITE_DONE)
		return error_set(err, ERROR_USAGE, "no release %ld", id);
	if (rc != SQLITE_ROW)
		return state_db_error(st, "read release", err);
	return 0;
}

/* Read every row a prepared release query yields, and finalize it. */
static int release_rows(struct state *st, sqlite3_stmt *stmt, struct release **list, size_t *n,
			struct error *err)
{
	size_t alloc = 0;
	int rc;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		ALLOC_GROW(*list, *n + 1, alloc);
		read_release_row(stmt, &(*list)[(*n)++]);
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		release_list_free(*list, *n);
		*list = NULL;
		*n = 0;
		return state_db_error(st, "list releases", err);
	}
	return 0;
}

int release_list(struct state *st, int limit, struct release **list, size_t *n,
		 struct error *err)
{
	sqlite3_stmt *stmt;
	*list = NULL;
	*n = 0;
	if (state_prepare(st, "SELECT " RELEASE_COLUMNS " FROM releases ORDER BY id DESC LIMIT ?",
			  &stmt, err) < 0)
		return -1;
	sqlite3_bind_int(stmt, 1, limit > 0 ? limit : -1);
	return release_rows(st, stmt, list, n, err);
}

void release_clear(struct release *r)
{
	free(r->label);
	free(r->commit);
	free(r->reason);
	free(r->actor);
	memset(r, 0, sizeof(*r));
}

void release_list_free(struct release *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		release_clear(&list[i]);
	free(list);
}

int release_set_mark(struct state *st, long id, enum release_mark mark, struct error *err)
{
	sqlite3_stmt *stmt;
	if (state_prepare(st, "UPDATE releases SET mark = ? WHERE id = ?", &stmt, err) < 0)
		return -1;
	sqlite3_bind_int(stmt, 1, mark);
	sqlite3_bind_int64(stmt, 2, id);
	int rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE)
		return state_db_error(st, "mark release", err);
	return 0;
}

const char *release_mark_name(enum release_mark mark)
{
	switch (mark) {
	case MARK_GOOD: return "good";
	case MARK_BAD: return "bad";
	case MARK_NONE: break;
	}
	return "";
}

int release_config_text(struct state *st, long id, struct strbuf *text, struct error *err)
{
	struct release r;
	if (release_get(st, id, &r, err) < 0)
		return -1;
	int rc = *r.config_digest ? store_read(&st->store, r.config_digest, text, err)
				  : error_set(err, ERROR_USAGE, "release %ld has no recorded config "
					      "(it was recorded before lastgood kept configs)", id);
	if (rc < 0 && *r.config_digest)
		error_prefix(err, "config of release %ld", id);
	release_clear(&r);
	return rc;
}

int release_manifest(struct state *st, long id, struct manifest *m, struct error *err)
{
	struct release r;
	if (release_get(st, id, &r, err) < 0)
		return -1;
	int rc = manifest_load(&st->store, r.digest, m, err);
	if (rc < 0)
		error_prefix(err, "release %ld", id);
	release_clear(&r);
	return rc;
}

/* Run a query yielding release ids; fill *id when exactly one row
 * matches, and say how many matched in *count (0, 1 or 2 for "more"). */
static int query_ids(struct state *st, sqlite3_stmt *stmt, long *id, int *count, struct error *err)
{
	int rc;
	*count = 0;
	while (*count < 2 && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		*id = (long)sqlite3_column_int64(stmt, 0);
		(*count)++;
	}
	sqlite3_finalize(stmt);
	if (*count < 2 && rc != SQLITE_DONE)
		return state_db_error(st, "resolve release", err);
	return 0;
}

static int resolve_back(struct state *st, const char *ref, long *id, struct error *err)
{
	char *end;
	errno = 0;
	long n = strtol(ref + 1, &end, 10);
	if (errno || *end || n < 1)
		return error_set(err, ERROR_USAGE, "invalid release '%s': want -N with N >= 1", ref);
	long live = state_live_release(st);
	if (!live)
		return error_set(err, ERROR_USAGE, "no live release to count back from");
	sqlite3_stmt *stmt;
	if (state_prepare(st, "SELECT id FROM releases WHERE id < ? ORDER BY id DESC LIMIT 1 OFFSET ?",
			  &stmt, err) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, live);
	sqlite3_bind_int64(stmt, 2, n - 1);
	int count;
	if (query_ids(st, stmt, id, &count, err) < 0)
		return -1;
	if (!count)
		return error_set(err, ERROR_USAGE, "no release %ld back from live release %ld", n, live);
	return 0;
}

int release_resolve(struct state *st, const char *ref, long *id, struct error *err)
{
	sqlite3_stmt *stmt;
	int count;

	if (ref[0] == '-')
		return resolve_back(st, ref, id, err);
	if (all_digits(ref) && strlen(ref) < 10) {
		/* A number names a release; when there is no such release, an
		 * all-digit commit prefix may still match below. */
		struct release r;
		long n = strtol(ref, NULL, 10);
		if (release_get(st, n, &r, err) == 0) {
			release_clear(&r);
			*id = n;
			return 0;
		}
		if (err->kind != ERROR_USAGE)
			return -1;
	}
	if (find_by_label(st, ref, id) == 0 && *id)
		return 0;
	if (is_hex_prefix(ref, 4)) {
		struct strbuf pattern = STRBUF_INIT;
		for (const char *p = ref; *p; p++)
			strbuf_addch(&pattern, (char)tolower((unsigned char)*p));
		if (state_prepare(st, "SELECT DISTINCT id FROM releases WHERE substr(commit_sha, 1, ?) = ? "
				  "ORDER BY id DESC", &stmt, err) < 0) {
			strbuf_release(&pattern);
			return -1;
		}
		sqlite3_bind_int(stmt, 1, (int)pattern.len);
		sqlite3_bind_text(stmt, 2, pattern.buf, -1, SQLITE_TRANSIENT);
		strbuf_release(&pattern);
		if (query_ids(st, stmt, id, &count, err) < 0)
			return -1;
		if (count == 1)
			return 0;
		if (count > 1)
			return error_set(err, ERROR_USAGE, "ambiguous commit prefix '%s': "
					 "several releases match; give more digits", ref);
	}
	if (all_digits(ref))
		return error_set(err, ERROR_USAGE, "no release %s", ref);
	return error_set(err, ERROR_USAGE, "unknown release '%s' (want a number, label, "
			 "commit prefix or -N)", ref);
}

int release_default_target(struct state *st, long *id, struct error *err)
{
	static const char *const queries[] = {
		"SELECT id FROM releases WHERE id < ? AND mark = 1 ORDER BY id DESC LIMIT 1",
		"SELECT id FROM releases WHERE id < ? AND mark = 0 ORDER BY id DESC LIMIT 1",
	};
	long live = state_live_release(st);
	if (!live)
		return error_set(err, ERROR_FAILED, "nothing to roll back: no live release recorded");
	for (size_t i = 0; i < 2; i++) {
		sqlite3_stmt *stmt;
		int count;
		if (state_prepare(st, queries[i], &stmt, err) < 0)
			return -1;
		sqlite3_bind_int64(stmt, 1, live);
		if (query_ids(st, stmt, id, &count, err) < 0)
			return -1;
		if (count)
			return 0;
	}
	return error_set(err, ERROR_FAILED, "nothing to roll back to: no good or unmarked "
			 "release older than live release %ld", live);
}

long release_with_commit(struct state *st, const char *commit)
{
	sqlite3_stmt *stmt;
	long id = 0;
	if (sqlite3_prepare_v2(st->db, "SELECT id FROM releases WHERE commit_sha = ? "
			       "ORDER BY id DESC LIMIT 1", -1, &stmt, NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_text(stmt, 1, commit, -1, SQLITE_STATIC);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		id = (long)sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return id;
}

/* Its service and image rows first: were the deletes ever parted, what
 * is left is a release without them (status then shows the release
 * itself), never rows naming a release that is gone. */
int release_delete(struct state *st, long id, struct error *err)
{
	static const char *const sql[] = { "DELETE FROM release_services WHERE release = ?",
					    "DELETE FROM release_images WHERE release = ?",
					    "DELETE FROM releases WHERE id = ?" };
	for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
		sqlite3_stmt *stmt;
		if (state_prepare(st, sql[i], &stmt, err) < 0)
			return -1;
		sqlite3_bind_int64(stmt, 1, id);
		int rc = sqlite3_step(stmt);
		sqlite3_finalize(stmt);
		if (rc != SQLITE_DONE)
			return state_db_error(st, "delete release", err);
	}
	return 0;
}

int release_schemas(struct state *st, long from, long to, struct release_schema **list,
		    size_t *n, struct error *err)
{
	sqlite3_stmt *stmt;
	size_t alloc = 0;
	*list = NULL;
	*n = 0;
	if (state_prepare(st, "SELECT release, database, version FROM release_schemas "
			  "WHERE release BETWEEN ? AND ? ORDER BY release, database", &stmt, err) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, from);
	sqlite3_bind_int64(stmt, 2, to);
	int rc;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		ALLOC_GROW(*list, *n + 1, alloc);
		struct release_schema *r = &(*list)[(*n)++];
		r->release = (long)sqlite3_column_int64(stmt, 0);
		r->database = xstrdup((const char *)sqlite3_column_text(stmt, 1));
		r->version = xstrdup((const char *)sqlite3_column_text(stmt, 2));
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		release_schemas_free(*list, *n);
		*list = NULL;
		*n = 0;
		return state_db_error(st, "read schema versions", err);
	}
	return 0;
}

void release_schemas_free(struct release_schema *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(list[i].database);
		free(list[i].version);
	}
	free(list);
}
