/*
 * `lastgood db SUBCOMMAND`: the databases of `databases:`.
 *
 *   db status [DB]    applied version, the live release's, pending
 *                     migrations, drift, and what was applied when
 *   db backups [DB]   the backups kept (read-only, like status)
 *   db migrate, rollback, backup, restore
 *                     each an operation under the state lock (the use
 *                     cases of core/usecase/db.h), reported like every
 *                     command that changes anything
 */
#include "cmd/command.h"
#include "core/usecase/db.h"
#include "core/usecase/db_status.h"
#include "core/config.h"
#include "core/db/command.h"
#include "util/clock.h"
#include "util/format.h"
#include "util/strbuf.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *backup_json(const struct db_backup *b);

/* A command database's status: its tool's version and what the live
 * release recorded (null: none), its backups; pending and drift are
 * null, not empty: the tool owns its migrations. */
static json_t *tool_status_json(const struct db_status *s)
{
	json_t *backups = json_array();
	for (size_t i = 0; i < s->nbackups; i++)
		json_array_append_new(backups, backup_json(&s->backups[i]));
	return command_json_pack("{s:o, s:s, s:b, s:o?, s:o?, s:n, s:n, s:n, s:o, s:o?}",
		"name", command_json_text(s->db->name), "engine", "command",
		"tool", db_command_migrates(s->db),
		"version", s->tool_version && *s->tool_version ? command_json_text(s->tool_version)
							       : NULL,
		"release_version", command_json_text(s->tool_release_version),
		"pending", "drift", "applied", "backups", backups,
		"error", command_json_text(s->error));
}

static void tool_status_print(const struct db_status *s)
{
	char when[FORMAT_SIZE], size[FORMAT_SIZE];
	printf("%s (command)\n", s->db->name);
	if (s->error)
		printf("  cannot be read: %s\n", s->error);
	if (!db_command_migrates(s->db))
		printf("  no migration tool: backed up and restored only\n");
	else if (s->tool_version)
		printf("  version '%s' (its tool's current); the live release ran with %s%s%s\n",
		       s->tool_version, s->tool_release_version ? "'" : "",
		       s->tool_release_version ? s->tool_release_version : "no recorded version",
		       s->tool_release_version ? "'" : "");
	if (db_command_migrates(s->db))
		printf("  pending migrations and drift: its tool's to tell, not lastgood's\n");
	if (!s->nbackups)
		printf("  no backups kept\n");
	for (size_t i = 0; i < s->nbackups; i++) {
		const struct db_backup *b = &s->backups[i];
		printf("  backup %ld  %s  %s  release %ld  backups/%s\n", b->id,
		       format_time(b->created_ms, when), format_bytes(b->size, size), b->release,
		       b->file);
	}
}

static json_t *status_json(const struct db_status *s)
{
	if (s->db->engine == DB_ENGINE_COMMAND)
		return tool_status_json(s);
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
	if (s->db->engine == DB_ENGINE_COMMAND) {
		tool_status_print(s);
		return;
	}
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
		printf("no database in %s\n", ctx->cfg.path);
	usecase_db_status_free(list, n);
	return unreadable ? EXIT_FAILED : EXIT_OK;
}

static json_t *backup_json(const struct db_backup *b)
{
	return command_json_pack("{s:I, s:o, s:I, s:I, s:I, s:o, s:I, s:o?, s:s, s:b, s:o}",
		"id", (json_int_t)b->id, "database", command_json_text(b->database),
		"created_ms", (json_int_t)b->created_ms,
		"age_ms", (json_int_t)(clock_wall_ms() - b->created_ms),
		"size", (json_int_t)b->size, "version", command_json_text(b->version),
		"release", (json_int_t)b->release,
		"operation", b->operation ? json_integer(b->operation) : NULL,
		"sha256", b->sha256, "schema_only", b->schema_only,
		"file", command_json_text(b->file));
}

/* The keys every db command that changes anything adds to its report. */
static void db_report_json(json_t *out, const struct usecase_report *rep)
{
	json_object_update_new(out, command_json_pack("{s:o?, s:I, s:I, s:I, s:o, s:b}",
		"database", command_json_text(rep->database),
		"version_before", (json_int_t)rep->db_from, "version_after", (json_int_t)rep->db_to,
		"release_version", (json_int_t)rep->db_release_version,
		"backup", rep->backup.id ? backup_json(&rep->backup) : json_null(),
		"restored", rep->backup_restored != 0));
	if (rep->db_from_text)   /* a command database: its tool's words, null for none */
		json_object_update_new(out, command_json_pack("{s:o?, s:o?, s:o?}",
			"version_before", *rep->db_from_text ? command_json_text(rep->db_from_text)
							     : NULL,
			"version_after", rep->db_to_text && *rep->db_to_text
						 ? command_json_text(rep->db_to_text) : NULL,
			"release_version", command_json_text(rep->db_release_text)));
}

/* The result line of a command database's migrate, rollback or restore:
 * its tool's versions, as the tool names them. */
static void tool_report_print(const struct usecase_report *rep)
{
	const char *from = *rep->db_from_text ? rep->db_from_text : "none";
	const char *to = rep->db_to_text && *rep->db_to_text ? rep->db_to_text : "none";
	if (rep->backup_restored && !*rep->db_from_text && !strcmp(to, "none"))
		printf("database '%s' restored\n", rep->database);
	else if (!strcmp(from, to) && !rep->backup_restored)
		printf("database '%s' is at version '%s': nothing to do\n", rep->database, to);
	else
		printf("database '%s': version '%s' -> '%s'\n", rep->database, from, to);
}

/* The text lines of a db command that changed something, from its
 * report; returns the exit code. */
static int db_report_print(struct command_context *ctx, const struct usecase_report *rep)
{
	struct strbuf line = STRBUF_INIT;
	int rc = EXIT_OK;

	if (rep->backup.id) {
		db_backup_describe(&line, &rep->backup);
		if (rep->backup_restored)
			command_progress(ctx, "database '%s' restored from %s: what was written since "
					 "it was taken is gone", rep->database, line.buf);
		else
			command_progress(ctx, "database '%s': %s taken", rep->database, line.buf);
	}
	strbuf_release(&line);
	if (rep->ending != USECASE_DONE)
		rc = command_fail(ctx, &rep->error);
	else if (ctx->opt.json)
		rc = EXIT_OK;   /* the report says it all */
	else if (!strcmp(rep->command, "db backup"))
		printf("%ld\n", rep->backup.id);
	else if (rep->db_from_text)
		tool_report_print(rep);
	else if (rep->db_from == rep->db_to && !rep->backup_restored)
		printf("database '%s' is at version %ld: nothing to do\n", rep->database, rep->db_to);
	else
		printf("database '%s': version %ld -> %ld\n", rep->database, rep->db_from, rep->db_to);
	if (rep->ending == USECASE_DONE && rep->db_from_text && rep->db_release_text &&
	    !strcmp(rep->command, "db rollback") && strcmp(rep->db_release_text, rep->db_to_text))
		command_progress(ctx, "the live release's files (release %ld) ran with version "
				 "'%s': 'lastgood db migrate' brings the schema up again",
				 rep->live_after, rep->db_release_text);
	else if (rep->ending == USECASE_DONE && !rep->db_from_text &&
		 rep->db_to < rep->db_release_version)
		command_progress(ctx, "the live release's files (release %ld) expect version %ld: "
				 "'lastgood db migrate' brings the schema up again", rep->live_after,
				 rep->db_release_version);
	return rc;
}

static int parse_long(const char *text, long *v)
{
	char *end;
	errno = 0;
	*v = strtol(text, &end, 10);
	return errno || end == text || *end || *v < 0 ? -1 : 0;
}

/* db migrate|rollback|backup|restore [DB] [BACKUP] [options]: under the
 * lock, after recover, as the dispatcher does for other changes. */
static int db_change(struct command_context *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "to", required_argument, NULL, 't' },
		{ "restore-backup", no_argument, NULL, 'r' },
		{ "schema-only", no_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const names[] = { "db migrate", "db rollback", "db backup",
					     "db restore" };
	void (*const run[])(struct state *, const struct config *, const struct db_request *,
			    struct usecase_report *) = { usecase_db_migrate, usecase_db_rollback,
							  usecase_db_backup, usecase_db_restore };
	/* which options each takes: 't' --to, 'r' --restore-backup, 's' --schema-only */
	static const char *const takes[] = { "", "tr", "s", "s" };
	struct db_request req = { .to = -1 };
	struct usecase_report rep;
	struct error err = ERROR_INIT;
	size_t which = 0;
	int c;

	while (strcmp(argv[0], names[which] + 3))
		which++;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == '?' || !strchr(takes[which], c))
			return command_usage(ctx, c == '?' ? NULL : "option not taken by this db command");
		if (c == 't')
			req.to_text = optarg;
		req.restore_backup |= c == 'r';
		req.schema_only |= c == 's';
	}
	const char *name = NULL;
	if (optind < argc)
		name = argv[optind++];
	if (which == 3 && optind < argc && parse_long(argv[optind++], &req.backup) < 0)
		return command_usage(ctx, "BACKUP is a backup's number (see 'lastgood db backups')");
	if (optind < argc)
		return command_usage(ctx, "unexpected argument");
	if (usecase_db_pick(&ctx->cfg, name, &req.db, &err) < 0)
		return command_fail(ctx, &err);
	/* a command database's tool names its versions; the others number them */
	if (req.to_text && req.db->engine != DB_ENGINE_COMMAND && parse_long(req.to_text, &req.to) < 0)
		return command_usage(ctx, "--to wants a version: a number, 0 or more");
	if (command_begin_mutation(ctx, "db", &err) < 0)
		return command_fail(ctx, &err);
	usecase_report_init(&rep, names[which], ctx->opt.json);
	run[which](&ctx->st, &ctx->cfg, &req, &rep);
	int rc = db_report_print(ctx, &rep);
	return command_finish_report(ctx, &rep, rc, db_report_json);
}

/* db backups [DB]: read-only, newest first. */
static int db_backups(struct command_context *ctx, int argc, char **argv)
{
	struct error err = ERROR_INIT;
	struct db_backup *list = NULL;
	size_t n = 0;
	const struct database *db = NULL;

	if (argc > 2)
		return command_usage(ctx, "db backups takes at most one database name");
	if (argc == 2 && usecase_db_pick(&ctx->cfg, argv[1], &db, &err) < 0)
		return command_fail(ctx, &err);
	if (ctx->have_state && db_backups_list(&ctx->st, db ? db->name : NULL, &list, &n, &err) < 0)
		return command_fail(ctx, &err);
	json_t *array = ctx->opt.json ? json_array() : NULL;
	if (!array && n)
		printf("%5s  %-12s  %-19s  %8s  %9s  %7s  %7s  %9s  %-11s  %s\n", "ID", "DATABASE",
		       "WHEN", "AGE", "SIZE", "VERSION", "RELEASE", "OPERATION", "KIND", "FILE");
	for (size_t i = 0; i < n; i++) {
		const struct db_backup *b = &list[i];
		char when[FORMAT_SIZE], age[FORMAT_SIZE], size[FORMAT_SIZE];
		if (array) {
			json_array_append_new(array, backup_json(b));
			continue;
		}
		printf("%5ld  %-12s  %-19s  %8s  %9s  %7s  %7ld  %9ld  %-11s  backups/%s\n", b->id,
		       b->database, format_time(b->created_ms, when),
		       format_duration(clock_wall_ms() - b->created_ms, age),
		       format_bytes(b->size, size), b->version, b->release, b->operation,
		       b->schema_only ? "schema only" : "full", b->file);
	}
	if (array)
		command_print_json(array);
	else if (!n)
		printf("no database backups kept\n");
	db_backups_free(list, n);
	return EXIT_OK;
}

int cmd_db(struct command_context *ctx)
{
	static const char *const changes[] = { "migrate", "rollback", "backup", "restore" };
	int argc = ctx->argc - 1;
	char **argv = ctx->argv + 1;
	if (argc < 1)
		return command_usage(ctx, "db needs a subcommand: status, migrate, rollback, backup, "
				     "backups, restore");
	if (!strcmp(argv[0], "status"))
		return db_status(ctx, argc, argv);
	if (!strcmp(argv[0], "backups"))
		return db_backups(ctx, argc, argv);
	for (size_t i = 0; i < sizeof(changes) / sizeof(changes[0]); i++)
		if (!strcmp(argv[0], changes[i]))
			return db_change(ctx, argc, argv);
	return command_usage(ctx, "unknown db subcommand (known: status, migrate, rollback, "
			     "backup, backups, restore)");
}
