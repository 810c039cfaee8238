/*
 * `lastgood rebind`: make the state folder belong to this config, when it
 * replaces the one the folder was bound to (renamed, or moved without its
 * state folder). Recorded as an operation naming both (the rebind use
 * case).
 */
#include "cmd/command.h"
#include "util/fs.h"

#include <stdlib.h>

COMMAND(rebind)
{
	struct error err = ERROR_INIT;
	const char *dir = ctx->opt.state_dir ? ctx->opt.state_dir : ctx->cfg.state_dir;
	char *detail;

	if (ctx->argc > 1)
		return command_usage(ctx, "unexpected argument");
	if (!path_exists(dir)) {
		error_set(&err, ERROR_USAGE, "no state folder '%s' to bind", dir);
		return command_fail(ctx, &err);
	}
	if (command_lock_state(ctx, "rebind", &err) < 0 ||
	    usecase_rebind(&ctx->st, &ctx->cfg, &detail, &err) < 0)
		return command_fail(ctx, &err);
	command_progress(ctx, "%s", detail);
	free(detail);
	return EXIT_OK;
}
