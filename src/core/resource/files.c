/*
 * The files resource: a release's `files` entries, switched by switch.h
 * (stage beside, swap by rename, keep the old copies until the verdict).
 * This file adapts it to the resource protocol (resource.h).
 */
#include "core/resource/resource.h"
#include "core/config.h"
#include "core/manifest.h"
#include "core/operation.h"
#include "core/plan.h"
#include "core/state.h"
#include "core/store.h"
#include "core/switch.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/hash.h"

#include <stdlib.h>
#include <string.h>

struct files_plan {
	const struct switch_plan *changes;   /* the transition's own */
	long long staged_ns;     /* manifest_cache_clock() once staged */
};

static size_t files_plan(const struct resource_input *in, struct plan *plan,
			 unsigned char *changed, void **data)
{
	struct files_plan *fp = xcalloc(1, sizeof(*fp));
	fp->changes = in->files;
	for (size_t i = 0; i < fp->changes->n; i++) {
		const struct switch_change *c = &fp->changes->changes[i];
		const char *path = switch_change_entry(c)->path;
		size_t s = config_service_of_path(in->cfg, path);
		if (s < in->cfg->nservices)
			changed[s] = 1;
		if (c->to)
			plan_add(plan, STEP_STAGE, PLAN_PREPARE, path, i);
	}
	if (fp->changes->n)
		plan_add(plan, STEP_CHECK_LIVE, PLAN_CHECK, NULL, 0);
	for (size_t i = 0; i < fp->changes->n; i++) {
		const struct switch_change *c = &fp->changes->changes[i];
		plan_add(plan, c->to ? STEP_SWAP : STEP_REMOVE, PLAN_COMMIT,
			 switch_change_entry(c)->path, i);
	}
	if (fp->changes->n)
		plan_add(plan, STEP_CLEAN_UP, PLAN_FINISH, NULL, 0);
	*data = fp;
	return fp->changes->n;
}

/* A switch where other kinds change and no file does leaves the files
 * out of every step. */
static int files_prepare(struct state *st, long op, void *data, struct error *err)
{
	struct files_plan *fp = data;
	if (!fp->changes->n)
		return 0;
	if (switch_prepare(st, op, fp->changes, err) < 0)
		return -1;
	fp->staged_ns = manifest_cache_clock();
	return 0;
}

/*
 * A live entry about to be swapped out must still be what was recorded:
 * someone may have edited it since, while the services took their
 * stop_timeout to stop, and that edit would be in no release once it is
 * swapped out. It is captured again (the stat cache makes that a stat per
 * unchanged file) and compared; a change stops the switch, which is then
 * undone, so the edit stays live and the next operation records it.
 */
static int files_check(struct state *st, long op, void *data, long live_id, struct error *err)
{
	const struct switch_plan *plan = ((struct files_plan *)data)->changes;
	long long started = clock_wall_ms();
	if (!plan->n)
		return 0;
	for (size_t i = 0; i < plan->n; i++) {
		const struct manifest_entry *from = plan->changes[i].from;
		const struct manifest_entry *e = switch_change_entry(&plan->changes[i]);
		int present, same = 0;
		if (manifest_entry_present(e->path, &present, err) < 0)
			return -1;
		if (present && from) {
			struct manifest_entry now;
			memset(&now, 0, sizeof(now));
			if (manifest_capture_entry(st, from->service, from->path, from->path,
						   CAPTURE_CACHE_READ_ONLY, &now, NULL, err) < 0)
				return -1;
			same = !strcmp(now.digest, from->digest);
			manifest_entry_free(&now);
		} else {
			same = !present && !from;
		}
		if (same)
			continue;
		error_set(err, ERROR_FAILED, "'%s' changed after it was recorded%s%.0ld, while the "
			  "services were stopping: nothing was switched and they are started again; "
			  "run the command again to record the change first", e->path,
			  live_id ? " as part of release " : "", live_id);
		struct error ignored = ERROR_INIT;
		operation_step_note(st, op, STEP_CHECK_LIVE, e->path, STEP_FAILED,
				    err->msg, &ignored);
		return -1;
	}
	return operation_step_record(st, op, STEP_CHECK_LIVE, NULL, STEP_OK,
				     NULL, started, clock_wall_ms(), err);
}

static int files_commit(struct state *st, long op, void *data, struct error *err)
{
	const struct files_plan *fp = data;
	return fp->changes->n ? switch_swap(st, op, err) : 0;
}

static int files_finish(struct state *st, const struct config *cfg, long op, void *data,
			int target_stays, struct error *err)
{
	struct files_plan *fp = data;
	(void)cfg;
	if (fp && target_stays)
		switch_remember_staged(st, op, fp->changes, fp->staged_ns);
	return switch_finish(st, op, err);
}

/* Every file the old copies hold is in the store, intact (re-hashed: they
 * may be the only good copy). */
static int files_recoverable_from_store(struct state *st, void *data)
{
	const struct switch_plan *plan = ((struct files_plan *)data)->changes;
	struct error ignored = ERROR_INIT;
	for (size_t i = 0; i < plan->n; i++) {
		const struct manifest_entry *from = plan->changes[i].from;
		for (size_t k = 0; from && k < from->nnodes; k++) {
			char hex[HASH_HEX_SIZE];
			if (from->nodes[k].type != NODE_FILE)
				continue;
			hash_to_hex(from->nodes[k].digest, hex);
			if (store_verify(&st->store, hex, &ignored) < 0)
				return 0;
		}
	}
	return 1;
}

/* The journal says all the switch of files needs (switch.h). */
static int files_undo(struct state *st, const struct config *cfg, long op, struct error *err)
{
	(void)cfg;
	return switch_undo(st, op, err);
}

static int files_kept(struct state *st, const struct config *cfg, long op, struct error *err)
{
	(void)cfg;
	return switch_kept_copies(st, op, err);
}

static int files_revert(struct state *st, const struct config *cfg, long op, long back_to,
			struct error *err)
{
	(void)cfg;
	return switch_revert(st, op, back_to, err);
}

static int files_recover(struct state *st, const struct config *cfg, long op,
			 enum switch_outcome *outcome, struct error *err)
{
	(void)cfg;
	return switch_recover(st, op, outcome, err);
}

static void files_free(void *data)
{
	free(data);
}

const struct resource_kind resource_files = {
	.name = "files",
	.plan = files_plan,
	.prepare = files_prepare,
	.check = files_check,
	.commit = files_commit,
	.undo = files_undo,
	.kept = files_kept,
	.revert = files_revert,
	.finish = files_finish,
	.recover = files_recover,
	.recoverable_from_store = files_recoverable_from_store,
	.free_data = files_free,
};
