/*
 * lastgood's entry point: global options, the command table, and the set-up
 * each command asks for (config, state, lock, recover) done once here.
 */
#include "cmd/command.h"
#include "core/service.h"
#include "core/release.h"
#include "util/alloc.h"
#include "util/format.h"
#include "util/fs.h"
#include "util/interrupt.h"
#include "util/strbuf.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LASTGOOD_VERSION "0.1.0"

static const struct command commands[] = {
	{ "init",     cmd_init,     0, "init" },
	{ "check",    cmd_check,    CMD_CONFIG | CMD_LIVE_FILES, "check" },
	{ "snapshot", cmd_snapshot, CMD_CONFIG | CMD_MUTATES | CMD_LIVE_FILES,
	  "snapshot [--label L] [--commit SHA] [--reason R]" },
	{ "deploy",   cmd_deploy,   CMD_CONFIG | CMD_MUTATES | CMD_LIVE_FILES,
	  "deploy SOURCE [--label L] [--commit SHA] [--services a,b] [--strip-components N] "
	  "[--no-auto-rollback] [--reason R]" },
	{ "rollback", cmd_rollback,
	  CMD_CONFIG | CMD_STATE | CMD_LOCKS_ITSELF | CMD_LIVE_FILES | CMD_FALLBACK,
	  "rollback [REF] [--services a,b] [--dry-run] [--force] [--config] [--restore-backup] [--reason R]" },
	{ "start",    cmd_start,    CMD_CONFIG | CMD_MUTATES, "start [--services a,b]" },
	{ "stop",     cmd_stop,     CMD_CONFIG | CMD_MUTATES, "stop [--services a,b]" },
	{ "restart",  cmd_restart,  CMD_CONFIG | CMD_MUTATES, "restart [--services a,b] [--reason R]" },
	{ "verify",   cmd_verify,   CMD_CONFIG | CMD_STATE, "verify [--services a,b]" },
	{ "status",   cmd_status,   CMD_CONFIG | CMD_STATE | CMD_FALLBACK, "status" },
	{ "releases", cmd_releases, CMD_CONFIG | CMD_STATE | CMD_FALLBACK,
	  "releases [--limit N] [--all]" },
	{ "history",  cmd_history,  CMD_CONFIG | CMD_STATE | CMD_FALLBACK,
	  "history [--limit N] [--all]" },
	{ "show",     cmd_show,     CMD_CONFIG | CMD_STATE | CMD_FALLBACK, "show OP" },
	{ "diff",     cmd_diff,     CMD_CONFIG | CMD_STATE, "diff REF [REF]" },
	{ "recover",  cmd_recover,  CMD_CONFIG | CMD_LOCKS_ITSELF | CMD_LIVE_FILES | CMD_FALLBACK,
	  "recover" },
	{ "gc",       cmd_gc,       CMD_CONFIG | CMD_MUTATES, "gc [--keep N]" },
	{ "fsck",     cmd_fsck,     CMD_CONFIG, "fsck" },
	{ "rebind",   cmd_rebind,   CMD_CONFIG, "rebind" },
	{ "db",       cmd_db,       CMD_CONFIG | CMD_STATE | CMD_LOCKS_ITSELF,
	  "db status [DB] | db migrate [DB] | db rollback [DB] [--to VERSION] [--restore-backup] | "
	  "db backup [DB] [--schema-only] | db backups [DB] | db restore [DB] [BACKUP] "
	  "[--schema-only]" },
};

static void print_help(FILE *out)
{
	fprintf(out,
		"usage: lastgood [-C DIR] [-c FILE] [--state-dir DIR] [--wait SECONDS] [--json] [-q|-v] "
		"COMMAND [ARGS]\n\n"
		"commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %s\n", commands[i].usage);
}

/* A line goes to stderr in one write: on a full disk or a closed pipe it
 * is written whole or not at all, never in pieces. */
static void write_line(struct strbuf *line)
{
	strbuf_addch(line, '\n');
	fwrite(line->buf, 1, line->len, stderr);
	strbuf_release(line);
}

int command_exit_code(enum error_kind kind)
{
	switch (kind) {
	case ERROR_USAGE: return EXIT_USAGE;
	case ERROR_ROLLED_BACK: return EXIT_ROLLED_BACK;
	case ERROR_ATTENTION: return EXIT_NEEDS_ATTENTION;
	case ERROR_BUSY: return EXIT_LOCKED;
	default: return EXIT_FAILED;
	}
}

int command_fail(struct command_context *ctx, const struct error *err)
{
	/* A message may quote what the user typed; its control characters
	 * go out as \xNN so it stays one line that cannot drive the
	 * terminal (messages that escape their own names are left as is). */
	struct strbuf line = STRBUF_INIT;
	ctx->failure = *err;
	strbuf_addstr(&line, "lastgood: ");
	for (const unsigned char *p = (const unsigned char *)err->msg; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			strbuf_addf(&line, "\\x%02x", *p);
		else
			strbuf_addch(&line, (char)*p);
	}
	write_line(&line);
	return command_exit_code(err->kind);
}

int command_usage(struct command_context *ctx, const char *message)
{
	error_set(&ctx->failure, ERROR_USAGE, "%s", message ? message : "usage");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i].name, ctx->argv[0])) {
			if (message)
				fprintf(stderr, "lastgood %s: %s\n", ctx->argv[0], message);
			fprintf(stderr, "usage: lastgood %s\n", commands[i].usage);
		}
	return EXIT_USAGE;
}

void command_progress(struct command_context *ctx, const char *fmt, ...)
{
	if (ctx->opt.verbosity < 0)
		return;
	struct strbuf line = STRBUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	strbuf_addstr(&line, "lastgood: ");
	strbuf_vaddf(&line, fmt, ap);
	va_end(ap);
	write_line(&line);
}

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

static int parse_global_options(int argc, char **argv, struct global_options *opt)
{
	static const struct option longopts[] = {
		{ "state-dir", required_argument, NULL, 'S' },
		{ "wait", required_argument, NULL, 'W' },
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opt->config_path = "lastgood.yml";
	while ((c = getopt_long(argc, argv, "+C:c:qvh", longopts, NULL)) != -1) {
		switch (c) {
		case 'C': opt->dir = optarg; break;
		case 'c': opt->config_path = optarg; break;
		case 'S': opt->state_dir = optarg; break;
		case 'W':
			if (config_parse_duration(optarg, &opt->lock_wait_ms) < 0) {
				fprintf(stderr, "lastgood: invalid --wait '%s' (want seconds, "
					"or ms, s or m, e.g. 30, 500ms, 2m)\n", optarg);
				return -1;
			}
			break;
		case 'j': opt->json = 1; break;
		case 'q': opt->verbosity = -1; break;
		case 'v': opt->verbosity = 1; break;
		case 'h': print_help(stdout); exit(command_finish_output(0, 0));
		case 'V':
			printf("lastgood %s\n", LASTGOOD_VERSION);
			exit(command_finish_output(0, 0));
		default: return -1;
		}
	}
	return optind;
}

static const char *state_dir_of(struct command_context *ctx)
{
	return ctx->opt.state_dir ? ctx->opt.state_dir : ctx->cfg.state_dir;
}

int command_lock_state(struct command_context *ctx, const char *name, struct error *err)
{
	if (ctx->have_state) {
		state_close(&ctx->st);
		ctx->have_state = 0;
	}
	/* From here on a first Ctrl-C ends waits early instead of killing a
	 * half-done step (util/interrupt.h). */
	interrupt_install();
	if (state_open(&ctx->st, state_dir_of(ctx), STATE_CREATE, err) < 0)
		return -1;
	ctx->have_state = 1;
	if (state_lock(&ctx->st, name, err) < 0) {
		char limit[FORMAT_SIZE];
		if (err->kind != ERROR_BUSY || !ctx->opt.lock_wait_ms)
			return -1;
		/* Say why nothing seems to happen before waiting. */
		command_progress(ctx, "%s; waiting up to %s", err->msg,
				 format_duration(ctx->opt.lock_wait_ms, limit));
		error_clear(err);
		if (state_lock_wait(&ctx->st, name, ctx->opt.lock_wait_ms, err) < 0)
			return -1;
	}
	return 0;
}

int command_begin_mutation(struct command_context *ctx, const char *name, struct error *err)
{
	/* Bound before recover: another config's interrupted operation is
	 * not this one's to finish. */
	if (command_lock_state(ctx, name, err) < 0 ||
	    config_bind_state(&ctx->cfg, &ctx->st, 1, err) < 0)
		return -1;
	usecase_report_init(&ctx->recovery, "recover", ctx->opt.json);
	int rc = usecase_recover(&ctx->st, &ctx->cfg, &ctx->recovery, err);
	/* the operations settled before one that could not be, too */
	command_print_recovered(ctx, &ctx->recovery);
	return rc;
}

int command_open_state(struct command_context *ctx, struct error *err)
{
	if (!path_exists(state_dir_of(ctx)))
		return 0;   /* nothing recorded yet: an empty state */
	if (state_open(&ctx->st, state_dir_of(ctx), STATE_READ, err) < 0)
		return -1;
	ctx->have_state = 1;
	return 0;
}

/* Open the state the command asks for; for CMD_MUTATES also lock it and
 * finish any interrupted operation first. */
static int set_up_state(struct command_context *ctx, const struct command *cmd,
			struct error *err)
{
	if (cmd->flags & CMD_MUTATES)
		return command_begin_mutation(ctx, cmd->name, err);
	if (command_open_state(ctx, err) < 0)
		return -1;
	return ctx->have_state ? config_bind_state(&ctx->cfg, &ctx->st, 0, err) : 0;
}

/* The config recorded with the live release of the state folder dir,
 * parsed into ctx->cfg as this config file, and the folder checked to
 * belong to it; *live gets that release. */
static int read_recorded_config(struct command_context *ctx, const char *dir, long *live,
				struct error *err)
{
	struct strbuf text = STRBUF_INIT;
	struct state st;
	int rc;

	if (state_open(&st, dir, STATE_READ, err) < 0)
		return -1;
	*live = state_live_release(&st);
	rc = *live ? release_config_text(&st, *live, &text, err)
		   : error_set(err, ERROR_USAGE, "no live release is recorded");
	if (rc == 0 && (rc = config_parse(ctx->opt.config_path, text.buf, text.len, &ctx->cfg,
					  err)) < 0)
		error_prefix(err, "the config recorded with release %ld does not load either", *live);
	if (rc == 0 && (rc = config_bind_state(&ctx->cfg, &st, 0, err)) < 0)
		config_free(&ctx->cfg);
	state_close(&st);
	explicit_bzero(text.buf, text.len);
	strbuf_release(&text);
	return rc;
}

/*
 * The config did not load (err says why). A command that must work
 * whatever the config says (CMD_FALLBACK) takes the config recorded with
 * the live release instead, from the state folder --state-dir names or the
 * default one beside the config: a broken config cannot say where its own
 * state_dir is. On failure err still leads with the load error, followed
 * by why nothing could stand in for it when a state folder was there.
 */
static int load_recorded_config(struct command_context *ctx, struct error *err)
{
	struct error why = ERROR_INIT;
	char *config_dir = path_dirname(ctx->opt.config_path);
	char *dir = ctx->opt.state_dir ? xstrdup(ctx->opt.state_dir)
				       : path_join(config_dir, ".lastgood");
	long live = 0;

	free(config_dir);
	if (!path_exists(dir)) {
		free(dir);
		return -1;   /* nothing recorded: the load error alone */
	}
	if (read_recorded_config(ctx, dir, &live, &why) < 0) {
		char *load = xstrdup(err->msg);
		error_set(err, err->kind, "%s (and no recorded config can stand in for it: %s)",
			  load, why.msg);
		free(load);
		free(dir);
		return -1;
	}
	/* The state folder where the record was found is the one to use,
	 * whatever the recorded config's state_dir says. */
	char *cwd = get_current_dir_name();
	free(ctx->cfg.state_dir);
	ctx->cfg.state_dir = path_absolute(cwd ? cwd : "/", dir);
	free(cwd);
	free(dir);
	struct strbuf line = STRBUF_INIT;
	strbuf_addf(&line, "lastgood: %s; using the config recorded with release %ld instead",
		    err->msg, live);
	write_line(&line);
	ctx->recorded_config = live;
	error_clear(err);
	return 0;
}

/* The config the command asks for (CMD_CONFIG), or for CMD_FALLBACK the
 * one recorded with the live release when it does not load. */
static int load_config(struct command_context *ctx, const struct command *cmd,
		       struct error *err)
{
	if (!(cmd->flags & CMD_CONFIG))
		return 0;
	if (config_load(ctx->opt.config_path, &ctx->cfg, err) < 0 &&
	    (!(cmd->flags & CMD_FALLBACK) || load_recorded_config(ctx, err) < 0))
		return -1;
	ctx->have_config = 1;
	return 0;
}

int main(int argc, char **argv)
{
	struct command_context ctx;
	struct error err = ERROR_INIT;
	int rc;

	/* lastgood as a process service's exec gate (core/service.h) */
	if (argc > 2 && !strcmp(argv[1], SERVICE_EXEC_GATE))
		return service_exec_gate(argv + 2);
	memset(&ctx, 0, sizeof(ctx));
	ctx.st.lock_fd = -1;
	int first = parse_global_options(argc, argv, &ctx.opt);
	if (first < 0) {
		print_help(stderr);
		return EXIT_USAGE;
	}
	if (first >= argc) {
		print_help(stderr);
		return EXIT_USAGE;
	}
	const struct command *cmd = find_command(argv[first]);
	if (!cmd) {
		fprintf(stderr, "lastgood: unknown command '%s' (see 'lastgood --help')\n", argv[first]);
		return EXIT_USAGE;
	}
	ctx.argc = argc - first;
	ctx.argv = argv + first;
	optind = 0;   /* commands parse their own options; 0 fully resets glibc getopt */

	/* Every failure from here on goes through command_fail, so that
	 * --json still prints its one object. A state folder inside a live
	 * path would be replaced by a rollback; --state-dir gets the check
	 * the config's state_dir had. */
	if ((ctx.opt.dir && chdir(ctx.opt.dir) < 0 &&
	     error_errno(&err, ERROR_USAGE, errno, "cannot change to folder '%s'",
			 ctx.opt.dir) < 0) ||
	    load_config(&ctx, cmd, &err) < 0)
		rc = command_fail(&ctx, &err);
	else if (ctx.have_config &&
		 (config_check_live_paths(&ctx.cfg, state_dir_of(&ctx),
					  ctx.opt.state_dir ? " (--state-dir)" : "", &err) < 0 ||
		  ((cmd->flags & CMD_LIVE_FILES) && config_check_parents(&ctx.cfg, &err) < 0)))
		rc = command_fail(&ctx, &err);
	else if ((cmd->flags & (CMD_STATE | CMD_MUTATES)) && set_up_state(&ctx, cmd, &err) < 0)
		rc = command_fail(&ctx, &err);
	else
		rc = cmd->fn(&ctx);
	if (rc && ctx.opt.json && (cmd->flags & CMD_CHANGES) && !command_json_printed())
		command_print_failure_json(&ctx, cmd->name, rc);

	/* a command that took the lock has changed something, and recorded it */
	int changed = ctx.have_state && ctx.st.lock_fd >= 0;
	if (ctx.have_state)
		state_close(&ctx.st);
	if (ctx.have_config)
		config_free(&ctx.cfg);
	usecase_report_clear(&ctx.recovery);
	return command_finish_output(rc, changed);
}
