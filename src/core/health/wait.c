/*
 * Waiting for services to become healthy (health_wait): rounds of checks,
 * each taking only the services whose turn or deadline has come, until
 * every one is healthy and stable or one has failed.
 */
#include "core/health.h"
#include "core/config.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/interrupt.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEALTH_STARTING_PAUSE_MS 10  /* between checks of a service not answering yet */

enum wait_state { WAIT_STARTING, WAIT_STABILIZING };

struct wait_service {
	enum wait_state state;
	int failures;                /* consecutive failing rounds that count */
	long long next_ms;           /* when its next check is due */
};

/*
 * The pause before a service's next check. One that does not answer yet
 * is starting: it is checked every HEALTH_STARTING_PAUSE_MS (never less
 * often than `interval`), so it counts as healthy within that much of
 * coming up; a refused connection costs next to nothing. An exec check
 * costs a process each time, so a service with one keeps `interval`, as
 * does one that answered (retries are counted at `interval`) or is
 * stabilizing.
 */
static long long wait_pause(const struct service *svc, const struct wait_service *ws)
{
	long long interval = svc->policy.interval_ms;
	if (ws->state != WAIT_STARTING || ws->failures || interval <= HEALTH_STARTING_PAUSE_MS)
		return interval;
	for (size_t c = 0; c < svc->nhealth; c++)
		if (svc->health[c].kind == HEALTH_EXEC)
			return interval;
	return HEALTH_STARTING_PAUSE_MS;
}

/* When the service must be judged whatever its pause: the end of its
 * start timeout, or of its stabilize window. */
static long long wait_deadline(const struct service *svc, const struct wait_service *ws,
			       long long started_ms, long long healthy_at_ms)
{
	return ws->state == WAIT_STARTING ? started_ms + svc->policy.start_timeout_ms
		: healthy_at_ms + svc->policy.stabilize_ms;
}

/* Fail service s by its failing check, or else by why (the alive
 * callback's reason). */
static void wait_fail(const struct config *cfg, struct health_outcome *outcome, size_t s,
		      const struct health_result *failed, const char *why)
{
	outcome->healthy = 0;
	outcome->failed_service = s;
	if (failed)
		outcome->failure = xstrfmt("%s: %s: %s", cfg->services[s].name, failed->summary,
					   failed->response);
	else
		outcome->failure = xstrfmt("%s: %s", cfg->services[s].name, why);
}

/*
 * Ask the alive callback about every pending service: the first one gone
 * is returned (its reason in why), or SIZE_MAX. The reason a service is
 * not ready is kept in not_ready[s] (NULL when it is, or was not asked;
 * the caller frees), for wait_judge.
 */
static size_t wait_find_dead(const struct config *cfg, const unsigned char *pending,
			     health_alive_fn alive, void *alive_ctx, char **not_ready,
			     char *why, size_t size)
{
	if (!alive)
		return SIZE_MAX;
	for (size_t s = 0; s < cfg->nservices; s++) {
		free(not_ready[s]);
		not_ready[s] = NULL;
		if (!pending[s])
			continue;
		snprintf(why, size, "process exited");
		enum health_liveness liveness = alive(s, alive_ctx, why, size);
		if (liveness == HEALTH_GONE)
			return s;
		if (liveness == HEALTH_NOT_READY)
			not_ready[s] = xstrdup(why);
	}
	return SIZE_MAX;
}

/*
 * Judge each service checked in this round (due). Returns 1 when one
 * failed (outcome filled), 0 otherwise; services that are done leave
 * pending. A service not ready by its manager's account (not_ready[s]
 * says why) passes no check: it stays starting, and fails at the end of
 * its start timeout.
 */
static int wait_judge(const struct config *cfg, const struct health_round *round,
		      const unsigned char *due, unsigned char *pending, struct wait_service *ws,
		      char *const *not_ready, long long started_ms, long long now,
		      struct health_outcome *outcome)
{
	for (size_t s = 0; s < cfg->nservices; s++) {
		const struct policy *policy = &cfg->services[s].policy;
		const struct health_result *failed = NULL;
		if (!due[s])
			continue;
		for (size_t i = 0; i < round->n && !failed; i++)
			if (round->results[i].service == s && !round->results[i].ok)
				failed = &round->results[i];

		if (ws[s].state == WAIT_STARTING && !failed && not_ready[s]) {
			if (now >= started_ms + policy->start_timeout_ms) {
				wait_fail(cfg, outcome, s, NULL, not_ready[s]);
				return 1;
			}
			continue;
		}
		if (ws[s].state == WAIT_STARTING) {
			/* A service that answers but answers wrong is up and
			 * broken: it fails after `retries`, like a healthy one
			 * going bad, not after the whole start timeout. */
			int allowed = policy->retries > 1 ? policy->retries : 1;
			if (failed && failed->answered && ++ws[s].failures >= allowed) {
				wait_fail(cfg, outcome, s, failed, NULL);
				return 1;
			}
			if (failed && !failed->answered)
				ws[s].failures = 0;
			if (failed) {
				if (now >= started_ms + policy->start_timeout_ms) {
					wait_fail(cfg, outcome, s, failed, NULL);
					return 1;
				}
				continue;
			}
			outcome->healthy_at_ms[s] = now;
			ws[s].state = WAIT_STABILIZING;
		} else if (failed) {
			int allowed = policy->retries > 1 ? policy->retries : 1;
			if (++ws[s].failures >= allowed) {
				wait_fail(cfg, outcome, s, failed, NULL);
				return 1;
			}
			continue;
		}
		ws[s].failures = 0;
		if (now - outcome->healthy_at_ms[s] >= policy->stabilize_ms)
			pending[s] = 0;
	}
	return 0;
}

int health_wait(const struct config *cfg, const unsigned char *selected,
		long long started_ms, health_alive_fn alive, void *alive_ctx,
		struct health_outcome *outcome, struct error *err)
{
	unsigned char *pending = xcalloc(cfg->nservices, 1);
	unsigned char *due = xcalloc(cfg->nservices, 1);
	struct wait_service *ws = xcalloc(cfg->nservices, sizeof(*ws));
	char **not_ready = xcalloc(cfg->nservices, sizeof(*not_ready));
	char why[256];
	size_t npending = 0;
	int rc = 0;

	memset(outcome, 0, sizeof(*outcome));
	outcome->healthy_at_ms = xcalloc(cfg->nservices, sizeof(*outcome->healthy_at_ms));
	for (size_t s = 0; s < cfg->nservices; s++) {
		if (selected && !selected[s])
			continue;
		pending[s] = 1;
		npending++;
	}

	while (npending) {
		struct health_round round;
		int sig = interrupt_take();
		if (sig) {
			for (size_t s = 0; s < cfg->nservices; s++)
				if (pending[s]) {
					outcome->failed_service = s;
					break;
				}
			outcome->interrupted = sig;
			outcome->failure = xstrfmt("%s: wait interrupted by signal %d (%s)",
						   cfg->services[outcome->failed_service].name, sig,
						   strsignal(sig));
			break;
		}
		size_t dead = wait_find_dead(cfg, pending, alive, alive_ctx, not_ready, why,
					     sizeof(why));
		if (dead != SIZE_MAX) {
			wait_fail(cfg, outcome, dead, NULL, why);
			break;
		}
		/* Only the services whose check or deadline is due: a slow
		 * cadence is not dragged along by a fast one. */
		long long now = clock_monotonic_ms();
		for (size_t s = 0; s < cfg->nservices; s++)
			due[s] = pending[s] &&
				(ws[s].next_ms <= now ||
				 wait_deadline(&cfg->services[s], &ws[s], started_ms,
					       outcome->healthy_at_ms[s]) <= now);
		if (health_round_run(cfg, due, &round, err) < 0) {
			rc = -1;
			break;
		}
		/* A process that died during the round explains its failing
		 * checks better than "connection refused" would. */
		dead = wait_find_dead(cfg, pending, alive, alive_ctx, not_ready, why, sizeof(why));
		now = clock_monotonic_ms();
		int failed = dead != SIZE_MAX;
		if (failed)
			wait_fail(cfg, outcome, dead, NULL, why);
		else
			failed = wait_judge(cfg, &round, due, pending, ws, not_ready, started_ms, now,
					    outcome);
		health_round_free(&round);
		if (failed)
			break;

		npending = 0;
		long long wake = LLONG_MAX;
		for (size_t s = 0; s < cfg->nservices; s++) {
			if (!pending[s])
				continue;
			const struct service *svc = &cfg->services[s];
			npending++;
			if (due[s])
				ws[s].next_ms = now + wait_pause(svc, &ws[s]);
			long long deadline = wait_deadline(svc, &ws[s], started_ms,
							   outcome->healthy_at_ms[s]);
			long long next = ws[s].next_ms < deadline ? ws[s].next_ms : deadline;
			if (next < wake)
				wake = next;
		}
		if (npending && wake > now)
			/* A signal cuts it short: the next round runs early and
			 * sees the interrupt. */
			clock_sleep_until_signal_ms(wake - now);
	}
	if (!npending)
		outcome->healthy = 1;
	for (size_t s = 0; s < cfg->nservices; s++)
		free(not_ready[s]);
	free(not_ready);
	free(pending);
	free(due);
	free(ws);
	if (rc < 0)
		health_outcome_free(outcome);
	return rc;
}

void health_outcome_free(struct health_outcome *outcome)
{
	free(outcome->failure);
	free(outcome->healthy_at_ms);
	memset(outcome, 0, sizeof(*outcome));
}
