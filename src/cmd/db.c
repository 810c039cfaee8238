/*
 * `lastgood db SUBCOMMAND`: the databases of `databases:`.
 *
 *   db status [DB]    applied version, the live release's, pending
 *                     migrations, drift, and what was applied when
 */
#include "cmd/command.h"
#include "core/usecase/db_status.h"
#include "util/format.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

static json_t *status_json(const struct db_status *s)
{
	json_t *pending = json_array(), *drift = json_array(), *applied = json_array();
	for (size_t i = 0; i < s->npending; i++)
		json_array_append_new(pending, command_json_pack("{s:I, s:o}",
			"version", (json_int_t)s->pending[i]->version,
			"name", command_json_text(s->pending[i]->name)));
	for (size_t i = 0; i < s->ndrift; i++)
		json_array_append_new(drift, command_json_pack("{s:I, s:o, s:s, s:s?}",
			"version", (json_int_t)s->drift[i].version,
			"name", command_json_text(s->drift[i].name),
			"applied_checksum", s->drift[i].applied,
			"release_checksum", s->drift[i].release[0] ? s->drift[i].release : NULL));
	for (size_t i = 0; i < s->napplied; i++) {
		const struct db_applied *a = &s->applied[i];
		json_array_append_new(applied, command_json_pack("{s:I, s:o, s:s, s:I, s:I, s:I, s:o?}",
			"version", (json_int_t)a->version, "name", command_json_text(a->name),
			"checksum", a->checksum, "applied_ms", (json_int_t)a->applied_at_ms,
			"duration_ms", (json_int_t)a->duration_ms, "release", (json_int_t)a->release,
			"operator", command_json_text(a->operator)));
	}
	return command_json_pack("{s:o, s:s, s:I, s:I, s:o, s:o, s:o, s:o?}",
		"name", command_json_text(s->db->name), "engine", db_engine_of(s->db)->name,
		"version", (json_int_t)s->version, "release_version", (json_int_t)s->release_version,
		"pending", pending, "drift", drift, "applied", applied,
		"error", command_json_text(s->error));
}

static void status_print(const struct db_status *s)
{
	char when[FORMAT_SIZE], took[FORMAT_SIZE];
	printf("%s (%s)\n", s->db->name, db_engine_of(s->db)->name);
	if (s->error) {
		printf("  cannot be read: %s\n", s->error);
		return;
	}
	printf("  version %ld; the live release's migrations reach %ld\n", s->version,
	       s->release_version);
	for (size_t i = 0; i < s->npending; i++)
		printf("  pending: %ld %s\n", s->pending[i]->version, s->pending[i]->name);
	for (size_t i = 0; i < s->ndrift; i++)
		printf("  drift: %ld %s was applied as sha256 %.12s, the live release has %s%.12s\n",
		       s->drift[i].version, s->drift[i].name, s->drift[i].applied,
		       s->drift[i].release[0] ? "sha256 " : "no such migration",
		       s->drift[i].release);
	if (s->napplied)
		printf("  %7s  %-24s  %-19s  %8s  %7s  %s\n", "VERSION", "NAME", "APPLIED", "TOOK",
		       "RELEASE", "BY");
	for (size_t i = 0; i < s->napplied; i++) {
		const struct db_applied *a = &s->applied[i];
		printf("  %7ld  %-24s  %-19s  %8s  %7ld  %s\n", a->version, a->name,
		       format_time(a->applied_at_ms, when), format_duration(a->duration_ms, took),
		       a->release, a->operator ? a->operator : "-");
	}
}

static int db_status(struct command_context *ctx, int argc, char **argv)
{
	struct error err = ERROR_INIT;
	struct db_status *list;
	size_t n;

	if (argc > 2)
		return command_usage(ctx, "db status takes at most one database name");
	if (usecase_db_status(ctx->have_state ? &ctx->st : NULL, &ctx->cfg,
			      argc == 2 ? argv[1] : NULL, &list, &n, &err) < 0)
		return command_fail(ctx, &err);
	int unreadable = 0;
	json_t *array = ctx->opt.json ? json_array() : NULL;
	for (size_t i = 0; i < n; i++) {
		unreadable |= list[i].error != NULL;
		if (array)
			json_array_append_new(array, status_json(&list[i]));
		else
			status_print(&list[i]);
	}
	if (array)
		command_print_json(array);
	else if (!n)
		printf("no database with migrations in %s\n", ctx->cfg.path);
	usecase_db_status_free(list, n);
	return unreadable ? EXIT_FAILED : EXIT_OK;
}

int cmd_db(struct command_context *ctx)
{
	int argc = ctx->argc - 1;
	char **argv = ctx->argv + 1;
	if (argc < 1)
		return command_usage(ctx, "db needs a subcommand: status");
	if (!strcmp(argv[0], "status"))
		return db_status(ctx, argc, argv);
	return command_usage(ctx, "unknown db subcommand (known: status)");
}
