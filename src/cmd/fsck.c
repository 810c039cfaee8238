/*
 * `lastgood fsck`: re-hash the store and report every missing or damaged
 * object with the releases it breaks; exit 1 when there is any.
 */
#include "cmd/command.h"
#include "core/fsck.h"

#include <jansson.h>
#include <stdio.h>

static void fsck_print_json(const struct fsck_report *rep)
{
	json_t *problems = json_array();
	for (size_t i = 0; i < rep->nproblems; i++) {
		const struct fsck_problem *p = &rep->problems[i];
		json_t *releases = json_array();
		for (size_t j = 0; j < p->nreleases; j++)
			json_array_append_new(releases, json_integer(p->releases[j]));
		json_array_append_new(problems, command_json_pack("{s:s, s:s, s:b, s:o?, s:o?, s:o}",
			"problem", fsck_problem_name(p->kind), "object", p->digest,
			"manifest", p->manifest, "path", command_json_text(p->path),
			"detail", command_json_text(p->detail), "releases", releases));
	}
	command_print_json(command_json_pack("{s:b, s:I, s:I, s:o}", "ok", rep->nproblems == 0,
					     "objects", (json_int_t)rep->objects,
					     "releases", (json_int_t)rep->releases,
					     "problems", problems));
}

/* "corrupt object <digest> (/srv/bin/api) used by releases 2, 3": the whole
 * digest, so it can be found in the store or compared with sha256sum. */
static void fsck_print_problem(const struct fsck_problem *p)
{
	printf("%s %s %s", fsck_problem_name(p->kind), p->manifest ? "manifest" : "object",
	       p->digest);
	if (p->path)
		printf(" (%s)", p->path);
	if (!p->nreleases)
		printf(" used by no release");
	else
		printf(" used by release%s ", p->nreleases > 1 ? "s" : "");
	for (size_t j = 0; j < p->nreleases; j++)
		printf("%s%ld", j ? ", " : "", p->releases[j]);
	if (p->detail)
		printf(": %s", p->detail);
	putchar('\n');
}

int cmd_fsck(struct command_context *ctx)
{
	struct fsck_report rep = FSCK_REPORT_INIT;
	struct error err = ERROR_INIT;

	if (ctx->argc > 1)
		return command_usage(ctx, "unexpected argument");
	/* No state folder yet: nothing recorded, nothing to check. */
	if (ctx->have_state && fsck_run(&ctx->st, &rep, &err) < 0) {
		fsck_report_clear(&rep);
		return command_fail(ctx, &err);
	}
	if (ctx->opt.json) {
		fsck_print_json(&rep);
	} else if (!rep.nproblems) {
		printf("ok: %ld object%s, %ld release%s checked\n", rep.objects,
		       rep.objects == 1 ? "" : "s", rep.releases, rep.releases == 1 ? "" : "s");
	} else {
		for (size_t i = 0; i < rep.nproblems; i++)
			fsck_print_problem(&rep.problems[i]);
	}
	if (rep.cache_note)
		fprintf(stderr, "lastgood: the next snapshot may not read the damaged files "
			"again: %s\n", rep.cache_note);
	int rc = rep.nproblems ? EXIT_FAILED : EXIT_OK;
	fsck_report_clear(&rep);
	return rc;
}
