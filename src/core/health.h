/*
 * Health checks, the way the runbooks judge a service: an HTTP endpoint
 * answering {"status": "healthy"}, a TCP peer answering PING with +PONG, a
 * program such as pg_isready exiting 0.
 *
 * Kinds (config.h struct health_check):
 *   http   libcurl (multi interface, so every check runs at once): expected
 *          status (any 2xx by default), `json:` fields that must equal the
 *          given scalars (read with jansson), `contains:` text, headers
 *   tcp    connect to host:port; optionally send bytes and expect a reply
 *          that starts with the given text
 *   exec   run an argv (no shell); healthy on exit 0
 *
 * One round runs every check of every selected service concurrently, each
 * bounded by its timeout:
 *
 *   struct health_round round;
 *   health_round_run(&cfg, selected, &round, &err);
 *   for each round.results[i]: .ok, .summary ("GET /health -> 503"), .response
 *   health_round_free(&round);
 *
 * health_wait runs rounds until every selected service is healthy and has
 * stayed healthy for its policy's `stabilize`, or one has failed: a check
 * failing `retries` times in a row once the service answers (an HTTP 503
 * or a wrong JSON field counts from the first reply; "connection refused"
 * only means it is still starting), not healthy within `start_timeout`, or
 * (through the alive callback) its process gone. A service the alive
 * callback calls not ready is not healthy even when its checks pass: it is
 * starting until `start_timeout`.
 * A service that does not answer yet (connection refused) is checked every
 * 10ms, or every `interval` when that is shorter or it has an exec check;
 * one that answered, or is stabilizing, every `interval`. Never a fixed
 * sleep: a service counts as healthy within 10ms of coming up, and each
 * round checks only the services whose turn (or deadline) has come.
 *
 * The code is in core/health/: round.c and wait.c, one file per kind of
 * check, and probe.h for what a round shares with them.
 */
#ifndef LG_HEALTH_H
#define LG_HEALTH_H

#include <stddef.h>

struct config;
struct error;
struct health_check;
struct service;

struct health_result {
	size_t service;              /* index into cfg->services */
	const struct health_check *check;
	int ok;
	int answered;                /* the service replied (an HTTP status):
	                                it is up, so a failure counts at once */
	long long elapsed_ms;
	char *summary;               /* one line: "GET http://.../health -> 200" */
	char *response;              /* failing response excerpt (status, body,
	                                error text); NULL when ok */
};

struct health_round {
	struct health_result *results;
	size_t n;
	size_t alloc;
};

int health_round_run(const struct config *cfg, const unsigned char *selected,
		     struct health_round *round, struct error *err);
void health_round_free(struct health_round *round);

/* What the service's manager says beside its checks (health_alive_fn). */
enum health_liveness {
	HEALTH_GONE,                 /* failed whatever its checks say: its
	                                process exited, its container restarts */
	HEALTH_UP,                   /* nothing against it */
	HEALTH_NOT_READY,            /* still starting by its own account (a
	                                compose healthcheck not yet healthy) */
};

/* The service's liveness; for HEALTH_GONE and HEALTH_NOT_READY, why (size
 * bytes) says why in a few words ("process exited"). */
typedef enum health_liveness (*health_alive_fn)(size_t service, void *ctx, char *why,
						size_t size);

struct health_outcome {
	int healthy;                 /* every selected service healthy */
	size_t failed_service;       /* when !healthy */
	char *failure;               /* "api: GET /health -> 503: {...}" */
	int interrupted;             /* the signal that cut the wait short
	                                (util/interrupt.h), else 0 */
	long long *healthy_at_ms;    /* per service (cfg->nservices), 0 if never */
};

/* Wait as described above; `started_ms` is when the services were
 * started (clock_monotonic_ms, util/clock.h). alive may be NULL. */
int health_wait(const struct config *cfg, const unsigned char *selected,
		long long started_ms, health_alive_fn alive, void *alive_ctx,
		struct health_outcome *outcome, struct error *err);
void health_outcome_free(struct health_outcome *outcome);

#endif
