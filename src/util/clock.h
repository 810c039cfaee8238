/*
 * Time: the monotonic clock that measures and bounds waits, the wall clock
 * that dates records, and sleeping.
 *
 *   long long deadline = clock_monotonic_ms() + timeout_ms;
 *   while (... && clock_monotonic_ms() < deadline)
 *           clock_sleep_ms(pause);
 *
 * Durations and deadlines are taken on the monotonic clock, which no
 * settimeofday or NTP step moves; only what is recorded for people (when
 * an operation started, when a service was started) reads the wall clock.
 */
#ifndef LG_CLOCK_H
#define LG_CLOCK_H

/* Milliseconds on CLOCK_MONOTONIC: meaningful only as differences. */
long long clock_monotonic_ms(void);
/* Milliseconds since the epoch (CLOCK_REALTIME). */
long long clock_wall_ms(void);
/* Whole seconds since the epoch, from the coarse wall clock (a few ms
 * behind, and no system call): for comparing with file times, which
 * file systems stamp from that clock. */
long long clock_wall_seconds(void);
/* Sleep ms milliseconds, the whole of it: a signal that interrupts the
 * sleep does not shorten it. */
void clock_sleep_ms(long long ms);
/* Sleep at most ms milliseconds: a signal ends the sleep early, so that a
 * wait loop sees an operator's Ctrl-C (util/interrupt.h) at once. */
void clock_sleep_until_signal_ms(long long ms);

#endif
