/*
 * The state folder and its SQLite database.
 *
 * The state folder (`.lastgood/` beside the config unless configured) holds
 *   objects/   the content store (see store.h)
 *   tmp/       scratch space for one operation at a time
 *   state.db   SQLite (WAL, synchronous=FULL): releases, operations, steps,
 *              switch entries and small key/value facts
 *   lock       flock(2)ed by the one mutating command running
 *
 * Calling sequence:
 *
 *   struct state st;
 *   state_open(&st, cfg.state_dir, STATE_CREATE, &err);   refuses unsafe folders
 *   state_lock(&st, "deploy", &err);                      mutating commands only
 *     (or state_lock_wait(&st, "deploy", 30000, &err) to wait for a busy lock)
 *   ... releases, operations (release.h, operation.h) ...
 *   state_close(&st);                                     releases the lock
 *
 * state_open refuses a state folder that is a symlink, is not owned by the
 * user, or is writable by group or others, and creates a new one 0700. It
 * refuses the same of objects/, tmp/ and logs/, and a state.db, its -wal
 * and -shm, or a lock that is a symlink or not a plain file: lastgood writes
 * through every one of them, and a planted link would aim those writes (or
 * the content later put live) somewhere else.
 * Read-only commands open without STATE_CREATE and never take the lock, so
 * they never wait; on a disk with no byte free, where SQLite cannot set up
 * its -shm index, they still read (without it, read-only).
 *
 * Database errors name SQLite's error and, when there is one, the system
 * error behind it: "state database: commit: disk I/O error (No space left
 * on device)".
 */
#ifndef LG_STATE_H
#define LG_STATE_H

#include <sqlite3.h>

#include "core/store.h"

struct error;

enum state_open_flags {
	STATE_READ = 0,
	STATE_CREATE = 1,    /* create the folder and database when missing */
};

struct state {
	char *dir;
	struct store store;  /* objects/, tmp/ and quarantine/ (store.h) */
	sqlite3 *db;
	int lock_fd;         /* -1 until state_lock */
	long operation;      /* the operation this process runs, 0 if none */
};

int state_open(struct state *st, const char *dir, int flags, struct error *err);
void state_close(struct state *st);

/* Take the lock without waiting. When another process holds it: an
 * ERROR_BUSY error naming its operation, command, pid and age. */
int state_lock(struct state *st, const char *command, struct error *err);
/* Take the lock, trying again with short back-off (10ms doubling to 200ms)
 * while another process holds it, for at most wait_ms milliseconds; then
 * the same ERROR_BUSY error as state_lock. wait_ms 0 is state_lock. */
int state_lock_wait(struct state *st, const char *command, long wait_ms, struct error *err);
/* Write what state_lock reports to a waiting process (op id, command). */
void state_lock_describe(struct state *st, long operation, const char *command);

/* Run sql (no result rows) ; on failure an ERROR_FAILED error naming what. */
int state_exec(struct state *st, const char *sql, const char *what, struct error *err);
/* Run sql (no result rows) binding id to ?1 and the texts a, b, c to ?2,
 * ?3, ?4, as far as sql has parameters; on failure an ERROR_FAILED error
 * naming what. */
int state_exec_bound(struct state *st, const char *sql, long id, const char *a, const char *b,
		     const char *c, const char *what, struct error *err);
/* Prepare sql; on failure an ERROR_FAILED error. */
int state_prepare(struct state *st, const char *sql, sqlite3_stmt **stmt, struct error *err);
/* A column's text, freshly allocated, or NULL for SQL NULL. */
char *state_column_text(sqlite3_stmt *stmt, int col);
/* Turn the last SQLite error into err, prefixed by what. */
int state_db_error(struct state *st, const char *what, struct error *err);
int state_begin(struct state *st, struct error *err);     /* BEGIN IMMEDIATE */
int state_commit(struct state *st, struct error *err);
void state_rollback(struct state *st);

/* Small durable facts (e.g. "live_release"). get returns NULL when unset;
 * the caller frees. */
char *state_get_meta(struct state *st, const char *key);
int state_set_meta(struct state *st, const char *key, const char *value, struct error *err);
/* The live release number, 0 when nothing was ever recorded. */
long state_live_release(struct state *st);
int state_set_live_release(struct state *st, long id, struct error *err);

/* "user@host" for the record. */
char *state_actor(void);

#endif
