/*
 * The journaled steps on a database (steps.c), shared by the schema
 * resource (a switch, core/resource/schema.c) and the `db` commands. Each
 * runs as a step of operation op (plan.h: "migrate", "migrate down",
 * "back up", "restore") and needs the state for the journal and the store
 * (the scripts are the store's objects).
 */
#ifndef LG_DB_STEPS_H
#define LG_DB_STEPS_H

#include <stddef.h>

#include "core/db/db.h"

struct database;
struct error;
struct state;
struct strbuf;

/* Connect to db and take its migrator lock, waiting up to wait_ms for
 * another migrator (then ERROR_BUSY). */
int db_open_locked(const struct database *db, long wait_ms, struct db_conn **conn,
		   struct error *err);
/* Unlock and close; *conn NULL is fine and is left NULL. */
void db_close_locked(const struct database *db, struct db_conn **conn);

/* The newest version of rows (ascending, as applied() gives them); 0 for
 * none. */
long db_newest_applied(const struct db_applied *rows, size_t n);
/* The migration of version v in the first of sets (entries may be NULL)
 * that has it, with a down script when down is set; NULL when none. */
const struct migration *migration_in(const struct migration_set *const *sets, size_t nsets,
				     long v, int down);
/* "main 3 add_users": a migration step's target, in plan and journal
 * (caller frees). */
char *db_step_target(const struct database *db, const struct migration *m);
/* A script (an object of the store) into sql, replacing what it held. */
int db_read_script(struct state *st, const char *digest, struct strbuf *sql, struct error *err);

/* The version db is at now, as a release records it: its newest applied
 * migration for a built-in engine ("0": none), what `current` prints for
 * a command database. Reads only (no migrator lock; an SQLite file not
 * there yet is "0", not created). Caller frees *version. */
int db_version_now(const struct database *db, char **version, struct error *err);

/* Bring db from what is applied to version `to`, one step per migration:
 * up scripts (and verify scripts) or down scripts from the first of sets
 * that has them; release goes into the rows written. Stops at the first
 * failure; the migration that failed changed nothing (its transaction),
 * those before it stay applied: the caller goes back. */
int db_migrate_to(struct state *st, long op, const struct database *db, struct db_conn *conn,
		  const struct migration_set *const *sets, size_t nsets, long to, long release,
		  struct error *err);

/* Bring db back to version `from` after a move that failed: the scripts
 * of sets (down or up), else the backup (a db_backups id; 0: none).
 * ERROR_ATTENTION naming the database when neither works. */
int db_go_back(struct state *st, long op, const struct database *db, struct db_conn *conn,
	       const struct migration_set *const *sets, size_t nsets, long from, long backup,
	       struct error *err);

/* Whether db's backup policy asks for a backup before it moves from
 * version `from` to `to`: always, never, or (destructive) when an up
 * script of up_sets or a down script of down_sets to run is destructive;
 * a script that cannot be read counts as one (its step will fail anyway). */
int db_backup_wanted(struct state *st, const struct database *db,
		     const struct migration_set *const *up_sets, size_t nup,
		     const struct migration_set *const *down_sets, size_t ndown, long from, long to);

/* Back db up (its schema only when schema_only) into the state folder's
 * backups/NAME-opOP.backup, recorded in db_backups with version (as the
 * engine names it: "3", an alembic revision), release and op; *id gets
 * its row. A command database runs its backup command (conn unused). */
int db_backup_take(struct state *st, long op, const struct database *db, struct db_conn *conn,
		   const char *version, long release, int schema_only, long *id,
		   struct error *err);
/* Restore db from backup (a db_backups row of db) as it was taken; a
 * command database runs its restore command (conn unused). */
int db_backup_restore(struct state *st, long op, const struct database *db, struct db_conn *conn,
		      long backup, struct error *err);

#endif
