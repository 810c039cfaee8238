/*
 * The journal of database switches (schema_journal.c), shared by the two
 * schema resources: schema.c (the built-in engines, versions are numbers)
 * and tool.c (the command engine, versions are what the tool prints).
 *
 * A switch of a database is journaled before anything changes in it
 * (schema_switches: where it starts from, where it goes), marked
 * "migrating" before the first change, and settled once it is over, gone
 * back or recorded; the version each release ran with is kept in
 * release_schemas. Versions are text, as the engine names them.
 *
 * A restore by a db command is journaled here too (kind "restore",
 * core/usecase/db.c; its to_version is the id of the backup restored),
 * so that recover runs it again; no resource kind claims those.
 */
#ifndef LG_SCHEMA_JOURNAL_H
#define LG_SCHEMA_JOURNAL_H

#include <stddef.h>

#include "core/switch.h"

struct config;
struct database;
struct error;
struct state;

struct schema_switch {
	char *database;
	char *kind;                  /* the resource kind that made it (its name) */
	char *from_version;
	char *to_version;
	long backup;                 /* the backup op took of it (db_backups.id), 0 none */
	int migrating;               /* a migration may have run */
};

/* op's switches not settled yet, by database name. */
int schema_switches_load(struct state *st, long op, struct schema_switch **out, size_t *n,
			 struct error *err);
void schema_switches_free(struct schema_switch *sw, size_t n);

int schema_switch_begin(struct state *st, long op, const char *kind, const char *database,
			const char *from, const char *to, struct error *err);
int schema_switch_migrating(struct state *st, long op, const char *database, struct error *err);
/* The version the switch reached (a tool says it only once it ran). */
int schema_switch_reached(struct state *st, long op, const char *database, const char *to,
			  struct error *err);
int schema_switch_settle(struct state *st, long op, const char *database, struct error *err);
/* Settle every switch of op that has not begun migrating (a prepare that
 * failed); errors are ignored: the operation is failing already. */
void schema_switches_settle_unstarted(struct state *st, long op);

/* The version release ran db with (release_schemas); NULL when none is
 * recorded. Caller frees. */
char *schema_release_version(struct state *st, long release, const char *database);
int schema_record_version(struct state *st, long release, const char *database,
			  const char *version, struct error *err);

/* The ERROR_ATTENTION error for a switch whose database left the config:
 * nothing can bring it back from here. */
int schema_gone_from_config(const struct schema_switch *sw, long op, struct error *err);

/* The release op switches to (to set) or from, as its record says. */
long schema_op_release(struct state *st, long op, int to);
/* 1 when op passed its commit point (or is going back) with a switch of
 * a database migrating, 0 when not, -1 on error: resource_kind.kept. */
int schema_switch_kept(struct state *st, long op, struct error *err);

/*
 * The two resources differ in how a database goes back; the rest of
 * undo, revert, finish and recover is the same walk over the switches
 * of op each resource kind made.
 */
struct schema_side;
typedef int schema_go_back_fn(struct state *st, long op, const struct database *db,
			      const struct schema_switch *sw, struct error *err);
struct schema_side {
	const char *kind;            /* the switches it made: its resource kind's name */
	schema_go_back_fn *go_back;  /* to sw->from_version, else the backup */
};

/* Go back every unsettled switch of the side's databases that began
 * migrating, then settle them; *moved: any went back. */
int schema_side_go_back_all(const struct schema_side *side, struct state *st,
			    const struct config *cfg, long op, int *moved, struct error *err);
/* resource_kind.undo: err says why; it says so too when going back fails. */
int schema_side_undo(const struct schema_side *side, struct state *st, const struct config *cfg,
		     long op, struct error *err);
/* resource_kind.finish: record each switch's version with op's target
 * when it stays, and settle. */
int schema_side_finish(const struct schema_side *side, struct state *st,
		       const struct config *cfg, long op, int target_stays, struct error *err);
/* resource_kind.recover: finish past the commit point, else go back. */
int schema_side_recover(const struct schema_side *side, struct state *st,
			const struct config *cfg, long op, enum switch_outcome *outcome,
			struct error *err);

#endif
