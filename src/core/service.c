/*
 * Services, whatever runs them: every call goes to the service's manager
 * through the table below (core/manager/manager.h has the protocol, and
 * core/manager/ a file per manager).
 */
#include "core/service.h"
#include "core/config.h"
#include "core/manager/manager.h"
#include "util/strbuf.h"

#include <stdio.h>
#include <string.h>

static const struct service_manager *const managers[] = {
	[MANAGER_PROCESS] = &manager_process,
	[MANAGER_SYSTEMD] = &manager_systemd,
	[MANAGER_COMPOSE] = &manager_compose,
	[MANAGER_COMMAND] = &manager_command,
};

#define NMANAGERS (sizeof(managers) / sizeof(managers[0]))

const struct service_manager *service_manager_of(enum manager_kind kind)
{
	return managers[kind];
}

const struct service_manager *service_manager_named(const char *name, enum manager_kind *kind)
{
	for (size_t i = 0; i < NMANAGERS; i++)
		if (!strcmp(name, managers[i]->name)) {
			*kind = (enum manager_kind)i;
			return managers[i];
		}
	return NULL;
}

char *service_manager_names(void)
{
	struct strbuf names = STRBUF_INIT;
	for (size_t i = 0; i < NMANAGERS; i++)
		strbuf_addf(&names, "%s%s", i == 0 ? "" : i + 1 < NMANAGERS ? ", " : " or ",
			    managers[i]->name);
	return strbuf_detach(&names);
}

size_t service_manager_count(void)
{
	return NMANAGERS;
}

int service_start(struct state *st, const struct service *svc, struct error *err)
{
	return managers[svc->manager]->start(st, svc, err);
}

int service_stop(struct state *st, const struct service *svc, struct error *err)
{
	return managers[svc->manager]->stop(st, svc, err);
}

/*
 * Only a state database failure is an error. A status program that cannot
 * run (no systemctl, no docker) gives running -1 with the reason in
 * detail, so one unknown service does not hide the others.
 */
int service_inspect(struct state *st, const struct service *svc, struct service_info *info,
		    struct error *err)
{
	memset(info, 0, sizeof(*info));
	return managers[svc->manager]->inspect(st, svc, info, err);
}

int service_alive(struct state *st, const struct service *svc, char *why, size_t size)
{
	const struct service_manager *manager = managers[svc->manager];
	if (manager->alive && !manager->alive(st, svc)) {
		snprintf(why, size, "process exited");
		return HEALTH_GONE;
	}
	return manager->liveness ? (int)manager->liveness(st, svc, why, size) : HEALTH_UP;
}

int service_tracks_process(const struct service *svc)
{
	return managers[svc->manager]->alive != NULL;
}
