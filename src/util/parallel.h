/*
 * Running independent jobs on a few threads.
 *
 *   parallel_run(n, threads, fn, ctx);   fn(ctx, i) once for each i < n
 *
 * The calling thread works too and parallel_run returns when every job has
 * run. Jobs are handed out in order, one at a time, so uneven jobs even
 * out. fn must touch only what job i owns (and what is safe to share);
 * the helper threads block every signal, so signals keep reaching the
 * calling thread (util/interrupt.h). A helper thread that cannot be
 * started leaves its share to the others.
 *
 * parallel_threads() is how many threads to use: the CPUs this process may
 * run on, at most PARALLEL_MAX_THREADS, or LASTGOOD_THREADS when it is set
 * to a number from 1 (one thread: the benchmarks' baseline).
 */
#ifndef LG_PARALLEL_H
#define LG_PARALLEL_H

#include <stddef.h>

#define PARALLEL_MAX_THREADS 4

int parallel_threads(void);
void parallel_run(size_t n, int threads, void (*fn)(void *ctx, size_t i), void *ctx);

#endif
