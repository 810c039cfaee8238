/*
 * `lastgood recover`: finish or undo operations a crash interrupted, so the
 * host ends entirely on the old or entirely on the new release. Every
 * mutating command runs this first, under the lock.
 */
#include "cmd/command.h"
#include "core/operation.h"
#include "core/store.h"
#include "core/switch.h"

#include <stdio.h>
#include <stdlib.h>

static int recover_one(struct command_context *ctx, long op, struct error *err)
{
	struct operation_record rec;
	enum switch_outcome outcome;
	enum op_result result;
	const char *what;

	if (operation_get(&ctx->st, op, &rec, err) < 0)
		return -1;
	if (switch_recover(&ctx->st, op, &outcome, err) < 0) {
		error_prefix(err, "recovering operation %ld (%s)", op, rec.command);
		err->code = EXIT_NEEDS_ATTENTION;
		operation_record_clear(&rec);
		return -1;
	}
	switch (outcome) {
	case SWITCH_FINISHED:
		result = OP_FINISHED;
		what = "interrupted after its commit point; finished by recover";
		break;
	case SWITCH_UNDONE:
		result = OP_UNDONE;
		what = "interrupted while switching files; undone by recover";
		break;
	default:
		result = OP_UNDONE;
		what = "interrupted before changing live files; closed by recover";
		break;
	}
	int rc = operation_end(&ctx->st, op, result, what, err);
	if (rc == 0)
		command_progress(ctx, "recovered operation %ld (%s, pid %ld): %s; live release %ld",
				 op, rec.command, rec.pid, what, state_live_release(&ctx->st));
	operation_record_clear(&rec);
	return rc;
}

int command_recover(struct command_context *ctx, int *count, struct error *err)
{
	long *ops;
	size_t n;

	*count = 0;
	if (operation_unfinished(&ctx->st, &ops, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (recover_one(ctx, ops[i], err) < 0) {
			free(ops);
			return -1;
		}
		(*count)++;
	}
	free(ops);
	/* Only the lock holder uses the scratch folder, and we hold it:
	 * anything there was left by a process that died. */
	return store_clean_tmp(&ctx->st, err);
}

int cmd_recover(struct command_context *ctx)
{
	struct error err = ERROR_INIT;
	if (ctx->argc > 1)
		return command_usage(ctx, "unexpected argument");
	/* command_begin_mutation runs recover itself, under the lock. */
	if (command_begin_mutation(ctx, "recover", &err) < 0)
		return command_fail(ctx, &err);
	printf("live release %ld\n", state_live_release(&ctx->st));
	return EXIT_OK;
}
