/*
 * `lastgood start`: start services in dependency order and wait until they are healthy.
 */
#include "cmd/command.h"

int cmd_start(struct command_context *ctx)
{
	return command_run_services(ctx, SERVICES_START);
}
