/*
 * Starting and stopping the services of a stack in dependency order, with
 * health waits between waves, journaled as steps of an operation.
 */
#include "core/stack.h"
#include "core/config.h"
#include "core/health.h"
#include "core/operation.h"
#include "core/plan.h"
#include "core/service.h"
#include "core/state.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/format.h"
#include "util/strbuf.h"

#include <stdlib.h>
#include <string.h>

struct alive_context {
	struct state *st;
	const struct config *cfg;
};

static enum health_liveness stack_alive(size_t service, void *ctx, char *why, size_t size)
{
	struct alive_context *a = ctx;
	return (enum health_liveness)service_alive(a->st, &a->cfg->services[service], why, size);
}

void stack_failure_clear(struct stack_failure *failure)
{
	free(failure->text);
	memset(failure, 0, sizeof(*failure));
}

static void stack_fail(struct stack_failure *failure, size_t service, const char *text)
{
	free(failure->text);
	failure->text = xstrdup(text);
	failure->service = service;
	failure->detected_ms = clock_wall_ms();
}

/* Start one wave's services, each a step; a service that cannot even be
 * started is a failure of the deploy, not of lastgood. A failure of
 * lastgood's own (its state database, its log: service_start says which)
 * proves nothing about the release and ends the start with -1. */
static int stack_start_wave(struct state *st, const struct config *cfg, const unsigned char *wave,
			    long op, struct stack_failure *failure, struct error *err)
{
	for (size_t s = 0; s < cfg->nservices; s++) {
		struct error start_err = ERROR_INIT;
		long step;
		if (!wave[s])
			continue;
		struct service_info info;
		if (service_inspect(st, &cfg->services[s], &info, err) < 0)
			return -1;
		if (info.running == 1) {
			/* Starting what runs is a no-op; it is still verified. */
			if (operation_step_note(st, op, STEP_START, cfg->services[s].name, STEP_SKIPPED,
						"already running", err) < 0)
				return -1;
			continue;
		}
		if (operation_step_begin(st, op, STEP_START, cfg->services[s].name, &step, err) < 0)
			return -1;
		if (service_start(st, &cfg->services[s], &start_err) < 0) {
			if (start_err.kind == ERROR_ATTENTION) {
				*err = start_err;
				err->kind = ERROR_FAILED;
				operation_step_fail(st, step, &start_err);
				return -1;
			}
			char *text = xstrfmt("%s: %s", cfg->services[s].name, start_err.msg);
			stack_fail(failure, s, text);
			free(text);
			return operation_step_end(st, step, STEP_FAILED, start_err.msg, err) < 0 ? -1 : 1;
		}
		if (operation_step_end(st, step, STEP_OK, NULL, err) < 0)
			return -1;
	}
	return 0;
}

/* Wait for a wave to be healthy; one step per service, spanning from the
 * wave's start to the moment that service was judged healthy. */
static int stack_wait_wave(struct state *st, const struct config *cfg, const unsigned char *wave,
			   long op, struct stack_failure *failure, struct error *err)
{
	struct alive_context actx = { st, cfg };
	struct health_outcome outcome;
	long long wall_start = clock_wall_ms(), mono_start = clock_monotonic_ms();
	char took[FORMAT_SIZE];

	if (health_wait(cfg, wave, mono_start, stack_alive, &actx, &outcome, err) < 0)
		return -1;
	int rc = outcome.healthy ? 0 : 1;
	for (size_t s = 0; s < cfg->nservices && rc >= 0; s++) {
		if (!wave[s])
			continue;
		long long at = outcome.healthy_at_ms[s];
		enum step_result result = STEP_SKIPPED;
		long long ended = clock_wall_ms();
		char *detail;
		if (at > 0 && (outcome.healthy || outcome.failed_service != s)) {
			/* The step spans start to stable; when it first passed
			 * is in the detail. */
			char stable[FORMAT_SIZE];
			result = STEP_OK;
			detail = xstrfmt("healthy after %s, then stable for %s",
					 format_duration(at - mono_start, took),
					 format_duration(cfg->services[s].policy.stabilize_ms, stable));
		} else if (outcome.failed_service == s) {
			/* The failure text starts with the service's name, which
			 * is already the step's target. */
			const char *text = outcome.failure ? outcome.failure : "not healthy";
			size_t n = strlen(cfg->services[s].name);
			if (!strncmp(text, cfg->services[s].name, n) && !strncmp(text + n, ": ", 2))
				text += n + 2;
			result = STEP_FAILED;
			detail = xstrdup(text);
		} else {
			detail = xstrdup("not judged: another service failed first");
		}
		if (operation_step_record(st, op, STEP_HEALTHY, cfg->services[s].name, result, detail,
					  wall_start, ended, err) < 0)
			rc = -1;
		free(detail);
	}
	if (rc == 1) {
		stack_fail(failure, outcome.failed_service, outcome.failure ? outcome.failure
								     : "not healthy");
		failure->interrupted = outcome.interrupted;
	}
	health_outcome_free(&outcome);
	return rc;
}

void stack_plan_start(const struct config *cfg, const unsigned char *selected,
		      struct plan *plan)
{
	unsigned char *up = xcalloc(cfg->nservices ? cfg->nservices : 1, 1);
	unsigned char *wave = xcalloc(cfg->nservices ? cfg->nservices : 1, 1);

	for (size_t s = 0; s < cfg->nservices; s++)
		up[s] = selected && !selected[s];
	for (;;) {
		size_t n = 0;
		memset(wave, 0, cfg->nservices);
		for (size_t s = 0; s < cfg->nservices; s++) {
			const struct service *svc = &cfg->services[s];
			int ready = !up[s];
			for (size_t a = 0; a < svc->nafter && ready; a++) {
				const struct service *dep = config_find_service(cfg, svc->after[a]);
				ready = up[dep - cfg->services];
			}
			if (ready) {
				wave[s] = 1;
				n++;
			}
		}
		if (!n)
			break;
		for (size_t s = 0; s < cfg->nservices; s++)
			if (wave[s])
				plan_add(plan, STEP_START, PLAN_START, cfg->services[s].name, s);
		for (size_t s = 0; s < cfg->nservices; s++)
			if (wave[s])
				plan_add(plan, STEP_HEALTHY, PLAN_START, cfg->services[s].name, s);
		for (size_t s = 0; s < cfg->nservices; s++)
			up[s] |= wave[s];
	}
	free(up);
	free(wave);
}

void stack_plan_stop(const struct config *cfg, const unsigned char *selected, struct plan *plan)
{
	size_t *order = config_start_order(cfg);
	for (size_t i = cfg->nservices; i-- > 0;)
		if (!selected || selected[order[i]])
			plan_add(plan, STEP_STOP, PLAN_STOP, cfg->services[order[i]].name, order[i]);
	free(order);
}

/* The services of the steps of one kind that come next from *i on: a
 * wave's starts, then its health waits. */
static size_t take_wave(const struct config *cfg, const struct plan_step *steps, size_t n,
			size_t *i, enum step_kind kind, unsigned char *wave)
{
	size_t count = 0;
	memset(wave, 0, cfg->nservices);
	for (; *i < n && steps[*i].kind == kind; (*i)++, count++)
		wave[steps[*i].index] = 1;
	return count;
}

int stack_run_start(struct state *st, const struct config *cfg, const struct plan_step *steps,
		    size_t n, long op, struct stack_failure *failure, struct error *err)
{
	unsigned char *wave = xcalloc(cfg->nservices ? cfg->nservices : 1, 1);
	size_t i = 0;
	int rc = 0;

	while (rc == 0 && i < n) {
		size_t from = i;
		if (take_wave(cfg, steps, n, &i, STEP_START, wave))
			rc = stack_start_wave(st, cfg, wave, op, failure, err);
		if (rc == 0 && take_wave(cfg, steps, n, &i, STEP_HEALTHY, wave))
			rc = stack_wait_wave(st, cfg, wave, op, failure, err);
		if (rc == 0 && i == from)
			rc = error_set(err, ERROR_FAILED, "internal error: a '%s' step among the "
				       "starts", step_kind_name(steps[i].kind));
	}
	free(wave);
	return rc;
}

int stack_run_stop(struct state *st, const struct config *cfg, const struct plan_step *steps,
		   size_t n, long op, struct error *err)
{
	for (size_t i = 0; i < n; i++) {
		const struct service *svc = &cfg->services[steps[i].index];
		long step;
		if (operation_step_begin(st, op, STEP_STOP, svc->name, &step, err) < 0)
			return -1;
		if (service_stop(st, svc, err) < 0) {
			operation_step_fail(st, step, err);
			return -1;
		}
		if (operation_step_end(st, step, STEP_OK, NULL, err) < 0)
			return -1;
	}
	return 0;
}

int stack_start(struct state *st, const struct config *cfg, const unsigned char *selected,
		long op, struct stack_failure *failure, struct error *err)
{
	struct plan plan = PLAN_INIT;
	stack_plan_start(cfg, selected, &plan);
	int rc = stack_run_start(st, cfg, plan.steps, plan.n, op, failure, err);
	plan_free(&plan);
	return rc;
}

int stack_stop(struct state *st, const struct config *cfg, const unsigned char *selected,
	       long op, struct error *err)
{
	struct plan plan = PLAN_INIT;
	stack_plan_stop(cfg, selected, &plan);
	int rc = stack_run_stop(st, cfg, plan.steps, plan.n, op, err);
	plan_free(&plan);
	return rc;
}
