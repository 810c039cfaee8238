/*
 * The compose manager: `docker compose up -d|stop|ps` for one Compose
 * service (`service`, by default the service's own name), run in the
 * service's workdir, where its compose file is.
 */
#include "core/manager/manager.h"
#include "core/manager/program.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/strbuf.h"

#include <stdio.h>

static void compose_configure(struct service *svc)
{
	if (!svc->compose_service)
		svc->compose_service = xstrdup(svc->name);
}

static int compose_start(struct state *st, const struct service *svc, struct error *err)
{
	char *argv[] = { "docker", "compose", "up", "-d", svc->compose_service, NULL };
	(void)st;
	return manager_run_action(svc, "start", argv, MANAGER_RUN_IN_WORKDIR, err);
}

static int compose_stop(struct state *st, const struct service *svc, struct error *err)
{
	char *argv[] = { "docker", "compose", "stop", svc->compose_service, NULL };
	(void)st;
	return manager_run_action(svc, "stop", argv, MANAGER_RUN_IN_WORKDIR, err);
}

/* `ps -q` prints container ids only, so any output means running; stderr
 * stays apart because compose writes warnings there. */
static int compose_inspect(struct state *st, const struct service *svc,
			   struct service_info *info, struct error *err)
{
	char *argv[] = { "docker", "compose", "ps", "--status", "running", "-q",
			 svc->compose_service, NULL };
	struct strbuf out = STRBUF_INIT;
	struct error failed = ERROR_INIT;
	char line[64];
	int status;

	(void)st;
	(void)err;
	if (manager_run_program(svc, argv, MANAGER_RUN_IN_WORKDIR, &out, &status, &failed) < 0) {
		manager_info_unknown(info, failed.msg);
	} else if (status != 0) {
		snprintf(failed.msg, sizeof(failed.msg), "docker compose ps exited with status %d",
			 status);
		manager_info_unknown(info, failed.msg);
	} else {
		manager_last_line(&out, line, sizeof(line));
		info->running = line[0] != '\0';
		snprintf(info->detail, sizeof(info->detail), "%s%.12s",
			 line[0] ? "container " : "no running container", line);
	}
	strbuf_release(&out);
	return 0;
}

static const struct manager_key compose_keys[] = {
	{ "service", 0 },
	{ NULL, 0 },
};

const struct service_manager manager_compose = {
	.name = "compose",
	.keys = compose_keys,
	.configure = compose_configure,
	.start = compose_start,
	.stop = compose_stop,
	.inspect = compose_inspect,
};
