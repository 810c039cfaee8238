/*
 * The command layer: one file per command in src/cmd/, one table in
 * src/main.c.
 *
 * The dispatcher parses the global options, then does what the command's
 * flags ask for, once, before calling it:
 *
 *   CMD_CONFIG    load and validate the config (exit 2 on any error)
 *   CMD_STATE     open the state folder read-only (missing: empty state)
 *   CMD_MUTATES   create the state folder, take the lock (exit 75 when
 *                 busy) and run `recover` first
 *   CMD_LOCKS_ITSELF  the command changes things too, but takes the lock
 *                 and runs recover itself (command_begin_mutation) once its
 *                 arguments say it will: `rollback` (not with --dry-run)
 *                 and `recover` (not on a usage error)
 *   CMD_LIVE_FILES  the command reads or writes live files: refuse a
 *                 symbolic link or an untrusted folder on the way to one
 *                 before it starts (config_check_parents)
 *   CMD_FALLBACK  when the config does not load, use the config recorded
 *                 with the live release instead, saying so (a broken
 *                 config can always be looked into and rolled back)
 *
 * The state folder must belong to the config (config_bind_state): a
 * command that creates or locks it binds an unbound one.
 *
 * A command function gets the context with argv[0] its own name, parses its
 * own options, and returns the process exit code. Commands print; core code
 * never does. command_fail prints err's message and returns its code.
 */
#ifndef LG_COMMAND_H
#define LG_COMMAND_H

#include "core/config.h"
#include "core/state.h"
#include "core/usecase/usecase.h"
#include "util/error.h"

struct strbuf;

/* Exit codes, the command-line contract (README "Exit codes"). Only this
 * layer picks them: core says what kind of failure it was (util/error.h)
 * and command_exit_code turns that into the code. */
enum exit_code {
	EXIT_OK = 0,
	EXIT_FAILED = 1,        /* checks failing, or failed and nothing changed */
	EXIT_USAGE = 2,         /* usage or configuration error */
	EXIT_ROLLED_BACK = 3,   /* deploy failed and was rolled back */
	EXIT_NEEDS_ATTENTION = 4, /* rollback failed: host needs attention */
	EXIT_LOCKED = 75,       /* another operation holds the lock */
};

/* The exit code for a failure of this kind (EXIT_FAILED for none). */
int command_exit_code(enum error_kind kind);

enum command_flags {
	CMD_CONFIG = 1,
	CMD_STATE = 2,
	CMD_MUTATES = 4,
	CMD_LIVE_FILES = 8,
	CMD_FALLBACK = 16,
	CMD_LOCKS_ITSELF = 32,
};
/* The commands that change anything: with --json, one report on stdout,
 * a failure's too. */
#define CMD_CHANGES (CMD_MUTATES | CMD_LOCKS_ITSELF)

struct global_options {
	const char *dir;          /* -C */
	const char *config_path;  /* -c, default lastgood.yml */
	const char *state_dir;    /* --state-dir */
	int json;
	int verbosity;            /* -1 quiet, 0 normal, 1 verbose */
	long lock_wait_ms;        /* --wait: how long to wait for a busy lock; 0 not at all */
};

struct command_context {
	struct global_options opt;
	struct config cfg;
	int have_config;
	long recorded_config;     /* the config did not load: cfg is the one
	                             recorded with this release */
	struct state st;
	int have_state;           /* 0 for CMD_STATE when no state exists yet */
	int recover_attention;    /* operations recover left with services down */
	struct usecase_report recovery;  /* what recover did (command_begin_mutation) */
	struct error failure;     /* the last error command_fail or command_usage
	                             told, for a --json failure report */
	int argc;
	char **argv;
};

struct command {
	const char *name;
	int (*fn)(struct command_context *ctx);
	unsigned flags;
	const char *usage;
};

int command_fail(struct command_context *ctx, const struct error *err);
/* "lastgood <cmd>: usage: ..." to stderr; returns EXIT_USAGE. */
int command_usage(struct command_context *ctx, const char *message);
/* Progress to stderr unless -q. */
void command_progress(struct command_context *ctx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Open the state for writing, take the lock, bind the state folder to the
 * config and run recover: what the dispatcher does for CMD_MUTATES, for
 * commands that decide later (a rollback --dry-run changes nothing). */
int command_begin_mutation(struct command_context *ctx, const char *name, struct error *err);
/* Only open the state for writing and take the lock (honouring --wait):
 * for `rebind`, which must not judge the binding it is there to change. */
int command_lock_state(struct command_context *ctx, const char *name, struct error *err);
/* Print what recover did (ctx->recovery): a line per operation it
 * settled, and set ctx->recover_attention to how many of them it could not
 * bring every service back for (each line names them). */
void command_print_recovered(struct command_context *ctx, const struct usecase_report *rep);

/* The lines that tell how a deploy or rollback ended (stderr; the release
 * number on stdout without --json), from its report; returns the exit
 * code (0, 1, 3 or 4, or the error's). */
int command_print_transition(struct command_context *ctx, const struct usecase_report *rep);

/* start, stop and restart: parse [--services a,b] [--reason R], then run
 * the services use case with steps and print its report. */
int command_run_services(struct command_context *ctx, unsigned steps);

struct json_t;
/* The end of every command that changes anything: with --json, rep as one
 * object on stdout (add, when not NULL, adds the command's own keys);
 * clears rep and returns rc, the exit code the text lines chose. */
int command_finish_report(struct command_context *ctx, struct usecase_report *rep, int rc,
			  void (*add)(struct json_t *out, const struct usecase_report *rep));
/* snapshot and deploy: each line of rep->imageless (why a compose service
 * has no image recorded with the release) on stderr unless -q, and with
 * --json as the "imageless" array (command_add_imageless, an add of
 * command_finish_report). */
void command_note_imageless(struct command_context *ctx, const struct usecase_report *rep);
void command_add_imageless(struct json_t *out, const struct usecase_report *rep);
/* A JSON array of lines of text. */
struct json_t *command_json_lines(char *const *lines, size_t n);
/* A command that changes anything failed before it had a report (the lock
 * is busy, its arguments are wrong): with --json, the report of that
 * failure, from ctx->failure, so that stdout still holds one object. */
void command_print_failure_json(struct command_context *ctx, const char *command, int rc);
/* Whether a JSON value was printed (command_print_json). */
int command_json_printed(void);

/* `[--limit N] [--all]` of the commands that list the record (releases,
 * history): *limit gets N, 0 for --all, else COMMAND_LIST_DEFAULT. Returns
 * 0, or EXIT_USAGE once the usage error is printed. */
#define COMMAND_LIST_DEFAULT 20
int command_parse_limit(struct command_context *ctx, int *limit);
/* Tell the operator (stderr, unless -q) that a list stopped at its limit. */
void command_note_limit(struct command_context *ctx, int limit, const char *what);

struct operation_record;
/* One operation (without steps) as JSON, shared by history and show. */
struct json_t *history_operation_json(const struct operation_record *rec);

/*
 * Output (src/cmd/output.c). Whatever lastgood prints may hold bytes from
 * outside: names of live files, program output, a server's answer, what
 * the user typed.
 *
 * In text, a name (a path, a link target) that holds a control character,
 * bytes that are not UTF-8, a quote, a backslash or " -> " is printed in
 * double quotes with C escapes (\", \\, \n, \t, and \xNN for any other
 * such byte), as git quotes paths, so that a name can neither pass for
 * another line nor drive the terminal. command_quoted_name is the same,
 * allocated.
 *
 * In JSON, every string goes through command_json_text: its bytes when
 * they are UTF-8, else with each byte that is not part of valid UTF-8
 * replaced by U+FFFD (NULL gives NULL, for json_pack's "o?"). A name set
 * with command_json_set_name keeps its exact bytes too: when they are not
 * UTF-8, KEY_base64 holds them, base64-encoded. Objects are built with
 * command_json_pack, which aborts, as xmalloc does, rather than drop an
 * element (it can fail only on a wrong format or exhausted memory), and
 * printed with command_print_json (takes the value over).
 *
 * The dispatcher ends every command with command_finish_output: stdout is
 * flushed and closed, and a write that failed (a full disk, an I/O error)
 * turns exit 0 into 1 with a message on stderr (changes: the command is
 * one that changes anything, whose record then says what it did).
 */
void command_quote_name(struct strbuf *sb, const char *name);
char *command_quoted_name(const char *name);
struct json_t *command_json_text(const char *s);
void command_json_set_name(struct json_t *obj, const char *key, const char *name);
struct json_t *command_json_pack(const char *fmt, ...);
void command_print_json(struct json_t *value);
int command_finish_output(int rc, int changes);

/* Open the state folder read-only, as CMD_STATE does (a missing one is an
 * empty state: ctx->have_state stays 0); for a command that must see the
 * failure itself (fsck). */
int command_open_state(struct command_context *ctx, struct error *err);

/* The commented starter lastgood.yml `lastgood init` writes. */
extern const char init_starter_text[];

#define COMMAND(name) int cmd_##name(struct command_context *ctx)
COMMAND(init);
COMMAND(check);
COMMAND(snapshot);
COMMAND(deploy);
COMMAND(rollback);
COMMAND(status);
COMMAND(releases);
COMMAND(history);
COMMAND(show);
COMMAND(diff);
COMMAND(recover);
COMMAND(gc);
COMMAND(fsck);
COMMAND(start);
COMMAND(stop);
COMMAND(restart);
COMMAND(verify);
COMMAND(rebind);
COMMAND(db);

#endif
