/*
 * What several commands share: ending a deploy or rollback by its outcome
 * (record, messages, exit code), the start/stop/restart sequence, and the
 * limit of the listing commands.
 */
#include "cmd/command.h"
#include "core/gc.h"
#include "core/operation.h"
#include "core/release.h"
#include "core/stack.h"
#include "core/transition.h"
#include "util/format.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

static int finish_needing_attention(struct command_context *ctx, long op, const char *what,
				    const struct transition_report *report, const char *why)
{
	struct error ignored = ERROR_INIT;
	long live = state_live_release(&ctx->st);
	operation_end(&ctx->st, op, OP_NEEDS_ATTENTION, why, &ignored);
	fprintf(stderr, "lastgood: %s of release %ld failed and the host needs attention: %s\n",
		what, report->to_id, why);
	fprintf(stderr, "lastgood: release %ld is live; see 'lastgood status' and "
		"'lastgood show %ld', fix the failing service, then 'lastgood restart' or "
		"'lastgood rollback REF --force'\n", live, op);
	return EXIT_NEEDS_ATTENTION;
}

int command_finish_transition(struct command_context *ctx, long op, const char *what, int rc,
			      const struct transition_report *report, struct error *err)
{
	struct error ignored = ERROR_INIT;
	char took[FORMAT_SIZE];

	if (rc < 0) {
		/* A switch that could not even be undone stays unfinished in
		 * the journal, for recover. */
		if (err->code == EXIT_NEEDS_ATTENTION)
			return command_fail(ctx, err);
		if (report->outcome == TRANSITION_NEEDS_ATTENTION && report->failure.text)
			return finish_needing_attention(ctx, op, what, report, err->msg);
		operation_end(&ctx->st, op, OP_FAILED, err->msg, &ignored);
		return command_fail(ctx, err);
	}
	if (report->failure.text)
		fprintf(stderr, "lastgood: release %ld %s: %s\n", report->to_id,
			report->failure.interrupted ? "was not verified" : "failed verification",
			report->failure.text);
	switch (report->outcome) {
	case TRANSITION_OK:
		if (operation_end(&ctx->st, op, OP_OK, NULL, err) < 0 ||
		    gc_after_record(&ctx->st, ctx->cfg.keep_releases, err) < 0)
			return command_fail(ctx, err);
		command_progress(ctx, "%s: release %ld is live and healthy (%zu %s switched, "
				 "operation %ld)", what, report->to_id, report->changed,
				 report->changed == 1 ? "entry" : "entries", op);
		printf("%ld\n", report->to_id);
		return EXIT_OK;
	case TRANSITION_FAILED:
		operation_end(&ctx->st, op, OP_FAILED, report->failure.text, &ignored);
		fprintf(stderr, "lastgood: release %ld left live as asked (--no-auto-rollback); "
			"'lastgood rollback' goes back\n", report->to_id);
		return EXIT_FAILED;
	case TRANSITION_ROLLED_BACK: {
		long live = state_live_release(&ctx->st);
		operation_end(&ctx->st, op, OP_ROLLED_BACK, report->failure.text, &ignored);
		fprintf(stderr, "lastgood: rolled back to release %ld: every service healthy %s "
			"after the failure was detected (operation %ld)\n", live,
			format_duration(report->recovered_ms - report->failure.detected_ms, took), op);
		printf("%ld\n", live);
		return EXIT_ROLLED_BACK;
	}
	case TRANSITION_NEEDS_ATTENTION:
		return finish_needing_attention(ctx, op, what, report,
						report->second.text ? report->second.text
								    : report->failure.text);
	}
	return EXIT_FAILED;
}

int command_run_services(struct command_context *ctx, unsigned steps)
{
	static const struct option longopts[] = {
		{ "services", required_argument, NULL, 's' },
		{ "reason", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	const char *name = ctx->argv[0], *services = NULL, *reason = NULL;
	struct stack_failure failure = { 0 };
	struct error err = ERROR_INIT;
	unsigned char *selected = NULL;
	int c, rc = 0;
	long op;

	while ((c = getopt_long(ctx->argc, ctx->argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 's': services = optarg; break;
		case 'r': reason = optarg; break;
		default: return command_usage(ctx, NULL);
		}
	}
	if (optind < ctx->argc)
		return command_usage(ctx, "unexpected argument");
	if (services && config_select_services(&ctx->cfg, services, &selected, &err) < 0)
		return command_fail(ctx, &err);
	if (operation_begin(&ctx->st, name, services, reason, &op, &err) < 0) {
		free(selected);
		return command_fail(ctx, &err);
	}
	if (steps & SERVICES_STOP)
		rc = stack_stop(&ctx->st, &ctx->cfg, selected, op, &err);
	if (rc == 0 && (steps & SERVICES_START))
		rc = stack_start(&ctx->st, &ctx->cfg, selected, op, &failure, &err);
	free(selected);

	struct error ignored = ERROR_INIT;
	if (rc < 0) {
		operation_end(&ctx->st, op, OP_FAILED, err.msg, &ignored);
		return command_fail(ctx, &err);
	}
	if (rc > 0) {
		operation_end(&ctx->st, op, OP_FAILED, failure.text, &ignored);
		fprintf(stderr, "lastgood: %s failed: %s\n", name, failure.text);
		stack_failure_clear(&failure);
		return EXIT_FAILED;
	}
	/* Every service up and verified: the live release has passed. */
	long live = state_live_release(&ctx->st);
	if ((steps & SERVICES_START) && !services && live &&
	    release_set_mark(&ctx->st, live, MARK_GOOD, &err) < 0)
		return command_fail(ctx, &err);
	if (operation_end(&ctx->st, op, OP_OK, NULL, &err) < 0)
		return command_fail(ctx, &err);
	command_progress(ctx, "%s: done (operation %ld)", name, op);
	return EXIT_OK;
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
