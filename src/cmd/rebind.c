/*
 * `lastgood rebind`: make the state folder belong to this config, when it
 * replaces the one the folder was bound to (renamed, or moved without its
 * state folder). Recorded as an operation naming both.
 */
#include "cmd/command.h"
#include "core/operation.h"
#include "util/alloc.h"
#include "util/fs.h"

#include <stdio.h>
#include <stdlib.h>

COMMAND(rebind)
{
	struct error err = ERROR_INIT;
	const char *dir = ctx->opt.state_dir ? ctx->opt.state_dir : ctx->cfg.state_dir;
	char *previous = NULL, *detail = NULL;
	long op;

	if (ctx->argc > 1)
		return command_usage(ctx, "unexpected argument");
	if (!path_exists(dir)) {
		error_set(&err, EXIT_USAGE, "no state folder '%s' to bind", dir);
		return command_fail(ctx, &err);
	}
	if (command_lock_state(ctx, "rebind", &err) < 0 ||
	    operation_begin(&ctx->st, "rebind", ctx->cfg.path, NULL, &op, &err) < 0)
		return command_fail(ctx, &err);
	if (config_rebind_state(&ctx->cfg, &ctx->st, &previous, &err) < 0) {
		struct error ignored = ERROR_INIT;
		operation_end(&ctx->st, op, OP_FAILED, err.msg, &ignored);
		return command_fail(ctx, &err);
	}
	detail = previous ? xstrfmt("state folder bound to '%s' (was '%s')", ctx->cfg.file, previous)
			  : xstrfmt("state folder bound to '%s'", ctx->cfg.file);
	int rc = operation_end(&ctx->st, op, OP_OK, detail, &err);
	if (rc == 0)
		command_progress(ctx, "%s", detail);
	free(previous);
	free(detail);
	return rc < 0 ? command_fail(ctx, &err) : EXIT_OK;
}
