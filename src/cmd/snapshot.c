/*
 * `lastgood snapshot`: record the live files of every service as a release
 * and make it the live release.
 */
#include "cmd/command.h"
#include "core/gc.h"
#include "core/manifest.h"
#include "core/operation.h"
#include "core/release.h"
#include "util/alloc.h"
#include "util/format.h"
#include "util/strbuf.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

static int snapshot_record(struct command_context *ctx, const struct release_meta *meta,
			   long op, long *id, int *created, struct error *err)
{
	struct manifest m = MANIFEST_INIT;
	struct capture_stats stats = { 0 };
	struct release_meta with_added = *meta;
	char size[FORMAT_SIZE], added[FORMAT_SIZE];
	long step;

	if (operation_step_begin(&ctx->st, op, "capture", NULL, &step, err) < 0)
		return -1;
	int rc = manifest_capture(&ctx->st, &ctx->cfg, 0, &m, &stats, err);
	if (rc == 0) {
		with_added.added = stats.added_bytes;
		with_added.config = &ctx->cfg;
		rc = release_create(&ctx->st, &m, &with_added, id, created, err);
	}
	manifest_free(&m);
	if (rc < 0) {
		struct error ignored = ERROR_INIT;
		operation_step_end(&ctx->st, step, STEP_FAILED, err->msg, &ignored);
		return -1;
	}
	char *detail = xstrfmt("%ld files, %s, %s new; release %ld%s", stats.files,
			       format_bytes(stats.bytes, size), format_bytes(stats.added_bytes, added),
			       *id, *created ? "" : " (unchanged)");
	rc = operation_step_end(&ctx->st, step, STEP_OK, detail, err);
	free(detail);
	if (rc < 0)
		return -1;
	return state_set_live_release(&ctx->st, *id, err);
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
	struct error err = ERROR_INIT;
	int c, created;
	long op, id;

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
	if (config_check_files(&ctx->cfg, &err) < 0)
		return command_fail(ctx, &err);
	if (operation_begin(&ctx->st, "snapshot", meta.label, meta.reason, &op, &err) < 0)
		return command_fail(ctx, &err);
	if (snapshot_record(ctx, &meta, op, &id, &created, &err) < 0) {
		struct error ignored = ERROR_INIT;
		operation_end(&ctx->st, op, OP_FAILED, err.msg, &ignored);
		return command_fail(ctx, &err);
	}
	if (operation_set_releases(&ctx->st, op, 0, id, &err) < 0 ||
	    operation_end(&ctx->st, op, OP_OK, NULL, &err) < 0 ||
	    gc_after_record(&ctx->st, ctx->cfg.keep_releases, &err) < 0)
		return command_fail(ctx, &err);
	if (!created)
		command_progress(ctx, "live files unchanged since release %ld", id);
	printf("%ld\n", id);
	return EXIT_OK;
}
