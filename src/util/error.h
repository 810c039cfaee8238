/*
 * Error reporting from library code.
 *
 * Core and util functions never print or exit. On failure they fill a
 * struct error with a one-line message and the kind of failure (what the
 * caller must know to act on it), and return -1; only the command layer
 * turns a kind into an exit code (cmd/command.h):
 *
 *   struct error err = ERROR_INIT;
 *   if (store_put(..., &err) < 0)
 *           return command_fail(&err);
 *
 * error_set returns -1 so it can end a failing function in one line. The
 * message follows the project's style: lowercase, no trailing period, the
 * thing named in quotes. error_prefix prepends context ("snapshot: ...").
 */
#ifndef LG_ERROR_H
#define LG_ERROR_H

/* Kinds of failure. Each says what state the failure left things in,
 * which is what a caller branches on (and what the exit code tells the
 * operator: README "Exit codes"). */
enum error_kind {
	ERROR_NONE = 0,
	ERROR_FAILED,           /* failed (or checks failing); nothing changed */
	ERROR_USAGE,            /* bad input: usage or configuration; nothing changed */
	ERROR_ROLLED_BACK,      /* the change failed and the old release is back */
	ERROR_ATTENTION,        /* failed, and the host needs attention */
	ERROR_BUSY,             /* another operation holds the lock */
};

struct error {
	enum error_kind kind;   /* ERROR_NONE while no error was set */
	char msg[2048];
};

#define ERROR_INIT { 0, "" }

int error_set(struct error *err, enum error_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The name of a kind, for --json ("failed", "usage", "rolled-back",
 * "needs-attention", "busy"). */
const char *error_kind_name(enum error_kind kind);
/* Like error_set, with ": strerror(errno_value)" appended. */
int error_errno(struct error *err, enum error_kind kind, int errno_value, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Put "prefix: " in front of the message already set. */
void error_prefix(struct error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void error_clear(struct error *err);
/* err failed and putting back what it had changed failed too (undo_err):
 * one ERROR_ATTENTION message naming both, for `lastgood recover`. */
void error_undo_failed(struct error *err, const struct error *undo_err);

#endif
