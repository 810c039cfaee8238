/*
 * The service manager protocol: how lastgood starts, stops and inspects a
 * service, one table of functions per way of running one (the `manager:`
 * of a service in lastgood.yml). core/service.c dispatches through the
 * table; config validation asks it which names exist and which keys each
 * takes.
 *
 *   process  manager/process.c   lastgood runs `run` itself, tracks its pid
 *   systemd  manager/systemd.c   systemctl start|stop|is-active UNIT
 *   command  manager/command.c   the service's own start/stop/status argv
 *   compose  manager/compose.c   docker compose (or docker-compose) up -d|stop|ps,
 *                                docker inspect for its healthcheck and restarts
 *
 * Adding a manager (say `supervisor`):
 *   1. its keys: the struct service fields it needs (config.h) and their
 *      parsing in core/config.c's service fields, if no existing key fits;
 *   2. manager/supervisor.c defining `const struct service_manager
 *      manager_supervisor`: its name, its keys (so that config accepts them
 *      for this manager alone and requires the required ones), and start,
 *      stop, inspect (and alive if it tracks a process of its own);
 *      manager/program.h runs its programs the way the others do;
 *   3. MANAGER_SUPERVISOR in enum manager_kind (config.h) and its line in
 *      the table of core/service.c.
 * Nothing else names a manager: the transition, the stack and the commands
 * only call service_start/stop/inspect/alive.
 *
 * Every function gets the state (its database, its folder) and the service
 * as the config describes it, and may block (it runs the manager's own
 * programs, or waits for a process to stop). Errors follow service.h: a
 * failure to start or stop the service is ERROR_FAILED; one of lastgood's
 * own (its state database, its log) is ERROR_ATTENTION. No manager
 * prints, and every program runs from an argv, never through a shell.
 */
#ifndef LG_MANAGER_H
#define LG_MANAGER_H

#include "core/config.h"
#include "core/health.h"
#include "core/service.h"

struct error;
struct state;

/* A service key that belongs to one manager (`run`, `unit`, ...): given to
 * a service of another manager it is a config error, and a required one
 * missing is too. */
struct manager_key {
	const char *name;            /* as written in lastgood.yml */
	int required;
};

struct service_manager {
	const char *name;            /* the `manager:` value */
	const struct manager_key *keys;   /* ends with a NULL name */
	/* After parsing, fill what the config leaves to the manager's default
	 * (compose: the Compose service is the service's name). NULL: none. */
	void (*configure)(struct service *svc);
	/* Start the service; return once started (not once healthy). Starting
	 * one that runs already is ERROR_FAILED. */
	int (*start)(struct state *st, const struct service *svc, struct error *err);
	/* Stop it and return once it has stopped; stopping a stopped service
	 * succeeds. */
	int (*stop)(struct state *st, const struct service *svc, struct error *err);
	/* Fill info (zeroed by the caller). Only lastgood's own failure (its
	 * database) is an error: a status program that cannot run leaves
	 * running -1 with the reason in detail. */
	int (*inspect)(struct state *st, const struct service *svc, struct service_info *info,
		       struct error *err);
	/* For a manager that runs the service as a process of its own: 0 once
	 * that process is gone, which fails the service whatever its health
	 * checks say (something else may answer on its port). NULL for the
	 * others: their health checks alone judge. */
	int (*alive)(struct state *st, const struct service *svc);
	/* For a manager whose runner judges the service too (compose: the
	 * container's own healthcheck and restarts), asked between health
	 * rounds: HEALTH_UP, HEALTH_NOT_READY or HEALTH_GONE (core/health.h),
	 * the reason in why (size bytes). NULL for the others. */
	enum health_liveness (*liveness)(struct state *st, const struct service *svc, char *why,
					 size_t size);
};

extern const struct service_manager manager_process;
extern const struct service_manager manager_systemd;
extern const struct service_manager manager_command;
extern const struct service_manager manager_compose;

/* The image a compose service's container runs, as `docker inspect` has
 * it: *id "sha256:<hex>", *name what the container was created from
 * ("api:latest"); both the caller's to free. -1 with ERROR_FAILED saying
 * why when none runs or docker cannot say. The first container of a
 * service compose scaled is the one asked. */
int compose_running_image(const struct service *svc, char **id, char **name,
			  struct error *err);

/* The manager of that kind. */
const struct service_manager *service_manager_of(enum manager_kind kind);
/* The manager named name, its kind in *kind; NULL when none is. */
const struct service_manager *service_manager_named(const char *name, enum manager_kind *kind);
/* Every manager's name for a message: "process, systemd, compose or
 * command" (caller frees). */
char *service_manager_names(void);
/* How many managers the table holds; their kinds are 0 to this minus 1. */
size_t service_manager_count(void);

#endif
