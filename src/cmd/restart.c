/*
 * `lastgood restart`: the first rollback level, the same release with
 * fresh processes, verified.
 */
#include "cmd/command.h"

int cmd_restart(struct command_context *ctx)
{
	return command_run_services(ctx, SERVICES_STOP | SERVICES_START);
}
