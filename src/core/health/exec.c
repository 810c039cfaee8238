/*
 * exec checks: run an argv (no shell) in the service's folder, in a
 * process group of its own; healthy on exit 0, its output kept for the
 * response otherwise.
 */
#include "core/health/probe.h"
#include "core/config.h"
#include "util/process.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

void exec_start(struct probe *p)
{
	char *const *argv = p->check->argv.v;
	int pipefd[2];

	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		int e = errno;
		probe_fail(p, "failed", "cannot create pipe: %s", strerror(e));
		return;
	}
	struct process_redirect to_pipe[] = {
		{ STDOUT_FILENO, pipefd[1] },
		{ STDERR_FILENO, pipefd[1] },
	};
	/* Its own process group, so a timeout kills whatever it started too;
	 * default signals, so an ignored SIGPIPE or a blocked mask of ours does
	 * not leak into it. Relative programs ("bin/api --self-test") mean the
	 * service's folder. */
	struct process_spawn_options opts = {
		.flags = PROCESS_SEARCH_PATH | PROCESS_STDIN_NULL | PROCESS_NEW_GROUP |
			 PROCESS_DEFAULT_SIGNALS,
		.cwd = p->svc->workdir,
		.redirects = to_pipe,
		.nredirects = 2,
	};
	int rc = process_spawn(argv, &opts, &p->pid);
	close(pipefd[1]);
	if (rc) {
		close(pipefd[0]);
		p->pid = 0;
		struct strbuf response = STRBUF_INIT;
		strbuf_addf(&response, "cannot run '%s': ", argv[0]);
		probe_add_errno_text(&response, rc);
		probe_finish(p, 0, "failed", &response);
		return;
	}
	p->out_fd = pipefd[0];
	fcntl(p->out_fd, F_SETFL, fcntl(p->out_fd, F_GETFL) | O_NONBLOCK);
	/* Without a pidfd the loop falls back to polling waitpid. */
	p->pid_fd = pidfd_open(p->pid, 0);
}

/* Read what the child has written; output past HEALTH_OUTPUT_MAX is read
 * and dropped so the child never blocks on a full pipe. */
static void exec_read(struct probe *p)
{
	char buf[4096];
	while (p->out_fd >= 0) {
		ssize_t n = read(p->out_fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			close(p->out_fd);
			p->out_fd = -1;
			return;
		}
		size_t keep = (size_t)n;
		if (keep > HEALTH_OUTPUT_MAX - p->output.len)
			keep = HEALTH_OUTPUT_MAX - p->output.len;
		strbuf_add(&p->output, buf, keep);
	}
}

static void exec_exited(struct probe *p, int wstatus)
{
	struct strbuf response = STRBUF_INIT;

	p->pid = 0;
	/* The child is gone, so what it wrote is all in the pipe; a grandchild
	 * still holding the pipe is not waited for. */
	exec_read(p);
	if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) {
		probe_finish(p, 1, "ok", &response);
		return;
	}
	if (WIFEXITED(wstatus))
		strbuf_addf(&response, "exit %d", WEXITSTATUS(wstatus));
	else
		strbuf_addf(&response, "killed by signal %d", WTERMSIG(wstatus));
	if (p->output.len) {
		strbuf_addstr(&response, ": ");
		probe_add_excerpt(&response, p->output.buf, p->output.len);
	}
	probe_finish(p, 0, "failed", &response);
}

/* Called on every turn of the loop, whatever poll reported: libcurl passes
 * on POLLIN but not a bare POLLHUP, so a pipe's end is found by reading. */
void exec_step(struct probe *p)
{
	exec_read(p);
	int wstatus;
	pid_t rc;
	do
		rc = waitpid(p->pid, &wstatus, WNOHANG);
	while (rc < 0 && errno == EINTR);
	if (rc == p->pid) {
		exec_exited(p, wstatus);
	} else if (rc < 0) {
		int e = errno;
		p->pid = 0;
		probe_fail(p, "failed", "cannot wait for '%s': %s", p->check->argv.v[0],
			   strerror(e));
	}
}
