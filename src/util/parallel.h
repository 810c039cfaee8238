/*
 * Running independent jobs on a few threads.
 *
 *   struct parallel_pool pool;
 *   parallel_pool_init(&pool, threads);      helpers start on first use
 *   parallel_pool_run(&pool, n, fn, first, ctx);   fn(ctx, i) once for each i < n
 *   parallel_pool_run(NULL, n, fn, NULL, ctx);     all on the calling thread
 *   parallel_pool_destroy(&pool);
 *
 * The calling thread works too and parallel_pool_run returns when every job
 * has run. Jobs are handed out in order, one at a time, so uneven jobs even
 * out. fn must touch only what job i owns (and what is safe to share); the
 * helper threads block every signal, so signals keep reaching the calling
 * thread (util/interrupt.h). A helper thread that cannot be started leaves
 * its share to the others.
 *
 * A pool keeps its helpers between runs, for work that comes as many small
 * runs (a walk of a tree, a folder at a time), where starting threads for
 * each would cost more than they save. first (when non-NULL) runs once on
 * the calling thread while the helpers take the first jobs; then the
 * calling thread takes jobs too. fn must not depend on what first does. A
 * pool is used by one thread at a time.
 *
 * parallel_threads() is how many threads to use: the CPUs this process may
 * run on, at most PARALLEL_MAX_THREADS, or LASTGOOD_THREADS when it is set
 * to a number from 1 (one thread: the benchmarks' baseline).
 */
#ifndef LG_PARALLEL_H
#define LG_PARALLEL_H

#include <pthread.h>
#include <stddef.h>

#define PARALLEL_MAX_THREADS 4

struct parallel;

struct parallel_pool {
	int threads;              /* wanted, the calling thread included */
	int tried;                /* the helpers were started (as many as could be) */
	int nhelpers;
	pthread_t helpers[PARALLEL_MAX_THREADS - 1];
	pthread_mutex_t lock;
	pthread_cond_t wake;      /* a run was posted, or quit */
	pthread_cond_t idle;      /* the last helper is back from a run */
	struct parallel *run;     /* the run posted */
	unsigned long round;      /* runs posted so far */
	int busy;                 /* helpers not back from this round */
	int quit;
};

int parallel_threads(void);
void parallel_pool_init(struct parallel_pool *pool, int threads);
void parallel_pool_run(struct parallel_pool *pool, size_t n, void (*fn)(void *ctx, size_t i),
		       void (*first)(void *ctx), void *ctx);
void parallel_pool_destroy(struct parallel_pool *pool);

#endif
