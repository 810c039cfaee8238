/*
 * The start, stop and restart use cases: the services of the live release
 * stopped in reverse `after` order and started in order, verified, as one
 * operation.
 */
#include "core/usecase/ending.h"
#include "core/config.h"
#include "core/stack.h"
#include "core/state.h"

#include <stdlib.h>

void usecase_services(struct state *st, const struct config *cfg,
		      const struct services_request *req, struct usecase_report *rep)
{
	struct stack_failure failure = { 0 };
	struct error err = ERROR_INIT;
	unsigned char *selected = NULL;
	int rc = 0;

	rep->live_before = state_live_release(st);
	if ((req->services && config_select_services(cfg, req->services, &selected, &err) < 0) ||
	    operation_begin(st, rep->command, req->services, req->reason, &rep->op, &err) < 0) {
		usecase_fail(st, cfg, rep, &err);
		return;
	}
	if (req->steps & SERVICES_STOP)
		rc = stack_stop(st, cfg, selected, rep->op, &err);
	if (rc == 0 && (req->steps & SERVICES_START))
		rc = stack_start(st, cfg, selected, rep->op, &failure, &err);
	free(selected);
	if (rc < 0) {
		usecase_fail(st, cfg, rep, &err);
	} else if (rc > 0) {
		struct error ignored = ERROR_INIT;
		operation_end(st, rep->op, OP_FAILED, failure.text, &ignored);
		rep->failure.text = failure.text;
		rep->failure.at_ms = failure.detected_ms;
		rep->failure.interrupted = failure.interrupted;
		error_set(&err, ERROR_FAILED, "%s failed: %s", rep->command, failure.text);
		usecase_end(st, cfg, rep, USECASE_LEFT_FAILING, OP_FAILED, &err);
	} else if ((req->steps & SERVICES_START) && !req->services && rep->live_before &&
		   release_set_mark(st, rep->live_before, MARK_GOOD, &err) < 0) {
		/* Every service up and verified: the live release has passed,
		 * but that could not be recorded; recover closes the operation. */
		usecase_end(st, cfg, rep, USECASE_FAILED, OP_RUNNING, &err);
	} else if (operation_end(st, rep->op, OP_OK, NULL, &err) < 0) {
		usecase_end(st, cfg, rep, USECASE_FAILED, OP_RUNNING, &err);
	} else {
		usecase_end(st, cfg, rep, USECASE_DONE, OP_OK, NULL);
	}
}
