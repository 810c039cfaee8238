/*
 * `lastgood deploy SOURCE`: record the live state, build the release SOURCE
 * describes, and switch to it atomically (the deploy use case), then say
 * how that went.
 */
#include "cmd/command.h"

#include <ctype.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static int deploy_parse(struct command_context *ctx, struct deploy_request *req)
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
	memset(req, 0, sizeof(*req));
	while ((c = getopt_long(ctx->argc, ctx->argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'l': req->meta.label = optarg; break;
		case 'c': req->meta.commit = optarg; break;
		case 'r': req->meta.reason = optarg; break;
		case 's': req->services = optarg; break;
		case 'n': req->no_auto_rollback = 1; break;
		case 'S': {
			long levels = strtol(optarg, &end, 10);
			if (!isdigit((unsigned char)optarg[0]) || *end || levels > 64)
				return -1;
			req->strip = (int)levels;
			break;
		}
		default: return -1;
		}
	}
	if (optind != ctx->argc - 1)
		return -1;
	req->source = ctx->argv[optind];
	return 0;
}

int cmd_deploy(struct command_context *ctx)
{
	struct deploy_request req;
	struct usecase_report rep;

	if (deploy_parse(ctx, &req) < 0)
		return command_usage(ctx, NULL);
	usecase_report_init(&rep, "deploy", ctx->opt.json);
	usecase_deploy(&ctx->st, &ctx->cfg, &req, &rep);
	command_note_imageless(ctx, &rep);
	return command_finish_report(ctx, &rep, command_print_transition(ctx, &rep),
				     command_add_imageless);
}
