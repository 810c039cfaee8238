/*
 * `lastgood gc [--keep N]`: drop releases beyond the newest N (the live,
 * newest good and in-flight ones always stay) and the content only they used.
 */
#include "cmd/command.h"
#include "core/gc.h"
#include "core/operation.h"
#include "util/alloc.h"
#include "util/format.h"
#include "util/strbuf.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

static int gc_parse_keep(const char *text, int *keep)
{
	char *end;
	errno = 0;
	long v = strtol(text, &end, 10);
	if (errno || end == text || *end || v < 0 || v > INT_MAX)
		return -1;
	*keep = (int)v;
	return 0;
}

/* "releases 1, 2 and 14 objects (3.1 MiB)": what the journal and the
 * human output say. */
static void gc_describe(const struct gc_report *rep, struct strbuf *out)
{
	char freed[FORMAT_SIZE];
	if (!rep->nremoved)
		strbuf_addstr(out, "no releases");
	else
		strbuf_addstr(out, rep->nremoved == 1 ? "release " : "releases ");
	for (size_t i = 0; i < rep->nremoved; i++)
		strbuf_addf(out, "%s%ld", i ? ", " : "", rep->removed[i]);
	strbuf_addf(out, " and %ld object%s (%s)", rep->objects_removed,
		    rep->objects_removed == 1 ? "" : "s", format_bytes(rep->bytes_freed, freed));
}

static void gc_print_json(const struct gc_report *rep, int keep)
{
	json_t *removed = json_array();
	for (size_t i = 0; i < rep->nremoved; i++)
		json_array_append_new(removed, json_integer(rep->removed[i]));
	json_t *out = command_json_pack("{s:i, s:o, s:I, s:I, s:I, s:I}", "keep", keep,
				"releases_removed", removed,
				"releases_kept", (json_int_t)rep->releases_kept,
				"objects_removed", (json_int_t)rep->objects_removed,
				"objects_kept", (json_int_t)rep->objects_kept,
				"bytes_freed", (json_int_t)rep->bytes_freed);
	command_print_json(out);
}

/* gc runs as an operation like every change, so history shows it. */
static int gc_journaled(struct command_context *ctx, int keep, struct gc_report *rep,
			struct error *err)
{
	struct error ignored = ERROR_INIT;
	struct strbuf detail = STRBUF_INIT;
	long op, step;

	char *args = xstrfmt("--keep %d", keep);
	int rc = operation_begin(&ctx->st, "gc", args, NULL, &op, err);
	free(args);
	if (rc < 0)
		return -1;
	if (operation_step_begin(&ctx->st, op, "gc", NULL, &step, err) < 0) {
		operation_end(&ctx->st, op, OP_FAILED, err->msg, &ignored);
		return -1;
	}
	if (gc_run(&ctx->st, keep, rep, err) < 0) {
		operation_step_end(&ctx->st, step, STEP_FAILED, err->msg, &ignored);
		operation_end(&ctx->st, op, OP_FAILED, err->msg, &ignored);
		return -1;
	}
	strbuf_addstr(&detail, "removed ");
	gc_describe(rep, &detail);
	rc = operation_step_end(&ctx->st, step, STEP_OK, detail.buf, err);
	if (rc == 0)
		rc = operation_end(&ctx->st, op, OP_OK, NULL, err);
	strbuf_release(&detail);
	return rc;
}

int cmd_gc(struct command_context *ctx)
{
	static const struct option longopts[] = {
		{ "keep", required_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 },
	};
	struct gc_report rep = GC_REPORT_INIT;
	struct error err = ERROR_INIT;
	int keep = ctx->cfg.keep_releases, c;

	while ((c = getopt_long(ctx->argc, ctx->argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'k':
			if (gc_parse_keep(optarg, &keep) < 0)
				return command_usage(ctx, "--keep wants a number, 0 or more");
			break;
		default:
			return command_usage(ctx, NULL);
		}
	}
	if (optind < ctx->argc)
		return command_usage(ctx, "unexpected argument");
	if (gc_journaled(ctx, keep, &rep, &err) < 0) {
		gc_report_clear(&rep);
		return command_fail(ctx, &err);
	}
	if (ctx->opt.json) {
		gc_print_json(&rep, keep);
	} else if (!rep.nremoved && !rep.objects_removed) {
		printf("nothing to remove: %ld release%s kept\n", rep.releases_kept,
		       rep.releases_kept == 1 ? "" : "s");
	} else {
		struct strbuf line = STRBUF_INIT;
		gc_describe(&rep, &line);
		printf("removed %s; %ld release%s kept\n", line.buf, rep.releases_kept,
		       rep.releases_kept == 1 ? "" : "s");
		strbuf_release(&line);
	}
	gc_report_clear(&rep);
	return EXIT_OK;
}
