/*
 * Running other programs without a shell.
 *
 * Every program lastgood runs is an argv array started with posix_spawn;
 * no string is ever interpreted by /bin/sh. process_spawn is the one
 * place a child is set up (its descriptors, folder, environment, process
 * group or session, signals): it starts the child and returns at once.
 * process_run builds on it: it waits for the child and, when out is
 * given, collects its standard output, keeping only its end.
 *
 *   pid_t pid;
 *   struct process_redirect to_log[] = { { STDOUT_FILENO, log_fd } };
 *   struct process_spawn_options opts = { .flags = PROCESS_STDIN_NULL,
 *                                         .redirects = to_log, .nredirects = 1 };
 *   int e = process_spawn(argv, &opts, &pid);   0, or the errno
 */
#ifndef LG_PROCESS_H
#define LG_PROCESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct error;
struct strbuf;

/* Put our descriptor our_fd at child_fd in the child (dup2). */
struct process_redirect {
	int child_fd;
	int our_fd;
};

enum process_spawn_flags {
	/* A bare program name is looked up on PATH (posix_spawnp); without
	 * it argv[0] is the path of the program. */
	PROCESS_SEARCH_PATH = 1,
	/* stdin from /dev/null rather than ours. */
	PROCESS_STDIN_NULL = 2,
	/* Its own process group, so that it can be signalled with whatever
	 * it starts. */
	PROCESS_NEW_GROUP = 4,
	/* Its own session (and so group): it outlives lastgood and has no
	 * controlling terminal. */
	PROCESS_NEW_SESSION = 8,
	/* Default dispositions for every signal and an empty mask: an
	 * ignored SIGTERM or SIGPIPE of ours would otherwise survive exec. */
	PROCESS_DEFAULT_SIGNALS = 16,
};

/* How process_spawn sets the child up; NULL options, NULL or zero fields
 * inherit ours. */
struct process_spawn_options {
	unsigned flags;              /* enum process_spawn_flags */
	const char *cwd;             /* working folder */
	char *const *envp;           /* whole environment, NULL-terminated */
	const struct process_redirect *redirects;   /* after stdin, in order */
	size_t nredirects;
};

/* Start argv (NULL-terminated) as opts says, *pid its pid. Returns 0, or
 * the errno that kept it from running (posix_spawn's convention: a
 * missing program, or a missing cwd, which reads like one). Every
 * descriptor of ours that is not redirected and is close-on-exec stays
 * ours. */
int process_spawn(char *const argv[], const struct process_spawn_options *opts, pid_t *pid);

/* Run argv (NULL-terminated, looked up on PATH) and wait. *status gets the
 * exit code, or 128+signal when it was killed. stdout goes to out when
 * out is non-NULL, else it is inherited; out keeps the last
 * PROCESS_OUTPUT_MAX bytes. Returns -1 only when the program could not
 * run. */
int process_run(char *const argv[], struct strbuf *out, int *status, struct error *err);

/*
 * How much of a child's output process_run keeps: its end, where a build
 * or a failing script says what went wrong. The rest is read and dropped,
 * so that a chatty build cannot fill lastgood's memory; what is kept then
 * starts at a line's beginning, after one line saying how many bytes
 * before it were dropped.
 */
#define PROCESS_OUTPUT_MAX (64 * 1024)
/* output_max for output that is itself the result (a patch to print). */
#define PROCESS_OUTPUT_ALL SIZE_MAX

/* What process_run_with may change about the child; NULL or zero fields
 * inherit (output_max 0: PROCESS_OUTPUT_MAX). */
struct process_options {
	const char *cwd;             /* working folder */
	char *const *envp;           /* whole environment, NULL-terminated */
	int merge_stderr;            /* stderr into out as well (needs out) */
	size_t output_max;           /* bytes of output kept, the last ones */
};

/* process_run with options (NULL opts: as process_run). A missing cwd is
 * reported like a missing program: -1 with the reason. */
int process_run_with(char *const argv[], const struct process_options *opts,
		     struct strbuf *out, int *status, struct error *err);

#endif
