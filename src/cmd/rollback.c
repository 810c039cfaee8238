/*
 * `lastgood rollback [REF]`: put a recorded release back live, whole or for
 * some services only (the rollback use case); --dry-run prints the plan and
 * changes nothing.
 */
#include "cmd/command.h"
#include "core/plan.h"
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
	int restore_backup;      /* --restore-backup */
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
		{ "restore-backup", no_argument, NULL, 'b' },
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
		case 'b': args->restore_backup = 1; break;
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
		if (step->note)
			printf("     %s\n", step->note);
		return;
	}
}

/* The plan, printed: the very steps a real run walks, in order (--json:
 * each step's kind and target as the journal will record them). */
static int rollback_print_plan(struct command_context *ctx, long target_id,
			       const unsigned char *selected, const struct rollback_args *args,
			       struct error *err)
{
	struct plan plan = PLAN_INIT;
	struct strbuf left_alone = STRBUF_INIT;
	long live_id;

	if (usecase_rollback_plan(&ctx->st, &ctx->cfg, target_id, selected, args->config,
				  args->restore_backup, &plan, &left_alone, &live_id, err) < 0) {
		strbuf_release(&left_alone);
		return -1;
	}
	if (ctx->opt.json) {
		json_t *steps = json_array();
		for (size_t i = 0; i < plan.n; i++) {
			json_t *step = command_json_pack("{s:s}", "kind",
							 step_kind_name(plan.steps[i].kind));
			json_object_set_new(step, "target", command_json_text(plan.steps[i].target));
			if (plan.steps[i].note)
				json_object_set_new(step, "note", command_json_text(plan.steps[i].note));
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

/* With --json, what a rollback reports besides what every command does. */
static void rollback_json(json_t *out, const struct usecase_report *rep)
{
	json_object_set_new(out, "left_alone", command_json_text(rep->left_alone));
	json_object_set_new(out, "config", rep->config_error.kind
		? command_json_pack("{s:o}", "error", command_json_text(rep->config_error.msg))
		: rep->config_written
		? command_json_pack("{s:o}", "written", command_json_text(rep->config_written))
		: json_null());
}

int cmd_rollback(struct command_context *ctx)
{
	struct rollback_args args;
	struct error err = ERROR_INIT;
	struct usecase_report rep;
	unsigned char *selected = NULL;
	long target_id;
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
			rc = error_set(&err, ERROR_FAILED, "nothing to roll back: no release recorded");
		else if ((rc = usecase_rollback_target(&ctx->st, args.ref, args.force, &target_id,
						       &err)) == 0)
			rc = rollback_print_plan(ctx, target_id, selected, &args, &err);
		free(selected);
		return rc < 0 ? command_fail(ctx, &err) : EXIT_OK;
	}
	if (command_begin_mutation(ctx, "rollback", &err) < 0) {
		free(selected);
		return command_fail(ctx, &err);
	}
	struct rollback_request req = {
		.ref = args.ref, .services = args.services, .selected = selected,
		.reason = args.reason, .force = args.force, .config = args.config,
		.restore_backup = args.restore_backup,
		.config_path = ctx->opt.config_path, .state_dir = ctx->opt.state_dir,
		.config_unloaded = ctx->recorded_config != 0,
	};
	usecase_report_init(&rep, "rollback", ctx->opt.json);
	usecase_rollback(&ctx->st, &ctx->cfg, &req, &rep);
	free(selected);
	if (rep.left_alone)
		command_progress(ctx, "left alone, not in the config: %s", rep.left_alone);
	if (rep.config_written)
		command_progress(ctx, "%s", rep.config_written);
	rc = command_print_transition(ctx, &rep);
	if (rep.config_error.kind) {
		/* Not 1, which says the old release is live: the target is,
		 * with the config file of the old one. */
		fprintf(stderr, "lastgood: release %ld is live, but its config could not be "
			"written: %s; the config file is still the one it replaced: fix that, then "
			"run 'lastgood rollback %ld --config' again\n", rep.target,
			rep.config_error.msg, rep.target);
		rc = rc ? rc : EXIT_NEEDS_ATTENTION;
	}
	return command_finish_report(ctx, &rep, rc, rollback_json);
}
