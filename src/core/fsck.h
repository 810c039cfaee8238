/*
 * Checking the state database, and the store against the releases that
 * depend on it; putting back what the live files still hold.
 *
 * fsck_run first asks SQLite to check the state database (PRAGMA
 * integrity_check and foreign_key_check): what it reports, or the error
 * that kept it from finishing on a damaged file, becomes rep.database
 * (its first FSCK_DATABASE_LINES lines). It then re-hashes every object in
 * the store, and reads every release's manifest and looks up every file it
 * names. Each object found missing, corrupt (its bytes no longer hash to
 * its name) or, for a manifest, malformed becomes one problem listing the
 * releases it breaks; a corrupt object nothing uses is still reported,
 * with no releases.
 *
 *   struct fsck_report rep = FSCK_REPORT_INIT;
 *   fsck_run(&st, wait_ms, &rep, &err); -1 only when the check itself failed
 *   fsck_database_damaged(&rep)         then rep.database says how
 *   for (i < rep.nproblems) ... rep.problems[i] ...
 *   fsck_report_clear(&rep);
 *
 * Each database backup the state records is checked too: its file must be
 * there with the size and sha256 recorded when it was taken. One that is
 * not is named (rep.backup_problems) and left as it is: it may still be
 * the only copy of what the database held.
 *
 * A switch does not call fsck: it verifies each object as it copies it
 * into the stage, before any service stops (switch.h).
 *
 * When it finds damaged objects, fsck repairs the store under the lock,
 * waiting for it at most wait_ms (--wait), and only once the long re-hash
 * is over, so that a deploy or rollback never waits for a whole check:
 * each object still damaged is moved to the quarantine folder
 * (store_quarantine: kept, never deleted), so that no capture takes it
 * for the content it should hold, and each missing or quarantined file
 * object is stored again from a live file that holds its content, when
 * one does: any live path a release records it at, or the stat cache
 * last saw it at. problem.quarantined and problem.restored_from say what
 * was done; rep.repair_note says why nothing was (another operation holds
 * the lock, the state database is damaged). Then the stat cache rows
 * naming damaged or missing content go, so that the next snapshot reads
 * those files again (store/statcache.h); when they cannot (a read-only state on
 * a full disk, a busy database), rep.cache_note says why and the check
 * stands. A damaged state database is never written to: fsck changes
 * nothing then.
 */
#ifndef LG_FSCK_H
#define LG_FSCK_H

#include <stddef.h>

#include "util/hash.h"

struct error;
struct state;

enum fsck_problem_kind {
	FSCK_MISSING,
	FSCK_CORRUPT,
	FSCK_MALFORMED,             /* a manifest that is intact but does not parse */
};

struct fsck_problem {
	enum fsck_problem_kind kind;
	char digest[HASH_HEX_SIZE];
	int manifest;               /* it is a release's manifest */
	int config;                 /* it is the config text a release was recorded with */
	char *path;                 /* else the first live path using it; NULL if unused */
	char **paths;               /* every live path it is known at: where to look for it */
	size_t npaths;
	size_t paths_alloc;
	char *detail;               /* the parse error of a malformed manifest, else NULL */
	long *releases;             /* releases it breaks, ascending */
	size_t nreleases;
	size_t alloc;
	char *quarantined;          /* where the damaged object was moved, or NULL */
	char *restored_from;        /* the live file it was stored again from, or NULL */
	char *repair_error;         /* why moving or restoring it failed, or NULL */
	int intact_again;           /* whole again by the time fsck held the lock */
};

/* A database backup (db_backups) whose file is missing or changed. */
struct fsck_backup_problem {
	long id;
	char *database;
	char *file;                 /* its name in the state folder's backups/ */
	char *why;                  /* "missing", "... bytes, recorded ...", "sha256 ..." */
};

/* How many lines of what SQLite reports of a damaged database are kept. */
#define FSCK_DATABASE_LINES 5

struct fsck_report {
	long objects;               /* objects re-hashed */
	long releases;              /* releases checked */
	struct fsck_problem *problems;   /* sorted by digest */
	size_t nproblems;
	size_t alloc;
	char **database;            /* SQLite's first lines about a damaged database */
	size_t ndatabase;
	long database_more;         /* further lines it gave */
	char *repair_note;          /* why the store was not repaired, or NULL */
	char *cache_note;           /* why the stat cache still names damage, or NULL */
	long backups;               /* database backups checked */
	struct fsck_backup_problem *backup_problems;  /* left as they are */
	size_t nbackup_problems;
	size_t backup_alloc;
};

#define FSCK_REPORT_INIT { 0, 0, NULL, 0, 0, NULL, 0, 0, NULL, NULL, 0, NULL, 0, 0 }

int fsck_run(struct state *st, long wait_ms, struct fsck_report *rep, struct error *err);
/* Whether the state database was found damaged (rep->database says how). */
int fsck_database_damaged(const struct fsck_report *rep);
/* Whether err, from opening the state database, is SQLite finding it damaged
 * (not a database, malformed) rather than unreachable; then
 * fsck_note_database_damage puts it in a report, as the finding of a check
 * that could not even start. */
int fsck_error_is_damage(const struct error *err);
void fsck_note_database_damage(struct fsck_report *rep, const char *finding);
void fsck_report_clear(struct fsck_report *rep);
const char *fsck_problem_name(enum fsck_problem_kind kind);

#endif
