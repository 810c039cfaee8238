/*
 * Databases whose schema travels with the release (DESIGN.md,
 * "Databases"): the migrations a release holds, and the engines that apply
 * them. The schema resource (core/resource/schema.c) drives these; this
 * layer knows nothing of releases, operations or the journal.
 *
 * Migrations are files of the release, directly in the database's
 * `migrations` folder:
 *
 *   NNNN_name.up.sql       required; NNNN is the version (decimal digits)
 *   NNNN_name.down.sql     optional: undoes the up script
 *   NNNN_name.verify.sql   optional: must succeed after the up script
 *
 * Versions run 1, 2, 3... (the first may be any number; no gaps, no
 * duplicates). An up script whose first line is
 *   -- lastgood: no-transaction   runs outside a transaction
 *                                 (CREATE INDEX CONCURRENTLY)
 *   -- lastgood: online           may run while the old code still runs
 * (both may be given, comma-separated, on that one line).
 *
 * A built-in engine (postgres, sqlite) records each applied migration in
 * the database itself, table lastgood_migrations, in the same transaction
 * as the migration: there is no half-applied state to force by hand.
 *
 *   const struct db_engine *e = db_engine_of(&cfg->databases[i]);
 *   struct db_conn *c;
 *   e->connect(&cfg->databases[i], &c, &err);
 *   e->lock(c, 0, &err);                        one migrator at a time
 *   e->applied(c, &rows, &nrows, &err);
 *   e->up(c, &row, sql, 1, &err);               script + row, one transaction
 *   e->unlock(c);
 *   e->close(c);
 */
#ifndef LG_DB_H
#define LG_DB_H

#include <stddef.h>

#include "util/hash.h"

struct database;
struct error;
struct manifest;

/* ---- migrations (migrations.c) ---- */

struct migration {
	long version;
	char *name;                  /* "add_users" */
	char up[HASH_HEX_SIZE];      /* the store's object of each script: its sha256 */
	char down[HASH_HEX_SIZE];    /* "" when the release has none */
	char verify[HASH_HEX_SIZE];  /* "" when none */
};

struct migration_set {
	struct migration *v;         /* ascending by version, consecutive */
	size_t n;
};

#define MIGRATION_SET_INIT { NULL, 0 }

/* The migrations a release holds: the regular files directly in folder
 * (absolute) among m's entries (folder is, or lies below, one of them).
 * A folder the release lacks is an empty set. ERROR_USAGE naming the file
 * (its path) for: a name not NNNN_name.{up,down,verify}.sql, a version
 * given twice (two names), a down or verify script without its up, a gap
 * between versions. Anything else in the folder (README, subfolders) is
 * ignored. */
int migration_set_from_manifest(const struct manifest *m, const char *folder,
				struct migration_set *set, struct error *err);
void migration_set_free(struct migration_set *set);
/* NULL when the set has no such version. */
const struct migration *migration_set_find(const struct migration_set *set, long version);
/* The highest version; 0 when empty. */
long migration_set_latest(const struct migration_set *set);

enum migration_flags {
	MIGRATION_NO_TRANSACTION = 1,
	MIGRATION_ONLINE = 2,
};
/* The flags an up script's first line asks for (0: none). */
unsigned migration_flags(const char *sql);
/* Whether sql (outside comments and quoted text) holds a destructive
 * statement: DROP, TRUNCATE, DELETE, ALTER ... TYPE, ALTER ... DROP. */
int migration_destructive(const char *sql);

/* ---- engines ---- */

/* A row of lastgood_migrations. */
struct db_applied {
	long version;
	char *name;
	char checksum[HASH_HEX_SIZE];  /* sha256 of the up script as applied */
	long long applied_at_ms;       /* wall clock, ms since the epoch */
	long long duration_ms;
	long release;                  /* the release it came with (0: unknown) */
	char *operator;                /* who ran lastgood */
};

void db_applied_free(struct db_applied *rows, size_t n);

struct db_conn;                    /* an engine's open connection */

struct db_engine {
	const char *name;
	/* Connect (a clear one-line error naming the database for an
	 * unreachable server, a wrong password, a missing file; never the
	 * password itself). */
	int (*connect)(const struct database *db, struct db_conn **conn, struct error *err);
	void (*close)(struct db_conn *conn);
	/* One migrator at a time, held until unlock or close: another holder
	 * is waited for up to wait_ms, then ERROR_BUSY naming the database. */
	int (*lock)(struct db_conn *conn, long wait_ms, struct error *err);
	void (*unlock)(struct db_conn *conn);
	/* The rows of lastgood_migrations, ascending by version; none (and 0)
	 * when the table does not exist yet. Creates nothing. */
	int (*applied)(struct db_conn *conn, struct db_applied **rows, size_t *n,
		       struct error *err);
	/* Run an up script and insert row, in one transaction (the table
	 * created first when missing; the engine records when the script
	 * started and how long it took: row's applied_at_ms and duration_ms
	 * are not used); a row of that version already there
	 * (another migrator) is an error and changes nothing. Without
	 * transaction, the script runs on its own and the row is inserted
	 * after it succeeded. On failure the error names the database, the
	 * version and the server's message. */
	int (*up)(struct db_conn *conn, const struct db_applied *row, const char *sql,
		  int transaction, struct error *err);
	/* Run a down script and delete version's row, in one transaction
	 * (without: the script, then the row). No such row is an error. */
	int (*down)(struct db_conn *conn, long version, const char *sql, int transaction,
		    struct error *err);
	/* Run a verify script in a transaction that is then rolled back;
	 * an error when the script fails. */
	int (*verify)(struct db_conn *conn, long version, const char *sql, struct error *err);
	/* A backup of the whole database (schema_only: its schema) written to
	 * file, which must not exist; written and synced before returning,
	 * removed on failure. */
	int (*backup)(struct db_conn *conn, const char *file, int schema_only, struct error *err);
	/* Replace the database's content with file's (a backup this engine
	 * wrote); *how gets a phrase for the record saying how, when the
	 * engine has ways to choose from (a static string), else NULL. */
	int (*restore)(struct db_conn *conn, const char *file, int schema_only, const char **how,
		       struct error *err);
};

extern const struct db_engine db_engine_sqlite;     /* sqlite.c */
extern const struct db_engine db_engine_postgres;   /* postgres.c */

/* The engine of a database of a built-in engine; NULL for `command`. */
const struct db_engine *db_engine_of(const struct database *db);

/* Who runs lastgood, for lastgood_migrations.operator: $SUDO_USER, else
 * the user name of the real uid, else "uid N". */
char *db_operator(void);

#endif
