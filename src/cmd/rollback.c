/*
 * `lastgood rollback [REF]`: put a recorded release back live, whole or for
 * some services only (the rollback use case); --dry-run prints the plan and
 * changes nothing.
 */
#include "cmd/command.h"
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

/* The plan, printed: what a real run would do, in order. The live files
 * are compared with the live release as recorded; a real run records any
 * unrecorded change first. */
static int rollback_print_plan(struct command_context *ctx, long target_id,
			       const unsigned char *selected, int config, struct error *err)
{
	struct manifest live = MANIFEST_INIT, release = MANIFEST_INIT, target = MANIFEST_INIT;
	struct switch_plan plan;
	long live_id = state_live_release(&ctx->st);

	if (live_id && release_manifest(&ctx->st, live_id, &live, err) < 0)
		return -1;
	if (release_manifest(&ctx->st, target_id, &release, err) < 0) {
		manifest_free(&live);
		return -1;
	}
	struct strbuf left_alone = STRBUF_INIT;
	transition_target_from_release(&ctx->cfg, selected, &live, &release, &target, &left_alone);
	switch_plan_build(&live, &target, &plan);
	unsigned char *changed = transition_changed_services(&ctx->cfg, &plan);
	size_t *order = config_start_order(&ctx->cfg);
	int n = 1;
	printf("plan: roll back from release %ld to release %ld\n", live_id, target_id);
	printf("%3d. record live files (a new release if they differ from release %ld)\n", n++, live_id);
	for (size_t i = 0; i < plan.n; i++)
		if (plan.changes[i].to)
			printf("%3d. stage %s (service %s)\n", n++, plan.changes[i].to->path,
			       plan.changes[i].to->service);
	for (size_t i = ctx->cfg.nservices; i-- > 0;)
		if (changed[order[i]])
			printf("%3d. stop %s\n", n++, ctx->cfg.services[order[i]].name);
	printf("%3d. check the live files are still as recorded\n", n++);
	for (size_t i = 0; i < plan.n; i++)
		printf(plan.changes[i].to ? "%3d. swap %s\n" : "%3d. remove %s (release %ld has "
		       "none)\n", n++, switch_change_entry(&plan.changes[i])->path, target_id);
	printf("%3d. commit: release %ld live\n", n++, target_id);
	for (size_t i = 0; i < ctx->cfg.nservices; i++)
		if (changed[order[i]] || (!plan.n && (!selected || selected[order[i]])))
			printf("%3d. %s %s and wait until healthy\n", n++, plan.n ? "start" :
			       "verify", ctx->cfg.services[order[i]].name);
	if (plan.n)
		printf("%3d. clean up %zu old %s\n", n++, plan.n, plan.n == 1 ? "copy" : "copies");
	if (config)
		printf("%3d. write the config of release %ld to '%s', keeping the one there\n", n++,
		       target_id, ctx->cfg.path);
	if (left_alone.len)
		printf("left alone (not in the config): %s\n", left_alone.buf);
	strbuf_release(&left_alone);
	free(order);
	free(changed);
	printf("dry run: nothing changed\n");
	switch_plan_free(&plan);
	manifest_free(&live);
	manifest_free(&release);
	manifest_free(&target);
	return 0;
}

/* With --json, what a rollback reports besides what every command does. */
static void rollback_json(json_t *out, const struct usecase_report *rep)
{
	json_object_set_new(out, "left_alone", command_json_text(rep->left_alone));
	json_object_set_new(out, "config", rep->config_error.code
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
			rc = error_set(&err, EXIT_FAILED, "nothing to roll back: no release recorded");
		else if ((rc = usecase_rollback_target(&ctx->st, args.ref, args.force, &target_id,
						       &err)) == 0)
			rc = rollback_print_plan(ctx, target_id, selected, args.config, &err);
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
	if (rep.config_error.code) {
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
