/*
 * The rebind use case: the state folder made to belong to this config, as
 * an operation naming both.
 */
#include "core/usecase/usecase.h"
#include "core/config.h"
#include "util/alloc.h"

#include <stdlib.h>

int usecase_rebind(struct state *st, const struct config *cfg, char **detail, struct error *err)
{
	char *previous = NULL;
	long op;

	*detail = NULL;
	if (operation_begin(st, "rebind", cfg->path, NULL, &op, err) < 0)
		return -1;
	if (config_rebind_state(cfg, st, &previous, err) < 0) {
		struct error ignored = ERROR_INIT;
		operation_end(st, op, OP_FAILED, err->msg, &ignored);
		return -1;
	}
	char *text = previous ? xstrfmt("state folder bound to '%s' (was '%s')", cfg->file, previous)
			      : xstrfmt("state folder bound to '%s'", cfg->file);
	free(previous);
	if (operation_end(st, op, OP_OK, text, err) < 0) {
		free(text);
		return -1;
	}
	*detail = text;
	return 0;
}
