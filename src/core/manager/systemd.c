/*
 * The systemd manager: `systemctl start|stop|is-active UNIT`. systemd
 * tracks the processes; lastgood only asks.
 */
#include "core/manager/manager.h"
#include "core/manager/program.h"

#include <stddef.h>

/* systemctl with the invoking environment: a unit's environment is set in
 * the unit, never passed through systemctl. */
static int systemd_action(const struct service *svc, const char *verb, struct error *err)
{
	char *argv[] = { "systemctl", (char *)verb, svc->unit, NULL };
	return manager_run_action(svc, verb, argv, 0, err);
}

static int systemd_start(struct state *st, const struct service *svc, struct error *err)
{
	(void)st;
	return systemd_action(svc, "start", err);
}

static int systemd_stop(struct state *st, const struct service *svc, struct error *err)
{
	(void)st;
	return systemd_action(svc, "stop", err);
}

static int systemd_inspect(struct state *st, const struct service *svc,
			   struct service_info *info, struct error *err)
{
	char *argv[] = { "systemctl", "is-active", svc->unit, NULL };
	(void)st;
	(void)err;
	manager_run_status(svc, argv, MANAGER_RUN_MERGE_STDERR, info);
	return 0;
}

static const struct manager_key systemd_keys[] = {
	{ "unit", 1 },
	{ NULL, 0 },
};

const struct service_manager manager_systemd = {
	.name = "systemd",
	.keys = systemd_keys,
	.start = systemd_start,
	.stop = systemd_stop,
	.inspect = systemd_inspect,
};
