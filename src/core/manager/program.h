/*
 * What managers share to run a service's programs (manager/program.c): its
 * environment and argv as the config means them, running one to start or
 * stop the service or to ask its status, and reading the answer.
 *
 *   manager_run_action(svc, "start", svc->start.v, MANAGER_RUN_IN_WORKDIR, err);
 *   manager_run_status(svc, svc->status.v, MANAGER_RUN_IN_WORKDIR, info);
 *
 * A program's output is kept (its end: util/process.h) for messages, with
 * the service's secret `env` values masked in it.
 */
#ifndef LG_MANAGER_PROGRAM_H
#define LG_MANAGER_PROGRAM_H

#include <stddef.h>

struct error;
struct service;
struct service_info;
struct strbuf;

/* The variable naming what a process service is (manager/process.c): an
 * inherited one is always dropped from a service's environment. */
#define MANAGER_MARKER_NAME "LASTGOOD_SERVICE"

/* Our environment with the service's `env` on top and marker (an entry
 * "LASTGOOD_SERVICE=...", or NULL) last; free with manager_free_strings. */
char **manager_environment(const struct service *svc, const char *marker);
/* A copy of args with a relative program path taken in the service's
 * workdir; free with manager_free_strings. */
char **manager_argv(const struct service *svc, char *const *args);
void manager_free_strings(char **v);
/* ERROR_FAILED naming the workdir when it is missing or not a folder. */
int manager_check_workdir(const struct service *svc, struct error *err);
/* The last non-empty line of out, trimmed and bounded to size. */
void manager_last_line(const struct strbuf *out, char *line, size_t size);

enum manager_run_flags {
	MANAGER_RUN_IN_WORKDIR = 1,   /* the service's workdir and environment */
	MANAGER_RUN_MERGE_STDERR = 2, /* stderr into out, for the error message */
};

/* Run one of the service's programs and wait, its output in out; -1 only
 * when it could not run at all. */
int manager_run_program(const struct service *svc, char *const *args, int flags,
			struct strbuf *out, int *status, struct error *err);
/* Start or stop (verb) through a program: a nonzero exit is ERROR_FAILED
 * naming the command line, its status and its last line of output. */
int manager_run_action(const struct service *svc, const char *verb, char *const *args,
		       int flags, struct error *err);
/* That ERROR_FAILED error for a program that exited with status, line
 * being the line of its output that says why (may be empty); returns -1. */
int manager_action_error(const struct service *svc, const char *verb, char *const *args,
			 int status, const char *line, struct error *err);
/* Ask a status program: exit 0 is running, anything else stopped; one that
 * cannot run leaves info->running -1 with the reason. */
void manager_run_status(const struct service *svc, char *const *args, int flags,
			struct service_info *info);
/* info->running -1 with reason as its detail. */
void manager_info_unknown(struct service_info *info, const char *reason);

#endif
