/*
 * `lastgood deploy SOURCE`: record the live state, build the release SOURCE
 * describes, and switch to it atomically.
 */
#include "cmd/command.h"
#include "core/operation.h"
#include "core/source.h"
#include "core/transition.h"
#include "util/alloc.h"
#include "util/fs.h"

#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct deploy_args {
	const char *source;
	char *commit;            /* git:REV resolved */
	long built;              /* release already built from that commit */
	const char *services;
	int no_auto_rollback;
	int strip;               /* --strip-components */
	struct release_meta meta;
};

static int deploy_parse(struct command_context *ctx, struct deploy_args *args)
{
	static const struct option longopts[] = {
		{ "label", required_argument, NULL, 'l' },
		{ "commit", required_argument, NULL, 'c' },
		{ "reason", required_argument, NULL, 'r' },
		{ "services", required_argument, NULL, 's' },
		{ "no-auto-rollback", no_argument, NULL, 'n' },
		{ "strip-components", required_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	char *end;
	memset(args, 0, sizeof(*args));
	while ((c = getopt_long(ctx->argc, ctx->argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'l': args->meta.label = optarg; break;
		case 'c': args->meta.commit = optarg; break;
		case 'r': args->meta.reason = optarg; break;
		case 's': args->services = optarg; break;
		case 'n': args->no_auto_rollback = 1; break;
		case 'S': {
			long levels = strtol(optarg, &end, 10);
			if (!isdigit((unsigned char)optarg[0]) || *end || levels > 64)
				return -1;
			args->strip = (int)levels;
			break;
		}
		default: return -1;
		}
	}
	if (optind != ctx->argc - 1)
		return -1;
	args->source = ctx->argv[optind];
	return 0;
}

/* Everything between the operation's first and last record. */
static int deploy_run(struct command_context *ctx, const struct deploy_args *args,
		      const unsigned char *selected, long op, struct transition_report *report,
		      struct error *err)
{
	struct manifest live = MANIFEST_INIT, target = MANIFEST_INIT;
	struct capture_stats stats = { 0 };
	struct release_meta meta = args->meta;
	char *root = NULL;
	int temporary = 0, rc = -1;
	long live_id, step;

	if (transition_record_live(&ctx->st, &ctx->cfg, op, "deploy", &live, &live_id, err) < 0)
		goto out;
	if (operation_step_begin(&ctx->st, op, "read source", args->source, &step, err) < 0)
		goto out;
	if (args->built) {
		/* Deployed before: the release is in the store, never rebuilt. */
		struct manifest built = MANIFEST_INIT;
		rc = release_manifest(&ctx->st, args->built, &built, err);
		if (rc == 0)
			transition_target_from_release(&ctx->cfg, selected, &live, &built, &target,
						       NULL);
		manifest_free(&built);
	} else if (args->commit) {
		temporary = 1;
		rc = source_git_export(&ctx->st, &ctx->cfg, args->commit, op, &root, err);
	} else {
		rc = source_open(&ctx->st, args->source, args->strip, op, &root, &temporary, err);
	}
	/* A tarball (or a git export) is someone else's: its files take the
	 * live owners. A folder is the operator's own tree, owners and all. */
	if (rc < 0 ||
	    (root && (source_check_holds_entries(args->source, root, args->strip, &ctx->cfg,
						 selected, err) < 0 ||
		      transition_target_from_source(&ctx->st, &ctx->cfg, selected, root, temporary,
						    &live, &target, &stats, err) < 0 ||
		      source_check_links(args->source, &ctx->cfg, &live, &target, err) < 0))) {
		struct error ignored = ERROR_INIT;
		operation_step_end(&ctx->st, step, STEP_FAILED, err->msg, &ignored);
		rc = -1;
		goto out;
	}
	char *detail = args->built ? xstrfmt("commit %.12s is release %ld: not rebuilt",
					     args->commit, args->built)
				   : xstrfmt("%ld files read", stats.files);
	rc = operation_step_end(&ctx->st, step, STEP_OK, detail, err);
	free(detail);
	if (rc < 0)
		goto out;
	meta.added = stats.added_bytes;
	meta.config = &ctx->cfg;
	if (!meta.reason)
		meta.reason = "deploy";
	struct transition_request req = {
		.selected = selected, .live_id = live_id, .live = &live, .target = &target, .meta = &meta,
		.preferred = args->built,
		.on_failure = args->no_auto_rollback ? ON_FAILURE_LEAVE : ON_FAILURE_ROLL_BACK,
	};
	rc = transition_run(&ctx->st, &ctx->cfg, op, &req, report, err);
out:
	source_close(root, temporary);
	manifest_free(&live);
	manifest_free(&target);
	return rc;
}

/* Check what can be checked before anything is recorded: bad input
 * changes nothing, not even the history. */
static int deploy_check_source(struct command_context *ctx, struct deploy_args *args,
			       struct error *err)
{
	if (strncmp(args->source, "git:", 4)) {
		if (!path_exists(args->source))
			return error_set(err, EXIT_USAGE, "source '%s' does not exist", args->source);
		return 0;
	}
	if (args->meta.commit)
		return error_set(err, EXIT_USAGE, "--commit cannot be given with a git source");
	if (args->strip)
		return error_set(err, EXIT_USAGE, "--strip-components does not apply to a git "
				 "source (the build runs in the commit's own tree)");
	if (source_git_resolve(&ctx->cfg, args->source + 4, &args->commit, err) < 0)
		return -1;
	args->meta.commit = args->commit;
	args->built = release_with_commit(&ctx->st, args->commit);
	return 0;
}

int cmd_deploy(struct command_context *ctx)
{
	struct deploy_args args;
	struct transition_report report;
	struct error err = ERROR_INIT;
	unsigned char *selected = NULL;
	long op;
	int rc;

	if (deploy_parse(ctx, &args) < 0)
		return command_usage(ctx, NULL);
	memset(&report, 0, sizeof(report));
	if (deploy_check_source(ctx, &args, &err) < 0 ||
	    (args.services && config_select_services(&ctx->cfg, args.services, &selected, &err) < 0) ||
	    operation_begin(&ctx->st, "deploy", args.source, args.meta.reason, &op, &err) < 0) {
		rc = command_fail(ctx, &err);
	} else {
		rc = deploy_run(ctx, &args, selected, op, &report, &err);
		rc = command_finish_transition(ctx, op, "deploy", rc, &report, &err);
	}
	free(selected);
	free(args.commit);
	transition_report_clear(&report);
	return rc;
}
