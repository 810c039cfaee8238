/*
 * The `db` commands that change a database, each one operation: migrate
 * to the live release's newest migration, roll back to an older version,
 * take a backup, restore one. The report (usecase.h) says the database,
 * its version before and after, and the backup taken or restored.
 *
 *   struct db_request req = { .to = -1 };
 *   usecase_db_pick(&cfg, name, &req.db, &err);     exit 2 when wrong
 *   usecase_db_migrate(&st, &cfg, &req, &rep);
 */
#ifndef LG_USECASE_DB_H
#define LG_USECASE_DB_H

#include "core/usecase/usecase.h"

struct database;

struct db_request {
	const struct database *db;   /* the one usecase_db_pick gave */
	long to;                 /* rollback --to VERSION; -1: the previous good
	                            release's version */
	const char *to_text;     /* --to as written: a command database's tool
	                            names its versions (NULL: not given) */
	int restore_backup;      /* rollback: a step down without a down script
	                            restores a backup taken at `to` */
	long backup;             /* restore: a db_backups id; 0: the newest */
	int schema_only;         /* backup, restore: the schema only */
};

/* The database name names (NULL: the config's only one): ERROR_USAGE for
 * an unknown name and for none given among several (listing them).
 *
 * A database of the `command` engine is driven through its argv lists:
 * migrate runs `upgrade`, rollback `downgrade {version}` (to the version
 * the previous good release recorded, else req->to_text), each journaled
 * as a switch of the tool (recover takes it back) and read back with
 * `current`; backup and restore run `backup`/`restore` with {file}.
 * rep->db_from_text, db_to_text and db_release_text then hold the tool's
 * versions. One backed up and restored only (no `current`) refuses
 * migrate and rollback (ERROR_USAGE), as every such database refuses
 * --schema-only and a backup or restore without its command. */
int usecase_db_pick(const struct config *cfg, const char *name, const struct database **db,
		    struct error *err);

/* Apply the live release's pending migrations (a backup first when the
 * policy asks), going back to where it started on a failure; the live
 * release then records the version. Nothing pending: done, db_from ==
 * db_to. */
void usecase_db_migrate(struct state *st, const struct config *cfg, const struct db_request *req,
			struct usecase_report *rep);
/* Down to req->to with the live release's down scripts; a step without
 * one is refused before anything changes unless req->restore_backup and
 * a backup at that version exist: then it is restored, the database's
 * services stopped around it (rep->backup, rep->backup_restored). */
void usecase_db_rollback(struct state *st, const struct config *cfg,
			 const struct db_request *req, struct usecase_report *rep);
/* A backup now, recorded with the live release (rep->backup). */
void usecase_db_backup(struct state *st, const struct config *cfg, const struct db_request *req,
		       struct usecase_report *rep);
/* Restore req->backup (0: the database's newest backup of the kind
 * req->schema_only asks for), the database's services stopped around it;
 * a schema-only backup is restored only with schema_only and a full one
 * only without. */
void usecase_db_restore(struct state *st, const struct config *cfg, const struct db_request *req,
			struct usecase_report *rep);

/* For recover: run again each restore of operation op (a db command) a
 * crash interrupted, as it was journaled before it began (the database,
 * the backup), the database's services stopped around it and started
 * again whatever it does; *restored says whether there was one. -1 with
 * err (ERROR_ATTENTION: what is left, naming the backup) when one cannot
 * be finished: the journal keeps it for the next recover. */
int usecase_db_restore_recover(struct state *st, const struct config *cfg, long op,
			       int *restored, struct error *err);

#endif
