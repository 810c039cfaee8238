/*
 * `lastgood recover`: finish or undo operations a crash interrupted (the
 * recover use case, which every mutating command runs first, under the
 * lock: command_begin_mutation), and say which release is live.
 */
#include "cmd/command.h"

#include <stdio.h>

int cmd_recover(struct command_context *ctx)
{
	struct error err = ERROR_INIT;
	if (ctx->argc > 1)
		return command_usage(ctx, "unexpected argument");
	if (command_begin_mutation(ctx, "recover", &err) < 0)
		return command_fail(ctx, &err);
	struct usecase_report *rep = &ctx->recovery;
	int rc = EXIT_OK;
	rep->result = OP_OK;
	if (ctx->opt.json)
		usecase_inspect_services(&ctx->st, &ctx->cfg, rep);
	if (!ctx->opt.json)
		printf("live release %ld\n", rep->live_after);
	/* Each such operation's line said which services and what next. */
	if (ctx->recover_attention) {
		rep->result = OP_NEEDS_ATTENTION;
		error_set(&rep->error, ERROR_ATTENTION, "%d recovered operation%s left services "
			  "down", ctx->recover_attention, ctx->recover_attention == 1 ? "" : "s");
		rc = EXIT_NEEDS_ATTENTION;
	}
	return command_finish_report(ctx, rep, rc, NULL);
}
