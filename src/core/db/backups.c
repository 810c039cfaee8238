/*
 * The state folder's database backups as a record: listed newest first,
 * dropped with their release, and checked against the size and sha256
 * recorded when they were taken.
 */
#include "core/db/backups.h"
#include "core/state.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/format.h"
#include "util/fs.h"
#include "util/strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BACKUP_COLUMNS "id, database, coalesce(operation, 0), coalesce(release, 0), version, " \
		       "file, size, sha256, schema_only, created_ms"

static void backup_from_row(sqlite3_stmt *stmt, struct db_backup *b)
{
	b->id = (long)sqlite3_column_int64(stmt, 0);
	b->database = xstrdup((const char *)sqlite3_column_text(stmt, 1));
	b->operation = (long)sqlite3_column_int64(stmt, 2);
	b->release = (long)sqlite3_column_int64(stmt, 3);
	b->version = xstrdup((const char *)sqlite3_column_text(stmt, 4));
	b->file = xstrdup((const char *)sqlite3_column_text(stmt, 5));
	b->size = sqlite3_column_int64(stmt, 6);
	snprintf(b->sha256, sizeof(b->sha256), "%s", (const char *)sqlite3_column_text(stmt, 7));
	b->schema_only = sqlite3_column_int(stmt, 8);
	b->created_ms = sqlite3_column_int64(stmt, 9);
}

/* The rows sql selects (BACKUP_COLUMNS), binding text to ?1 when given. */
static int backups_select(struct state *st, const char *sql, const char *text,
			  struct db_backup **list, size_t *n, struct error *err)
{
	sqlite3_stmt *stmt;
	size_t alloc = 0;
	int rc;

	*list = NULL;
	*n = 0;
	if (state_prepare(st, sql, &stmt, err) < 0)
		return -1;
	if (text)
		sqlite3_bind_text(stmt, 1, text, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		ALLOC_GROW(*list, *n + 1, alloc);
		backup_from_row(stmt, &(*list)[(*n)++]);
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		db_backups_free(*list, *n);
		*list = NULL;
		*n = 0;
		return state_db_error(st, "read database backups", err);
	}
	return 0;
}

int db_backups_list(struct state *st, const char *database, struct db_backup **list, size_t *n,
		    struct error *err)
{
	return backups_select(st, database
		? "SELECT " BACKUP_COLUMNS " FROM db_backups WHERE database = ?1 ORDER BY id DESC"
		: "SELECT " BACKUP_COLUMNS " FROM db_backups ORDER BY id DESC",
		database, list, n, err);
}

int db_backup_get(struct state *st, long id, struct db_backup *b, struct error *err)
{
	struct db_backup *list;
	size_t n;
	char *text = xstrfmt("%ld", id);
	int rc = backups_select(st, "SELECT " BACKUP_COLUMNS " FROM db_backups WHERE id = ?1",
				text, &list, &n, err);
	free(text);
	if (rc < 0)
		return -1;
	if (!n)
		rc = error_set(err, ERROR_USAGE, "no backup %ld is recorded (see 'lastgood db backups')",
			       id);
	else
		db_backup_copy(b, &list[0]);
	db_backups_free(list, n);
	return rc;
}

void db_backup_clear(struct db_backup *b)
{
	free(b->database);
	free(b->version);
	free(b->file);
	memset(b, 0, sizeof(*b));
}

void db_backup_copy(struct db_backup *to, const struct db_backup *b)
{
	*to = *b;
	to->database = xstrdup(b->database);
	to->version = xstrdup(b->version);
	to->file = xstrdup(b->file);
}

void db_backups_free(struct db_backup *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		db_backup_clear(&list[i]);
	free(list);
}

char *db_backup_path(const struct state *st, const struct db_backup *b)
{
	char *folder = path_join(st->dir, "backups");
	char *path = path_join(folder, b->file);
	free(folder);
	return path;
}

int db_backups_drop_orphans(struct state *st, long *removed, long long *bytes,
			    struct error *err)
{
	struct db_backup *list;
	size_t n;
	int rc = 0;

	*removed = 0;
	*bytes = 0;
	if (backups_select(st, "SELECT " BACKUP_COLUMNS " FROM db_backups WHERE release != 0 "
			   "AND release NOT IN (SELECT id FROM releases) ORDER BY id", NULL,
			   &list, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n && rc == 0; i++) {
		sqlite3_stmt *stmt;
		if ((rc = state_prepare(st, "DELETE FROM db_backups WHERE id = ?", &stmt, err)) < 0)
			break;
		sqlite3_bind_int64(stmt, 1, list[i].id);
		int step = sqlite3_step(stmt);
		sqlite3_finalize(stmt);
		if (step != SQLITE_DONE) {
			rc = state_db_error(st, "remove database backup", err);
			break;
		}
		char *path = db_backup_path(st, &list[i]);
		struct stat sb;
		long long size = lstat(path, &sb) == 0 ? (long long)sb.st_size : 0;
		if (unlink(path) < 0 && errno != ENOENT)
			rc = error_errno(err, ERROR_FAILED, errno, "cannot remove backup '%s'", path);
		free(path);
		if (rc == 0) {
			(*removed)++;
			*bytes += size;
		}
	}
	db_backups_free(list, n);
	return rc;
}

/* The sha256 of the file at fd, read to its end; -1 on a read error. */
static int hash_fd(int fd, char hex[HASH_HEX_SIZE], long long *size)
{
	struct hasher h;
	char buf[65536];
	ssize_t got;

	*size = 0;
	hasher_init(&h);
	while ((got = read(fd, buf, sizeof(buf))) != 0) {
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			int saved = errno;
			hasher_final(&h, hex);
			errno = saved;
			return -1;
		}
		hasher_update(&h, buf, (size_t)got);
		*size += got;
	}
	hasher_final(&h, hex);
	return 0;
}

int db_backup_check(const struct state *st, const struct db_backup *b, char **why,
		    struct error *err)
{
	char *path = db_backup_path(st, b);
	char hex[HASH_HEX_SIZE];
	long long size;
	int rc = 0;

	*why = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		*why = xstrdup("missing");
		rc = 1;
	} else if (fd < 0 || hash_fd(fd, hex, &size) < 0) {
		rc = error_errno(err, ERROR_FAILED, errno, "cannot read backup '%s'", path);
	} else if (size != b->size) {
		*why = xstrfmt("%lld bytes, recorded %lld", size, b->size);
		rc = 1;
	} else if (strcmp(hex, b->sha256)) {
		*why = xstrfmt("sha256 %.12s, recorded %.12s", hex, b->sha256);
		rc = 1;
	}
	if (fd >= 0)
		close(fd);
	free(path);
	return rc;
}

int db_backup_newest_at(struct state *st, const char *database, const char *version,
			int schema_only, struct db_backup *b, struct error *err)
{
	struct db_backup *list;
	size_t n;
	if (db_backups_list(st, database, &list, &n, err) < 0)
		return -1;
	int found = 0;
	for (size_t i = 0; i < n && !found; i++) {
		if ((!version || !strcmp(list[i].version, version)) &&
		    list[i].schema_only == schema_only) {
			db_backup_copy(b, &list[i]);
			found = 1;
		}
	}
	db_backups_free(list, n);
	return found;
}

int db_backup_newest(struct state *st, const char *database, long version, int schema_only,
		     struct db_backup *b, struct error *err)
{
	char text[32];
	snprintf(text, sizeof(text), "%ld", version);
	return db_backup_newest_at(st, database, version < 0 ? NULL : text, schema_only, b, err);
}

void db_backup_describe(struct strbuf *sb, const struct db_backup *b)
{
	char age[FORMAT_SIZE];
	strbuf_addf(sb, "backup %ld ('%s', %staken %s ago at version %s)", b->id, b->file,
		    b->schema_only ? "schema only, " : "",
		    format_duration(clock_wall_ms() - b->created_ms, age), b->version);
}

int db_refuse_missing_down(struct state *st, const char *database, long from, long to,
			   long missing, struct error *err)
{
	struct db_backup b = { 0 };
	struct strbuf backup = STRBUF_INIT;
	int found = db_backup_newest(st, database, to, 0, &b, err);
	if (found < 0)
		return -1;
	if (found) {
		db_backup_describe(&backup, &b);
		error_set(err, ERROR_FAILED, "database '%s' cannot go down from version %ld to %ld: "
			  "migration %ld has no down script; --restore-backup restores %s, "
			  "discarding what was written since", database, from, to, missing,
			  backup.buf);
		strbuf_release(&backup);
	} else
		error_set(err, ERROR_FAILED, "database '%s' cannot go down from version %ld to %ld: "
			  "migration %ld has no down script, and no backup at version %ld is kept",
			  database, from, to, missing, to);
	db_backup_clear(&b);
	return -1;
}
