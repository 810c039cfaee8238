/*
 * The snapshot use case: the live files of every service recorded as a
 * release, made the live release, with each database's schema version and
 * each compose service's image.
 */
#include "core/usecase/ending.h"
#include "core/config.h"
#include "core/db/command.h"
#include "core/db/steps.h"
#include "core/gc.h"
#include "core/manifest.h"
#include "core/resource/schema_journal.h"
#include "core/state.h"
#include "util/alloc.h"
#include "util/format.h"

#include <stdlib.h>

static int snapshot_record(struct state *st, const struct config *cfg,
			   const struct release_meta *meta, long op, long *id, int *created,
			   struct error *err)
{
	struct manifest m = MANIFEST_INIT;
	struct capture_stats stats = { 0 };
	struct release_meta with_added = *meta;
	char size[FORMAT_SIZE], added[FORMAT_SIZE];
	long step;

	if (operation_step_begin(st, op, STEP_CAPTURE, NULL, &step, err) < 0)
		return -1;
	int rc = manifest_capture(st, cfg, 0, &m, &stats, err);
	if (rc == 0) {
		with_added.added = stats.added_bytes;
		with_added.config = cfg;
		rc = release_create(st, &m, &with_added, id, created, err);
	}
	manifest_free(&m);
	if (rc < 0) {
		operation_step_fail(st, step, err);
		return -1;
	}
	char *detail = xstrfmt("%ld files, %s, %s new; release %ld%s", stats.files,
			       format_bytes(stats.bytes, size), format_bytes(stats.added_bytes, added),
			       *id, *created ? "" : " (unchanged)");
	rc = operation_step_end(st, step, STEP_OK, detail, err);
	free(detail);
	if (rc < 0)
		return -1;
	return state_set_live_release(st, *id, err);
}

/* Record with release the version each database is at, as deploy does
 * for the releases it makes. A database that cannot be read (a server
 * down) gets nothing recorded, and a line in rep->unversioned: the files
 * are what a snapshot records and the operator asked for them, and a
 * later rollback to the release refuses (command engine) or goes by its
 * migrations (built-in) rather than trust a guessed version. */
static int snapshot_record_schemas(struct state *st, const struct config *cfg, long release,
				   struct usecase_report *rep, struct error *err)
{
	for (size_t i = 0; i < cfg->ndatabases; i++) {
		const struct database *db = &cfg->databases[i];
		struct error unread = ERROR_INIT;
		char *version;
		/* backups alone (a command database with no tool) have no version */
		if (db->engine == DB_ENGINE_COMMAND ? !db_command_migrates(db) : !db->migrations)
			continue;
		if (db_version_now(db, &version, &unread) < 0) {
			ALLOC_GROW(rep->unversioned, rep->nunversioned + 1, rep->unversioned_alloc);
			rep->unversioned[rep->nunversioned++] =
				xstrfmt("no schema version recorded with release %ld: %s", release,
					unread.msg);
			continue;
		}
		int rc = schema_record_version(st, release, db->name, version, err);
		free(version);
		if (rc < 0)
			return -1;
	}
	return 0;
}

void usecase_snapshot(struct state *st, const struct config *cfg, const struct release_meta *meta,
		      struct usecase_report *rep)
{
	struct error err = ERROR_INIT;

	rep->live_before = state_live_release(st);
	if (config_check_files(cfg, &err) < 0 ||
	    operation_begin(st, "snapshot", meta->label, meta->reason, &rep->op, &err) < 0 ||
	    snapshot_record(st, cfg, meta, rep->op, &rep->target, &rep->created, &err) < 0) {
		usecase_fail(st, cfg, rep, &err);
		return;
	}
	/* Recorded and live: what fails from here leaves the operation for
	 * recover to close, as the release is live already. */
	usecase_record_images(st, cfg, rep->target, rep);
	if (snapshot_record_schemas(st, cfg, rep->target, rep, &err) < 0 ||
	    operation_set_releases(st, rep->op, 0, rep->target, &err) < 0)
		usecase_end(st, cfg, rep, USECASE_FAILED, OP_RUNNING, &err);
	else if (operation_end(st, rep->op, OP_OK, NULL, &err) < 0)
		usecase_end(st, cfg, rep, USECASE_FAILED, OP_RUNNING, &err);
	else if (gc_after_record(st, cfg->keep_releases, &err) < 0)
		usecase_end(st, cfg, rep, USECASE_FAILED, OP_OK, &err);
	else
		usecase_end(st, cfg, rep, USECASE_DONE, OP_OK, NULL);
}
