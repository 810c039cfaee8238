/*
 * Formatting numbers and times for people: sizes, durations, timestamps.
 * Each writes into a caller-supplied buffer and returns it, so calls can be
 * used directly as printf arguments.
 */
#ifndef LG_FORMAT_H
#define LG_FORMAT_H

#include <stddef.h>

#define FORMAT_SIZE 32

/* "2026-11-23 15:51:37" in local time; "-" for 0. */
char *format_time(long long ms, char buf[FORMAT_SIZE]);
/* "512 B", "1.5 KiB", "3.2 MiB", ... */
char *format_bytes(long long bytes, char buf[FORMAT_SIZE]);
/* "850ms", "2.4s", "3m05s" */
char *format_duration(long long ms, char buf[FORMAT_SIZE]);

#endif
