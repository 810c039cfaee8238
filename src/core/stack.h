/*
 * The stack: every service of the config together, started and stopped in
 * `after` order, each start, stop and wait a journaled step.
 *
 * stack_start starts services in waves: a wave is every selected service
 * whose `after` services are already up (or not selected, hence assumed
 * up). A wave's services start together; the next wave starts once all of
 * them are healthy (health_wait), so services with no order between them
 * start in parallel and nothing waits a fixed time. stack_stop goes in
 * reverse start order.
 *
 *   struct stack_failure failure = { 0 };
 *   rc = stack_start(&st, &cfg, selected, op, &failure, &err);
 *       0  every selected service healthy
 *       1  a service failed: failure.text is "api: GET ... -> 503: ..."
 *      -1  lastgood itself could not go on (err)
 *   stack_failure_clear(&failure);
 *
 * Inside a switch the same steps are part of the operation's plan
 * (plan.h): stack_plan_start and stack_plan_stop add them, and
 * stack_run_start and stack_run_stop walk them (stack_start and
 * stack_stop are the two together).
 */
#ifndef LG_STACK_H
#define LG_STACK_H

#include <stddef.h>

struct config;
struct error;
struct plan;
struct plan_step;
struct state;

struct stack_failure {
	char *text;              /* NULL until a service failed */
	size_t service;          /* index into cfg->services */
	long long detected_ms;   /* wall clock, when the failure was judged */
	int interrupted;         /* not a failure of the service: the operator
	                            interrupted the wait (a signal number) */
};

int stack_start(struct state *st, const struct config *cfg, const unsigned char *selected,
		long op, struct stack_failure *failure, struct error *err);
int stack_stop(struct state *st, const struct config *cfg, const unsigned char *selected,
	       long op, struct error *err);
void stack_failure_clear(struct stack_failure *failure);

/* Add the steps that start the selected services (NULL: all) to plan: per
 * wave, a start step for each service, then a healthy step for each. */
void stack_plan_start(const struct config *cfg, const unsigned char *selected,
		      struct plan *plan);
/* Add a stop step per selected service, in reverse start order. */
void stack_plan_stop(const struct config *cfg, const unsigned char *selected, struct plan *plan);
/* Walk n steps that stack_plan_start or stack_plan_stop made; they return
 * as stack_start and stack_stop do. */
int stack_run_start(struct state *st, const struct config *cfg, const struct plan_step *steps,
		    size_t n, long op, struct stack_failure *failure, struct error *err);
int stack_run_stop(struct state *st, const struct config *cfg, const struct plan_step *steps,
		   size_t n, long op, struct error *err);

#endif
