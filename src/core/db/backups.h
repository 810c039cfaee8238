/*
 * The backups of databases the state folder keeps (backups/, recorded in
 * db_backups by db_backup_take, steps.h): listing them for `db backups`
 * and `db restore`, dropping those of releases gc dropped, and checking
 * their files for fsck.
 *
 *   struct db_backup *list;
 *   size_t n;
 *   db_backups_list(&st, "main", &list, &n, &err);   newest first
 *   ... list[i].file is a name in the state folder's backups/ ...
 *   db_backups_free(list, n);
 */
#ifndef LG_DB_BACKUPS_H
#define LG_DB_BACKUPS_H

#include <stddef.h>

#include "util/hash.h"

struct error;
struct state;
struct strbuf;

/* A row of db_backups. */
struct db_backup {
	long id;
	char *database;
	long operation;              /* the operation that took it */
	long release;                /* the release it belongs to; 0 none */
	char *version;               /* the schema version it holds, as its engine
	                                names it: "3", an alembic revision */
	char *file;                  /* its name in backups/ */
	long long size;
	char sha256[HASH_HEX_SIZE];
	int schema_only;
	long long created_ms;        /* wall clock */
};

/* The backups of database (NULL: of every database), newest first; *list
 * is the caller's (db_backups_free). */
int db_backups_list(struct state *st, const char *database, struct db_backup **list, size_t *n,
		    struct error *err);
/* The backup of that id into *b (the caller clears it); ERROR_USAGE when
 * there is none. */
int db_backup_get(struct state *st, long id, struct db_backup *b, struct error *err);
void db_backups_free(struct db_backup *list, size_t n);
/* Free what b holds and zero it. */
void db_backup_clear(struct db_backup *b);
/* A copy of b into *to (to's old content is not freed). */
void db_backup_copy(struct db_backup *to, const struct db_backup *b);
/* The backup's file in the state folder (caller frees). */
char *db_backup_path(const struct state *st, const struct db_backup *b);

/* "backup 4 ('main-op7.backup', taken 3m ago at version 1)" (a
 * schema-only one says so after its file), appended to sb: how every
 * message names a backup. */
void db_backup_describe(struct strbuf *sb, const struct db_backup *b);
/* The newest backup of database of that kind (schema_only or whole)
 * holding version (a built-in engine's number; any version: -1), into *b
 * (the caller clears it): 1 found, 0 none, -1 err. */
int db_backup_newest(struct state *st, const char *database, long version, int schema_only,
		     struct db_backup *b, struct error *err);
/* The same for a version as its engine writes it (a built-in engine's
 * number in decimal, a command tool's own words; any version: NULL). */
int db_backup_newest_at(struct state *st, const char *database, const char *version,
			int schema_only, struct db_backup *b, struct error *err);
/* The error of a way down from `from` to `to` that migration `missing`
 * without a down script stops: naming the backup --restore-backup would
 * restore, and its age, or saying none is kept. Returns -1. */
int db_refuse_missing_down(struct state *st, const char *database, long from, long to,
			   long missing, struct error *err);

/* Remove the backups whose release is no longer recorded (gc dropped
 * it): each row first, then its file, so that a crash leaves at worst a
 * file no row names, never a row without its file. *removed and *bytes
 * get how many and how large. */
int db_backups_drop_orphans(struct state *st, long *removed, long long *bytes,
			    struct error *err);

/* Whether b's file is there with its recorded size and sha256: 0 yes, 1
 * no (*why says what differs: "missing", "size 10, recorded 12", "sha256
 * ..."; caller frees), -1 when it cannot be read (err). */
int db_backup_check(const struct state *st, const struct db_backup *b, char **why,
		    struct error *err);

#endif
