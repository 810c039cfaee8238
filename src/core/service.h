/*
 * Service managers: starting, stopping and inspecting a service however it
 * is run. Each call goes to the service's manager (core/manager/manager.h,
 * one file each in core/manager/).
 *
 *   process  lastgood starts `run` itself: detached in its own session,
 *            stdin from /dev/null, stdout and stderr appended to
 *            STATE/logs/NAME.log, working folder `workdir`, `env` added to
 *            the environment. It is known by pid AND the process start time
 *            (/proc/PID/stat field 22) recorded in the state database, so a
 *            reused pid is never mistaken for it. Stopped with SIGTERM to
 *            its process group, then SIGKILL after `stop_timeout`.
 *            It runs only once its pid is recorded: it is started through
 *            an exec gate (service_exec_gate below) that execs `run` when
 *            told to, and exits without running it if lastgood dies first.
 *            Its environment also holds LASTGOOD_SERVICE=STATE/NAME (STATE
 *            the state folder's real path): a process whose pid was never
 *            recorded (started by a lastgood without the gate, killed right
 *            after starting it) is found by that, among the group leaders
 *            of our uid, and stopped by the next start or stop of the
 *            service; inspect names it.
 *   systemd  systemctl start|stop|restart|is-active UNIT
 *   command  the service's own `start` / `stop` / optional `status` argv
 *   compose  docker compose (not runnable on every host)
 *
 *   service_start(&st, svc, &err);
 *   service_inspect(&st, svc, &info, &err);   info.running, info.pid, ...
 *   service_stop(&st, svc, &err);
 *
 * Ordering (`after`) is the caller's business; these act on one service.
 */
#ifndef LG_SERVICE_H
#define LG_SERVICE_H

#include <stddef.h>

struct config;
struct error;
struct service;
struct state;

struct service_info {
	int running;                 /* 1 running, 0 stopped, -1 unknown */
	long pid;                    /* process manager, 0 otherwise */
	long long started_ms;        /* wall clock, when lastgood started it */
	char detail[256];            /* e.g. "active", "exited", "pid 12 gone" */
};

/* -1 with err->kind ERROR_FAILED when the service could not be started (its
 * program, its folder), ERROR_ATTENTION when lastgood could not run
 * or record it (its state database, its log): no verdict on the service. */
int service_start(struct state *st, const struct service *svc, struct error *err);
int service_stop(struct state *st, const struct service *svc, struct error *err);
int service_inspect(struct state *st, const struct service *svc, struct service_info *info,
		    struct error *err);
/* For health_wait's alive callback (enum health_liveness, core/health.h):
 * HEALTH_GONE when a process-managed service's process is gone (reaping
 * it if it is our child), or its manager fails it (a compose container
 * restarting); HEALTH_NOT_READY while its manager says it is starting;
 * else HEALTH_UP. why (size bytes) gets the reason. */
int service_alive(struct state *st, const struct service *svc, char *why, size_t size);
/* 1 when the service's manager runs it as a process of its own, which
 * service_alive watches (the process manager): such a service with its
 * process gone fails whatever its checks say. */
int service_tracks_process(const struct service *svc);

/*
 * The exec gate a process service starts through (manager/process.c):
 * lastgood runs itself as `lastgood SERVICE_EXEC_GATE PROGRAM ARGS...`,
 * and its main, before anything else, hands argv from PROGRAM on to
 * service_exec_gate. It waits until the lastgood that started it has
 * recorded its pid, then execs PROGRAM (execvp); if that lastgood died
 * first, it exits 1 without running anything. Returns only when it does
 * not exec (the caller returns that as its exit status). A program that
 * links the core and starts process services (a unit test) must dispatch
 * it the same way, since the gate is /proc/self/exe.
 */
#define SERVICE_EXEC_GATE "--lastgood-exec-gate"
int service_exec_gate(char **argv);

#endif
