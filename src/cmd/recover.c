/*
 * `lastgood recover`: finish or undo operations a crash interrupted, so the
 * host ends entirely on the old or entirely on the new release. Every
 * mutating command runs this first, under the lock.
 */
#include "cmd/command.h"
#include "util/alloc.h"
#include "util/strbuf.h"
#include "core/operation.h"
#include "core/service.h"
#include "core/stack.h"
#include "core/store.h"
#include "core/switch.h"
#include "core/transition.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The services the interrupted operation stopped or was starting that are
 * not running now: after its files are settled they must run again. */
static unsigned char *services_left_down(struct command_context *ctx,
					 const struct operation_record *rec, struct error *err)
{
	unsigned char *down = xcalloc(ctx->cfg.nservices ? ctx->cfg.nservices : 1, 1);
	for (size_t i = 0; i < rec->nsteps; i++) {
		const struct step_record *step = &rec->steps[i];
		const struct service *svc;
		struct service_info info;
		if ((strcmp(step->kind, "stop") && strcmp(step->kind, "start")) || !step->target ||
		    !(svc = config_find_service(&ctx->cfg, step->target)))
			continue;
		if (service_inspect(&ctx->st, svc, &info, err) < 0) {
			free(down);
			return NULL;
		}
		if (info.running != 1)
			down[svc - ctx->cfg.services] = 1;
	}
	return down;
}

/* "api, web": the services of services_left_down, NULL on error. */
static char *services_down_names(struct command_context *ctx, const struct operation_record *rec,
				 struct error *err)
{
	unsigned char *down = services_left_down(ctx, rec, err);
	struct strbuf names = STRBUF_INIT;
	if (!down)
		return NULL;
	for (size_t s = 0; s < ctx->cfg.nservices; s++)
		if (down[s])
			strbuf_addf(&names, "%s%s", names.len ? ", " : "", ctx->cfg.services[s].name);
	free(down);
	return strbuf_detach(&names);
}

/* Start what the operation left down, recorded on that operation. A
 * failure here does not stop recover: the files are settled, and the
 * operator needs the commands that come next to work. */
static int recover_services(struct command_context *ctx, long op,
			    const struct operation_record *rec, const char **problem,
			    struct stack_failure *failure, struct error *err)
{
	unsigned char *down = services_left_down(ctx, rec, err);
	int rc = 0, none = 1;
	if (!down)
		return -1;
	for (size_t s = 0; s < ctx->cfg.nservices; s++)
		none &= !down[s];
	if (!none) {
		rc = stack_start(&ctx->st, &ctx->cfg, down, op, failure, err);
		if (rc > 0)
			*problem = failure->text;
		rc = rc < 0 ? -1 : 0;
	}
	free(down);
	return rc;
}

/* A deploy interrupted after its switch but before its verdict left a
 * release live that nothing verified: put back the release it replaced,
 * as the deploy itself would have done on a failure. Sets *went_back. */
static int recover_unverified_deploy(struct command_context *ctx, long op,
				     const struct operation_record *rec, int *went_back,
				     const char **problem, struct transition_report *report,
				     struct error *err)
{
	struct manifest live = MANIFEST_INIT, previous = MANIFEST_INIT;
	struct release to;
	long live_id = state_live_release(&ctx->st);

	*went_back = 0;
	if (strcmp(rec->command, "deploy") || !rec->from_release || live_id != rec->to_release ||
	    live_id == rec->from_release)
		return 0;
	if (release_get(&ctx->st, live_id, &to, err) < 0)
		return -1;
	int verified = to.mark == MARK_GOOD;
	release_clear(&to);
	if (verified)
		return 0;
	int rc = -1;
	if (release_manifest(&ctx->st, live_id, &live, err) < 0 ||
	    release_manifest(&ctx->st, rec->from_release, &previous, err) < 0) {
		/* nothing */
	} else if (switch_kept_copies(&ctx->st, op)) {
		/* The files it replaced are still beside the live ones:
		 * swapped back, nothing read from the store. */
		struct switch_plan plan;
		switch_plan_build(&previous, &live, &plan);
		unsigned char *changed = transition_changed_services(&ctx->cfg, &plan);
		memset(report, 0, sizeof(*report));
		report->to_id = live_id;
		rc = transition_revert(&ctx->st, &ctx->cfg, op, rec->from_release, changed, report,
				       err);
		free(changed);
		switch_plan_free(&plan);
		if (rc == 0 && report->outcome != TRANSITION_ROLLED_BACK)
			*problem = report->second.text;
	} else {
		struct transition_request req = {
			.live_id = live_id, .live = &live, .target = &previous,
			.preferred = rec->from_release, .on_failure = ON_FAILURE_STOP,
			/* The record keeps what the deploy set out to do, so a
			 * recover killed here decides the same way next time. */
			.keep_record = 1,
		};
		rc = transition_run(&ctx->st, &ctx->cfg, op, &req, report, err);
		if (rc == 0 && report->outcome != TRANSITION_OK)
			*problem = report->failure.text;
	}
	*went_back = rc == 0;
	manifest_free(&live);
	manifest_free(&previous);
	return rc;
}

static int recover_one(struct command_context *ctx, long op, struct error *err)
{
	struct operation_record rec;
	enum switch_outcome outcome;
	enum op_result result;
	const char *what;

	if (operation_get(&ctx->st, op, &rec, err) < 0)
		return -1;
	/* A deploy nothing verified goes back first, while the files it
	 * replaced are still kept beside the live ones; settling the switch
	 * before that would remove them. */
	const char *problem = NULL;
	struct stack_failure failure = { 0 };
	struct transition_report report;
	int went_back = 0, rc = 0;
	memset(&report, 0, sizeof(report));
	outcome = SWITCH_UNDONE;
	if (switch_kept_copies(&ctx->st, op))
		rc = recover_unverified_deploy(ctx, op, &rec, &went_back, &problem, &report, err);
	if (rc < 0 || (!went_back && switch_recover(&ctx->st, op, &outcome, err) < 0)) {
		error_prefix(err, "recovering operation %ld (%s)", op, rec.command);
		err->code = EXIT_NEEDS_ATTENTION;
		transition_report_clear(&report);
		operation_record_clear(&rec);
		return -1;
	}
	switch (outcome) {
	case SWITCH_FINISHED:
		result = OP_FINISHED;
		what = "interrupted after its commit point; finished by recover";
		break;
	case SWITCH_COMPLETE:
		result = OP_FINISHED;
		what = "interrupted after switching files; services brought back by recover";
		break;
	case SWITCH_UNDONE:
		result = OP_UNDONE;
		what = "interrupted while switching files; undone by recover";
		break;
	default:
		result = OP_UNDONE;
		what = "interrupted before changing live files; closed by recover";
		break;
	}
	if (!went_back)
		rc = recover_unverified_deploy(ctx, op, &rec, &went_back, &problem, &report, err);
	if (rc == 0 && went_back) {
		result = OP_UNDONE;
		what = "interrupted before its release was verified; the previous release was "
		       "put back by recover";
	}
	if (rc == 0 && !problem)
		rc = recover_services(ctx, op, &rec, &problem, &failure, err);
	if (rc == 0 && problem) {
		char *down = services_down_names(ctx, &rec, err);
		rc = down ? 0 : -1;
		if (rc == 0) {
			char *text = xstrfmt("%s; but services did not come back: %s", what, problem);
			rc = operation_end(&ctx->st, op, OP_NEEDS_ATTENTION, text, err);
			fprintf(stderr, "lastgood: recovered operation %ld (%s): %s; down: %s; fix "
				"what failed, then run 'lastgood start' (or 'lastgood rollback'); see "
				"'lastgood status'\n", op, rec.command, text, *down ? down : "none");
			ctx->recover_attention++;
			free(text);
		}
		free(down);
	} else if (rc == 0) {
		rc = operation_end(&ctx->st, op, result, what, err);
		if (rc == 0)
			command_progress(ctx, "recovered operation %ld (%s, pid %ld): %s; live "
					 "release %ld", op, rec.command, rec.pid, what,
					 state_live_release(&ctx->st));
	}
	stack_failure_clear(&failure);
	transition_report_clear(&report);
	operation_record_clear(&rec);
	return rc;
}

int command_recover(struct command_context *ctx, int *count, struct error *err)
{
	long *ops;
	size_t n;

	*count = 0;
	if (operation_unfinished(&ctx->st, &ops, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (recover_one(ctx, ops[i], err) < 0) {
			free(ops);
			return -1;
		}
		(*count)++;
	}
	free(ops);
	/* Only the lock holder uses the scratch folder, and we hold it:
	 * anything there was left by a process that died. */
	return store_clean_tmp(&ctx->st.store, err);
}

int cmd_recover(struct command_context *ctx)
{
	struct error err = ERROR_INIT;
	if (ctx->argc > 1)
		return command_usage(ctx, "unexpected argument");
	/* command_begin_mutation runs recover itself, under the lock. */
	if (command_begin_mutation(ctx, "recover", &err) < 0)
		return command_fail(ctx, &err);
	printf("live release %ld\n", state_live_release(&ctx->st));
	/* Each such operation's message said which services and what next. */
	return ctx->recover_attention ? EXIT_NEEDS_ATTENTION : EXIT_OK;
}
