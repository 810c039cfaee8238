/*
 * Running other programs without a shell.
 *
 * Every program lastgood runs is an argv array started with posix_spawnp;
 * no string is ever interpreted by /bin/sh. process_run waits for the child
 * and, when out is given, collects its standard output.
 */
#ifndef LG_PROCESS_H
#define LG_PROCESS_H

struct error;
struct strbuf;

/* Run argv (NULL-terminated) and wait. *status gets the exit code, or
 * 128+signal when it was killed. stdout goes to out when out is non-NULL,
 * else it is inherited. Returns -1 only when the program could not run. */
int process_run(char *const argv[], struct strbuf *out, int *status, struct error *err);

#endif
