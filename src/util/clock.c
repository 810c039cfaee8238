/*
 * Clocks and sleeping (see clock.h).
 */
#include "util/clock.h"

#include <errno.h>
#include <time.h>

static long long clock_ms(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long clock_monotonic_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

long long clock_wall_ms(void)
{
	return clock_ms(CLOCK_REALTIME);
}

long long clock_wall_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	return (long long)ts.tv_sec;
}

/* nanosleep leaves the time still to sleep in its second argument when a
 * signal interrupts it; resume says whether to sleep that too. */
static void sleep_ms(long long ms, int resume)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR && resume)
		;
}

void clock_sleep_ms(long long ms)
{
	sleep_ms(ms, 1);
}

void clock_sleep_until_signal_ms(long long ms)
{
	sleep_ms(ms, 0);
}
