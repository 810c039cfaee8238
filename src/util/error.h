/*
 * Error reporting from library code.
 *
 * Core and util functions never print or exit. On failure they fill a
 * struct error with a one-line message and the exit code the command should
 * use, and return -1:
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

/* Exit codes, the command-line contract (README "Exit codes"). */
enum exit_code {
	EXIT_OK = 0,
	EXIT_FAILED = 1,        /* checks failing, or failed and nothing changed */
	EXIT_USAGE = 2,         /* usage or configuration error */
	EXIT_ROLLED_BACK = 3,   /* deploy failed and was rolled back */
	EXIT_NEEDS_ATTENTION = 4, /* rollback failed: host needs attention */
	EXIT_LOCKED = 75,       /* another operation holds the lock */
};

struct error {
	int code;        /* an enum exit_code; 0 while no error was set */
	char msg[2048];
};

#define ERROR_INIT { 0, "" }

int error_set(struct error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Like error_set, with ": strerror(errno_value)" appended. */
int error_errno(struct error *err, int code, int errno_value, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Put "prefix: " in front of the message already set. */
void error_prefix(struct error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void error_clear(struct error *err);

#endif
