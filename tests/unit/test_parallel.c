/*
 * Unit tests for util/parallel: every job runs exactly once, on more than
 * one thread when asked, with signals kept off the helpers, run after run
 * of a pool; and how many threads LASTGOOD_THREADS asks for.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "util/parallel.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#define JOBS 2000

struct count {
	atomic_int runs[JOBS];
	atomic_int others;        /* jobs run by a thread other than the caller */
	atomic_int unmasked;      /* helpers that could take SIGINT */
	pthread_t caller;
};

static void count_job(void *ctx, size_t i)
{
	struct count *c = ctx;
	atomic_fetch_add(&c->runs[i], 1);
	if (!pthread_equal(pthread_self(), c->caller)) {
		sigset_t mask;
		pthread_sigmask(SIG_SETMASK, NULL, &mask);
		if (!sigismember(&mask, SIGINT))
			atomic_fetch_add(&c->unmasked, 1);
		atomic_fetch_add(&c->others, 1);
	}
	/* long enough that the helpers get a share of the jobs */
	usleep(50);
}

static void run_counted(size_t n, int threads, struct count *c)
{
	for (size_t i = 0; i < JOBS; i++)
		atomic_init(&c->runs[i], 0);
	atomic_init(&c->others, 0);
	atomic_init(&c->unmasked, 0);
	c->caller = pthread_self();
	struct parallel_pool pool;
	parallel_pool_init(&pool, threads);
	parallel_pool_run(&pool, n, count_job, NULL, c);
	parallel_pool_destroy(&pool);
}

/* Jobs below n ran once each, the rest not at all. */
static void expect_ran(struct count *c, size_t n)
{
	for (size_t i = 0; i < JOBS; i++)
		assert_int_equal(atomic_load(&c->runs[i]), i < n ? 1 : 0);
}

static void test_every_job_runs_once(void **state)
{
	(void)state;
	static struct count c;
	run_counted(JOBS, 4, &c);
	expect_ran(&c, JOBS);
	assert_true(atomic_load(&c.others) > 0);
	assert_int_equal(atomic_load(&c.unmasked), 0);
}

static void test_one_thread_and_few_jobs(void **state)
{
	(void)state;
	static struct count c;
	run_counted(JOBS, 1, &c);
	expect_ran(&c, JOBS);
	assert_int_equal(atomic_load(&c.others), 0);
	/* more threads than jobs, and no jobs at all */
	run_counted(3, 4, &c);
	expect_ran(&c, 3);
	run_counted(0, 4, &c);
	expect_ran(&c, 0);
}

struct first_seen {
	struct count *c;
	atomic_int calls;
	int on_caller;            /* first ran on the calling thread */
};

static void note_first(void *ctx)
{
	struct first_seen *f = ctx;
	atomic_fetch_add(&f->calls, 1);
	f->on_caller = pthread_equal(pthread_self(), f->c->caller);
}

static void first_then_count(void *ctx, size_t i)
{
	count_job(((struct first_seen *)ctx)->c, i);
}

/* A pool keeps its helpers across runs: every run does each of its jobs
 * once, on more than the calling thread, with first once on the caller;
 * a NULL pool does all on the caller. */
static void test_pool_runs_again_and_again(void **state)
{
	(void)state;
	static struct count c;
	struct parallel_pool pool;
	int helped = 0;

	parallel_pool_init(&pool, 4);
	for (int round = 0; round < 5; round++) {
		struct first_seen f = { .c = &c };
		atomic_init(&f.calls, 0);
		for (size_t i = 0; i < JOBS; i++)
			atomic_init(&c.runs[i], 0);
		atomic_init(&c.others, 0);
		atomic_init(&c.unmasked, 0);
		c.caller = pthread_self();
		size_t n = round == 2 ? 1 : JOBS / 4;
		parallel_pool_run(&pool, n, first_then_count, note_first, &f);
		expect_ran(&c, n);
		assert_int_equal(atomic_load(&f.calls), 1);
		assert_true(f.on_caller);
		assert_int_equal(atomic_load(&c.unmasked), 0);
		helped += atomic_load(&c.others) > 0;
	}
	assert_true(helped > 0);
	assert_true(pool.nhelpers >= 1 && pool.nhelpers <= 3);
	parallel_pool_destroy(&pool);

	for (size_t i = 0; i < JOBS; i++)
		atomic_init(&c.runs[i], 0);
	atomic_init(&c.others, 0);
	parallel_pool_run(NULL, JOBS / 4, count_job, NULL, &c);
	expect_ran(&c, JOBS / 4);
	assert_int_equal(atomic_load(&c.others), 0);
}

static void test_threads_from_the_environment(void **state)
{
	(void)state;
	unsetenv("LASTGOOD_THREADS");
	int dflt = parallel_threads();
	assert_true(dflt >= 1 && dflt <= PARALLEL_MAX_THREADS);
	setenv("LASTGOOD_THREADS", "1", 1);
	assert_int_equal(parallel_threads(), 1);
	setenv("LASTGOOD_THREADS", "3", 1);
	assert_int_equal(parallel_threads(), 3);
	setenv("LASTGOOD_THREADS", "64", 1);
	assert_int_equal(parallel_threads(), PARALLEL_MAX_THREADS);
	/* not a number from 1: the default */
	const char *bad[] = { "0", "-2", "two", "2x", "" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("LASTGOOD_THREADS", bad[i], 1);
		assert_int_equal(parallel_threads(), dflt);
	}
	unsetenv("LASTGOOD_THREADS");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_job_runs_once),
		cmocka_unit_test(test_one_thread_and_few_jobs),
		cmocka_unit_test(test_pool_runs_again_and_again),
		cmocka_unit_test(test_threads_from_the_environment),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
