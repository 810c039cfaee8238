/*
 * Children started with posix_spawn, and run to their end with their
 * output collected; see process.h.
 */
#include "util/process.h"
#include "util/error.h"
#include "util/strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int process_spawn(char *const argv[], const struct process_spawn_options *opts, pid_t *pid)
{
	static const struct process_spawn_options inherit = { 0 };
	posix_spawn_file_actions_t actions;
	posix_spawnattr_t attr;
	short attr_flags = 0;

	if (!opts)
		opts = &inherit;
	posix_spawn_file_actions_init(&actions);
	posix_spawnattr_init(&attr);
	if (opts->flags & PROCESS_STDIN_NULL)
		posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	for (size_t i = 0; i < opts->nredirects; i++)
		posix_spawn_file_actions_adddup2(&actions, opts->redirects[i].our_fd,
						 opts->redirects[i].child_fd);
	if (opts->cwd)
		posix_spawn_file_actions_addchdir_np(&actions, opts->cwd);
	if (opts->flags & PROCESS_NEW_SESSION) {
		attr_flags |= POSIX_SPAWN_SETSID;
	} else if (opts->flags & PROCESS_NEW_GROUP) {
		posix_spawnattr_setpgroup(&attr, 0);
		attr_flags |= POSIX_SPAWN_SETPGROUP;
	}
	if (opts->flags & PROCESS_DEFAULT_SIGNALS) {
		sigset_t all, none;
		sigfillset(&all);
		sigemptyset(&none);
		posix_spawnattr_setsigdefault(&attr, &all);
		posix_spawnattr_setsigmask(&attr, &none);
		attr_flags |= POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
	}
	posix_spawnattr_setflags(&attr, attr_flags);

	char *const *envp = opts->envp ? opts->envp : environ;
	int rc = opts->flags & PROCESS_SEARCH_PATH
		? posix_spawnp(pid, argv[0], &actions, &attr, argv, envp)
		: posix_spawn(pid, argv[0], &actions, &attr, argv, envp);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&actions);
	return rc;
}

int process_run(char *const argv[], struct strbuf *out, int *status, struct error *err)
{
	return process_run_with(argv, NULL, out, status, err);
}

/*
 * Keep only the last max bytes of out from base on, and say how many went
 * before them: dropped bytes already went (read_output), and it left the
 * byte before the last max, to tell whether those start a line. When they
 * do not, the partial line goes too, unless no other line ends in them.
 */
static void output_keep_tail(struct strbuf *out, size_t base, size_t max, size_t dropped)
{
	size_t kept = out->len - base;
	if (kept <= max)
		return;
	const char *from = out->buf + base;
	size_t cut = kept - max;
	if (from[cut - 1] != '\n') {
		const char *newline = memchr(from + cut, '\n', kept - cut);
		if (newline && newline + 1 < from + kept)
			cut = (size_t)(newline + 1 - from);
	}
	struct strbuf tail = STRBUF_INIT;
	strbuf_add(&tail, from + cut, kept - cut);
	strbuf_setlen(out, base);
	strbuf_addf(out, "[%zu bytes of earlier output dropped]\n", dropped + cut);
	strbuf_add(out, tail.buf, tail.len);
	strbuf_release(&tail);
}

/* Read fd to its end into out, keeping the last max bytes as
 * output_keep_tail says. Output past max is dropped as it comes, whenever
 * out holds twice as much, so it never holds much more than that. */
static void read_output(int fd, struct strbuf *out, size_t max)
{
	size_t base = out->len, dropped = 0;
	char buf[8192];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		strbuf_add(out, buf, (size_t)n);
		size_t kept = out->len - base;
		if (kept / 2 > max) {
			size_t cut = kept - (max + 1);
			memmove(out->buf + base, out->buf + base + cut, max + 1);
			strbuf_setlen(out, base + max + 1);
			dropped += cut;
		}
	}
	output_keep_tail(out, base, max, dropped);
}

int process_run_with(char *const argv[], const struct process_options *opts,
		     struct strbuf *out, int *status, struct error *err)
{
	struct process_redirect to_pipe[2];
	struct process_spawn_options spawn = { .flags = PROCESS_SEARCH_PATH };
	int pipefd[2] = { -1, -1 };
	pid_t pid;

	if (out) {
		if (pipe2(pipefd, O_CLOEXEC) < 0)
			return error_errno(err, ERROR_FAILED, errno, "cannot create pipe for '%s'", argv[0]);
		to_pipe[0] = (struct process_redirect){ STDOUT_FILENO, pipefd[1] };
		to_pipe[1] = (struct process_redirect){ STDERR_FILENO, pipefd[1] };
		spawn.redirects = to_pipe;
		spawn.nredirects = opts && opts->merge_stderr ? 2 : 1;
	}
	if (opts) {
		spawn.cwd = opts->cwd;
		spawn.envp = opts->envp;
	}
	int rc = process_spawn(argv, &spawn, &pid);
	if (out)
		close(pipefd[1]);
	if (rc != 0) {
		if (out)
			close(pipefd[0]);
		return error_errno(err, ERROR_FAILED, rc, "cannot run '%s'", argv[0]);
	}
	if (out) {
		read_output(pipefd[0], out, opts && opts->output_max ? opts->output_max
			    : PROCESS_OUTPUT_MAX);
		close(pipefd[0]);
	}
	int wstatus;
	while (waitpid(pid, &wstatus, 0) < 0) {
		if (errno != EINTR)
			return error_errno(err, ERROR_FAILED, errno, "cannot wait for '%s'", argv[0]);
	}
	*status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
	return 0;
}
