/*
 * The schema resource of `command` databases: an existing migration tool
 * (alembic, sqitch, golang-migrate, `npm run db:*`) takes the database to
 * the release, driven by the database's argv lists (core/db/command.h).
 * The tool knows its migrations; lastgood knows the releases:
 *
 *   plan      a switch takes part when the files of the tool's migrations
 *             folder (`migrations`) differ between the releases, or, with
 *             no such folder named, when the files of the database's
 *             services change: "back up" (prepare, with a backup command)
 *             and "migrate" (commit)
 *
 * The tool reads its migrations from the live files, and the way down
 * needs the newer release's: so there are two entries in the table of
 * resource kinds, "tool early" before the files (a switch to an older
 * release: the downgrade runs while the newer files are still live) and
 * "tool late" after them (a new or newer release: the upgrade runs once
 * its files are live); undone in reverse, each goes back with the newer
 * files live too. Which is older is told by the release numbers.
 *
 *   prepare   `current`: where the database starts from (journaled), and
 *             the backup
 *   commit    to a release that ran before: `downgrade {version}` to the
 *             version it ran with (else `upgrade` when that is not where
 *             the tool got); to a new release: `upgrade` (the tool's
 *             migrations are the release's, live by now); then `current`
 *             again: the version the release runs with
 *   going back (a failed migration, a failed release, recover)
 *             `downgrade {version}` to where it started, checked with
 *             `current`; else the backup (`restore`)
 *
 * Versions are the tool's own words (the first word of the last line
 * `current` prints).
 *
 * A database backed up and restored only (Redis, MongoDB: no tool) takes
 * part the same way, with a "back up" step alone: nothing of it is
 * journaled or recorded, and going back leaves it alone.
 */
#include "core/resource/tool.h"
#include "core/resource/resource.h"
#include "core/resource/schema_journal.h"
#include "core/config.h"
#include "core/db/command.h"
#include "core/db/steps.h"
#include "core/manifest.h"
#include "core/operation.h"
#include "core/plan.h"
#include "core/state.h"
#include "core/switch.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/strbuf.h"

#include <stdlib.h>
#include <string.h>

struct tool_db {
	const struct database *db;
	char *from;                  /* `current` when prepared */
};

struct tool_plan {
	const struct resource_kind *kind;   /* early or late */
	struct tool_db *dbs;
	size_t n;
};

extern const struct resource_kind resource_tool_early, resource_tool_late;

/* A digest of the files of release m under folder: names and contents. */
static void folder_digest(const struct manifest *m, const char *folder, char hex[HASH_HEX_SIZE])
{
	struct hasher h;
	size_t flen = strlen(folder);
	hasher_init(&h);
	for (size_t i = 0; i < m->n; i++) {
		const struct manifest_entry *e = &m->entries[i];
		size_t elen = strlen(e->path);
		/* only an entry that holds the folder or lies in it has its files */
		if (strncmp(e->path, folder, elen < flen ? elen : flen) ||
		    (elen < flen && folder[elen] != '/') || (elen > flen && e->path[flen] != '/'))
			continue;
		for (size_t k = 0; k < e->nnodes; k++) {
			const struct manifest_node *node = &e->nodes[k];
			char *path = *node->rel ? xstrfmt("%s/%s", e->path, node->rel)
						: xstrdup(e->path);
			if (!strncmp(path, folder, flen) && (path[flen] == '/' || !path[flen])) {
				hasher_update(&h, path + flen, strlen(path + flen) + 1);
				hasher_update(&h, node->digest, sizeof(node->digest));
				if (node->link)
					hasher_update(&h, node->link, strlen(node->link) + 1);
			}
			free(path);
		}
	}
	hasher_final(&h, hex);
}

/* Whether a switch from in->live to in->target changes a file of one of
 * db's services. Read from the files that change, not from the plan's
 * `changed` marks: "tool early" plans before the files do. */
static int services_change(const struct resource_input *in, const struct database *db)
{
	const struct switch_plan *files = in->files;
	int found = 0;
	for (size_t i = 0; i < files->n && !found; i++) {
		size_t s = config_service_of_path(in->cfg,
						  switch_change_entry(&files->changes[i])->path);
		for (size_t k = 0; s < in->cfg->nservices && k < db->nservices && !found; k++)
			found = !strcmp(in->cfg->services[s].name, db->services[k]);
	}
	return found;
}

static int takes_part(const struct resource_input *in, const struct database *db)
{
	if (db->migrations) {
		char live[HASH_HEX_SIZE], target[HASH_HEX_SIZE];
		folder_digest(in->live, db->migrations, live);
		folder_digest(in->target, db->migrations, target);
		return strcmp(live, target) != 0;
	}
	return services_change(in, db);
}

static size_t tool_plan(const struct resource_input *in, struct plan *plan,
			unsigned char *changed, void **data, const struct resource_kind *kind)
{
	const struct config *cfg = in->cfg;
	struct tool_plan *tp = xcalloc(1, sizeof(*tp));
	int forward = !in->target_id || in->target_id > in->live_id;

	tp->kind = kind;
	tp->dbs = xcalloc(cfg->ndatabases ? cfg->ndatabases : 1, sizeof(*tp->dbs));
	for (size_t i = 0; forward == (kind == &resource_tool_late) && i < cfg->ndatabases; i++) {
		const struct database *db = &cfg->databases[i];
		if (db->engine != DB_ENGINE_COMMAND || !takes_part(in, db))
			continue;
		tp->dbs[tp->n++].db = db;
		for (size_t s = 0; s < db->nservices; s++) {
			const struct service *svc = config_find_service(cfg, db->services[s]);
			if (svc)
				changed[svc - cfg->services] = 1;
		}
		if (db->backup_cmd.n)
			plan_add(plan, STEP_BACKUP, PLAN_PREPARE, db->name, i);
		if (db_command_migrates(db))
			plan_add(plan, STEP_MIGRATE, PLAN_COMMIT, db->name, i);
	}
	*data = tp;
	return tp->n;
}

static size_t tool_plan_early(const struct resource_input *in, struct plan *plan,
			      unsigned char *changed, void **data)
{
	return tool_plan(in, plan, changed, data, &resource_tool_early);
}

static size_t tool_plan_late(const struct resource_input *in, struct plan *plan,
			     unsigned char *changed, void **data)
{
	return tool_plan(in, plan, changed, data, &resource_tool_late);
}

/* Where a switch to release takes db: the version it ran with; NULL for
 * a new release (the tool's newest: upgrade). A switch back to a release
 * that recorded none cannot know: refused before anything changes. */
static int tool_target(struct state *st, const struct tool_plan *tp, const struct database *db,
		       long release, char **want, struct error *err)
{
	*want = release ? schema_release_version(st, release, db->name) : NULL;
	if (*want || tp->kind == &resource_tool_late)
		return 0;
	return error_set(err, ERROR_FAILED, "release %ld recorded no version of database '%s': "
			 "lastgood cannot tell where its tool should take it; run its downgrade "
			 "by hand first", release, db->name);
}

static int tool_prepare(struct state *st, long op, void *data, struct error *err)
{
	struct tool_plan *tp = data;
	long release = schema_op_release(st, op, 0), to = schema_op_release(st, op, 1);
	for (size_t i = 0; i < tp->n; i++) {
		struct tool_db *t = &tp->dbs[i];
		char *want = NULL;
		long id;
		if (!db_command_migrates(t->db)) {
			if (db_backup_take(st, op, t->db, NULL, "", release, 0, &id, err) < 0) {
				schema_switches_settle_unstarted(st, op);
				return -1;
			}
			continue;
		}
		int rc = tool_target(st, tp, t->db, to, &want, err);
		free(want);
		if (rc < 0 || db_command_current(t->db, &t->from, err) < 0 ||
		    schema_switch_begin(st, op, tp->kind->name, t->db->name, t->from, t->from,
					err) < 0 ||
		    (t->db->backup_cmd.n &&
		     db_backup_take(st, op, t->db, NULL, t->from, release, 0, &id, err) < 0)) {
			schema_switches_settle_unstarted(st, op);
			return -1;
		}
	}
	return 0;
}

static int tool_check(struct state *st, long op, void *data, long live_id, struct error *err)
{
	(void)st, (void)op, (void)data, (void)live_id, (void)err;
	return 0;
}

int tool_move(struct state *st, long op, const struct database *db,
		     enum step_kind kind, const char *from, const char *want, char **reached,
		     struct error *err)
{
	long step;
	*reached = NULL;
	if (operation_step_begin(st, op, kind, db->name, &step, err) < 0)
		return -1;
	int rc = want ? db_command_run(db, "downgrade", &db->downgrade, want, NULL, err)
		      : db_command_run(db, "upgrade", &db->upgrade, NULL, NULL, err);
	if (rc == 0)
		rc = db_command_current(db, reached, err);
	if (rc == 0 && want && strcmp(*reached, want)) {
		free(*reached);
		*reached = NULL;
		rc = db_command_run(db, "upgrade", &db->upgrade, NULL, NULL, err);
		if (rc == 0)
			rc = db_command_current(db, reached, err);
		if (rc == 0 && strcmp(*reached, want))
			rc = error_set(err, ERROR_FAILED, "database '%s': the tool is at version '%s', "
				       "not '%s', after downgrade and upgrade", db->name, *reached,
				       want);
	}
	if (rc < 0) {
		operation_step_fail(st, step, err);
		return -1;
	}
	char *detail = xstrfmt("%s -> %s", *from ? from : "none", **reached ? *reached : "none");
	rc = operation_step_end(st, step, STEP_OK, detail, err);
	free(detail);
	return rc;
}

int tool_go_back(struct state *st, long op, const struct database *db,
			const struct schema_switch *sw, struct error *err)
{
	struct error first = ERROR_INIT;
	char *now = NULL, *reached = NULL;
	int rc = db_command_current(db, &now, &first);
	if (rc == 0 && strcmp(now, sw->from_version)) {
		if (!*sw->from_version)
			rc = error_set(&first, ERROR_FAILED, "database '%s' had no version before: "
				       "there is no version to downgrade to", db->name);
		else
			rc = tool_move(st, op, db, STEP_MIGRATE_DOWN, now, sw->from_version, &reached,
				       &first);
	}
	free(now);
	free(reached);
	if (rc == 0)
		return 0;
	if (sw->backup && db_backup_restore(st, op, db, NULL, sw->backup, err) == 0)
		return 0;
	if (!sw->backup)
		*err = first;
	error_prefix(err, "database '%s' could not be brought back to version '%s'", db->name,
		     sw->from_version);
	err->kind = ERROR_ATTENTION;
	return -1;
}

static const struct schema_side early_side = { .kind = "tool early", .go_back = tool_go_back };
static const struct schema_side late_side = { .kind = "tool late", .go_back = tool_go_back };

/* Go back the databases of this commit that moved, after one failed. */
static void commit_go_back(struct state *st, long op, const struct tool_plan *tp, size_t touched,
			   struct error *err)
{
	struct schema_switch *sw;
	size_t n;
	struct error back_err = ERROR_INIT;
	int rc = schema_switches_load(st, op, &sw, &n, &back_err);
	for (size_t i = 0; rc == 0 && i < n; i++)
		for (size_t k = 0; rc == 0 && k < touched; k++)
			if (!strcmp(sw[i].database, tp->dbs[k].db->name)) {
				rc = tool_go_back(st, op, tp->dbs[k].db, &sw[i], &back_err);
				if (rc == 0)
					rc = schema_switch_settle(st, op, sw[i].database, &back_err);
			}
	schema_switches_free(sw, n);
	if (rc < 0)
		error_undo_failed(err, &back_err);
}

static int tool_commit(struct state *st, long op, void *data, struct error *err)
{
	struct tool_plan *tp = data;
	long release = schema_op_release(st, op, 1);
	size_t touched = 0;
	int rc = 0;

	for (size_t i = 0; i < tp->n && rc == 0; i++) {
		const struct tool_db *t = &tp->dbs[i];
		char *want = NULL, *reached = NULL;
		if (!db_command_migrates(t->db))
			continue;
		rc = tool_target(st, tp, t->db, release, &want, err);
		if (rc == 0)
			rc = schema_switch_migrating(st, op, t->db->name, err);
		if (rc == 0) {
			touched = i + 1;
			rc = tool_move(st, op, t->db, STEP_MIGRATE, t->from, want, &reached, err);
		}
		if (rc == 0)
			rc = schema_switch_reached(st, op, t->db->name, reached, err);
		free(want);
		free(reached);
	}
	if (rc < 0)
		commit_go_back(st, op, tp, touched, err);
	return rc;
}

static int early_undo(struct state *st, const struct config *cfg, long op, struct error *err)
{
	return schema_side_undo(&early_side, st, cfg, op, err);
}

static int late_undo(struct state *st, const struct config *cfg, long op, struct error *err)
{
	return schema_side_undo(&late_side, st, cfg, op, err);
}

static int tool_kept(struct state *st, const struct config *cfg, long op, struct error *err)
{
	(void)cfg;
	return schema_switch_kept(st, op, err);
}

static int early_revert(struct state *st, const struct config *cfg, long op, long back_to,
			struct error *err)
{
	int moved;
	(void)back_to;   /* the journal's from-version is back_to's */
	return schema_side_go_back_all(&early_side, st, cfg, op, &moved, err);
}

static int late_revert(struct state *st, const struct config *cfg, long op, long back_to,
		       struct error *err)
{
	int moved;
	(void)back_to;
	return schema_side_go_back_all(&late_side, st, cfg, op, &moved, err);
}

static int early_finish(struct state *st, const struct config *cfg, long op, void *data,
			int target_stays, struct error *err)
{
	(void)data;
	return schema_side_finish(&early_side, st, cfg, op, target_stays, err);
}

static int late_finish(struct state *st, const struct config *cfg, long op, void *data,
		       int target_stays, struct error *err)
{
	(void)data;
	return schema_side_finish(&late_side, st, cfg, op, target_stays, err);
}

static int early_recover(struct state *st, const struct config *cfg, long op,
			 enum switch_outcome *outcome, struct error *err)
{
	return schema_side_recover(&early_side, st, cfg, op, outcome, err);
}

static int late_recover(struct state *st, const struct config *cfg, long op,
			enum switch_outcome *outcome, struct error *err)
{
	return schema_side_recover(&late_side, st, cfg, op, outcome, err);
}

/* A database's going back never depends on what finish drops. */
static int tool_recoverable_from_store(struct state *st, void *data)
{
	(void)st, (void)data;
	return 1;
}

static void tool_free(void *data)
{
	struct tool_plan *tp = data;
	if (!tp)
		return;
	for (size_t i = 0; i < tp->n; i++)
		free(tp->dbs[i].from);
	free(tp->dbs);
	free(tp);
}

const struct resource_kind resource_tool_early = {
	.name = "tool early",
	.plan = tool_plan_early,
	.prepare = tool_prepare,
	.check = tool_check,
	.commit = tool_commit,
	.undo = early_undo,
	.kept = tool_kept,
	.revert = early_revert,
	.finish = early_finish,
	.recover = early_recover,
	.recoverable_from_store = tool_recoverable_from_store,
	.free_data = tool_free,
};

const struct resource_kind resource_tool_late = {
	.name = "tool late",
	.plan = tool_plan_late,
	.prepare = tool_prepare,
	.check = tool_check,
	.commit = tool_commit,
	.undo = late_undo,
	.kept = tool_kept,
	.revert = late_revert,
	.finish = late_finish,
	.recover = late_recover,
	.recoverable_from_store = tool_recoverable_from_store,
	.free_data = tool_free,
};
