/*
 * Running independent jobs on a few threads; see parallel.h.
 */
#include "util/parallel.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

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

/* A helper of a pool: each round posted, work on its run, then report
 * back (the caller waits for every helper before the run's memory goes). */
static void *parallel_helper(void *arg)
{
	struct parallel_pool *pool = arg;
	unsigned long seen = 0;

	pthread_mutex_lock(&pool->lock);
	for (;;) {
		while (pool->round == seen && !pool->quit)
			pthread_cond_wait(&pool->wake, &pool->lock);
		if (pool->quit)
			break;
		seen = pool->round;
		struct parallel *run = pool->run;
		pthread_mutex_unlock(&pool->lock);
		parallel_work(run);
		pthread_mutex_lock(&pool->lock);
		if (--pool->busy == 0)
			pthread_cond_signal(&pool->idle);
	}
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

void parallel_pool_init(struct parallel_pool *pool, int threads)
{
	memset(pool, 0, sizeof(*pool));
	pool->threads = threads > PARALLEL_MAX_THREADS ? PARALLEL_MAX_THREADS : threads;
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->wake, NULL);
	pthread_cond_init(&pool->idle, NULL);
}

static void parallel_pool_start(struct parallel_pool *pool)
{
	/* Helpers inherit the mask in force when they are created. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	while (pool->nhelpers < pool->threads - 1 &&
	       pthread_create(&pool->helpers[pool->nhelpers], NULL, parallel_helper, pool) == 0)
		pool->nhelpers++;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pool->tried = 1;
}

void parallel_pool_run(struct parallel_pool *pool, size_t n, void (*fn)(void *ctx, size_t i),
		       void (*first)(void *ctx), void *ctx)
{
	struct parallel p = { .n = n, .fn = fn, .ctx = ctx };
	int posted = 0;

	atomic_init(&p.next, 0);
	if (pool && pool->threads > 1 && n > 1) {
		if (!pool->tried)
			parallel_pool_start(pool);
		if (pool->nhelpers) {
			pthread_mutex_lock(&pool->lock);
			pool->run = &p;
			pool->round++;
			pool->busy = pool->nhelpers;
			pthread_cond_broadcast(&pool->wake);
			pthread_mutex_unlock(&pool->lock);
			posted = 1;
		}
	}
	if (first)
		first(ctx);
	parallel_work(&p);
	if (posted) {
		pthread_mutex_lock(&pool->lock);
		while (pool->busy)
			pthread_cond_wait(&pool->idle, &pool->lock);
		pool->run = NULL;
		pthread_mutex_unlock(&pool->lock);
	}
}

void parallel_pool_destroy(struct parallel_pool *pool)
{
	pthread_mutex_lock(&pool->lock);
	pool->quit = 1;
	pthread_cond_broadcast(&pool->wake);
	pthread_mutex_unlock(&pool->lock);
	for (int t = 0; t < pool->nhelpers; t++)
		pthread_join(pool->helpers[t], NULL);
	pthread_cond_destroy(&pool->idle);
	pthread_cond_destroy(&pool->wake);
	pthread_mutex_destroy(&pool->lock);
	memset(pool, 0, sizeof(*pool));
}
