/*
 * `lastgood fsck`: check the state database and re-hash the store; report
 * every missing or damaged object with the releases it breaks and what was
 * done about it, and every recorded image gone or unprotected from
 * pruning; exit 1 when there is any damage.
 */
#include "cmd/command.h"
#include "core/fsck.h"
#include "core/resource/image_keep.h"
#include "core/resource/images.h"
#include "util/strbuf.h"

#include <jansson.h>
#include <stdio.h>

static const char *fsck_image_problem_name(enum image_keep_problem_kind kind)
{
	switch (kind) {
	case IMAGE_KEEP_GONE:
		return "gone";
	case IMAGE_KEEP_UNKEPT:
		return "unprotected";
	case IMAGE_KEEP_STRAY:
		return "unrecorded";
	}
	return "?";
}

static json_t *fsck_releases_json(const long *releases, size_t n)
{
	json_t *array = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(array, json_integer(releases[i]));
	return array;
}

static json_t *fsck_images_json(const struct image_keep_check *images)
{
	json_t *problems = json_array();
	for (size_t i = 0; i < images->nproblems; i++) {
		const struct image_keep_problem *p = &images->problems[i];
		json_array_append_new(problems, command_json_pack(
			"{s:s, s:o, s:o?, s:o, s:o?, s:b, s:o?}",
			"problem", fsck_image_problem_name(p->kind), "id", command_json_text(p->id),
			"service", command_json_text(p->service),
			"releases", fsck_releases_json(p->releases, p->nreleases),
			"container", command_json_text(p->container), "recreated", p->recreated,
			"repair_error", command_json_text(p->repair_error)));
	}
	return command_json_pack("{s:I, s:o, s:o?}", "checked", (json_int_t)images->images,
				 "problems", problems, "note", command_json_text(images->note));
}

static void fsck_print_json(const struct fsck_report *rep, const struct image_keep_check *images)
{
	json_t *problems = json_array();
	for (size_t i = 0; i < rep->nproblems; i++) {
		const struct fsck_problem *p = &rep->problems[i];
		json_t *releases = fsck_releases_json(p->releases, p->nreleases);
		json_t *problem = command_json_pack("{s:s, s:s, s:b, s:o?, s:b, s:o, s:o?, s:o?, s:b}",
			"problem", fsck_problem_name(p->kind), "object", p->digest,
			"manifest", p->manifest, "detail", command_json_text(p->detail),
			"config", p->config,
			"releases", releases, "quarantined", command_json_text(p->quarantined),
			"repair_error", command_json_text(p->repair_error),
			"intact_again", p->intact_again);
		if (p->path)
			command_json_set_name(problem, "path", p->path);
		if (p->restored_from)
			command_json_set_name(problem, "restored_from", p->restored_from);
		json_array_append_new(problems, problem);
	}
	json_t *damage = json_array();
	for (size_t i = 0; i < rep->ndatabase; i++)
		json_array_append_new(damage, command_json_text(rep->database[i]));
	json_t *database = command_json_pack("{s:b, s:o, s:I}", "ok", !fsck_database_damaged(rep),
					     "damage", damage, "more",
					     (json_int_t)rep->database_more);
	json_t *backups = json_array();
	for (size_t i = 0; i < rep->nbackup_problems; i++) {
		const struct fsck_backup_problem *p = &rep->backup_problems[i];
		json_array_append_new(backups, command_json_pack("{s:I, s:o, s:o, s:o}",
			"id", (json_int_t)p->id, "database", command_json_text(p->database),
			"file", command_json_text(p->file), "problem", command_json_text(p->why)));
	}
	command_print_json(command_json_pack("{s:b, s:o, s:I, s:I, s:o, s:I, s:o, s:o?, s:o?, s:o}",
		"ok", rep->nproblems == 0 && !rep->nbackup_problems && !fsck_database_damaged(rep) &&
		!image_keep_check_damaged(images),
		"database", database,
		"objects", (json_int_t)rep->objects, "releases", (json_int_t)rep->releases,
		"problems", problems, "backups", (json_int_t)rep->backups,
		"backup_problems", backups, "repair_note", command_json_text(rep->repair_note),
		"cache_note", command_json_text(rep->cache_note), "images", fsck_images_json(images)));
}

/* "releases 2, 3" */
static void fsck_add_releases(struct strbuf *sb, const long *releases, size_t n)
{
	strbuf_addf(sb, "release%s ", n > 1 ? "s" : "");
	for (size_t j = 0; j < n; j++)
		strbuf_addf(sb, "%s%ld", j ? ", " : "", releases[j]);
}

/* "image sha256:... of service 'api' (releases 1, 2) is gone", and what
 * was done about it on a line below. */
static void fsck_print_image(const struct image_keep_problem *p)
{
	char shown[IMAGE_SHORT_ID_SIZE];
	struct strbuf line = STRBUF_INIT;
	if (p->kind == IMAGE_KEEP_STRAY) {
		printf("keep container '%s' holds image %s that no release records: 'lastgood gc' "
		       "removes it\n", p->container, image_short_id(p->id, shown));
		return;
	}
	strbuf_addf(&line, "image %s of service '%s' (", p->id, p->service);
	fsck_add_releases(&line, p->releases, p->nreleases);
	if (p->kind == IMAGE_KEEP_GONE)
		strbuf_addstr(&line, ") is gone from docker: those releases cannot be rolled back "
			      "to by image");
	else
		strbuf_addstr(&line, ") was not protected from pruning: no keep container "
			      "held it");
	printf("%s\n", line.buf);
	if (p->recreated)
		printf("  created again: '%s'\n", p->container);
	else if (p->repair_error)
		printf("  not created again: %s\n", p->repair_error);
	strbuf_release(&line);
}

/* What was done about a damaged object, on a line of its own below it:
 * "  moved to '.../quarantine/<digest>'; stored again from live file
 * '/srv/bin/api'". Names come before any release number. */
static void fsck_print_repair(const struct fsck_report *rep, const struct fsck_problem *p)
{
	struct strbuf line = STRBUF_INIT;
	if (p->kind == FSCK_MALFORMED || rep->repair_note)
		return;
	if (p->intact_again) {
		printf("  whole again: another command stored it meanwhile\n");
		return;
	}
	if (p->quarantined) {
		strbuf_addstr(&line, "moved to ");
		command_quote_name(&line, p->quarantined);
		strbuf_addstr(&line, "; ");
	}
	if (p->restored_from) {
		strbuf_addstr(&line, "stored again from live file ");
		command_quote_name(&line, p->restored_from);
	} else if (p->repair_error) {
		strbuf_addf(&line, "not repaired: %s", p->repair_error);
	} else if (p->manifest) {
		strbuf_addstr(&line, "a manifest: written again only by a snapshot of exactly "
			      "the files it lists");
	} else if (p->config) {
		strbuf_addstr(&line, "the config text of ");
		fsck_add_releases(&line, p->releases, p->nreleases);
		strbuf_addstr(&line, ": diff, rollback --config and the fallback when the config "
			      "does not load cannot use it");
	} else if (!p->nreleases) {
		strbuf_addstr(&line, "no live file holds this content, and no release needs it");
	} else {
		strbuf_addstr(&line, "no live file holds this content: ");
		fsck_add_releases(&line, p->releases, p->nreleases);
		strbuf_addstr(&line, " cannot be put back whole");
	}
	printf("  %s\n", line.buf);
	strbuf_release(&line);
}

/* "corrupt object <digest> (/srv/bin/api) used by releases 2, 3": the whole
 * digest, so it can be found in the store or compared with sha256sum. */
static void fsck_print_problem(const struct fsck_report *rep, const struct fsck_problem *p)
{
	struct strbuf line = STRBUF_INIT;
	strbuf_addf(&line, "%s %s %s", fsck_problem_name(p->kind),
		    p->manifest ? "manifest" : p->config ? "config" : "object", p->digest);
	if (p->path) {
		strbuf_addstr(&line, " (");
		command_quote_name(&line, p->path);
		strbuf_addch(&line, ')');
	}
	if (!p->nreleases) {
		strbuf_addstr(&line, " used by no release");
	} else {
		strbuf_addstr(&line, " used by ");
		fsck_add_releases(&line, p->releases, p->nreleases);
	}
	if (p->detail)
		strbuf_addf(&line, ": %s", p->detail);
	printf("%s\n", line.buf);
	strbuf_release(&line);
	fsck_print_repair(rep, p);
}

static void fsck_print_database(const struct fsck_report *rep)
{
	for (size_t i = 0; i < rep->ndatabase; i++)
		printf("damaged state database: %s\n", rep->database[i]);
	if (rep->database_more)
		printf("damaged state database: and %ld more finding%s\n", rep->database_more,
		       rep->database_more == 1 ? "" : "s");
}

int cmd_fsck(struct command_context *ctx)
{
	struct fsck_report rep = FSCK_REPORT_INIT;
	struct image_keep_check images = { 0 };
	struct error err = ERROR_INIT;

	if (ctx->argc > 1)
		return command_usage(ctx, "unexpected argument");
	/* No state folder yet: nothing recorded, nothing to check. A state
	 * database SQLite finds damaged as it opens it is itself the finding. */
	if (command_open_state(ctx, &err) < 0) {
		if (!fsck_error_is_damage(&err))
			return command_fail(ctx, &err);
		fsck_note_database_damage(&rep, err.msg);
	} else if (ctx->have_state) {
		/* Another config's state folder is not this one's to repair;
		 * one too damaged to tell is what fsck reports. */
		if (config_bind_state(&ctx->cfg, &ctx->st, 0, &err) < 0) {
			if (!fsck_error_is_damage(&err))
				return command_fail(ctx, &err);
			error_clear(&err);
		}
		if (fsck_run(&ctx->st, ctx->opt.lock_wait_ms, &rep, &err) < 0) {
			fsck_report_clear(&rep);
			return command_fail(ctx, &err);
		}
		if (!fsck_database_damaged(&rep))
			image_keep_check(&ctx->st, &ctx->cfg, &images);
	}
	int damaged = rep.nproblems || rep.nbackup_problems || fsck_database_damaged(&rep) ||
		      image_keep_check_damaged(&images);
	if (ctx->opt.json) {
		fsck_print_json(&rep, &images);
	} else if (!damaged) {
		printf("ok: %ld object%s, %ld release%s checked\n", rep.objects,
		       rep.objects == 1 ? "" : "s", rep.releases, rep.releases == 1 ? "" : "s");
	} else {
		fsck_print_database(&rep);
		for (size_t i = 0; i < rep.nproblems; i++)
			fsck_print_problem(&rep, &rep.problems[i]);
		for (size_t i = 0; i < rep.nbackup_problems; i++) {
			const struct fsck_backup_problem *p = &rep.backup_problems[i];
			printf("backup %ld of database '%s' (backups/%s): %s\n", p->id, p->database,
			       p->file, p->why);
		}
	}
	if (!ctx->opt.json)
		for (size_t i = 0; i < images.nproblems; i++)
			fsck_print_image(&images.problems[i]);
	if (images.note)
		fprintf(stderr, "lastgood: %s\n", images.note);
	if (fsck_database_damaged(&rep))
		fprintf(stderr, "lastgood: the state database is damaged: change nothing with "
			"lastgood until it is rebuilt; keep a copy of the state folder, then rebuild "
			"the database from what SQLite can still read, as README.md says under "
			"\"A damaged state database\"\n");
	if (rep.repair_note)
		fprintf(stderr, "lastgood: %s\n", rep.repair_note);
	if (rep.cache_note)
		fprintf(stderr, "lastgood: the next snapshot may not read the damaged files "
			"again: %s\n", rep.cache_note);
	fsck_report_clear(&rep);
	image_keep_check_clear(&images);
	return damaged ? EXIT_FAILED : EXIT_OK;
}
