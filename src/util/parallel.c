/*
 * Running independent jobs on a few threads; see parallel.h.
 */
#include "util/parallel.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>

struct parallel {
	size_t n;
	atomic_size_t next;
	void (*fn)(void *ctx, size_t i);
	void *ctx;
};

int parallel_threads(void)
{
	const char *env = getenv("LASTGOOD_THREADS");
	if (env && *env) {
		char *end;
		long v = strtol(env, &end, 10);
		if (!*end && v >= 1)
			return v < PARALLEL_MAX_THREADS ? (int)v : PARALLEL_MAX_THREADS;
	}
	cpu_set_t set;
	int cpus = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 1;
	if (cpus < 1)
		cpus = 1;
	return cpus < PARALLEL_MAX_THREADS ? cpus : PARALLEL_MAX_THREADS;
}

static void *parallel_work(void *arg)
{
	struct parallel *p = arg;
	for (;;) {
		size_t i = atomic_fetch_add(&p->next, 1);
		if (i >= p->n)
			return NULL;
		p->fn(p->ctx, i);
	}
}

void parallel_run(size_t n, int threads, void (*fn)(void *ctx, size_t i), void *ctx)
{
	struct parallel p = { .n = n, .fn = fn, .ctx = ctx };
	pthread_t helpers[PARALLEL_MAX_THREADS];
	int started = 0;

	atomic_init(&p.next, 0);
	if (threads > PARALLEL_MAX_THREADS)
		threads = PARALLEL_MAX_THREADS;
	if ((size_t)threads > n)
		threads = (int)n;
	if (threads > 1) {
		/* Helpers inherit the mask in force when they are created. */
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		while (started < threads - 1 &&
		       pthread_create(&helpers[started], NULL, parallel_work, &p) == 0)
			started++;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	parallel_work(&p);
	for (int t = 0; t < started; t++)
		pthread_join(helpers[t], NULL);
}
