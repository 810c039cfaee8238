/*
 * `lastgood releases [--limit N] [--all]`: recorded releases, newest first
 * (the newest 20 unless told), with mark, label, commit, size and how much
 * new content each brought into the store.
 */
#include "cmd/command.h"
#include "core/release.h"
#include "core/resource/images.h"
#include "util/alloc.h"
#include "util/format.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

/* The first of n rows of release id (or n): each row size bytes, a
 * struct whose first member is its release (a long), sorted by it. */
static size_t first_row_of(const void *rows, size_t n, size_t size, long id)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (*(const long *)((const char *)rows + mid * size) < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The databases' versions release id ran with, as an object: rows
 * sorted by release. */
static json_t *schemas_json(const struct release_schema *rows, size_t n, long id)
{
	json_t *object = json_object();
	for (size_t lo = first_row_of(rows, n, sizeof(*rows), id); lo < n && rows[lo].release == id;
	     lo++)
		json_object_set_new(object, rows[lo].database, command_json_text(rows[lo].version));
	return object;
}

/* The images release id ran, as an array: rows sorted by release. */
static json_t *images_json(const struct release_image *rows, size_t n, long id)
{
	json_t *array = json_array();
	for (size_t i = first_row_of(rows, n, sizeof(*rows), id); i < n && rows[i].release == id;
	     i++)
		json_array_append_new(array, command_json_pack("{s:o, s:o, s:o, s:o}",
			"service", command_json_text(rows[i].service),
			"compose_service", command_json_text(rows[i].compose_service),
			"id", command_json_text(rows[i].id), "name", command_json_text(rows[i].name)));
	return array;
}

static int releases_print_json(struct command_context *ctx, const struct release *list,
			       size_t n, long live, struct error *err)
{
	struct release_schema *schemas = NULL;
	size_t nschemas = 0;
	struct release_image *images = NULL;
	size_t nimages = 0;
	if (n && release_schemas(&ctx->st, list[n - 1].id, list[0].id, &schemas, &nschemas,
				 err) < 0)
		return -1;
	if (n && release_images(&ctx->st, list[n - 1].id, list[0].id, &images, &nimages,
				err) < 0) {
		release_schemas_free(schemas, nschemas);
		return -1;
	}
	json_t *array = json_array();
	for (size_t i = 0; i < n; i++) {
		const struct release *r = &list[i];
		char *former = release_former_label(&ctx->st, r->id);
		json_array_append_new(array, command_json_pack("{s:I, s:o, s:I, s:o?, s:o?, s:o?, "
							       "s:o?, s:o?, s:s?, s:I, s:I, s:I, s:b, "
							       "s:o, s:o}",
			"id", (json_int_t)r->id, "digest", command_json_text(r->digest),
			"created_ms", (json_int_t)r->created_ms, "label", command_json_text(r->label),
			"former_label", command_json_text(former),
			"commit", command_json_text(r->commit), "reason", command_json_text(r->reason),
			"actor", command_json_text(r->actor),
			"mark", r->mark ? release_mark_name(r->mark) : NULL,
			"files", (json_int_t)r->files, "size", (json_int_t)r->size,
			"added", (json_int_t)r->added, "live", r->id == live,
			"schemas", schemas_json(schemas, nschemas, r->id),
			"images", images_json(images, nimages, r->id)));
		free(former);
	}
	release_schemas_free(schemas, nschemas);
	release_images_free(images, nimages);
	command_print_json(array);
	return 0;
}

/* A release that gave its label up to a retry shows it as "(was v2)". */
static void releases_print_table(struct command_context *ctx, const struct release *list,
				 size_t n, long live)
{
	char when[FORMAT_SIZE], size[FORMAT_SIZE], added[FORMAT_SIZE];
	printf("  %5s  %-19s  %-4s  %-16s  %-12s  %7s  %10s  %10s\n", "REL", "CREATED", "MARK",
	       "LABEL", "COMMIT", "FILES", "SIZE", "NEW");
	for (size_t i = 0; i < n; i++) {
		const struct release *r = &list[i];
		char *former = r->label ? NULL : release_former_label(&ctx->st, r->id);
		char *label = r->label ? xstrdup(r->label) : former ? xstrfmt("(was %s)", former)
								      : xstrdup("-");
		printf("%c %5ld  %-19s  %-4s  %-16s  %-12.12s  %7ld  %10s  %10s\n",
		       r->id == live ? '*' : ' ', r->id, format_time(r->created_ms, when),
		       r->mark ? release_mark_name(r->mark) : "-", label,
		       r->commit ? r->commit : "-", r->files, format_bytes(r->size, size),
		       format_bytes(r->added, added));
		free(former);
		free(label);
	}
}

int cmd_releases(struct command_context *ctx)
{
	struct error err = ERROR_INIT;
	struct release *list = NULL;
	size_t n = 0, shown;
	long live = 0;
	int limit, rc = command_parse_limit(ctx, &limit);

	if (rc)
		return rc;
	/* One more than shown, to know whether the list stopped short. */
	if (ctx->have_state) {
		if (release_list(&ctx->st, limit ? limit + 1 : 0, &list, &n, &err) < 0)
			return command_fail(ctx, &err);
		live = state_live_release(&ctx->st);
	}
	shown = limit && n > (size_t)limit ? (size_t)limit : n;
	if (ctx->opt.json) {
		if (releases_print_json(ctx, list, shown, live, &err) < 0) {
			release_list_free(list, n);
			return command_fail(ctx, &err);
		}
	} else if (n)
		releases_print_table(ctx, list, shown, live);
	else
		printf("no releases recorded yet; run 'lastgood snapshot'\n");
	if (shown < n && !ctx->opt.json)
		command_note_limit(ctx, limit, "releases");
	release_list_free(list, n);
	return EXIT_OK;
}
