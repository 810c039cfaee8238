/*
 * `lastgood history [--limit N] [--all]`: operations, newest first (the
 * newest 20 unless told), with result, duration, releases and reason.
 */
#include "cmd/command.h"
#include "core/operation.h"
#include "util/format.h"

#include <jansson.h>
#include <stdio.h>

json_t *history_operation_json(const struct operation_record *rec)
{
	return command_json_pack("{s:I, s:o, s:o?, s:o?, s:o?, s:I, s:I, s:I, s:s, s:o?, s:I, s:I}",
				 "id", (json_int_t)rec->id, "command", command_json_text(rec->command),
				 "args", command_json_text(rec->args),
				 "reason", command_json_text(rec->reason),
				 "actor", command_json_text(rec->actor), "pid", (json_int_t)rec->pid,
				 "started_ms", (json_int_t)rec->started_ms,
				 "ended_ms", (json_int_t)rec->ended_ms,
				 "result", op_result_name(rec->result),
				 "error", command_json_text(rec->error),
				 "from_release", (json_int_t)rec->from_release,
				 "to_release", (json_int_t)rec->to_release);
}

static void history_print_table(const struct operation_record *list, size_t n)
{
	char when[FORMAT_SIZE], took[FORMAT_SIZE];
	printf("%5s  %-19s  %-9s  %-15s  %8s  %9s  %s\n", "OP", "STARTED", "COMMAND", "RESULT",
	       "TOOK", "RELEASES", "REASON");
	for (size_t i = 0; i < n; i++) {
		const struct operation_record *r = &list[i];
		char releases[48] = "-";
		if (r->to_release && r->from_release)
			snprintf(releases, sizeof(releases), "%ld->%ld", r->from_release, r->to_release);
		else if (r->to_release)
			snprintf(releases, sizeof(releases), "%ld", r->to_release);
		printf("%5ld  %-19s  %-9s  %-15s  %8s  %9s  %s\n", r->id,
		       format_time(r->started_ms, when), r->command, op_result_name(r->result),
		       r->ended_ms ? format_duration(r->ended_ms - r->started_ms, took) : "-",
		       releases, r->reason ? r->reason : (r->error ? r->error : ""));
	}
}

int cmd_history(struct command_context *ctx)
{
	struct error err = ERROR_INIT;
	struct operation_record *list = NULL;
	size_t n = 0, shown;
	int limit, rc = command_parse_limit(ctx, &limit);

	if (rc)
		return rc;
	/* One more than shown, to know whether the list stopped short. */
	if (ctx->have_state &&
	    operation_list(&ctx->st, limit ? limit + 1 : 0, &list, &n, &err) < 0)
		return command_fail(ctx, &err);
	shown = limit && n > (size_t)limit ? (size_t)limit : n;
	if (ctx->opt.json) {
		json_t *array = json_array();
		for (size_t i = 0; i < shown; i++)
			json_array_append_new(array, history_operation_json(&list[i]));
		command_print_json(array);
	} else if (n) {
		history_print_table(list, shown);
	} else {
		printf("no operations recorded yet\n");
	}
	if (shown < n && !ctx->opt.json)
		command_note_limit(ctx, limit, "operations");
	operation_list_free(list, n);
	return EXIT_OK;
}
