/*
 * posix_spawnp-based process running; see process.h.
 */
#include "util/process.h"
#include "util/error.h"
#include "util/strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int process_run(char *const argv[], struct strbuf *out, int *status, struct error *err)
{
	return process_run_with(argv, NULL, out, status, err);
}

int process_run_with(char *const argv[], const struct process_options *opts,
		     struct strbuf *out, int *status, struct error *err)
{
	posix_spawn_file_actions_t actions;
	int pipefd[2] = { -1, -1 };
	pid_t pid;

	posix_spawn_file_actions_init(&actions);
	if (out) {
		if (pipe2(pipefd, O_CLOEXEC) < 0) {
			posix_spawn_file_actions_destroy(&actions);
			return error_errno(err, EXIT_FAILED, errno, "cannot create pipe for '%s'", argv[0]);
		}
		posix_spawn_file_actions_adddup2(&actions, pipefd[1], STDOUT_FILENO);
		if (opts && opts->merge_stderr)
			posix_spawn_file_actions_adddup2(&actions, pipefd[1], STDERR_FILENO);
	}
	if (opts && opts->cwd)
		posix_spawn_file_actions_addchdir_np(&actions, opts->cwd);
	char *const *envp = opts && opts->envp ? opts->envp : environ;
	int rc = posix_spawnp(&pid, argv[0], &actions, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&actions);
	if (out)
		close(pipefd[1]);
	if (rc != 0) {
		if (out)
			close(pipefd[0]);
		return error_errno(err, EXIT_FAILED, rc, "cannot run '%s'", argv[0]);
	}
	if (out) {
		char buf[8192];
		ssize_t n;
		while ((n = read(pipefd[0], buf, sizeof(buf))) != 0) {
			if (n < 0) {
				if (errno == EINTR)
					continue;
				break;
			}
			strbuf_add(out, buf, (size_t)n);
		}
		close(pipefd[0]);
	}
	int wstatus;
	while (waitpid(pid, &wstatus, 0) < 0) {
		if (errno != EINTR)
			return error_errno(err, EXIT_FAILED, errno, "cannot wait for '%s'", argv[0]);
	}
	*status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
	return 0;
}
