/*
 * `lastgood snapshot`: record the live files of every service as a release
 * and make it the live release (the snapshot use case); prints its number.
 */
#include "cmd/command.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>

static void snapshot_json(json_t *out, const struct usecase_report *rep)
{
	json_object_set_new(out, "created", json_boolean(rep->created));
	json_object_set_new(out, "unversioned",
			    command_json_lines(rep->unversioned, rep->nunversioned));
	command_add_imageless(out, rep);
}

int cmd_snapshot(struct command_context *ctx)
{
	static const struct option longopts[] = {
		{ "label", required_argument, NULL, 'l' },
		{ "commit", required_argument, NULL, 'c' },
		{ "reason", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	struct release_meta meta = { 0 };
	struct usecase_report rep;
	int c, rc = EXIT_OK;

	while ((c = getopt_long(ctx->argc, ctx->argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'l': meta.label = optarg; break;
		case 'c': meta.commit = optarg; break;
		case 'r': meta.reason = optarg; break;
		default: return command_usage(ctx, NULL);
		}
	}
	if (optind < ctx->argc)
		return command_usage(ctx, "unexpected argument");
	usecase_report_init(&rep, "snapshot", ctx->opt.json);
	usecase_snapshot(&ctx->st, &ctx->cfg, &meta, &rep);
	if (rep.ending != USECASE_DONE) {
		rc = command_fail(ctx, &rep.error);
	} else {
		if (!rep.created)
			command_progress(ctx, "live files unchanged since release %ld", rep.target);
		for (size_t i = 0; i < rep.nunversioned; i++)
			command_progress(ctx, "%s", rep.unversioned[i]);
		command_note_imageless(ctx, &rep);
		if (!ctx->opt.json)
			printf("%ld\n", rep.target);
	}
	return command_finish_report(ctx, &rep, rc, snapshot_json);
}
