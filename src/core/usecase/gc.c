/*
 * The gc use case: releases beyond the newest N dropped (the live, newest
 * good and in-flight ones always stay) with the content only they used and
 * the keep containers of images they alone recorded, as an operation like
 * every change, so that history shows it.
 */
#include "core/usecase/ending.h"
#include "core/resource/images.h"
#include "core/state.h"
#include "util/alloc.h"
#include "util/format.h"
#include "util/strbuf.h"

#include <stdlib.h>

void usecase_gc_describe(const struct usecase_report *rep, struct strbuf *out)
{
	const struct gc_report *gc = &rep->gc;
	const struct image_keep_sweep *images = &rep->images;
	char freed[FORMAT_SIZE], shown[IMAGE_SHORT_ID_SIZE];
	if (!gc->nremoved)
		strbuf_addstr(out, "no releases");
	else
		strbuf_addstr(out, gc->nremoved == 1 ? "release " : "releases ");
	for (size_t i = 0; i < gc->nremoved; i++)
		strbuf_addf(out, "%s%ld", i ? ", " : "", gc->removed[i]);
	strbuf_addf(out, " and %ld object%s (%s)", gc->objects_removed,
		    gc->objects_removed == 1 ? "" : "s", format_bytes(gc->bytes_freed, freed));
	if (gc->backups_removed)
		strbuf_addf(out, ", %ld database backup%s (%s)", gc->backups_removed,
			    gc->backups_removed == 1 ? "" : "s",
			    format_bytes(gc->backup_bytes_freed, freed));
	if (images->nreleased)
		strbuf_addf(out, ", the keep container%s of image%s ",
			    images->nreleased == 1 ? "" : "s", images->nreleased == 1 ? "" : "s");
	for (size_t i = 0; i < images->nreleased; i++)
		strbuf_addf(out, "%s%s", i ? ", " : "", image_short_id(images->released[i], shown));
}

void usecase_gc(struct state *st, const struct config *cfg, int keep, struct usecase_report *rep)
{
	struct error err = ERROR_INIT;
	struct strbuf detail = STRBUF_INIT;
	long step;

	rep->keep = keep;
	rep->live_before = state_live_release(st);
	char *args = xstrfmt("--keep %d", keep);
	int rc = operation_begin(st, "gc", args, NULL, &rep->op, &err);
	free(args);
	if (rc < 0 || operation_step_begin(st, rep->op, STEP_GC, NULL, &step, &err) < 0) {
		usecase_fail(st, cfg, rep, &err);
		return;
	}
	if (gc_run(st, keep, &rep->gc, &err) < 0) {
		operation_step_fail(st, step, &err);
		usecase_fail(st, cfg, rep, &err);
		return;
	}
	/* After the releases went: a crash in between leaves containers for
	 * the next gc, never a kept release's image unprotected. */
	image_keep_release_unused(st, cfg, &rep->images);
	strbuf_addstr(&detail, "removed ");
	usecase_gc_describe(rep, &detail);
	rc = operation_step_end(st, step, STEP_OK, detail.buf, &err);
	strbuf_release(&detail);
	if (rc < 0 || operation_end(st, rep->op, OP_OK, NULL, &err) < 0)
		usecase_end(st, cfg, rep, USECASE_FAILED, OP_RUNNING, &err);
	else
		usecase_end(st, cfg, rep, USECASE_DONE, OP_OK, NULL);
}
