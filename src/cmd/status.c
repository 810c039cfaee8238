/*
 * `lastgood status`: the live release, whether an interrupted operation
 * awaits recover, and each service's files as they stand.
 */
#include "cmd/command.h"
#include "core/operation.h"
#include "core/release.h"
#include "util/format.h"
#include "util/fs.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct status_facts {
	struct release live;       /* id 0 when none */
	long *unfinished;
	size_t nunfinished;
};

static int status_gather(struct command_context *ctx, struct status_facts *facts,
			 struct error *err)
{
	memset(facts, 0, sizeof(*facts));
	if (!ctx->have_state)
		return 0;
	long live = state_live_release(&ctx->st);
	if (live && release_get(&ctx->st, live, &facts->live, err) < 0)
		return -1;
	return operation_unfinished(&ctx->st, &facts->unfinished, &facts->nunfinished, err);
}

static size_t missing_files(const struct service *svc)
{
	size_t missing = 0;
	for (size_t f = 0; f < svc->nfiles; f++)
		missing += !path_exists(svc->files[f].path);
	return missing;
}

static void status_print_json(struct command_context *ctx, const struct status_facts *facts)
{
	json_t *services = json_array();
	for (size_t s = 0; s < ctx->cfg.nservices; s++) {
		const struct service *svc = &ctx->cfg.services[s];
		json_array_append_new(services, json_pack("{s:s, s:I, s:I}", "name", svc->name,
			"files", (json_int_t)svc->nfiles, "missing", (json_int_t)missing_files(svc)));
	}
	json_t *unfinished = json_array();
	for (size_t i = 0; i < facts->nunfinished; i++)
		json_array_append_new(unfinished, json_integer(facts->unfinished[i]));
	json_t *out = json_pack("{s:I, s:s?, s:s?, s:s?, s:o, s:o}",
		"live_release", (json_int_t)facts->live.id, "label", facts->live.label,
		"commit", facts->live.commit,
		"mark", facts->live.mark ? release_mark_name(facts->live.mark) : NULL,
		"interrupted_operations", unfinished, "services", services);
	json_dumpf(out, stdout, JSON_INDENT(2));
	putchar('\n');
	json_decref(out);
}

static void status_print_text(struct command_context *ctx, const struct status_facts *facts)
{
	char when[FORMAT_SIZE];
	if (facts->live.id) {
		printf("live release %ld", facts->live.id);
		if (facts->live.label)
			printf(" '%s'", facts->live.label);
		if (facts->live.commit)
			printf(" commit %.12s", facts->live.commit);
		printf(", recorded %s", format_time(facts->live.created_ms, when));
		if (facts->live.mark)
			printf(", %s", release_mark_name(facts->live.mark));
		putchar('\n');
	} else {
		printf("no live release recorded; run 'lastgood snapshot'\n");
	}
	for (size_t i = 0; i < facts->nunfinished; i++)
		printf("operation %ld was interrupted: run 'lastgood recover'\n", facts->unfinished[i]);
	for (size_t s = 0; s < ctx->cfg.nservices; s++) {
		const struct service *svc = &ctx->cfg.services[s];
		size_t missing = missing_files(svc);
		printf("  %-20s %zu %s", svc->name, svc->nfiles, svc->nfiles == 1 ? "file" : "files");
		if (missing)
			printf(", %zu missing", missing);
		putchar('\n');
	}
}

int cmd_status(struct command_context *ctx)
{
	struct error err = ERROR_INIT;
	struct status_facts facts;

	if (ctx->argc > 1)
		return command_usage(ctx, "unexpected argument");
	if (status_gather(ctx, &facts, &err) < 0) {
		release_clear(&facts.live);
		free(facts.unfinished);
		return command_fail(ctx, &err);
	}
	if (ctx->opt.json)
		status_print_json(ctx, &facts);
	else
		status_print_text(ctx, &facts);
	release_clear(&facts.live);
	free(facts.unfinished);
	return EXIT_OK;
}
