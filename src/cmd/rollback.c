/*
 * `lastgood rollback [REF]`: put a recorded release back live, whole or for
 * some services only; --dry-run prints the plan and changes nothing.
 */
#include "cmd/command.h"
#include "core/operation.h"
#include "core/plan.h"
#include "core/switch.h"
#include "core/transition.h"
#include "util/alloc.h"
#include "util/strbuf.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rollback_args {
	const char *ref;
	const char *services;
	const char *reason;
	int dry_run;
	int force;
	int config;              /* --config: the target's config file too */
};

static int is_back_ref(const char *arg)
{
	if (arg[0] != '-' || !arg[1])
		return 0;
	for (const char *p = arg + 1; *p; p++)
		if (*p < '0' || *p > '9')
			return 0;
	return 1;
}

static int rollback_parse(struct command_context *ctx, struct rollback_args *args)
{
	static const struct option longopts[] = {
		{ "services", required_argument, NULL, 's' },
		{ "reason", required_argument, NULL, 'r' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "force", no_argument, NULL, 'f' },
		{ "config", no_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	int c, argc = 0, rc = 0;
	char **argv = xcalloc((size_t)ctx->argc + 1, sizeof(*argv));

	memset(args, 0, sizeof(*args));
	/* "-2" (two back) is a REF, not an option: take it out before getopt. */
	for (int i = 0; i < ctx->argc; i++) {
		if (i > 0 && is_back_ref(ctx->argv[i]) && !args->ref)
			args->ref = ctx->argv[i];
		else
			argv[argc++] = ctx->argv[i];
	}
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 's': args->services = optarg; break;
		case 'r': args->reason = optarg; break;
		case 'n': args->dry_run = 1; break;
		case 'f': args->force = 1; break;
		case 'c': args->config = 1; break;
		default: rc = -1;
		}
	}
	if (rc == 0 && optind < argc) {
		if (args->ref || optind != argc - 1)
			rc = -1;
		else
			args->ref = argv[optind];
	}
	free(argv);
	return rc;
}

static int rollback_target(struct command_context *ctx, const struct rollback_args *args,
			   long *id, struct error *err)
{
	struct release r;
	if (args->ref ? release_resolve(&ctx->st, args->ref, id, err) < 0
		      : release_default_target(&ctx->st, id, err) < 0)
		return -1;
	if (release_get(&ctx->st, *id, &r, err) < 0)
		return -1;
	int bad = r.mark == MARK_BAD;
	release_clear(&r);
	if (bad && !args->force)
		return error_set(err, EXIT_USAGE, "release %ld is marked bad; add --force to "
				 "roll back to it anyway", *id);
	return 0;
}

/*
 * --config: the config release id was recorded with, parsed as the config
 * file it is to become (*restored), and held to the checks any config
 * gets here. It must keep its state where this one does: the record of
 * the rollback lives there.
 */
static int rollback_load_config(struct command_context *ctx, long id, struct config *restored,
				struct error *err)
{
	struct strbuf text = STRBUF_INIT;
	int rc = release_config_text(&ctx->st, id, &text, err);
	if (rc == 0 && config_parse(ctx->opt.config_path, text.buf, text.len, restored, err) < 0) {
		error_prefix(err, "the config recorded with release %ld does not load", id);
		rc = -1;
	}
	explicit_bzero(text.buf, text.len);
	strbuf_release(&text);
	if (rc < 0)
		return -1;
	if (!ctx->opt.state_dir && strcmp(restored->state_dir, ctx->cfg.state_dir))
		rc = error_set(err, EXIT_USAGE, "the config recorded with release %ld keeps its "
			       "state in '%s', not in '%s' where this record is; restore it by hand",
			       id, restored->state_dir, ctx->cfg.state_dir);
	else if (config_check_live_paths(restored, ctx->st.dir, "", err) < 0 ||
		 config_check_parents(restored, err) < 0)
		rc = -1;
	if (rc < 0) {
		error_prefix(err, "cannot restore the config of release %ld", id);
		config_free(restored);
	}
	return rc;
}

/* Once the target is live and verified: its config over the config file,
 * as a step of the operation. */
static int rollback_write_config(struct command_context *ctx, long op, long target_id,
				 const struct config *restored, struct error *err)
{
	struct error ignored = ERROR_INIT;
	char *kept = NULL, *detail;
	long step;

	/* ctx->cfg is the file's text, unless the file did not load */
	if (!ctx->recorded_config && ctx->cfg.text_len == restored->text_len &&
	    !memcmp(ctx->cfg.text, restored->text, restored->text_len)) {
		detail = xstrfmt("the config file already is release %ld's", target_id);
		int rc = operation_step_note(&ctx->st, op, "restore config", ctx->cfg.path, STEP_OK,
					     detail, err);
		free(detail);
		return rc;
	}
	if (operation_step_begin(&ctx->st, op, "restore config", ctx->cfg.path, &step, err) < 0)
		return -1;
	if (config_restore(restored, op, &kept, err) < 0) {
		operation_step_end(&ctx->st, step, STEP_FAILED, err->msg, &ignored);
		free(kept);
		return -1;
	}
	detail = kept ? xstrfmt("config of release %ld written; the one it replaced is '%s'",
				target_id, kept)
		      : xstrfmt("config of release %ld written", target_id);
	int rc = operation_step_end(&ctx->st, step, STEP_OK, detail, err);
	if (rc == 0)
		command_progress(ctx, "%s", detail);
	free(detail);
	free(kept);
	return rc;
}

/* One step of the plan as the operator reads it. A service's health
 * wait shares the line of its start. */
static void print_step(struct command_context *ctx, const struct plan_step *step,
		       size_t changes, long live_id, long target_id, int *n)
{
	const char *svc;

	switch (step->kind) {
	case STEP_RECORD_LIVE:
		printf("%3d. record live files (a new release if they differ from release %ld)\n",
		       (*n)++, live_id);
		return;
	case STEP_RECORD_TARGET:
		printf("%3d. record the target as a new release\n", (*n)++);
		return;
	case STEP_STAGE:
		svc = ctx->cfg.services[config_service_of_path(&ctx->cfg, step->target)].name;
		printf("%3d. stage %s (service %s)\n", (*n)++, step->target, svc);
		return;
	case STEP_CHECK_LIVE:
		printf("%3d. check the live files are still as recorded\n", (*n)++);
		return;
	case STEP_REMOVE:
		printf("%3d. remove %s (release %ld has none)\n", (*n)++, step->target, target_id);
		return;
	case STEP_COMMIT:
		printf("%3d. commit: release %ld live\n", (*n)++, target_id);
		return;
	case STEP_START:
		printf("%3d. %s %s and wait until healthy\n", (*n)++, changes ? "start" : "verify",
		       step->target);
		return;
	case STEP_HEALTHY:
		return;
	case STEP_CLEAN_UP:
		printf("%3d. clean up %zu old %s\n", (*n)++, changes, changes == 1 ? "copy" : "copies");
		return;
	case STEP_RESTORE_CONFIG:
		printf("%3d. write the config of release %ld to '%s', keeping the one there\n",
		       (*n)++, target_id, step->target);
		return;
	default:
		printf("%3d. %s%s%s\n", (*n)++, step_kind_name(step->kind), step->target ? " " : "",
		       step->target ? step->target : "");
		return;
	}
}

/* The plan, printed: the very steps a real run walks, in order (--json:
 * each step's kind and target as the journal will record them). */
static int rollback_print_plan(struct command_context *ctx, long target_id,
			       const unsigned char *selected, int config, struct error *err)
{
	struct plan plan = PLAN_INIT;
	struct strbuf left_alone = STRBUF_INIT;
	long live_id;

	if (transition_plan_rollback(&ctx->st, &ctx->cfg, target_id, selected, config, &plan,
				     &left_alone, &live_id, err) < 0) {
		strbuf_release(&left_alone);
		return -1;
	}
	if (ctx->opt.json) {
		json_t *steps = json_array();
		for (size_t i = 0; i < plan.n; i++) {
			json_t *step = command_json_pack("{s:s}", "kind",
							 step_kind_name(plan.steps[i].kind));
			json_object_set_new(step, "target", command_json_text(plan.steps[i].target));
			json_array_append_new(steps, step);
		}
		command_print_json(command_json_pack("{s:b, s:I, s:I, s:o}", "dry_run", 1,
						     "from_release", (json_int_t)live_id,
						     "to_release", (json_int_t)target_id,
						     "steps", steps));
	} else {
		int n = 1;
		size_t changes = 0;
		for (size_t i = 0; i < plan.n; i++)
			changes += plan.steps[i].kind == STEP_SWAP || plan.steps[i].kind == STEP_REMOVE;
		printf("plan: roll back from release %ld to release %ld\n", live_id, target_id);
		for (size_t i = 0; i < plan.n; i++)
			if (plan.steps[i].kind != STEP_LEFT_ALONE)
				print_step(ctx, &plan.steps[i], changes, live_id, target_id, &n);
		if (left_alone.len)
			printf("left alone (not in the config): %s\n", left_alone.buf);
		printf("dry run: nothing changed\n");
	}
	strbuf_release(&left_alone);
	plan_free(&plan);
	return 0;
}

/* The switch runs with the config in use, whatever --config asks: it
 * records the live files, judges which paths it owns, and stops and starts
 * the services as they run now. A config recorded with another release
 * names other paths or defines the services otherwise, and mixing the two
 * would move out files a running service uses. --config writes the
 * release's config once the switch is done. */
static int rollback_run(struct command_context *ctx, const struct rollback_args *args,
			const unsigned char *selected, long op, long target_id,
			struct transition_report *report, struct error *err)
{
	struct manifest live = MANIFEST_INIT, release = MANIFEST_INIT, target = MANIFEST_INIT;
	long live_id;
	int rc = -1;
	char *reason = xstrfmt("%s%s(composite of release %ld for '%s' and live files)",
			       args->reason ? args->reason : "", args->reason ? " " : "",
			       target_id, args->services ? args->services : "all");
	struct release_meta meta = { .reason = reason, .config = &ctx->cfg };
	struct strbuf left_alone = STRBUF_INIT;

	if (transition_record_live(&ctx->st, &ctx->cfg, op, "rollback", &live, &live_id, err) < 0 ||
	    release_manifest(&ctx->st, target_id, &release, err) < 0)
		goto out;
	transition_target_from_release(&ctx->cfg, selected, &live, &release, &target, &left_alone);
	if (left_alone.len) {
		command_progress(ctx, "left alone, not in the config: %s", left_alone.buf);
		if (operation_step_note(&ctx->st, op, "left alone", NULL, STEP_SKIPPED,
					left_alone.buf, err) < 0)
			goto out;
	}
	struct transition_request req = {
		.selected = selected, .live_id = live_id, .live = &live, .target = &target,
		.preferred = target_id, .meta = &meta, .on_failure = ON_FAILURE_STOP,
	};
	rc = transition_run(&ctx->st, &ctx->cfg, op, &req, report, err);
out:
	strbuf_release(&left_alone);
	free(reason);
	manifest_free(&live);
	manifest_free(&release);
	manifest_free(&target);
	return rc;
}

int cmd_rollback(struct command_context *ctx)
{
	struct rollback_args args;
	struct error err = ERROR_INIT;
	struct transition_report report;
	struct config restored;
	unsigned char *selected = NULL;
	long target_id, op;
	int rc;

	if (rollback_parse(ctx, &args) < 0)
		return command_usage(ctx, NULL);
	if (args.config && args.services)
		return command_usage(ctx, "--config puts back a whole config; it does not go "
				     "with --services");
	if (args.services && config_select_services(&ctx->cfg, args.services, &selected, &err) < 0)
		return command_fail(ctx, &err);
	if (args.dry_run) {
		if (!ctx->have_state)
			rc = error_set(&err, EXIT_FAILED, "nothing to roll back: no release recorded");
		else if ((rc = rollback_target(ctx, &args, &target_id, &err)) == 0)
			rc = rollback_print_plan(ctx, target_id, selected, args.config, &err);
		free(selected);
		return rc < 0 ? command_fail(ctx, &err) : EXIT_OK;
	}
	if (command_begin_mutation(ctx, "rollback", &err) < 0 ||
	    rollback_target(ctx, &args, &target_id, &err) < 0 ||
	    (args.config && rollback_load_config(ctx, target_id, &restored, &err) < 0)) {
		free(selected);
		return command_fail(ctx, &err);
	}
	if (operation_begin(&ctx->st, "rollback", args.ref, args.reason, &op, &err) < 0) {
		free(selected);
		if (args.config)
			config_free(&restored);
		return command_fail(ctx, &err);
	}
	memset(&report, 0, sizeof(report));
	rc = rollback_run(ctx, &args, selected, op, target_id, &report, &err);
	free(selected);
	/* The config file changes only once its release is live and verified:
	 * a rollback that failed leaves it as it was. */
	struct error config_err = ERROR_INIT;
	int write_config = rc == 0 && report.outcome == TRANSITION_OK && args.config;
	int config_failed = write_config &&
			    rollback_write_config(ctx, op, target_id, &restored, &config_err) < 0;
	if (write_config && !config_failed) {
		config_free(&ctx->cfg);
		ctx->cfg = restored;   /* what the next command runs by */
	} else if (args.config) {
		config_free(&restored);
	}
	rc = command_finish_transition(ctx, op, "rollback", rc, &report, &err);
	transition_report_clear(&report);
	if (config_failed) {
		/* Not 1, which says the old release is live: the target is,
		 * with the config file of the old one. */
		fprintf(stderr, "lastgood: release %ld is live, but its config could not be "
			"written: %s; the config file is still the one it replaced: fix that, then "
			"run 'lastgood rollback %ld --config' again\n", target_id, config_err.msg,
			target_id);
		return rc ? rc : EXIT_NEEDS_ATTENTION;
	}
	return rc;
}
