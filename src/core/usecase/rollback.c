/*
 * The rollback use case: a recorded release back live, whole or for some
 * services only, and with --config its config file too; and the switch
 * back to a recorded release that recover shares.
 */
#include "core/usecase/ending.h"
#include "core/plan.h"
#include "core/config.h"
#include "core/manifest.h"
#include "core/state.h"
#include "util/alloc.h"
#include "util/strbuf.h"

#include <stdlib.h>
#include <string.h>

int usecase_switch_back(struct state *st, const struct config *cfg, long op,
			const struct switch_back *req, struct strbuf *left_alone,
			struct transition_report *tr, struct error *err)
{
	struct manifest live = MANIFEST_INIT, release = MANIFEST_INIT, target = MANIFEST_INIT;
	const struct manifest *to = &release;
	long live_id = state_live_release(st);
	int rc = -1;

	if (req->record_as ? transition_record_live(st, cfg, op, req->record_as, &live, &live_id,
						    err) < 0
			   : release_manifest(st, live_id, &live, err) < 0)
		goto out;
	if (release_manifest(st, req->target_id, &release, err) < 0)
		goto out;
	if (req->record_as) {
		transition_target_from_release(cfg, req->selected, &live, &release, &target,
					       left_alone);
		to = &target;
		if (left_alone->len && operation_step_note(st, op, STEP_LEFT_ALONE, NULL, STEP_SKIPPED,
							   left_alone->buf, err) < 0)
			goto out;
	}
	struct transition_request treq = {
		.selected = req->selected, .live_id = live_id, .live = &live, .target = to,
		.preferred = req->target_id, .meta = req->meta, .on_failure = ON_FAILURE_STOP,
		.keep_record = req->keep_record, .restore_backup = req->restore_backup,
	};
	rc = transition_run(st, cfg, op, &treq, tr, err);
out:
	manifest_free(&live);
	manifest_free(&release);
	manifest_free(&target);
	return rc;
}

int usecase_rollback_plan(struct state *st, const struct config *cfg, long target_id,
			  const unsigned char *selected, int with_config, int restore_backup,
			  struct plan *plan,
			  struct strbuf *left_alone, long *live_id, struct error *err)
{
	struct manifest live = MANIFEST_INIT, release = MANIFEST_INIT, target = MANIFEST_INIT;
	struct plan switch_steps = PLAN_INIT;

	*live_id = state_live_release(st);
	if ((*live_id && release_manifest(st, *live_id, &live, err) < 0) ||
	    release_manifest(st, target_id, &release, err) < 0) {
		manifest_free(&live);
		return -1;
	}
	size_t before = left_alone->len;
	transition_target_from_release(cfg, selected, &live, &release, &target, left_alone);
	plan_add(plan, STEP_RECORD_LIVE, PLAN_RECORD, NULL, 0);
	if (left_alone->len > before)
		plan_add(plan, STEP_LEFT_ALONE, PLAN_RECORD, NULL, 0);
	struct transition_request req = {
		.selected = selected, .live_id = *live_id, .live = &live, .target = &target,
		.preferred = target_id, .restore_backup = restore_backup,
	};
	transition_plan(st, cfg, &req, &switch_steps);
	for (size_t i = 0; i < switch_steps.n; i++) {
		const struct plan_step *step = &switch_steps.steps[i];
		plan_add(plan, step->kind, step->phase, step->target, step->index);
		if (step->note)
			plan_note(plan, step->note);
	}
	if (with_config)
		plan_add(plan, STEP_RESTORE_CONFIG, PLAN_FINISH, cfg->path, 0);
	plan_free(&switch_steps);
	manifest_free(&live);
	manifest_free(&release);
	manifest_free(&target);
	return 0;
}

int usecase_rollback_target(struct state *st, const char *ref, int force, long *id,
			    struct error *err)
{
	struct release r;
	if (ref ? release_resolve(st, ref, id, err) < 0 : release_default_target(st, id, err) < 0)
		return -1;
	if (release_get(st, *id, &r, err) < 0)
		return -1;
	int bad = r.mark == MARK_BAD;
	release_clear(&r);
	if (bad && !force)
		return error_set(err, ERROR_USAGE, "release %ld is marked bad; add --force to "
				 "roll back to it anyway", *id);
	return 0;
}

/*
 * --config: the config release id was recorded with, parsed as the config
 * file it is to become (*restored), and held to the checks any config
 * gets here. It must keep its state where this one does: the record of
 * the rollback lives there.
 */
static int rollback_load_config(struct state *st, const struct config *cfg,
				const struct rollback_request *req, long id,
				struct config *restored, struct error *err)
{
	struct strbuf text = STRBUF_INIT;
	int rc = release_config_text(st, id, &text, err);
	if (rc == 0 && config_parse(req->config_path, text.buf, text.len, restored, err) < 0) {
		error_prefix(err, "the config recorded with release %ld does not load", id);
		rc = -1;
	}
	explicit_bzero(text.buf, text.len);
	strbuf_release(&text);
	if (rc < 0)
		return -1;
	if (!req->state_dir && strcmp(restored->state_dir, cfg->state_dir))
		rc = error_set(err, ERROR_USAGE, "the config recorded with release %ld keeps its "
			       "state in '%s', not in '%s' where this record is; restore it by hand",
			       id, restored->state_dir, cfg->state_dir);
	else if (config_check_live_paths(restored, st->dir, "", err) < 0 ||
		 config_check_parents(restored, err) < 0)
		rc = -1;
	if (rc < 0) {
		error_prefix(err, "cannot restore the config of release %ld", id);
		config_free(restored);
	}
	return rc;
}

/* Once the target is live and verified: its config over the config file,
 * as a step of the operation; rep->config_written says what was done. */
static int rollback_write_config(struct state *st, const struct config *cfg,
				 const struct rollback_request *req, long target_id,
				 const struct config *restored, struct usecase_report *rep,
				 struct error *err)
{
	char *kept = NULL;
	long step;

	/* cfg is the file's text, unless the file did not load */
	if (!req->config_unloaded && cfg->text_len == restored->text_len &&
	    !memcmp(cfg->text, restored->text, restored->text_len)) {
		char *detail = xstrfmt("the config file already is release %ld's", target_id);
		int rc = operation_step_note(st, rep->op, STEP_RESTORE_CONFIG, cfg->path, STEP_OK,
					     detail, err);
		free(detail);
		return rc;
	}
	if (operation_step_begin(st, rep->op, STEP_RESTORE_CONFIG, cfg->path, &step, err) < 0)
		return -1;
	if (config_restore(restored, rep->op, &kept, err) < 0) {
		operation_step_fail(st, step, err);
		free(kept);
		return -1;
	}
	char *detail = kept ? xstrfmt("config of release %ld written; the one it replaced is '%s'",
				      target_id, kept)
			    : xstrfmt("config of release %ld written", target_id);
	free(kept);
	int rc = operation_step_end(st, step, STEP_OK, detail, err);
	if (rc == 0)
		rep->config_written = detail;
	else
		free(detail);
	return rc;
}

/* The switch runs with the config in use, whatever --config asks: it
 * records the live files, judges which paths it owns, and stops and starts
 * the services as they run now. A config recorded with another release
 * names other paths or defines the services otherwise, and mixing the two
 * would move out files a running service uses. --config writes the
 * release's config once the switch is done. */
void usecase_rollback(struct state *st, struct config *cfg, const struct rollback_request *req,
		      struct usecase_report *rep)
{
	struct error err = ERROR_INIT;
	struct transition_report tr;
	struct config restored;
	long target_id;

	rep->live_before = state_live_release(st);
	if (usecase_rollback_target(st, req->ref, req->force, &target_id, &err) < 0 ||
	    (req->config && rollback_load_config(st, cfg, req, target_id, &restored, &err) < 0)) {
		usecase_fail(st, cfg, rep, &err);
		return;
	}
	rep->target = target_id;
	if (operation_begin(st, "rollback", req->ref, req->reason, &rep->op, &err) < 0) {
		if (req->config)
			config_free(&restored);
		usecase_fail(st, cfg, rep, &err);
		return;
	}
	char *reason = xstrfmt("%s%s(composite of release %ld for '%s' and live files)",
			       req->reason ? req->reason : "", req->reason ? " " : "",
			       target_id, req->services ? req->services : "all");
	struct release_meta meta = { .reason = reason, .config = cfg };
	struct switch_back back = {
		.selected = req->selected, .target_id = target_id, .meta = &meta,
		.record_as = "rollback", .restore_backup = req->restore_backup,
	};
	struct strbuf left_alone = STRBUF_INIT;
	memset(&tr, 0, sizeof(tr));
	int rc = usecase_switch_back(st, cfg, rep->op, &back, &left_alone, &tr, &err);
	if (left_alone.len)
		rep->left_alone = strbuf_detach(&left_alone);
	strbuf_release(&left_alone);
	free(reason);
	/* The config file changes only once its release is live and verified:
	 * a rollback that failed leaves it as it was. */
	int write_config = rc == 0 && tr.outcome == TRANSITION_OK && req->config;
	if (write_config &&
	    rollback_write_config(st, cfg, req, target_id, &restored, rep, &rep->config_error) < 0) {
		if (!rep->config_error.kind)
			rep->config_error.kind = ERROR_ATTENTION;
		write_config = 0;
	}
	if (write_config) {
		config_free(cfg);
		*cfg = restored;   /* what the rest runs by */
	} else if (req->config) {
		config_free(&restored);
	}
	usecase_end_transition(st, cfg, rc, &tr, &err, rep);
	transition_report_clear(&tr);
}
