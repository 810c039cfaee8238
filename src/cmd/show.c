/*
 * `lastgood show OP`: one operation's timeline, each step with its offset
 * from the start, its duration and its result.
 */
#include "cmd/command.h"
#include "core/operation.h"
#include "util/format.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

static void show_print_json(const struct operation_record *rec)
{
	json_t *op = history_operation_json(rec);
	json_t *steps = json_array();
	for (size_t i = 0; i < rec->nsteps; i++) {
		const struct step_record *s = &rec->steps[i];
		json_array_append_new(steps, command_json_pack("{s:i, s:o, s:o?, s:o?, s:s, s:I, s:I}",
			"seq", s->seq, "kind", command_json_text(s->kind_name),
			"target", command_json_text(s->target), "detail", command_json_text(s->detail),
			"result", step_result_name(s->result), "started_ms", (json_int_t)s->started_ms,
			"ended_ms", (json_int_t)s->ended_ms));
	}
	json_object_set_new(op, "steps", steps);
	command_print_json(op);
}

static void show_print_timeline(const struct operation_record *rec)
{
	char when[FORMAT_SIZE], at[FORMAT_SIZE], took[FORMAT_SIZE];
	printf("operation %ld: %s%s%s\n", rec->id, rec->command, rec->args ? " " : "",
	       rec->args ? rec->args : "");
	printf("  started  %s by %s (pid %ld)\n", format_time(rec->started_ms, when),
	       rec->actor ? rec->actor : "?", rec->pid);
	if (rec->reason)
		printf("  reason   %s\n", rec->reason);
	if (rec->from_release || rec->to_release)
		printf("  releases %ld -> %ld\n", rec->from_release, rec->to_release);
	printf("  result   %s", op_result_name(rec->result));
	if (rec->ended_ms)
		printf(" after %s", format_duration(rec->ended_ms - rec->started_ms, took));
	putchar('\n');
	if (rec->error)
		printf("  error    %s\n", rec->error);
	printf("\n  %8s  %8s  %-8s  %-13s  %s\n", "AT", "TOOK", "RESULT", "STEP", "TARGET / DETAIL");
	for (size_t i = 0; i < rec->nsteps; i++) {
		const struct step_record *s = &rec->steps[i];
		printf("  %8s  %8s  %-8s  %-13s  %s%s%s\n",
		       format_duration(s->started_ms - rec->started_ms, at),
		       s->ended_ms ? format_duration(s->ended_ms - s->started_ms, took) : "-",
		       step_result_name(s->result), s->kind_name, s->target ? s->target : "",
		       s->target && s->detail ? ": " : "", s->detail ? s->detail : "");
	}
}

int cmd_show(struct command_context *ctx)
{
	struct error err = ERROR_INIT;
	struct operation_record rec;
	char *end;

	if (ctx->argc != 2)
		return command_usage(ctx, "want one operation number");
	long op = strtol(ctx->argv[1], &end, 10);
	if (*end || op < 1)
		return command_usage(ctx, "want one operation number");
	if (!ctx->have_state) {
		error_set(&err, ERROR_USAGE, "no operation %ld: nothing recorded yet", op);
		return command_fail(ctx, &err);
	}
	if (operation_get(&ctx->st, op, &rec, &err) < 0)
		return command_fail(ctx, &err);
	if (ctx->opt.json)
		show_print_json(&rec);
	else
		show_print_timeline(&rec);
	operation_record_clear(&rec);
	return EXIT_OK;
}
