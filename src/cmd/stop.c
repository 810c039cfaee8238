/*
 * `lastgood stop`: stop services in reverse dependency order.
 */
#include "cmd/command.h"

int cmd_stop(struct command_context *ctx)
{
	return command_run_services(ctx, SERVICES_STOP);
}
