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
 */
#ifndef LG_STACK_H
#define LG_STACK_H

#include <stddef.h>

struct config;
struct error;
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

#endif
