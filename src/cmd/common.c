/*
 * What several commands share: the lines that tell how a deploy or
 * rollback ended and what recover did, composed from their reports; the
 * start/stop/restart command; and the limit of the listing commands.
 */
#include "cmd/command.h"
#include "util/alloc.h"
#include "util/format.h"
#include "util/strbuf.h"

#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

/* Which services run: "every service is running", or those that do not
 * (or whose state is unknown). */
static void describe_services(const struct usecase_report *rep, struct strbuf *out)
{
	struct strbuf down = STRBUF_INIT, unknown = STRBUF_INIT;

	for (size_t s = 0; s < rep->nservices; s++) {
		const struct usecase_service *svc = &rep->services[s];
		struct strbuf *list = svc->running == 0 ? &down : svc->running < 0 ? &unknown : NULL;
		if (list)
			strbuf_addf(list, "%s%s", list->len ? ", " : "", svc->name);
	}
	if (!down.len && !unknown.len)
		strbuf_addstr(out, "every service is running");
	if (down.len)
		strbuf_addf(out, "not running: %s", down.buf);
	if (unknown.len)
		strbuf_addf(out, "%sstate unknown: %s", down.len ? "; " : "", unknown.buf);
	strbuf_release(&down);
	strbuf_release(&unknown);
}

/* The line every exit 4 ends with: which release is live (`state`),
 * whether its services run, and what to do next. Takes both strings. */
static int report_attention(const struct usecase_report *rep, char *state, char *next)
{
	struct strbuf services = STRBUF_INIT;
	describe_services(rep, &services);
	fprintf(stderr, "lastgood: %s; %s; %s\n", state, services.buf, next);
	strbuf_release(&services);
	free(state);
	free(next);
	return EXIT_NEEDS_ATTENTION;
}

/* lastgood itself could not go on, and the host is not back where it
 * was: the operation is left for recover to finish or undo. */
static int print_unsettled(struct command_context *ctx, const struct usecase_report *rep)
{
	char *state;
	switch (rep->host) {
	case HOST_LIVE:
		state = xstrfmt("release %ld is live", rep->host_live);
		break;
	case HOST_VERIFIED:
		state = xstrfmt("release %ld is live and verified, but that is not recorded",
				rep->host_live);
		break;
	default:
		state = xstrfmt("the live files may be part release %ld, part release %ld",
				rep->live_before, rep->target);
		break;
	}
	command_fail(ctx, &rep->error);
	return report_attention(rep, state, xstrfmt("run 'lastgood recover' to finish or undo "
						    "operation %ld", rep->op));
}

int command_print_transition(struct command_context *ctx, const struct usecase_report *rep)
{
	char took[FORMAT_SIZE];
	const char *what = rep->command;

	if (rep->failure.text)
		fprintf(stderr, "lastgood: release %ld %s: %s\n", rep->target,
			rep->failure.interrupted ? "was not verified" : "failed verification",
			rep->failure.text);
	switch (rep->ending) {
	case USECASE_DONE:
		command_progress(ctx, "%s: release %ld is live and healthy (%zu %s switched, "
				 "operation %ld)", what, rep->target, rep->changed,
				 rep->changed == 1 ? "entry" : "entries", rep->op);
		if (!ctx->opt.json)
			printf("%ld\n", rep->target);
		return EXIT_OK;
	case USECASE_FAILED:
		return command_fail(ctx, &rep->error);
	case USECASE_LEFT_FAILING:
		if (rep->changed)
			fprintf(stderr, "lastgood: release %ld left live as asked (--no-auto-rollback); "
				"'lastgood rollback' goes back\n", rep->target);
		else
			fprintf(stderr, "lastgood: release %ld was live already and is failing "
				"verification: nothing was switched; 'lastgood rollback' goes back to "
				"an older release\n", rep->target);
		return EXIT_FAILED;
	case USECASE_ROLLED_BACK:
		fprintf(stderr, "lastgood: rolled back to release %ld: every service healthy %s "
			"after the failure was detected (operation %ld)\n", rep->live_after,
			format_duration(rep->recovered_ms - rep->failure.at_ms, took), rep->op);
		if (!ctx->opt.json)
			printf("%ld\n", rep->live_after);
		return EXIT_ROLLED_BACK;
	case USECASE_ATTENTION:
		fprintf(stderr, "lastgood: %s of release %ld failed and the host needs attention: %s\n",
			what, rep->target, rep->second.text ? rep->second.text : rep->failure.text);
		return report_attention(rep, xstrfmt("release %ld is live", rep->live_after),
					xstrfmt("see 'lastgood status' and 'lastgood show %ld', fix "
						"the failing service, then 'lastgood restart' or "
						"'lastgood rollback REF --force'", rep->op));
	case USECASE_UNSETTLED:
		return print_unsettled(ctx, rep);
	case USECASE_UNRECORDED:
	case USECASE_UNCOLLECTED:
		command_fail(ctx, &rep->error);
		return report_attention(rep, xstrfmt("release %ld is live and verified", rep->target),
					rep->ending == USECASE_UNCOLLECTED
					? xstrdup("see 'lastgood status'; 'lastgood gc' removes old "
						  "releases")
					: xstrfmt("run 'lastgood recover' to close operation %ld",
						  rep->op));
	}
	return EXIT_FAILED;
}

void command_print_recovered(struct command_context *ctx, const struct usecase_report *rep)
{
	for (size_t i = 0; i < rep->nrecovered; i++) {
		const struct usecase_recovered *r = &rep->recovered[i];
		if (r->down)
			fprintf(stderr, "lastgood: recovered operation %ld (%s): %s; down: %s; fix "
				"what failed, then run 'lastgood start' (or 'lastgood rollback'); see "
				"'lastgood status'\n", r->op, r->command, r->text,
				*r->down ? r->down : "none");
		else
			command_progress(ctx, "recovered operation %ld (%s, pid %ld): %s; live "
					 "release %ld", r->op, r->command, r->pid, r->text, r->live);
	}
	ctx->recover_attention = (int)rep->recovered_down;
}

int command_run_services(struct command_context *ctx, unsigned steps)
{
	static const struct option longopts[] = {
		{ "services", required_argument, NULL, 's' },
		{ "reason", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	struct services_request req = { .steps = steps };
	struct usecase_report rep;
	int c, rc;

	while ((c = getopt_long(ctx->argc, ctx->argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 's': req.services = optarg; break;
		case 'r': req.reason = optarg; break;
		default: return command_usage(ctx, NULL);
		}
	}
	if (optind < ctx->argc)
		return command_usage(ctx, "unexpected argument");
	usecase_report_init(&rep, ctx->argv[0], ctx->opt.json);
	usecase_services(&ctx->st, &ctx->cfg, &req, &rep);
	if (rep.ending == USECASE_LEFT_FAILING) {
		fprintf(stderr, "lastgood: %s failed: %s\n", rep.command, rep.failure.text);
		rc = EXIT_FAILED;
	} else if (rep.ending != USECASE_DONE) {
		rc = command_fail(ctx, &rep.error);
	} else {
		command_progress(ctx, "%s: done (operation %ld)", rep.command, rep.op);
		rc = EXIT_OK;
	}
	return command_finish_report(ctx, &rep, rc, NULL);
}

/* A release number, null for none. */
static json_t *release_json(long id)
{
	return id ? json_integer(id) : json_null();
}

static json_t *failure_json(const struct usecase_failure *failure)
{
	if (!failure->text)
		return json_null();
	return command_json_pack("{s:o, s:I, s:b}", "text", command_json_text(failure->text),
				 "at_ms", (json_int_t)failure->at_ms,
				 "interrupted", failure->interrupted != 0);
}

/* The fields every report has; a failure with no report is an empty one
 * that holds its error. recovery is what recover did first. */
static json_t *report_json(const struct usecase_report *rep,
			   const struct usecase_report *recovery, int rc)
{
	json_t *services = json_array(), *recovered = json_array();

	for (size_t s = 0; s < rep->nservices; s++) {
		const struct usecase_service *svc = &rep->services[s];
		json_array_append_new(services, command_json_pack(
			"{s:o, s:o, s:o}", "name", command_json_text(svc->name),
			"running", svc->running < 0 ? json_null() : json_boolean(svc->running),
			"health", svc->healthy < 0 ? json_null()
						   : json_string(svc->healthy ? "healthy" : "failing")));
	}
	for (size_t i = 0; i < recovery->nrecovered; i++) {
		const struct usecase_recovered *r = &recovery->recovered[i];
		json_array_append_new(recovered, command_json_pack(
			"{s:I, s:o, s:s, s:o, s:o?, s:o}", "operation", (json_int_t)r->op,
			"command", command_json_text(r->command), "result", op_result_name(r->result),
			"text", command_json_text(r->text), "down", command_json_text(r->down),
			"live", release_json(r->live)));
	}
	json_t *error = json_null();
	if (rc && rep->error.kind)
		error = command_json_pack("{s:o, s:s}", "message", command_json_text(rep->error.msg),
					  "kind", error_kind_name(rep->error.kind));
	return command_json_pack(
		"{s:s, s:o, s:s, s:i, s:{s:o, s:o, s:o}, s:I, s:o, s:o, s:o, s:o, s:o}",
		"command", rep->command,
		"operation", rep->op ? json_integer(rep->op) : json_null(),
		"result", op_result_name(rep->result), "exit_code", rc,
		"releases", "before", release_json(rep->live_before),
		"after", release_json(rep->live_after), "target", release_json(rep->target),
		"changed", (json_int_t)rep->changed, "services", services,
		"failure", failure_json(&rep->failure), "second", failure_json(&rep->second),
		"error", error, "recovered", recovered);
}

int command_finish_report(struct command_context *ctx, struct usecase_report *rep, int rc,
			  void (*add)(json_t *out, const struct usecase_report *rep))
{
	if (ctx->opt.json) {
		json_t *out = report_json(rep, &ctx->recovery, rc);
		if (add)
			add(out, rep);
		command_print_json(out);
	}
	usecase_report_clear(rep);
	return rc;
}

json_t *command_json_lines(char *const *lines, size_t n)
{
	json_t *array = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(array, command_json_text(lines[i]));
	return array;
}

void command_note_imageless(struct command_context *ctx, const struct usecase_report *rep)
{
	for (size_t i = 0; i < rep->nimageless; i++)
		command_progress(ctx, "%s", rep->imageless[i]);
}

void command_add_imageless(json_t *out, const struct usecase_report *rep)
{
	json_object_set_new(out, "imageless", command_json_lines(rep->imageless, rep->nimageless));
}

void command_print_failure_json(struct command_context *ctx, const char *command, int rc)
{
	struct usecase_report rep;
	usecase_report_init(&rep, command, 0);
	rep.result = OP_FAILED;
	rep.error = ctx->failure;
	if (!rep.error.kind)
		error_set(&rep.error, ERROR_FAILED, "%s failed", command);
	command_print_json(report_json(&rep, &ctx->recovery, rc));
	usecase_report_clear(&rep);
}

/* The record grows by every operation; a listing that printed all of it
 * would grow with it, so the newest few are the default. */
int command_parse_limit(struct command_context *ctx, int *limit)
{
	static const struct option longopts[] = {
		{ "limit", required_argument, NULL, 'n' },
		{ "all", no_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	char *end;

	*limit = COMMAND_LIST_DEFAULT;
	while ((c = getopt_long(ctx->argc, ctx->argv, "", longopts, NULL)) != -1) {
		if (c == 'a') {
			*limit = 0;
		} else if (c == 'n') {
			long n = strtol(optarg, &end, 10);
			if (*end || n < 1 || n >= INT_MAX)
				return command_usage(ctx, "--limit wants a positive number");
			*limit = (int)n;
		} else {
			return command_usage(ctx, NULL);
		}
	}
	if (optind < ctx->argc)
		return command_usage(ctx, "unexpected argument");
	return 0;
}

void command_note_limit(struct command_context *ctx, int limit, const char *what)
{
	command_progress(ctx, "the newest %d %s shown; --limit N or --all for more", limit, what);
}
