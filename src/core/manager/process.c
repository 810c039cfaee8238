/*
 * The process manager: lastgood runs a service's `run` itself, detached in
 * its own session with its output in STATE/logs/NAME.log, and knows it by
 * pid and process start time (manager/process_table.h), so that a reused
 * pid is never mistaken for it. It runs only once that pid is recorded:
 * through an exec gate (service_exec_gate) that lastgood spawns as the
 * service's process and lets exec `run` once the row is written. Stopped
 * with SIGTERM to its process group, then SIGKILL after `stop_timeout`.
 */
#include "core/manager/manager.h"
#include "core/manager/process_table.h"
#include "core/manager/program.h"
#include "core/state.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/process.h"
#include "util/strbuf.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Stopping polls with a short pause that doubles up to a cap, so a service
 * that exits at once is seen at once and a slow one costs few wake-ups. */
#define POLL_FIRST_MS 10
#define POLL_MAX_MS 100
/* After SIGKILL only the kernel's teardown is left; a process still there
 * after this is stuck (uninterruptible I/O) and needs a human. */
#define KILL_WAIT_MS 5000

/* ---- /proc ---- */

/* A task's flag (include/linux/sched.h, field 9 of /proc/PID/stat): set
 * as it begins to exit, before it releases its memory. */
#define PF_EXITING 0x00000004UL

struct proc_stat {
	char state;                  /* R, S, D, Z, ... */
	unsigned long flags;         /* the kernel's PF_* flags */
	long pgrp;
	long long start_ticks;       /* since boot, in clock ticks */
};

/* Read /proc/PID/stat; -1 when there is no such process. */
static int proc_stat_read(long pid, struct proc_stat *ps)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';

	/* Field 2 is the command name in parentheses, and the name may itself
	 * hold spaces and ')', so fields are counted from the last ')'. */
	char *p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || !p[2])
		return -1;
	ps->state = p[2];
	p += 3;
	for (int field = 4; field <= 22; field++) {
		char *end;
		long long value = strtoll(p, &end, 10);
		if (end == p)
			return -1;
		if (field == 5)
			ps->pgrp = (long)value;
		else if (field == 9)
			ps->flags = (unsigned long)value;
		else if (field == 22)
			ps->start_ticks = value;
		p = end;
	}
	return 0;
}

/* Reap pid if it is our child and has ended, describing how. waitpid on
 * a process that is not our child fails with ECHILD, which only means
 * someone else will reap it. */
static void reap_child(long pid, char *detail, size_t size)
{
	int status;
	if (waitpid((pid_t)pid, &status, WNOHANG) != (pid_t)pid) {
		snprintf(detail, size, "pid %ld exited", pid);
		return;
	}
	if (WIFEXITED(status))
		snprintf(detail, size, "pid %ld exited with status %d", pid, WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(detail, size, "pid %ld killed by signal %d", pid, WTERMSIG(status));
	else
		snprintf(detail, size, "pid %ld exited", pid);
}

/*
 * 1 while any process of group pgid is alive. Zombies do not count: they
 * are dead already, and one whose parent never reaps it (an orphan under a
 * PID 1 that does not wait) would otherwise hold a stop up forever. That is
 * also why kill(-pgid, 0) only settles "gone" and /proc is read otherwise.
 * Reading all of /proc takes milliseconds on a busy host, so the two usual
 * answers come first: the leader itself alive, or no member at all.
 */
static int group_alive(long pgid)
{
	char detail[64];
	struct proc_stat leader;
	reap_child(pgid, detail, sizeof(detail));

	if (proc_stat_read(pgid, &leader) == 0 && leader.pgrp == pgid && leader.state != 'Z' &&
	    leader.state != 'X')
		return 1;
	if (kill(-(pid_t)pgid, 0) < 0 && errno == ESRCH)
		return 0;
	DIR *dir = opendir("/proc");
	if (!dir)
		return kill(-(pid_t)pgid, 0) == 0 || errno == EPERM;
	int alive = 0;
	struct dirent *de;
	while (!alive && (de = readdir(dir))) {
		struct proc_stat ps;
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		if (proc_stat_read(strtol(de->d_name, NULL, 10), &ps) == 0 && ps.pgrp == pgid &&
		    ps.state != 'Z' && ps.state != 'X')
			alive = 1;
	}
	closedir(dir);
	return alive;
}

/*
 * Wait until group pgid is gone or timeout_ms passed; 1 when gone. The
 * group is looked at after a pause that doubles, and a pause ends early
 * when the leader exits (its pidfd turns readable): a service whose leader
 * leaves at SIGTERM, taking the group with it, is seen gone at once rather
 * than a pause later. Once the leader is gone, members outliving it are
 * polled. Without pidfd_open every pause runs its course.
 */
static int group_wait_gone(long pgid, long timeout_ms)
{
	long long deadline = clock_monotonic_ms() + timeout_ms;
	long delay = POLL_FIRST_MS;
	int leader = pidfd_open((pid_t)pgid, 0);
	int gone = 0;
	for (;;) {
		if (!group_alive(pgid)) {
			gone = 1;
			break;
		}
		long long left = deadline - clock_monotonic_ms();
		if (left <= 0)
			break;
		long pause = delay < left ? delay : (long)left;
		if (leader >= 0) {
			struct pollfd pfd = { leader, POLLIN, 0 };
			int n = poll(&pfd, 1, (int)pause);
			if (n > 0 || (n < 0 && errno != EINTR)) {
				close(leader);
				leader = -1;
			}
		} else {
			clock_sleep_ms(pause);
		}
		if (delay < POLL_MAX_MS)
			delay = delay * 2 < POLL_MAX_MS ? delay * 2 : POLL_MAX_MS;
	}
	if (leader >= 0)
		close(leader);
	return gone;
}

/*
 * SIGTERM to the whole group, SIGKILL after stop_timeout. The caller has
 * just matched the leader's pid and start time; while any member lives the
 * kernel cannot hand the group's id to a new process, so every signal here
 * reaches only what the service started.
 */
static int group_terminate(const struct service *svc, long pgid, struct error *err)
{
	if (!group_alive(pgid))
		return 0;
	if (kill(-(pid_t)pgid, SIGTERM) < 0 && errno != ESRCH)
		return error_errno(err, ERROR_FAILED, errno, "cannot stop service '%s': signal pid %ld",
				   svc->name, pgid);
	if (group_wait_gone(pgid, svc->policy.stop_timeout_ms))
		return 0;
	if (kill(-(pid_t)pgid, SIGKILL) < 0 && errno != ESRCH)
		return error_errno(err, ERROR_FAILED, errno, "cannot stop service '%s': kill pid %ld",
				   svc->name, pgid);
	if (group_wait_gone(pgid, KILL_WAIT_MS))
		return 0;
	return error_set(err, ERROR_FAILED,
			 "cannot stop service '%s': process group %ld still alive %ds after SIGKILL",
			 svc->name, pgid, KILL_WAIT_MS / 1000);
}

/* ---- the marker ---- */

/*
 * "LASTGOOD_SERVICE=STATE/NAME", STATE the state folder's real path: the
 * entry every process service is started with. The pid lastgood records
 * is written only once the process runs, so a lastgood killed in between
 * leaves a process no row names; the marker, kept by the kernel in
 * /proc/PID/environ, still tells it apart from every other process, and
 * from the same service of another state folder.
 */
static char *process_marker(struct state *st, const struct service *svc)
{
	char *dir = realpath(st->dir, NULL);
	char *marker = xstrfmt("%s=%s/%s", MANAGER_MARKER_NAME, dir ? dir : st->dir, svc->name);
	free(dir);
	return marker;
}

/* 1 when marker is one of the entries of pid's environment as it was
 * started. A process lastgood may not read (another user's) is not ours. */
static int proc_has_marker(long pid, const char *marker)
{
	char path[64];
	struct strbuf env = STRBUF_INIT;
	struct error ignored = ERROR_INIT;
	int found = 0;

	snprintf(path, sizeof(path), "/proc/%ld/environ", pid);
	if (fs_read_file(path, &env, &ignored) == 0)
		for (size_t at = 0; at < env.len && !found; at += strlen(env.buf + at) + 1)
			found = !strcmp(env.buf + at, marker);
	strbuf_release(&env);
	return found;
}

/* Whether pid is still an exec gate (SERVICE_EXEC_GATE): spawned, its pid
 * recorded, but not yet told to exec `run`. */
static int proc_is_gate(long pid)
{
	char path[64];
	struct strbuf cmdline = STRBUF_INIT;
	struct error ignored = ERROR_INIT;
	int gate = 0;

	snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
	if (fs_read_file(path, &cmdline, &ignored) == 0) {
		size_t first = strnlen(cmdline.buf, cmdline.len) + 1;
		gate = first < cmdline.len && !strcmp(cmdline.buf + first, SERVICE_EXEC_GATE);
	}
	strbuf_release(&cmdline);
	return gate;
}

/*
 * Every live process group leader of our uid whose environment holds svc's
 * marker, but our own group (a lastgood run from beneath a service). Asked
 * when the recorded process is not running (or was just stopped), these
 * are the groups lastgood lost track of. *pids is allocated (free it);
 * returns how many. A group leader is what process_gate_spawn starts, and while
 * any member lives the kernel keeps its id, so signalling the group
 * reaches only what the service started.
 */
static size_t process_find_untracked(struct state *st, const struct service *svc, long **pids)
{
	char *marker = process_marker(st, svc);
	size_t n = 0, alloc = 0;
	DIR *dir = opendir("/proc");
	struct dirent *de;

	*pids = NULL;
	while (dir && (de = readdir(dir))) {
		struct proc_stat ps;
		struct stat sb;
		char path[64];
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		long pid = strtol(de->d_name, NULL, 10);
		snprintf(path, sizeof(path), "/proc/%ld", pid);
		if (proc_stat_read(pid, &ps) < 0 || ps.pgrp != pid || ps.state == 'Z' ||
		    ps.state == 'X' || pid == (long)getpgrp() || stat(path, &sb) < 0 ||
		    sb.st_uid != geteuid() || !proc_has_marker(pid, marker))
			continue;
		if (n == alloc) {
			alloc = alloc ? alloc * 2 : 4;
			*pids = xrealloc(*pids, alloc * sizeof(**pids));
		}
		(*pids)[n++] = pid;
	}
	if (dir)
		closedir(dir);
	free(marker);
	return n;
}

/* Stop every group process_find_untracked finds, as a stop would. */
static int process_stop_untracked(struct state *st, const struct service *svc, struct error *err)
{
	long *pids;
	size_t n = process_find_untracked(st, svc, &pids);
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = group_terminate(svc, pids[i], err);
	free(pids);
	return rc;
}
/* ---- the recorded process ---- */

enum process_verdict {
	PROCESS_NONE,                /* no row: never started, or stopped */
	PROCESS_GONE,                /* the recorded pid does not exist */
	PROCESS_REUSED,              /* the pid now belongs to another process */
	PROCESS_EXITED,              /* ours, but a zombie (reaped when our child) */
	PROCESS_GATED,               /* ours, still its exec gate: `run` never ran */
	PROCESS_RUNNING,
};

/* What became of the service's recorded process, filling info. Only
 * PROCESS_EXITED, PROCESS_GATED and PROCESS_RUNNING mean the pid is
 * provably ours. A gate is not the service: the lastgood that spawned it
 * died before the go-ahead (a probe under the lock), and the gate exits as
 * soon as it is scheduled; or (a probe without it) `run` is a moment away. */
static int process_probe(struct state *st, const struct service *svc, struct process_row *row,
			 struct service_info *info, enum process_verdict *verdict,
			 struct error *err)
{
	struct proc_stat ps;
	int rc = process_row_get(st, svc->name, row, err);

	memset(info, 0, sizeof(*info));
	if (rc < 0)
		return -1;
	if (rc == 0) {
		*verdict = PROCESS_NONE;
		snprintf(info->detail, sizeof(info->detail), "not started");
		return 0;
	}
	info->started_ms = row->started_ms;
	if (proc_stat_read(row->pid, &ps) < 0) {
		*verdict = PROCESS_GONE;
		snprintf(info->detail, sizeof(info->detail), "pid %ld gone", row->pid);
	} else if (ps.start_ticks != row->start_ticks) {
		*verdict = PROCESS_REUSED;
		snprintf(info->detail, sizeof(info->detail), "pid %ld reused by another process",
			 row->pid);
	} else if (ps.state == 'Z' || ps.state == 'X' || (ps.flags & PF_EXITING)) {
		/* An exiting process is not a zombie yet, but its memory,
		 * command line included, may already be gone: an exec gate
		 * leaving because its lastgood died would pass for the
		 * service. */
		*verdict = PROCESS_EXITED;
		reap_child(row->pid, info->detail, sizeof(info->detail));
	} else if (proc_is_gate(row->pid)) {
		*verdict = PROCESS_GATED;
		snprintf(info->detail, sizeof(info->detail), "pid %ld never ran '%s': its exec gate "
			 "was not told to", row->pid, svc->run.n ? svc->run.v[0] : "run");
	} else {
		*verdict = PROCESS_RUNNING;
		info->running = 1;
		info->pid = row->pid;
		snprintf(info->detail, sizeof(info->detail), "running");
	}
	return 0;
}

/* The log file a process service writes, STATE/logs/NAME.log, opened for
 * appending so every run's output stays. */
static int process_open_log(struct state *st, const struct service *svc, struct error *err)
{
	char *logs = path_join(st->dir, "logs");
	char *name = xstrfmt("%s.log", svc->name);
	char *path = path_join(logs, name);
	int fd = -1;

	if (mkdir(logs, 0700) < 0 && errno != EEXIST)
		error_errno(err, ERROR_ATTENTION, errno, "cannot create log folder '%s'", logs);
	else if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
			    0600)) < 0)
		error_errno(err, ERROR_ATTENTION, errno, "cannot open log '%s'", path);
	free(logs);
	free(name);
	free(path);
	return fd;
}

/*
 * A process service is started through an exec gate, so that it never runs
 * without a record of its pid. lastgood spawns itself as the service's
 * process (SERVICE_EXEC_GATE, below): its pid is the pid the service will
 * have, since exec keeps it, and so is its start time. It waits on a pipe
 * while lastgood records that pid durably, and execs `run` only once told
 * to. A lastgood killed before that (a crash, SIGKILL, the OOM killer)
 * closes the pipe with its death, and the gate exits without running
 * anything: there is no window in which the service runs untracked, which
 * the LASTGOOD_SERVICE marker alone could not close, since a program that
 * sets its process title (redis, postgres, nginx) overwrites the
 * environment that /proc/PID/environ shows. A second pipe, closed by the
 * exec, brings back the errno of an exec that failed.
 */
#define GATE_FD 3                /* in the gate: the pipe it waits on */
#define GATE_STATUS_FD 4         /* in the gate: where an exec failure's errno goes */

struct process_gate {
	pid_t pid;
	int go_fd;                   /* write a byte: exec; close: exit */
	int status_fd;               /* EOF once exec succeeded, else its errno */
	char *program;               /* what it execs, for messages */
};

int service_exec_gate(char **argv)
{
	char go;
	ssize_t n;
	while ((n = read(GATE_FD, &go, 1)) < 0 && errno == EINTR)
		;
	close(GATE_FD);
	if (n != 1)
		return 1;   /* lastgood is gone, and its record with it: run nothing */
	fcntl(GATE_STATUS_FD, F_SETFD, FD_CLOEXEC);
	execvp(argv[0], argv);
	int e = errno;
	(void)!write(GATE_STATUS_FD, &e, sizeof(e));
	return 127;
}

/* A pipe whose two ends are above the gate's descriptors, so that placing
 * one at GATE_FD never overwrites the other before it is placed. */
static int gate_pipe(int fds[2])
{
	int raw[2];
	if (pipe2(raw, O_CLOEXEC) < 0)
		return -1;
	for (int i = 0; i < 2; i++) {
		fds[i] = fcntl(raw[i], F_DUPFD_CLOEXEC, GATE_STATUS_FD + 1);
		close(raw[i]);
	}
	if (fds[0] >= 0 && fds[1] >= 0)
		return 0;
	int e = errno;
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	errno = e;
	return -1;
}

/* The gate is this very program: its path as /proc/self/exe names it
 * (under valgrind, the program valgrind runs rather than valgrind), or
 * the link itself when that file is gone (replaced while running). */
static char *gate_program(void)
{
	char path[PATH_MAX];
	static const char deleted[] = " (deleted)";
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
	if (n <= 0 || n == (ssize_t)sizeof(path) - 1)
		return xstrdup("/proc/self/exe");
	path[n] = '\0';
	if ((size_t)n >= sizeof(deleted) - 1 && !strcmp(path + n - (sizeof(deleted) - 1), deleted))
		return xstrdup("/proc/self/exe");
	return xstrdup(path);
}

/*
 * posix_spawn the gate for the service's `run`, detached: its own session
 * (so it outlives lastgood and its group can be signalled whole), stdin
 * from /dev/null, output to the log, in its workdir. Signal dispositions
 * and the mask are reset because an ignored SIGTERM would survive exec and
 * make every stop wait for SIGKILL. The program is looked up as execvp
 * does, on the PATH of the service's environment.
 */
static int process_gate_spawn(struct state *st, const struct service *svc,
			      struct process_gate *gate, struct error *err)
{
	int go[2], status[2];

	if (manager_check_workdir(svc, err) < 0)
		return -1;
	int log_fd = process_open_log(st, svc, err);
	if (log_fd < 0)
		return -1;
	if (gate_pipe(go) < 0) {
		error_errno(err, ERROR_ATTENTION, errno, "cannot make the exec gate's pipe");
		close(log_fd);
		return -1;
	}
	if (gate_pipe(status) < 0) {
		error_errno(err, ERROR_ATTENTION, errno, "cannot make the exec gate's pipe");
		close(go[0]);
		close(go[1]);
		close(log_fd);
		return -1;
	}
	char **run = manager_argv(svc, svc->run.v);
	size_t n = 0;
	while (run[n])
		n++;
	char **argv = xcalloc(n + 3, sizeof(*argv));
	argv[0] = gate_program();
	argv[1] = SERVICE_EXEC_GATE;
	memcpy(argv + 2, run, n * sizeof(*run));
	char *marker = process_marker(st, svc);
	char **envp = manager_environment(svc, marker);

	struct process_redirect fds[] = {
		{ STDOUT_FILENO, log_fd },
		{ STDERR_FILENO, log_fd },
		{ GATE_FD, go[0] },
		{ GATE_STATUS_FD, status[1] },
	};
	struct process_spawn_options opts = {
		.flags = PROCESS_STDIN_NULL | PROCESS_NEW_SESSION | PROCESS_DEFAULT_SIGNALS,
		.cwd = svc->workdir,
		.envp = envp,
		.redirects = fds,
		.nredirects = sizeof(fds) / sizeof(fds[0]),
	};
	int rc = process_spawn(argv, &opts, &gate->pid);
	close(log_fd);
	close(go[0]);
	close(status[1]);
	if (rc != 0) {
		error_errno(err, ERROR_ATTENTION, rc, "cannot run the exec gate '%s'", argv[0]);
		close(go[1]);
		close(status[0]);
	} else {
		gate->go_fd = go[1];
		gate->status_fd = status[0];
		gate->program = xstrdup(run[0]);
	}
	free(argv[0]);
	free(argv);
	manager_free_strings(run);
	manager_free_strings(envp);
	free(marker);
	return rc ? -1 : 0;
}

/* Close what is left of the gate's pipes; reap it when it is not going
 * to run anything. */
static void process_gate_close(struct process_gate *gate, int reap)
{
	if (gate->go_fd >= 0)
		close(gate->go_fd);
	close(gate->status_fd);
	free(gate->program);
	while (reap && waitpid(gate->pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* Write the gate its go-ahead. A gate that died meanwhile (killed by
 * someone) makes that an EPIPE, never a SIGPIPE that would kill lastgood
 * in the middle of an operation. */
static int process_gate_go(int fd)
{
	sigset_t pipe_signal, old;
	sigemptyset(&pipe_signal);
	sigaddset(&pipe_signal, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_signal, &old);
	ssize_t n = write(fd, "g", 1);
	int e = errno;
	if (n < 0 && e == EPIPE) {
		struct timespec none = { 0, 0 };
		sigtimedwait(&pipe_signal, NULL, &none);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = e;
	return n == 1 ? 0 : -1;
}

/* Its pid recorded: let the gate exec `run`, and learn whether it could.
 * An exec that failed is the service's failure to start (ERROR_FAILED),
 * named as a failed spawn is; the gate is then reaped. */
static int process_gate_open(const struct service *svc, struct process_gate *gate,
			     struct error *err)
{
	int e = 0;
	ssize_t n;
	if (process_gate_go(gate->go_fd) < 0) {
		error_errno(err, ERROR_ATTENTION, errno, "cannot start service '%s': "
			    "its exec gate is gone", svc->name);
		process_gate_close(gate, 1);
		return -1;
	}
	close(gate->go_fd);
	gate->go_fd = -1;
	while ((n = read(gate->status_fd, &e, sizeof(e))) < 0 && errno == EINTR)
		;
	if (n == (ssize_t)sizeof(e))
		error_errno(err, ERROR_FAILED, e, "cannot start service '%s': cannot run '%s'",
			    svc->name, gate->program);
	/* EOF: the exec went through (or the gate died, which a probe sees) */
	process_gate_close(gate, n == (ssize_t)sizeof(e));
	return n == (ssize_t)sizeof(e) ? -1 : 0;
}

static int process_start(struct state *st, const struct service *svc, struct error *err)
{
	struct process_row row;
	struct service_info info;
	enum process_verdict verdict;
	struct process_gate gate;
	struct proc_stat ps;

	/* lastgood's own failures (its record, its log) are ERROR_ATTENTION:
	 * they prove nothing about the service (service.h). */
	if (process_probe(st, svc, &row, &info, &verdict, err) < 0) {
		err->kind = ERROR_ATTENTION;
		return -1;
	}
	if (verdict == PROCESS_RUNNING)
		return error_set(err, ERROR_FAILED, "service '%s' is already running (pid %ld)",
				 svc->name, row.pid);
	/* One an older lastgood lost track of (killed before it recorded the
	 * pid) is stopped rather than adopted: it may run files since
	 * replaced, and would hold the port the new one needs. */
	if (process_stop_untracked(st, svc, err) < 0 || process_gate_spawn(st, svc, &gate, err) < 0) {
		error_prefix(err, "cannot start service '%s'", svc->name);
		return -1;
	}
	/* The gate waits for us, so its start time can always be read here;
	 * exec keeps it. */
	if (proc_stat_read(gate.pid, &ps) < 0) {
		process_gate_close(&gate, 1);
		return error_set(err, ERROR_ATTENTION,
				 "cannot start service '%s': cannot read '/proc/%ld/stat'",
				 svc->name, (long)gate.pid);
	}
	row.pid = gate.pid;
	row.start_ticks = ps.start_ticks;
	row.started_ms = clock_wall_ms();
	if (process_row_put(st, svc->name, &row, err) < 0) {
		process_gate_close(&gate, 1);
		error_prefix(err, "cannot start service '%s'", svc->name);
		err->kind = ERROR_ATTENTION;
		return -1;
	}
	if (process_gate_open(svc, &gate, err) < 0) {
		/* Nothing runs: the row goes (if it cannot, a probe finds the
		 * pid gone). */
		struct error ignored = ERROR_INIT;
		process_row_delete(st, svc->name, &ignored);
		return -1;
	}
	return 0;
}

/* process_probe, and when the recorded process does not run, whether one
 * lastgood lost track of does: still stopped as far as lastgood knows, but
 * the detail names it and says what ends it. */
static int process_inspect(struct state *st, const struct service *svc,
			   struct service_info *info, struct error *err)
{
	struct process_row row;
	enum process_verdict verdict;
	long *pids;

	if (process_probe(st, svc, &row, info, &verdict, err) < 0)
		return -1;
	if (verdict == PROCESS_RUNNING || verdict == PROCESS_GATED)
		return 0;   /* (a gate carries the marker: it is no untracked process) */
	size_t n = process_find_untracked(st, svc, &pids);
	if (n) {
		size_t len = strlen(info->detail);
		snprintf(info->detail + len, sizeof(info->detail) - len,
			 "; untracked pid %ld runs as this service ('lastgood stop' or 'start' "
			 "ends it)", pids[0]);
	}
	free(pids);
	return 0;
}

static int process_stop(struct state *st, const struct service *svc, struct error *err)
{
	struct process_row row;
	struct service_info info;
	enum process_verdict verdict;

	if (process_probe(st, svc, &row, &info, &verdict, err) < 0)
		return -1;
	/* A gone or reused pid is never signalled: nothing proves what now
	 * answers to that number is ours. The row is left behind when a
	 * group survives, so a retry still knows what to stop. */
	if ((verdict == PROCESS_RUNNING || verdict == PROCESS_EXITED || verdict == PROCESS_GATED) &&
	    group_terminate(svc, row.pid, err) < 0)
		return -1;
	if (process_stop_untracked(st, svc, err) < 0)
		return -1;
	return verdict == PROCESS_NONE ? 0 : process_row_delete(st, svc->name, err);
}

/* A database error says nothing about the process, so it counts as alive
 * and the health checks decide. */
static int process_alive(struct state *st, const struct service *svc)
{
	struct process_row row;
	struct service_info info;
	enum process_verdict verdict;
	struct error err = ERROR_INIT;

	if (process_probe(st, svc, &row, &info, &verdict, &err) < 0)
		return 1;
	return verdict == PROCESS_RUNNING;
}

static const struct manager_key process_keys[] = {
	{ "run", 1 },
	{ NULL, 0 },
};

const struct service_manager manager_process = {
	.name = "process",
	.keys = process_keys,
	.start = process_start,
	.stop = process_stop,
	.inspect = process_inspect,
	.alive = process_alive,
};
