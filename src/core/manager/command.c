/*
 * The command manager: the service's own `start` and `stop` argv, and an
 * optional `status` argv that exits 0 while it runs, each run in its
 * workdir with its `env`.
 */
#include "core/manager/manager.h"
#include "core/manager/program.h"

#include <stddef.h>

static int command_start(struct state *st, const struct service *svc, struct error *err)
{
	(void)st;
	return manager_run_action(svc, "start", svc->start.v, MANAGER_RUN_IN_WORKDIR, err);
}

static int command_stop(struct state *st, const struct service *svc, struct error *err)
{
	(void)st;
	return manager_run_action(svc, "stop", svc->stop.v, MANAGER_RUN_IN_WORKDIR, err);
}

static int command_inspect(struct state *st, const struct service *svc,
			   struct service_info *info, struct error *err)
{
	(void)st;
	(void)err;
	if (!svc->status.n)
		manager_info_unknown(info, "no status command");
	else
		manager_run_status(svc, svc->status.v,
				   MANAGER_RUN_IN_WORKDIR | MANAGER_RUN_MERGE_STDERR, info);
	return 0;
}

static const struct manager_key command_keys[] = {
	{ "start", 1 },
	{ "stop", 1 },
	{ "status", 0 },
	{ NULL, 0 },
};

const struct service_manager manager_command = {
	.name = "command",
	.keys = command_keys,
	.start = command_start,
	.stop = command_stop,
	.inspect = command_inspect,
};
