/*
 * The deploy use case: record the live state, build the release a SOURCE
 * (folder, tarball or git:REV) describes, switch to it, verify, and go
 * back on its own when it fails.
 */
#include "core/usecase/ending.h"
#include "core/config.h"
#include "core/source.h"
#include "core/state.h"
#include "util/alloc.h"
#include "util/fs.h"

#include <stdlib.h>
#include <string.h>

/* What the source resolved to before anything is recorded. */
struct deploy_source {
	char *commit;            /* git:REV resolved */
	long built;              /* release already built from that commit */
};

/* Everything between the operation's first and last record. */
static int deploy_run(struct state *st, const struct config *cfg,
		      const struct deploy_request *req, const struct deploy_source *src,
		      const unsigned char *selected, long op, struct transition_report *tr,
		      struct error *err)
{
	struct manifest live = MANIFEST_INIT, target = MANIFEST_INIT;
	struct capture_stats stats = { 0 };
	struct release_meta meta = req->meta;
	char *root = NULL;
	int temporary = 0, rc = -1;
	long live_id, step;

	if (transition_record_live(st, cfg, op, "deploy", &live, &live_id, err) < 0)
		goto out;
	if (operation_step_begin(st, op, STEP_READ_SOURCE, req->source, &step, err) < 0)
		goto out;
	if (src->built) {
		/* Deployed before: the release is in the store, never rebuilt. */
		struct manifest built = MANIFEST_INIT;
		rc = release_manifest(st, src->built, &built, err);
		if (rc == 0)
			transition_target_from_release(cfg, selected, &live, &built, &target, NULL);
		manifest_free(&built);
	} else if (src->commit) {
		temporary = 1;
		rc = source_git_export(st, cfg, src->commit, op, &root, err);
	} else {
		rc = source_open(st, req->source, req->strip, op, &root, &temporary, err);
	}
	/* A tarball (or a git export) is someone else's: its files take the
	 * live owners. A folder is the operator's own tree, owners and all. */
	if (rc < 0 ||
	    (root && (source_check_holds_entries(req->source, root, req->strip, cfg, selected,
						 err) < 0 ||
		      transition_target_from_source(st, cfg, selected, root, temporary, &live,
						    &target, &stats, err) < 0 ||
		      source_check_links(req->source, cfg, &live, &target, err) < 0))) {
		operation_step_fail(st, step, err);
		rc = -1;
		goto out;
	}
	char *detail = src->built ? xstrfmt("commit %.12s is release %ld: not rebuilt",
					    src->commit, src->built)
				  : xstrfmt("%ld files read", stats.files);
	rc = operation_step_end(st, step, STEP_OK, detail, err);
	free(detail);
	if (rc < 0)
		goto out;
	meta.added = stats.added_bytes;
	meta.config = cfg;
	if (!meta.reason)
		meta.reason = "deploy";
	struct transition_request treq = {
		.selected = selected, .live_id = live_id, .live = &live, .target = &target,
		.meta = &meta, .preferred = src->built,
		.on_failure = req->no_auto_rollback ? ON_FAILURE_LEAVE : ON_FAILURE_ROLL_BACK,
	};
	rc = transition_run(st, cfg, op, &treq, tr, err);
out:
	source_close(root, temporary);
	manifest_free(&live);
	manifest_free(&target);
	return rc;
}

/* Check what can be checked before anything is recorded: bad input
 * changes nothing, not even the history. */
static int deploy_check_source(struct state *st, const struct config *cfg,
			       const struct deploy_request *req, struct deploy_source *src,
			       struct error *err)
{
	if (strncmp(req->source, "git:", 4)) {
		if (!path_exists(req->source))
			return error_set(err, ERROR_USAGE, "source '%s' does not exist", req->source);
		return 0;
	}
	if (req->meta.commit)
		return error_set(err, ERROR_USAGE, "--commit cannot be given with a git source");
	if (req->strip)
		return error_set(err, ERROR_USAGE, "--strip-components does not apply to a git "
				 "source (the build runs in the commit's own tree)");
	if (source_git_resolve(cfg, req->source + 4, &src->commit, err) < 0)
		return -1;
	src->built = release_with_commit(st, src->commit);
	return 0;
}

void usecase_deploy(struct state *st, const struct config *cfg, const struct deploy_request *req,
		    struct usecase_report *rep)
{
	struct deploy_source src = { NULL, 0 };
	struct transition_report tr;
	struct error err = ERROR_INIT;
	unsigned char *selected = NULL;

	rep->live_before = state_live_release(st);
	memset(&tr, 0, sizeof(tr));
	if (deploy_check_source(st, cfg, req, &src, &err) < 0 ||
	    (req->services && config_select_services(cfg, req->services, &selected, &err) < 0) ||
	    operation_begin(st, "deploy", req->source, req->meta.reason, &rep->op, &err) < 0) {
		usecase_fail(st, cfg, rep, &err);
	} else {
		struct deploy_request resolved = *req;
		if (src.commit)
			resolved.meta.commit = src.commit;
		int rc = deploy_run(st, cfg, &resolved, &src, selected, rep->op, &tr, &err);
		/* What ran once verified: the images of the release now live. */
		if (rc == 0 && tr.outcome == TRANSITION_OK)
			usecase_record_images(st, cfg, tr.to_id, rep);
		usecase_end_transition(st, cfg, rc, &tr, &err, rep);
	}
	free(selected);
	free(src.commit);
	transition_report_clear(&tr);
}
