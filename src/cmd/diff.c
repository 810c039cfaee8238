/*
 * `lastgood diff REF [REF]`: the files that differ between two releases (one
 * REF: between it and the live release), with line changes for text files
 * shown by the system's `diff -u` run on the two objects in the store, and
 * the changed lines of the configs they were recorded with, secrets masked,
 * and the compose services whose recorded image changed. core/diff.c and
 * core/resource/images.c compute them; this file prints them.
 */
#include "cmd/command.h"
#include "core/diff.h"
#include "core/release.h"
#include "core/resource/images.h"
#include "core/state.h"
#include "util/error.h"
#include "util/strbuf.h"

#include <jansson.h>
#include <stdio.h>

/* The images two releases recorded, and the services whose image differs
 * (pointing into them). */
struct diff_images {
	struct release_image *old, *new;
	size_t nold, nnew;
	struct image_change *changes;
	size_t n;
};

static int diff_images_load(struct state *st, long from, long to, struct diff_images *images,
			    struct error *err)
{
	if (release_images(st, from, from, &images->old, &images->nold, err) < 0 ||
	    release_images(st, to, to, &images->new, &images->nnew, err) < 0)
		return -1;
	images_changed(images->old, images->nold, images->new, images->nnew, &images->changes,
		       &images->n);
	return 0;
}

static void diff_images_free(struct diff_images *images)
{
	release_images_free(images->old, images->nold);
	release_images_free(images->new, images->nnew);
	free(images->changes);
}

/* "I api: 3f2a9c1b7d4e ziggie-api:1 -> 9b1c22aa0e11 ziggie-api:2", "none"
 * for the side that recorded no image of the service. */
static void diff_print_images(const struct diff_images *images)
{
	for (size_t i = 0; i < images->n; i++) {
		const struct release_image *sides[] = { images->changes[i].old,
							images->changes[i].new };
		printf("I %s:", images->changes[i].service);
		for (size_t k = 0; k < 2; k++) {
			char short_id[IMAGE_SHORT_ID_SIZE];
			printf("%s", k ? " ->" : "");
			if (sides[k])
				printf(" %s %s", image_short_id(sides[k]->id, short_id), sides[k]->name);
			else
				printf(" none");
		}
		putchar('\n');
	}
}

static json_t *image_json(const struct release_image *image)
{
	if (!image)
		return json_null();
	return command_json_pack("{s:o, s:o}", "id", command_json_text(image->id),
				 "name", command_json_text(image->name));
}

static json_t *diff_images_json(const struct diff_images *images)
{
	json_t *array = json_array();
	for (size_t i = 0; i < images->n; i++)
		json_array_append_new(array, command_json_pack("{s:o, s:o, s:o}",
			"service", command_json_text(images->changes[i].service),
			"from", image_json(images->changes[i].old),
			"to", image_json(images->changes[i].new)));
	return array;
}

/* "+ web/new.html", "- web/old/", "+ web/current.js -> static/app.js",
 * "M bin/api (mode 0644 -> 0755, content)", each name quoted when it
 * holds what could pass for another line or drive the terminal. */
static void diff_print_text(const struct diff_list *list)
{
	const struct diff_config *config = &list->config;
	static const char marks[] = { [DIFF_ADDED] = '+', [DIFF_REMOVED] = '-', [DIFF_MODIFIED] = 'M' };
	struct strbuf line = STRBUF_INIT;
	for (size_t i = 0; i < list->n; i++) {
		const struct diff_change *c = &list->v[i];
		strbuf_reset(&line);
		strbuf_addf(&line, "%c ", marks[c->kind]);
		command_quote_name(&line, diff_shown_path(list, c->path));
		if (c->kind != DIFF_MODIFIED && c->node->type == NODE_DIR)
			strbuf_addch(&line, '/');
		if (c->kind != DIFF_MODIFIED && c->node->type == NODE_SYMLINK) {
			strbuf_addstr(&line, " -> ");
			command_quote_name(&line, c->node->link);
		}
		if (c->details.len)
			strbuf_addf(&line, " (%s)", c->details.buf);
		printf("%s\n", line.buf);
		fwrite(c->patch.buf, 1, c->patch.len, stdout);
	}
	strbuf_release(&line);
	if (!config->changed)
		return;
	struct strbuf name = STRBUF_INIT;
	command_quote_name(&name, config->shown);
	printf("M %s (config", name.buf);
	strbuf_release(&name);
	if (config->hidden)
		printf("; lines not shown: %s", config->hidden);
	printf(")\n");
	fwrite(config->patch.buf, 1, config->patch.len, stdout);
}

/* Names come through whole: "path" (and a symlink's "target") as UTF-8,
 * with path_base64 (target_base64) holding the exact bytes of a name that
 * is not (command.h). */
static void diff_print_json(const struct diff_list *list, const struct diff_images *images,
			    long from, long to)
{
	const struct diff_config *config = &list->config;
	static const char *const kinds[] = {
		[DIFF_ADDED] = "added", [DIFF_REMOVED] = "removed", [DIFF_MODIFIED] = "modified",
	};
	json_t *changes = json_array();
	for (size_t i = 0; i < list->n; i++) {
		const struct diff_change *c = &list->v[i];
		json_t *change = command_json_pack("{s:s, s:o, s:s, s:o?, s:o?}",
			"change", kinds[c->kind], "service", command_json_text(c->service),
			"type", diff_type_name(c->node->type),
			"details", command_json_text(c->details.len ? c->details.buf : NULL),
			"patch", command_json_text(c->patch.len ? c->patch.buf : NULL));
		command_json_set_name(change, "path", c->path);
		if (c->node->type == NODE_SYMLINK)
			command_json_set_name(change, "target", c->node->link);
		json_array_append_new(changes, change);
	}
	json_t *out = command_json_pack("{s:I, s:I, s:o}", "from", (json_int_t)from,
					"to", (json_int_t)to, "changes", changes);
	json_t *cfg = json_null();
	if (config->changed) {
		cfg = command_json_pack("{s:o?, s:o?}",
			"patch", command_json_text(config->patch.len ? config->patch.buf : NULL),
			"hidden", command_json_text(config->hidden));
		command_json_set_name(cfg, "path", config->shown);
	}
	json_object_set_new(out, "config", cfg);
	json_object_set_new(out, "images", diff_images_json(images));
	command_print_json(out);
}

static int diff_resolve(struct command_context *ctx, long *from, long *to, struct error *err)
{
	if (release_resolve(&ctx->st, ctx->argv[1], from, err) < 0)
		return -1;
	if (ctx->argc == 3)
		return release_resolve(&ctx->st, ctx->argv[2], to, err);
	*to = state_live_release(&ctx->st);
	if (!*to)
		return error_set(err, ERROR_USAGE, "no live release to compare with; give two releases");
	return 0;
}

int cmd_diff(struct command_context *ctx)
{
	struct error err = ERROR_INIT;
	struct diff_list list = DIFF_LIST_INIT;
	struct diff_images images = { 0 };
	long from, to;

	if (ctx->argc < 2 || ctx->argc > 3)
		return command_usage(ctx, ctx->argc < 2 ? "which release?" : "unexpected argument");
	if (!ctx->have_state) {
		error_set(&err, ERROR_USAGE, "no releases recorded yet");
		return command_fail(ctx, &err);
	}
	if (diff_resolve(ctx, &from, &to, &err) < 0 ||
	    diff_releases(&ctx->st, &ctx->cfg, from, to, command_quoted_name, &list, &err) < 0 ||
	    diff_images_load(&ctx->st, from, to, &images, &err) < 0) {
		diff_list_free(&list);
		diff_images_free(&images);
		return command_fail(ctx, &err);
	}
	if (list.patch_error)
		fprintf(stderr, "lastgood: cannot show changed lines: %s\n", list.patch_error);
	if (ctx->opt.json) {
		diff_print_json(&list, &images, from, to);
	} else if (list.n || list.config.changed || images.n) {
		diff_print_text(&list);
		diff_print_images(&images);
	} else {
		command_progress(ctx, "releases %ld and %ld have the same files", from, to);
	}
	diff_list_free(&list);
	diff_images_free(&images);
	return EXIT_OK;
}
