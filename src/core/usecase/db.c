/*
 * The `db` use cases that change a database: migrate, rollback, backup and
 * restore, each an operation whose steps are the journaled database steps
 * of core/db/steps.h. A migration run is journaled as a schema switch
 * (schema_switches), so that `recover` after a crash brings the database
 * back to where the command started, as it does for a deploy.
 */
#include "core/usecase/db.h"
#include "core/usecase/ending.h"
#include "core/config.h"
#include "core/db/db.h"
#include "core/db/steps.h"
#include "core/manifest.h"
#include "core/resource/resource.h"
#include "core/resource/schema_journal.h"
#include "core/resource/tool.h"
#include "core/db/command.h"
#include "core/stack.h"
#include "core/state.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/format.h"
#include "util/strbuf.h"

#include <stdlib.h>
#include <string.h>

int usecase_db_pick(const struct config *cfg, const char *name, const struct database **db,
		    struct error *err)
{
	if (name) {
		*db = config_find_database(cfg, name);
		if (!*db)
			return error_set(err, ERROR_USAGE, "no database '%s' in %s", name, cfg->path);
	} else if (cfg->ndatabases == 1) {
		*db = &cfg->databases[0];
	} else if (!cfg->ndatabases) {
		return error_set(err, ERROR_USAGE, "no database in %s", cfg->path);
	} else {
		struct strbuf names = STRBUF_INIT;
		for (size_t i = 0; i < cfg->ndatabases; i++)
			strbuf_addf(&names, "%s'%s'", i ? ", " : "", cfg->databases[i].name);
		error_set(err, ERROR_USAGE, "name the database: %s", names.buf);
		strbuf_release(&names);
		return -1;
	}
	return 0;
}

/* What a db use case works with, from its operation's start to its end. */
struct db_work {
	const struct database *db;
	struct migration_set live;   /* the live release's migrations */
	struct db_conn *conn;        /* under the migrator lock */
	long from;                   /* the newest migration applied at the start */
};

/* The use cases of command databases, at the end of this file. */
static int tool_database(const struct db_request *req);
static void tool_migrate(struct state *st, const struct config *cfg, const struct db_request *req,
			 struct usecase_report *rep);
static void tool_rollback(struct state *st, const struct config *cfg,
			  const struct db_request *req, struct usecase_report *rep);
static void tool_backup(struct state *st, const struct config *cfg, const struct db_request *req,
			struct usecase_report *rep);
static void tool_restore(struct state *st, const struct config *cfg, const struct db_request *req,
			 struct usecase_report *rep);

/* Refuse an applied migration whose script the live release holds
 * otherwise: running scripts next to it would be guesswork. */
static int check_drift(const struct db_work *w, const struct db_applied *rows, size_t n,
		       struct error *err)
{
	for (size_t i = 0; i < n; i++) {
		const struct migration *m = migration_set_find(&w->live, rows[i].version);
		if (m && strcmp(m->up, rows[i].checksum))
			return error_set(err, ERROR_USAGE, "database '%s': migration %ld (%s) in '%s' "
					 "changed since it was applied (sha256 %.12s applied, %.12s "
					 "in the live release)", w->db->name, m->version, m->name,
					 w->db->migrations_written, rows[i].checksum, m->up);
	}
	return 0;
}

/* Begin the operation on req's database, read the live release's
 * migrations, connect under the migrator lock and read what is applied
 * (refusing drift when migrations are to run). */
static int work_begin(struct state *st, const struct db_request *req, int migrating,
		      struct usecase_report *rep, struct db_work *w, struct error *err)
{
	struct db_applied *rows;
	size_t n;

	memset(w, 0, sizeof(*w));
	rep->live_before = state_live_release(st);
	w->db = req->db;
	rep->database = w->db->name;
	if (operation_begin(st, rep->command, w->db->name, NULL, &rep->op, err) < 0)
		return -1;
	if (rep->live_before) {
		struct manifest m = MANIFEST_INIT;
		int rc = release_manifest(st, rep->live_before, &m, err);
		if (rc == 0)
			rc = migration_set_from_manifest(&m, w->db->migrations, &w->live, err);
		manifest_free(&m);
		if (rc < 0)
			return -1;
	} else if (migrating) {
		return error_set(err, ERROR_USAGE, "no live release holds migrations yet: "
				 "'lastgood deploy' or 'lastgood snapshot' records one");
	}
	rep->db_release_version = migration_set_latest(&w->live);
	if (db_open_locked(w->db, 0, &w->conn, err) < 0 ||
	    db_engine_of(w->db)->applied(w->conn, &rows, &n, err) < 0)
		return -1;
	w->from = rep->db_from = rep->db_to = db_newest_applied(rows, n);
	int rc = migrating ? check_drift(w, rows, n, err) : 0;
	db_applied_free(rows, n);
	return rc;
}

/* Close the connection, end the operation by rc (err: why it failed) and
 * fill rep. */
static void work_end(struct state *st, const struct config *cfg, struct db_work *w, int rc,
		     struct error *err, struct usecase_report *rep)
{
	struct error ignored = ERROR_INIT;
	if (w->db && w->conn)
		db_close_locked(w->db, &w->conn);
	migration_set_free(&w->live);
	if (rc < 0 && err->kind == ERROR_ATTENTION) {
		operation_end(st, rep->op, OP_NEEDS_ATTENTION, err->msg, &ignored);
		usecase_end(st, cfg, rep, USECASE_ATTENTION, OP_NEEDS_ATTENTION, err);
	} else if (rc < 0 && rep->failure.text) {
		operation_end(st, rep->op, OP_FAILED, err->msg, &ignored);
		usecase_end(st, cfg, rep, USECASE_LEFT_FAILING, OP_FAILED, err);
	} else if (rc < 0) {
		usecase_fail(st, cfg, rep, err);
	} else if (operation_end(st, rep->op, OP_OK, NULL, err) < 0) {
		usecase_end(st, cfg, rep, USECASE_FAILED, OP_RUNNING, err);
	} else {
		usecase_end(st, cfg, rep, USECASE_DONE, OP_OK, NULL);
	}
}

static int take_backup(struct state *st, struct usecase_report *rep, struct db_work *w,
		       int schema_only, struct error *err)
{
	long id;
	char *version = rep->db_from_text ? xstrdup(rep->db_from_text) : xstrfmt("%ld", w->from);
	int rc = db_backup_take(st, rep->op, w->db, w->conn, version, rep->live_before, schema_only,
				&id, err);
	free(version);
	if (rc < 0)
		return -1;
	db_backup_clear(&rep->backup);
	return db_backup_get(st, id, &rep->backup, err);
}

/* Move w's database to version `to` with the live release's scripts,
 * journaled as a schema switch (recover brings it back after a crash), a
 * backup first when the policy asks; on a failure back to where it
 * started (down or up scripts, else that backup). */
static int work_move(struct state *st, struct usecase_report *rep, struct db_work *w, long to,
		     struct error *err)
{
	const struct migration_set *sets[] = { &w->live };
	const char *name = w->db->name;

	/* journaled as the schema resource's switch, whose recover brings
	 * it back after a crash */
	char *from_text = xstrfmt("%ld", w->from), *to_text = xstrfmt("%ld", to);
	int rc = operation_set_releases(st, rep->op, rep->live_before, rep->live_before, err);
	if (rc == 0)
		rc = schema_switch_begin(st, rep->op, resource_schema.name, name, from_text, to_text,
					 err);
	if (rc == 0)
		rc = schema_switch_migrating(st, rep->op, name, err);
	free(from_text);
	free(to_text);
	if (rc < 0)
		return -1;
	if (db_backup_wanted(st, w->db, sets, 1, sets, 1, w->from, to))
		rc = take_backup(st, rep, w, 0, err);
	if (rc == 0 && db_migrate_to(st, rep->op, w->db, w->conn, sets, 1, to, rep->live_before,
				     err) < 0) {
		struct error back = ERROR_INIT;
		if (db_go_back(st, rep->op, w->db, w->conn, sets, 1, w->from, rep->backup.id,
			       &back) < 0) {
			error_undo_failed(err, &back);
			return -1;   /* left unsettled: recover tries again */
		}
		rc = -1;
	}
	struct error settle_err = ERROR_INIT;
	if (schema_switch_settle(st, rep->op, name, &settle_err) < 0 && rc == 0) {
		*err = settle_err;
		return -1;
	}
	if (rc == 0)
		rep->db_to = to;
	return rc;
}

void usecase_db_migrate(struct state *st, const struct config *cfg, const struct db_request *req,
			struct usecase_report *rep)
{
	if (tool_database(req)) {
		tool_migrate(st, cfg, req, rep);
		return;
	}
	struct error err = ERROR_INIT;
	struct db_work w;
	int rc = work_begin(st, req, 1, rep, &w, &err);
	long to = rep->db_release_version;

	if (rc == 0 && w.from > to)
		rc = error_set(&err, ERROR_FAILED, "database '%s' is at version %ld, above the live "
			       "release's migrations (%ld): 'lastgood db rollback' takes it down",
			       w.db->name, w.from, to);
	for (long v = w.from + 1; rc == 0 && v <= to; v++)
		if (!migration_set_find(&w.live, v))
			rc = error_set(&err, ERROR_FAILED, "database '%s' is at version %ld, but the "
				       "live release's migrations start at %ld", w.db->name, w.from,
				       w.live.v[0].version);
	if (rc == 0 && w.from < to)
		rc = work_move(st, rep, &w, to, &err);
	if (rc == 0 && w.from < to) {
		char *version = xstrfmt("%ld", to);
		rc = schema_record_version(st, rep->live_before, w.db->name, version, &err);
		free(version);
	}
	work_end(st, cfg, &w, rc, &err, rep);
}

/* The newest good release before the live one, into *good. */
static int previous_good_release(struct state *st, const struct db_work *w, long live,
				 long *good, struct error *err)
{
	struct release *list;
	size_t n;

	*good = 0;
	if (release_list(st, 0, &list, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n && !*good; i++)
		if (list[i].mark == MARK_GOOD && list[i].id < live)
			*good = list[i].id;
	release_list_free(list, n);
	if (!*good)
		return error_set(err, ERROR_USAGE, "database '%s': no good release before release %ld "
				 "to roll back to: give --to VERSION", w->db->name, live);
	return 0;
}

/* The version the newest good release before the live one ran db with:
 * recorded, else the newest migration it holds. */
static int previous_good_version(struct state *st, const struct db_work *w, long live,
				 long *version, struct error *err)
{
	long good;
	if (previous_good_release(st, w, live, &good, err) < 0)
		return -1;
	char *recorded = schema_release_version(st, good, w->db->name);
	if (recorded) {
		*version = strtol(recorded, NULL, 10);
		free(recorded);
		return 0;
	}
	struct manifest m = MANIFEST_INIT;
	struct migration_set set = MIGRATION_SET_INIT;
	int rc = release_manifest(st, good, &m, err);
	if (rc == 0)
		rc = migration_set_from_manifest(&m, w->db->migrations, &set, err);
	*version = migration_set_latest(&set);
	migration_set_free(&set);
	manifest_free(&m);
	return rc;
}

/* The services of `services:` of db, for stack_stop and stack_start; NULL
 * when it lists none. */
static unsigned char *services_of(const struct config *cfg, const struct database *db)
{
	if (!db->nservices)
		return NULL;
	unsigned char *selected = xcalloc(cfg->nservices ? cfg->nservices : 1, 1);
	for (size_t i = 0; i < db->nservices; i++) {
		const struct service *svc = config_find_service(cfg, db->services[i]);
		if (svc)
			selected[svc - cfg->services] = 1;
	}
	return selected;
}

/* The kind of the journal's switch (schema_journal.h) of a restore by a
 * db command: from_version is the version before, to_version the id of
 * the backup restored. Recover runs such a restore again. */
static const char restore_kind[] = "restore";

/* Restore backup into db (conn under the migrator lock) with db's
 * services stopped, and start them again whatever the restore did:
 * *started gets stack_start's result (-1: start_err says why, >0:
 * failure says which failed). Returns the restore's. */
static int restore_services_stopped(struct state *st, const struct config *cfg, long op,
				    const struct database *db, struct db_conn *conn, long backup,
				    int *started, struct stack_failure *failure,
				    struct error *start_err, struct error *err)
{
	unsigned char *selected = services_of(cfg, db);
	int rc = selected ? stack_stop(st, cfg, selected, op, err) : 0;
	if (rc == 0)
		rc = db_backup_restore(st, op, db, conn, backup, err);
	*started = selected ? stack_start(st, cfg, selected, op, failure, start_err) : 0;
	free(selected);
	return rc;
}

/* Restore rep->backup with the database's services stopped, and start
 * them again whatever the restore did; then read the version it holds.
 * With journal, journaled first (restore_kind) and settled once over, so
 * that recover after a crash runs the restore again; without, inside a
 * switch the caller journaled (a crash takes that one back). */
static int restore_stopped(struct state *st, const struct config *cfg, struct db_work *w,
			   struct usecase_report *rep, int journal, struct error *err)
{
	struct stack_failure failure = { 0 };
	struct error start_err = ERROR_INIT, settle_err = ERROR_INIT;
	struct db_applied *rows;
	size_t n;
	int started = 0;

	if (journal) {
		char *from = rep->db_from_text ? xstrdup(rep->db_from_text) : xstrfmt("%ld", w->from);
		char *backup = xstrfmt("%ld", rep->backup.id);
		int begun = schema_switch_begin(st, rep->op, restore_kind, w->db->name, from, backup,
						err);
		free(from);
		free(backup);
		if (begun < 0)
			return -1;
	}
	int rc = restore_services_stopped(st, cfg, rep->op, w->db, w->conn, rep->backup.id,
					  &started, &failure, &start_err, err);
	rep->backup_restored = rc == 0;
	if (journal && schema_switch_settle(st, rep->op, w->db->name, &settle_err) < 0 && rc == 0) {
		*err = settle_err;
		rc = -1;
	}
	if (rc == 0 && started < 0) {
		*err = start_err;
		rc = -1;
	} else if (rc == 0 && started > 0) {
		rep->failure.text = failure.text;
		rep->failure.at_ms = failure.detected_ms;
		rep->failure.interrupted = failure.interrupted;
		rc = error_set(err, ERROR_FAILED, "database '%s' was restored, but %s",
			       w->db->name, failure.text);
	} else {
		free(failure.text);
	}
	if (rep->backup_restored && w->conn &&
	    db_engine_of(w->db)->applied(w->conn, &rows, &n, &start_err) == 0) {
		rep->db_to = db_newest_applied(rows, n);
		db_applied_free(rows, n);
	}
	return rc;
}

void usecase_db_rollback(struct state *st, const struct config *cfg,
			 const struct db_request *req, struct usecase_report *rep)
{
	if (tool_database(req)) {
		tool_rollback(st, cfg, req, rep);
		return;
	}
	struct error err = ERROR_INIT;
	struct db_work w;
	long to = req->to, missing = 0;
	int rc = work_begin(st, req, 1, rep, &w, &err);

	if (rc == 0 && to < 0)
		rc = previous_good_version(st, &w, rep->live_before, &to, &err);
	if (rc == 0 && to > w.from)
		rc = error_set(&err, ERROR_USAGE, "database '%s' is at version %ld, below %ld: "
			       "'lastgood db migrate' brings it up", w.db->name, w.from, to);
	for (long v = w.from; rc == 0 && v > to && !missing; v--) {
		const struct migration *m = migration_set_find(&w.live, v);
		if (!m || !m->down[0])
			missing = v;
	}
	if (rc == 0 && missing && !req->restore_backup) {
		rc = db_refuse_missing_down(st, w.db->name, w.from, to, missing, &err);
	} else if (rc == 0 && missing) {
		int found = db_backup_newest(st, w.db->name, to, 0, &rep->backup, &err);
		if (found == 0)
			error_set(&err, ERROR_FAILED, "database '%s': no backup at version %ld to "
				  "restore", w.db->name, to);
		rc = found > 0 ? restore_stopped(st, cfg, &w, rep, 1, &err) : -1;
	} else if (rc == 0 && to < w.from) {
		rc = work_move(st, rep, &w, to, &err);
	}
	work_end(st, cfg, &w, rc, &err, rep);
}

int usecase_db_restore_recover(struct state *st, const struct config *cfg, long op,
				int *restored, struct error *err)
{
	struct schema_switch *sw;
	size_t n;
	int rc = 0;

	*restored = 0;
	if (schema_switches_load(st, op, &sw, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (strcmp(sw[i].kind, restore_kind))
			continue;
		const struct database *db = config_find_database(cfg, sw[i].database);
		long backup = strtol(sw[i].to_version, NULL, 10);
		struct stack_failure failure = { 0 };
		struct error start_err = ERROR_INIT;
		struct db_conn *conn = NULL;
		int started = 0;
		if (!db) {
			rc = schema_gone_from_config(&sw[i], op, err);
			break;
		}
		/* a command database's restore is its tool's: no connection */
		rc = db_engine_of(db) ? db_open_locked(db, 0, &conn, err) : 0;
		if (rc == 0)
			rc = restore_services_stopped(st, cfg, op, db, conn, backup, &started, &failure,
						      &start_err, err);
		db_close_locked(db, &conn);
		if (rc < 0)
			error_prefix(err, "database '%s': the restore of backup %ld a crash interrupted "
				     "could not be finished (it may be part done; recover runs it "
				     "again)", db->name, backup);
		else if (started < 0)
			rc = error_set(err, ERROR_ATTENTION, "database '%s' was restored from backup "
				       "%ld, but its services did not start: %s", db->name, backup,
				       start_err.msg);
		else if (started > 0)
			rc = error_set(err, ERROR_ATTENTION, "database '%s' was restored from backup "
				       "%ld, but %s", db->name, backup, failure.text);
		stack_failure_clear(&failure);
		if (rc == 0)
			rc = schema_switch_settle(st, op, db->name, err);
		*restored |= rc == 0;
	}
	schema_switches_free(sw, n);
	return rc;
}

void usecase_db_backup(struct state *st, const struct config *cfg, const struct db_request *req,
		       struct usecase_report *rep)
{
	if (tool_database(req)) {
		tool_backup(st, cfg, req, rep);
		return;
	}
	struct error err = ERROR_INIT;
	struct db_work w;
	int rc = work_begin(st, req, 0, rep, &w, &err);
	if (rc == 0)
		rc = take_backup(st, rep, &w, req->schema_only, &err);
	work_end(st, cfg, &w, rc, &err, rep);
}

/* The backup req names (else the newest of its kind), refusing one of
 * another database or of the other kind. */
static int restore_pick(struct state *st, const struct db_work *w, const struct db_request *req,
			struct db_backup *b, struct error *err)
{
	if (!req->backup) {
		int found = db_backup_newest(st, w->db->name, -1, req->schema_only, b, err);
		if (found == 0)
			error_set(err, ERROR_USAGE, "no %sbackup of database '%s' is kept",
				  req->schema_only ? "schema-only " : "", w->db->name);
		return found > 0 ? 0 : -1;
	}
	if (db_backup_get(st, req->backup, b, err) < 0)
		return -1;
	if (strcmp(b->database, w->db->name))
		return error_set(err, ERROR_USAGE, "backup %ld is of database '%s', not '%s'", b->id,
				 b->database, w->db->name);
	if (b->schema_only && !req->schema_only)
		return error_set(err, ERROR_USAGE, "backup %ld of database '%s' holds the schema "
				 "only: restore it with --schema-only", b->id, w->db->name);
	if (!b->schema_only && req->schema_only)
		return error_set(err, ERROR_USAGE, "backup %ld of database '%s' is a full backup: "
				 "restore it without --schema-only", b->id, w->db->name);
	return 0;
}

void usecase_db_restore(struct state *st, const struct config *cfg, const struct db_request *req,
			struct usecase_report *rep)
{
	if (tool_database(req)) {
		tool_restore(st, cfg, req, rep);
		return;
	}
	struct error err = ERROR_INIT;
	struct db_work w;
	int rc = work_begin(st, req, 0, rep, &w, &err);
	if (rc == 0)
		rc = restore_pick(st, &w, req, &rep->backup, &err);
	if (rc == 0)
		rc = restore_stopped(st, cfg, &w, rep, 1, &err);
	work_end(st, cfg, &w, rc, &err, rep);
}

/* ---- the command engine: a migration tool, or backups alone ---- */

/* Whether req's database is of the command engine. */
static int tool_database(const struct db_request *req)
{
	return req->db->engine == DB_ENGINE_COMMAND;
}

/* What a command database cannot do, refused before any operation. */
static int tool_refuse(const struct config *cfg, const struct database *db, const char *command,
		       const struct db_request *req, struct error *err)
{
	int moves = !strcmp(command, "db migrate") || !strcmp(command, "db rollback");
	if (moves && !db_command_migrates(db))
		return error_set(err, ERROR_USAGE, "database '%s' has no migration tool ('current', "
				 "'upgrade' and 'downgrade' in %s): it is backed up and restored "
				 "only ('lastgood db restore' puts a backup back)", db->name,
				 cfg->path);
	if (req->schema_only)
		return error_set(err, ERROR_USAGE, "database '%s' (engine command) has no "
				 "schema-only backup: its 'backup' command writes what it writes",
				 db->name);
	if (!moves && !db->backup_cmd.n)
		return error_set(err, ERROR_USAGE, "database '%s' has no 'backup' command in %s",
				 db->name, cfg->path);
	return 0;
}

/* Refuse what req's database cannot do, begin the operation and
 * read where its tool stands (rep->db_from_text; "" without a tool). */
static int tool_begin(struct state *st, const struct config *cfg, const struct db_request *req,
		      struct usecase_report *rep, struct db_work *w, struct error *err)
{
	memset(w, 0, sizeof(*w));
	rep->live_before = state_live_release(st);
	w->db = req->db;
	rep->database = w->db->name;
	if (tool_refuse(cfg, w->db, rep->command, req, err) < 0 ||
	    operation_begin(st, rep->command, w->db->name, NULL, &rep->op, err) < 0)
		return -1;
	if (rep->live_before)
		rep->db_release_text = schema_release_version(st, rep->live_before, w->db->name);
	if (!db_command_migrates(w->db))
		rep->db_from_text = xstrdup("");
	else if (db_command_current(w->db, &rep->db_from_text, err) < 0)
		return -1;
	rep->db_to_text = xstrdup(rep->db_from_text);
	return 0;
}

/* Go back to where op's switch of w's database started (the tool, else
 * the backup it took), settling it; err gets why when that fails too. */
static void tool_switch_go_back(struct state *st, struct usecase_report *rep,
				const struct db_work *w, struct error *err)
{
	struct schema_switch *sw;
	size_t n;
	struct error back = ERROR_INIT;
	int rc = schema_switches_load(st, rep->op, &sw, &n, &back);
	for (size_t i = 0; rc == 0 && i < n; i++)
		if (!strcmp(sw[i].database, w->db->name)) {
			rc = tool_go_back(st, rep->op, w->db, &sw[i], &back);
			if (rc == 0)
				rc = schema_switch_settle(st, rep->op, w->db->name, &back);
		}
	schema_switches_free(sw, n);
	if (rc < 0)
		error_undo_failed(err, &back);   /* left unsettled: recover tries again */
}


/* Move w's database with its tool towards want (NULL: `upgrade`), as a
 * deploy's tool step does: journaled as the "tool late" switch (recover
 * takes it back after a crash), the backup command first, then read
 * back with `current` (rep->db_to_text). A failure goes back unless
 * restore_to names a backup to restore instead (rollback
 * --restore-backup: the backup at want, the services stopped). */
static int tool_switch(struct state *st, const struct config *cfg, struct usecase_report *rep,
		       struct db_work *w, enum step_kind kind, const char *want, int restore_to,
		       struct error *err)
{
	const char *name = w->db->name;
	char *reached = NULL;
	int rc = operation_set_releases(st, rep->op, rep->live_before, rep->live_before, err);
	if (rc == 0)
		rc = schema_switch_begin(st, rep->op, resource_tool_late.name, name,
					 rep->db_from_text, rep->db_from_text, err);
	if (rc == 0 && w->db->backup_cmd.n && take_backup(st, rep, w, 0, err) < 0) {
		schema_switches_settle_unstarted(st, rep->op);
		return -1;
	}
	if (rc == 0)
		rc = schema_switch_migrating(st, rep->op, name, err);
	if (rc < 0)
		return -1;
	rc = tool_move(st, rep->op, w->db, kind, rep->db_from_text, want, &reached, err);
	if (rc == 0)
		rc = schema_switch_reached(st, rep->op, name, reached, err);
	if (rc < 0 && restore_to) {
		struct error ignored = ERROR_INIT;
		db_backup_clear(&rep->backup);
		if (db_backup_newest_at(st, name, want, 0, &rep->backup, &ignored) > 0 &&
		    restore_stopped(st, cfg, w, rep, 0, err) == 0) {
			free(reached);
			reached = NULL;
			db_command_current(w->db, &reached, &ignored);
			rc = 0;
		}
	}
	if (rc < 0) {
		free(reached);
		tool_switch_go_back(st, rep, w, err);
		return -1;
	}
	if (schema_switch_settle(st, rep->op, name, err) < 0) {
		free(reached);
		return -1;
	}
	free(rep->db_to_text);
	rep->db_to_text = reached ? reached : xstrdup("");
	return 0;
}

static void tool_migrate(struct state *st, const struct config *cfg, const struct db_request *req,
			 struct usecase_report *rep)
{
	struct error err = ERROR_INIT;
	struct db_work w;
	int rc = tool_begin(st, cfg, req, rep, &w, &err);
	if (rc == 0 && !rep->live_before)
		rc = error_set(&err, ERROR_USAGE, "no live release yet to record the version of "
			       "database '%s' with: 'lastgood deploy' or 'lastgood snapshot' records "
			       "one", w.db->name);
	if (rc == 0)
		rc = tool_switch(st, cfg, rep, &w, STEP_MIGRATE, NULL, 0, &err);
	if (rc == 0)
		rc = schema_record_version(st, rep->live_before, w.db->name, rep->db_to_text, &err);
	work_end(st, cfg, &w, rc, &err, rep);
}

/* Down to req->to_text, else the version the previous good release
 * recorded; the live release keeps the version it recorded (its files
 * expect it: 'db migrate' brings the database up again). */
static void tool_rollback(struct state *st, const struct config *cfg,
			  const struct db_request *req, struct usecase_report *rep)
{
	struct error err = ERROR_INIT;
	struct db_work w;
	char *to = req->to_text ? xstrdup(req->to_text) : NULL;
	long good;
	int rc = tool_begin(st, cfg, req, rep, &w, &err);

	if (rc == 0 && !to && previous_good_release(st, &w, rep->live_before, &good, &err) == 0 &&
	    !(to = schema_release_version(st, good, w.db->name)))
		error_set(&err, ERROR_USAGE, "release %ld recorded no version of database '%s': "
			  "give --to VERSION", good, w.db->name);
	if (rc == 0 && !to)
		rc = -1;
	if (rc == 0 && strcmp(to, rep->db_from_text))
		rc = tool_switch(st, cfg, rep, &w, STEP_MIGRATE_DOWN, to, req->restore_backup, &err);
	free(to);
	work_end(st, cfg, &w, rc, &err, rep);
}

static void tool_backup(struct state *st, const struct config *cfg, const struct db_request *req,
			struct usecase_report *rep)
{
	struct error err = ERROR_INIT;
	struct db_work w;
	int rc = tool_begin(st, cfg, req, rep, &w, &err);
	if (rc == 0)
		rc = take_backup(st, rep, &w, 0, &err);
	work_end(st, cfg, &w, rc, &err, rep);
}

/* The restore command with the database's services stopped around it,
 * then where the tool stands (a tool's backup holds its version too). */
static void tool_restore(struct state *st, const struct config *cfg, const struct db_request *req,
			 struct usecase_report *rep)
{
	struct error err = ERROR_INIT, ignored = ERROR_INIT;
	struct db_work w;
	int rc = tool_begin(st, cfg, req, rep, &w, &err);
	if (rc == 0)
		rc = restore_pick(st, &w, req, &rep->backup, &err);
	if (rc == 0)
		rc = restore_stopped(st, cfg, &w, rep, 1, &err);
	char *now = NULL;
	if (rep->backup_restored && db_command_migrates(w.db) &&
	    db_command_current(w.db, &now, &ignored) == 0) {
		free(rep->db_to_text);
		rep->db_to_text = now;
	}
	work_end(st, cfg, &w, rc, &err, rep);
}
