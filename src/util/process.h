/*
 * Running other programs without a shell.
 *
 * Every program lastgood runs is an argv array started with posix_spawnp;
 * no string is ever interpreted by /bin/sh. process_run waits for the child
 * and, when out is given, collects its standard output.
 */
#ifndef LG_PROCESS_H
#define LG_PROCESS_H

struct error;
struct strbuf;

/* Run argv (NULL-terminated) and wait. *status gets the exit code, or
 * 128+signal when it was killed. stdout goes to out when out is non-NULL,
 * else it is inherited. Returns -1 only when the program could not run. */
int process_run(char *const argv[], struct strbuf *out, int *status, struct error *err);

/* What process_run_with may change about the child; NULL fields inherit. */
struct process_options {
	const char *cwd;             /* working folder */
	char *const *envp;           /* whole environment, NULL-terminated */
	int merge_stderr;            /* stderr into out as well (needs out) */
};

/* process_run with options (NULL opts: as process_run). A missing cwd is
 * reported like a missing program: -1 with the reason. */
int process_run_with(char *const argv[], const struct process_options *opts,
		     struct strbuf *out, int *status, struct error *err);

#endif
