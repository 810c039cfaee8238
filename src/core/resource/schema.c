/*
 * The schema resource: each database of `databases:` with a built-in
 * engine (postgres, sqlite) whose migrations a release holds is at the
 * version of the newest migration of that release, and a switch migrates
 * it there (core/db/db.h: the migrations and the engines).
 *
 *   plan      from the two releases' migrations (and their scripts' first
 *             lines): "back up" the database (prepare, unless `backup:
 *             never`), one "migrate" step per migration up (prepare for
 *             those marked online, else commit), and one "migrate down"
 *             per migration down, or one "restore" of a backup at the
 *             target's version when a down script is missing and the
 *             request allows it (rollback --restore-backup, every way
 *             back on its own)
 *   prepare   connect and take the migrator lock; read what is applied
 *             (lastgood_migrations) and refuse, before anything changes,
 *             a migration changed since it was applied or a step down
 *             without a down script; journal the switch (schema_switches:
 *             from and to version); take the backup the policy asks for;
 *             run the online migrations
 *   commit    run each migration, journaled before and after, each in its
 *             own transaction with its lastgood_migrations row; on failure
 *             go back to the version it started from (down scripts, else
 *             the backup)
 *   undo, revert, recover
 *             go back to the journaled from-version: the database itself
 *             says how far the switch got (its lastgood_migrations rows),
 *             so going back is safe to repeat after a crash at any point
 *   finish    record the version each release ran with (release_schemas)
 *             and settle the switch
 *
 * The down scripts come from the store: every release holds its
 * migrations, so the newer release of a switch holds the down script of
 * each version above the older one's.
 *
 * A database of the `command` engine is tool.c's.
 */
#include "core/resource/resource.h"
#include "core/resource/schema_journal.h"
#include "core/config.h"
#include "core/db/backups.h"
#include "core/db/db.h"
#include "core/db/steps.h"
#include "core/manifest.h"
#include "core/operation.h"
#include "core/plan.h"
#include "core/release.h"
#include "core/state.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/strbuf.h"

#include <stdlib.h>
#include <string.h>

/* One database whose schema a switch changes. */
struct schema_db {
	const struct database *db;
	struct migration_set live, target;
	struct error parse_err;      /* a release's migrations did not parse */
	struct db_conn *conn;        /* from prepare to the end of commit */
	long from, to;               /* applied when prepared; the target's newest */
	long at;                     /* applied now */
	long restore;                /* a backup at the target's version to restore
	                                instead of migrating down (restore_backup) */
	int moved;                   /* this switch ran a migration of it */
};

struct schema_plan {
	struct schema_db *dbs;
	size_t n;
};

/* The migrations of db in release m; an error is kept for prepare to
 * report, so that the plan (a dry run) still lists the database. */
static void read_set(const struct manifest *m, const struct database *db,
		     struct migration_set *set, struct error *err)
{
	struct error one = ERROR_INIT;
	if (migration_set_from_manifest(m, db->migrations, set, &one) < 0 && !err->msg[0])
		*err = one;
}

static int sets_differ(const struct migration_set *a, const struct migration_set *b)
{
	if (a->n != b->n)
		return 1;
	for (size_t i = 0; i < a->n; i++)
		if (a->v[i].version != b->v[i].version || strcmp(a->v[i].up, b->v[i].up))
			return 1;
	return 0;
}

/* The newest version up from `at` (towards `to`) that may run while the
 * old release still runs: each up script on the way begins with
 * `-- lastgood: online` (additive: the old code tolerates it). */
static long online_to(struct state *st, const struct migration_set *target, long at, long to)
{
	struct strbuf sql = STRBUF_INIT;
	struct error ignored = ERROR_INIT;
	while (at < to) {
		const struct migration *m = migration_set_find(target, at + 1);
		if (!m || db_read_script(st, m->up, &sql, &ignored) < 0 ||
		    !(migration_flags(sql.buf) & MIGRATION_ONLINE))
			break;
		at++;
	}
	strbuf_release(&sql);
	return at;
}

/* The backup to restore instead of going down from live_v to target_v
 * when a down script on the way is missing: the newest whole backup of
 * the database at target_v; 0 when none is needed or kept. *described
 * gets how messages name it. */
static long restore_instead(struct state *st, const struct schema_db *sdb, long live_v,
			    long target_v, struct strbuf *described)
{
	const struct migration_set *live[] = { &sdb->live };
	struct db_backup b = { 0 };
	struct error ignored = ERROR_INIT;
	long v = live_v;
	while (v > target_v && migration_in(live, 1, v, 1))
		v--;
	if (v == target_v || db_backup_newest(st, sdb->db->name, target_v, 0, &b, &ignored) <= 0)
		return 0;
	long id = b.id;
	db_backup_describe(described, &b);
	db_backup_clear(&b);
	return id;
}

static size_t schema_plan(const struct resource_input *in, struct plan *plan,
			  unsigned char *changed, void **data)
{
	const struct config *cfg = in->cfg;
	struct schema_plan *sp = xcalloc(1, sizeof(*sp));

	sp->dbs = xcalloc(cfg->ndatabases ? cfg->ndatabases : 1, sizeof(*sp->dbs));
	for (size_t i = 0; i < cfg->ndatabases; i++) {
		const struct database *db = &cfg->databases[i];
		if (db->engine == DB_ENGINE_COMMAND || !db->migrations)
			continue;
		struct schema_db *sdb = &sp->dbs[sp->n];
		memset(sdb, 0, sizeof(*sdb));
		sdb->db = db;
		read_set(in->live, db, &sdb->live, &sdb->parse_err);
		read_set(in->target, db, &sdb->target, &sdb->parse_err);
		if (!sdb->parse_err.msg[0] && !sets_differ(&sdb->live, &sdb->target)) {
			migration_set_free(&sdb->live);
			migration_set_free(&sdb->target);
			continue;
		}
		sp->n++;
		for (size_t s = 0; s < db->nservices; s++) {
			const struct service *svc = config_find_service(cfg, db->services[s]);
			if (svc)
				changed[svc - cfg->services] = 1;
		}
		const struct service *owner;
		if (config_files_entry_holding(cfg, db->migrations, &owner))
			changed[owner - cfg->services] = 1;
		if (db->backup != DB_BACKUP_NEVER)
			plan_add(plan, STEP_BACKUP, PLAN_PREPARE, db->name, i);
		long live_v = migration_set_latest(&sdb->live);
		long target_v = migration_set_latest(&sdb->target);
		long online_v = online_to(in->st, &sdb->target, live_v, target_v);
		for (size_t k = 0; k < sdb->target.n; k++) {
			const struct migration *m = &sdb->target.v[k];
			if (m->version <= live_v)
				continue;
			char *target = db_step_target(db, m);
			plan_add(plan, STEP_MIGRATE, m->version <= online_v ? PLAN_PREPARE : PLAN_COMMIT,
				 target, i);
			free(target);
		}
		struct strbuf note = STRBUF_INIT;
		if (in->restore_backup)
			sdb->restore = restore_instead(in->st, sdb, live_v, target_v, &note);
		if (sdb->restore) {
			plan_add(plan, STEP_RESTORE, PLAN_COMMIT, db->name, i);
			strbuf_addstr(&note, ", discarding what was written since");
			plan_note(plan, note.buf);
		}
		strbuf_release(&note);
		for (size_t k = sdb->live.n; !sdb->restore && k-- > 0;) {
			const struct migration *m = &sdb->live.v[k];
			if (m->version <= target_v)
				break;
			char *target = db_step_target(db, m);
			plan_add(plan, STEP_MIGRATE_DOWN, PLAN_COMMIT, target, i);
			free(target);
			/* the run refuses it before anything changes: say so now */
			struct error refusal = ERROR_INIT;
			if (!m->down[0] && db_refuse_missing_down(in->st, db->name, live_v, target_v,
								  m->version, &refusal) < 0)
				plan_note(plan, refusal.msg);
		}
	}
	*data = sp;
	return sp->n;
}

/* Whether the backup policy asks for a backup before this switch. */
static int needs_backup(struct state *st, const struct schema_db *sdb)
{
	const struct migration_set *sets[] = { &sdb->target, &sdb->live };
	return db_backup_wanted(st, sdb->db, sets, 2, sets + 1, 1, sdb->from, sdb->to);
}

/* Bring db back to the version sw started from: down (or up) scripts
 * from sets, else the backup. ERROR_ATTENTION when neither works. */
static int go_back(struct state *st, long op, const struct database *db, struct db_conn *conn,
		   const struct schema_switch *sw, const struct migration_set *const *sets,
		   size_t nsets, struct error *err)
{
	return db_go_back(st, op, db, conn, sets, nsets, strtol(sw->from_version, NULL, 10),
			  sw->backup, err);
}

/* ---- the protocol ---- */

/* Refuse, before anything changes, what the switch of sdb could not
 * finish: an applied migration whose script changed, a version the
 * target's migrations cannot reach. */
static int check_reachable(struct state *st, const struct schema_db *sdb,
			   const struct db_applied *rows, size_t n, struct error *err)
{
	const struct database *db = sdb->db;
	const struct migration_set *sets[] = { &sdb->target, &sdb->live };
	for (size_t i = 0; i < n; i++) {
		const struct migration *m = migration_in(sets, 2, rows[i].version, 0);
		if (m && strcmp(m->up, rows[i].checksum))
			return error_set(err, ERROR_USAGE, "database '%s': migration %ld (%s) in '%s' "
					 "changed since it was applied (sha256 %.12s applied, %.12s "
					 "now): restore the applied script, or add a new migration",
					 db->name, m->version, m->name, db->migrations_written,
					 rows[i].checksum, m->up);
	}
	for (long v = sdb->from + 1; v <= sdb->to; v++)
		if (!migration_set_find(&sdb->target, v))
			return error_set(err, ERROR_FAILED, "database '%s' is at version %ld, but the "
					 "release's migrations start at %ld", db->name, sdb->from,
					 sdb->target.n ? sdb->target.v[0].version : 0);
	for (long v = sdb->from; !sdb->restore && v > sdb->to; v--)
		if (!migration_in(sets + 1, 1, v, 1))
			return db_refuse_missing_down(st, db->name, sdb->from, sdb->to, v, err);
	return 0;
}

static int prepare_one(struct state *st, long op, struct schema_db *sdb, long release,
		       struct error *err)
{
	const struct db_engine *e = db_engine_of(sdb->db);
	struct db_applied *rows;
	size_t n;

	if (sdb->parse_err.msg[0]) {
		*err = sdb->parse_err;
		return -1;
	}
	if (db_open_locked(sdb->db, 0, &sdb->conn, err) < 0)
		return -1;
	if (e->applied(sdb->conn, &rows, &n, err) < 0)
		return -1;
	sdb->from = sdb->at = db_newest_applied(rows, n);
	sdb->to = migration_set_latest(&sdb->target);
	int unreachable = check_reachable(st, sdb, rows, n, err);
	db_applied_free(rows, n);
	if (unreachable < 0)
		return -1;
	if (sdb->from == sdb->to)
		return 0;
	char *from = xstrfmt("%ld", sdb->from), *to = xstrfmt("%ld", sdb->to);
	int rc = schema_switch_begin(st, op, resource_schema.name, sdb->db->name, from, to, err);
	if (rc == 0 && needs_backup(st, sdb)) {
		long id;
		rc = db_backup_take(st, op, sdb->db, sdb->conn, from, release, 0, &id, err);
	}
	free(from);
	free(to);
	return rc;
}

static void close_all(struct schema_plan *sp)
{
	for (size_t i = 0; i < sp->n; i++)
		db_close_locked(sp->dbs[i].db, &sp->dbs[i].conn);
}

static int schema_check(struct state *st, long op, void *data, long live_id, struct error *err)
{
	(void)st, (void)op, (void)data, (void)live_id, (void)err;
	return 0;
}

/* Back to where sdb started, on its own connection, after a migration of
 * this commit failed (err says why): down scripts, else the backup; the
 * switch is then settled. When even that fails, err says both. */
static void commit_go_back(struct state *st, long op, struct schema_db *sdb, struct error *err)
{
	const struct migration_set *sets[] = { &sdb->target, &sdb->live };
	struct schema_switch *sw;
	size_t n;
	struct error back_err = ERROR_INIT;
	int rc = schema_switches_load(st, op, &sw, &n, &back_err);
	for (size_t i = 0; rc == 0 && i < n; i++)
		if (!strcmp(sw[i].database, sdb->db->name))
			rc = go_back(st, op, sdb->db, sdb->conn, &sw[i], sets, 2, &back_err);
	if (rc == 0)
		rc = schema_switch_settle(st, op, sdb->db->name, &back_err);
	if (n)
		schema_switches_free(sw, n);
	if (rc < 0)
		error_undo_failed(err, &back_err);
}

/* Restore the backup the plan chose (at the target's version `to`); the
 * database must then say it is at to. */
static int restore_to(struct state *st, long op, const struct schema_db *sdb, long to,
		      struct error *err)
{
	const struct db_engine *e = db_engine_of(sdb->db);
	struct db_applied *rows;
	size_t n;
	if (db_backup_restore(st, op, sdb->db, sdb->conn, sdb->restore, err) < 0 ||
	    e->applied(sdb->conn, &rows, &n, err) < 0)
		return -1;
	long at = db_newest_applied(rows, n);
	db_applied_free(rows, n);
	if (at != to)
		return error_set(err, ERROR_FAILED, "database '%s': backup %ld holds version %ld, "
				 "not %ld", sdb->db->name, sdb->restore, at, to);
	return 0;
}

/* Run the migrations of every database up to its target (online: only
 * those that may run while the old release runs). On a failure every
 * database this switch moved goes back before it returns (resource.h). */
static int migrate_all(struct state *st, long op, struct schema_plan *sp, int online,
		       struct error *err)
{
	long release = schema_op_release(st, op, 1);
	int rc = 0;

	for (size_t i = 0; i < sp->n && rc == 0; i++) {
		struct schema_db *sdb = &sp->dbs[i];
		const struct migration_set *sets[] = { &sdb->target, &sdb->live };
		long to = online ? online_to(st, &sdb->target, sdb->at, sdb->to) : sdb->to;
		if (sdb->at == to)
			continue;
		rc = schema_switch_migrating(st, op, sdb->db->name, err);
		if (rc == 0) {
			sdb->moved = 1;
			rc = sdb->restore && to < sdb->at
				? restore_to(st, op, sdb, to, err)
				: db_migrate_to(st, op, sdb->db, sdb->conn, sets, 2, to, release, err);
		}
		if (rc == 0)
			sdb->at = to;
	}
	if (rc < 0)
		for (size_t i = sp->n; i-- > 0;)
			if (sp->dbs[i].moved)
				commit_go_back(st, op, &sp->dbs[i], err);
	return rc;
}

/* Connect, check, journal and back up each database, then run the
 * migrations that may run before the services stop. */
static int schema_prepare(struct state *st, long op, void *data, struct error *err)
{
	struct schema_plan *sp = data;
	long release = schema_op_release(st, op, 0);
	int rc = 0;
	for (size_t i = 0; i < sp->n && rc == 0; i++)
		rc = prepare_one(st, op, &sp->dbs[i], release, err);
	if (rc == 0)
		rc = migrate_all(st, op, sp, 1, err);
	if (rc < 0) {
		/* nothing ran, or it went back: settled as they are */
		schema_switches_settle_unstarted(st, op);
		close_all(sp);
	}
	return rc;
}

static int schema_commit(struct state *st, long op, void *data, struct error *err)
{
	struct schema_plan *sp = data;
	int rc = migrate_all(st, op, sp, 0, err);
	close_all(sp);
	return rc;
}

/* Go back to where sw started from, on a connection of its own: undo,
 * revert and recover before the commit point (schema_side). */
static int go_back_one(struct state *st, long op, const struct database *db,
		       const struct schema_switch *sw, struct error *err)
{
	struct manifest from = MANIFEST_INIT, to = MANIFEST_INIT;
	struct migration_set to_set = MIGRATION_SET_INIT, from_set = MIGRATION_SET_INIT;
	struct error ignored = ERROR_INIT;
	struct db_conn *conn = NULL;
	long from_id = schema_op_release(st, op, 0), to_id = schema_op_release(st, op, 1);

	if (to_id && release_manifest(st, to_id, &to, &ignored) == 0)
		migration_set_from_manifest(&to, db->migrations, &to_set, &ignored);
	if (from_id && release_manifest(st, from_id, &from, &ignored) == 0)
		migration_set_from_manifest(&from, db->migrations, &from_set, &ignored);
	const struct migration_set *sets[] = { &to_set, &from_set };
	int rc = db_open_locked(db, 0, &conn, err);
	if (rc == 0)
		rc = go_back(st, op, db, conn, sw, sets, 2, err);
	db_close_locked(db, &conn);
	migration_set_free(&to_set);
	migration_set_free(&from_set);
	manifest_free(&to);
	manifest_free(&from);
	return rc;
}

static const struct schema_side built_in = { .kind = "schema", .go_back = go_back_one };

static int schema_undo(struct state *st, const struct config *cfg, long op, struct error *err)
{
	return schema_side_undo(&built_in, st, cfg, op, err);
}

static int schema_kept(struct state *st, const struct config *cfg, long op, struct error *err)
{
	(void)cfg;
	return schema_switch_kept(st, op, err);
}

static int schema_revert(struct state *st, const struct config *cfg, long op, long back_to,
			 struct error *err)
{
	int moved;
	(void)back_to;   /* the journal's from-version is back_to's */
	return schema_side_go_back_all(&built_in, st, cfg, op, &moved, err);
}

static int schema_finish(struct state *st, const struct config *cfg, long op, void *data,
			 int target_stays, struct error *err)
{
	(void)data;
	return schema_side_finish(&built_in, st, cfg, op, target_stays, err);
}

static int schema_recover(struct state *st, const struct config *cfg, long op,
			  enum switch_outcome *outcome, struct error *err)
{
	return schema_side_recover(&built_in, st, cfg, op, outcome, err);
}

/* A database's going back never depends on what finish drops. */
static int schema_recoverable_from_store(struct state *st, void *data)
{
	(void)st, (void)data;
	return 1;
}

static void schema_free(void *data)
{
	struct schema_plan *sp = data;
	if (!sp)
		return;
	close_all(sp);
	for (size_t i = 0; i < sp->n; i++) {
		migration_set_free(&sp->dbs[i].live);
		migration_set_free(&sp->dbs[i].target);
	}
	free(sp->dbs);
	free(sp);
}

const struct resource_kind resource_schema = {
	.name = "schema",
	.plan = schema_plan,
	.prepare = schema_prepare,
	.check = schema_check,
	.commit = schema_commit,
	.undo = schema_undo,
	.kept = schema_kept,
	.revert = schema_revert,
	.finish = schema_finish,
	.recover = schema_recover,
	.recoverable_from_store = schema_recoverable_from_store,
	.free_data = schema_free,
};
