/*
 * `lastgood gc [--keep N]`: drop releases beyond the newest N (the live,
 * newest good and in-flight ones always stay) and the content only they used
 * (the gc use case).
 */
#include "cmd/command.h"
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

/* gc's own keys, as they were before every command reported, and the
 * images whose keep containers went. */
static void gc_json(json_t *out, const struct usecase_report *rep)
{
	json_t *removed = json_array();
	for (size_t i = 0; i < rep->gc.nremoved; i++)
		json_array_append_new(removed, json_integer(rep->gc.removed[i]));
	json_object_set_new(out, "images_released",
			    command_json_lines(rep->images.released, rep->images.nreleased));
	json_object_set_new(out, "images_note", command_json_text(rep->images.note));
	json_object_update_new(out, command_json_pack("{s:i, s:o, s:I, s:I, s:I, s:I, s:I, s:I}",
				"keep", rep->keep, "releases_removed", removed,
				"releases_kept", (json_int_t)rep->gc.releases_kept,
				"objects_removed", (json_int_t)rep->gc.objects_removed,
				"objects_kept", (json_int_t)rep->gc.objects_kept,
				"bytes_freed", (json_int_t)rep->gc.bytes_freed,
				"backups_removed", (json_int_t)rep->gc.backups_removed,
				"backup_bytes_freed", (json_int_t)rep->gc.backup_bytes_freed));
}

int cmd_gc(struct command_context *ctx)
{
	static const struct option longopts[] = {
		{ "keep", required_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 },
	};
	struct usecase_report rep;
	int keep = ctx->cfg.keep_releases, c, rc = EXIT_OK;

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
	usecase_report_init(&rep, "gc", ctx->opt.json);
	usecase_gc(&ctx->st, &ctx->cfg, keep, &rep);
	const struct gc_report *gc = &rep.gc;
	if (rep.ending != USECASE_DONE) {
		rc = command_fail(ctx, &rep.error);
	} else if (ctx->opt.json) {
		/* the report says it all */
	} else if (!gc->nremoved && !gc->objects_removed && !gc->backups_removed &&
		   !rep.images.nreleased) {
		printf("nothing to remove: %ld release%s kept\n", gc->releases_kept,
		       gc->releases_kept == 1 ? "" : "s");
	} else {
		struct strbuf line = STRBUF_INIT;
		usecase_gc_describe(&rep, &line);
		printf("removed %s; %ld release%s kept\n", line.buf, gc->releases_kept,
		       gc->releases_kept == 1 ? "" : "s");
		strbuf_release(&line);
	}
	if (rep.images.note)
		fprintf(stderr, "lastgood: %s\n", rep.images.note);
	return command_finish_report(ctx, &rep, rc, gc_json);
}
