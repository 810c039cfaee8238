/*
 * Human-readable sizes, durations and timestamps.
 */
#include "util/format.h"

#include <stdio.h>
#include <time.h>

char *format_time(long long ms, char buf[FORMAT_SIZE])
{
	if (ms <= 0) {
		snprintf(buf, FORMAT_SIZE, "-");
		return buf;
	}
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(buf, FORMAT_SIZE, "%Y-%m-%d %H:%M:%S", &tm);
	return buf;
}

char *format_bytes(long long bytes, char buf[FORMAT_SIZE])
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB" };
	if (bytes < 1024) {
		snprintf(buf, FORMAT_SIZE, "%lld B", bytes);
		return buf;
	}
	double v = (double)bytes;
	size_t u = 0;
	v /= 1024;
	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	snprintf(buf, FORMAT_SIZE, "%.1f %s", v, units[u]);
	return buf;
}

char *format_duration(long long ms, char buf[FORMAT_SIZE])
{
	if (ms < 0)
		ms = 0;
	if (ms < 1000)
		snprintf(buf, FORMAT_SIZE, "%lldms", ms);
	else if (ms < 60000)
		snprintf(buf, FORMAT_SIZE, "%.1fs", (double)ms / 1000);
	else
		snprintf(buf, FORMAT_SIZE, "%lldm%02llds", ms / 60000, (ms / 1000) % 60);
	return buf;
}
