/*
 * The operator interrupting a command that changes things (SIGINT from
 * Ctrl-C, SIGTERM, SIGHUP).
 *
 * The first signal only sets a flag, so nothing is left half-done by a
 * signal landing in the middle of a step: the long waits (health checks)
 * notice it and end early, and a deploy then goes back to the release it
 * replaced. The handler restores the default action, so a second signal
 * ends the process at once; the journal lets `recover` finish from there.
 *
 *   interrupt_install();                 once, before the operation starts
 *   if ((sig = interrupt_take()))        in a wait loop: the signal, once
 */
#ifndef LG_INTERRUPT_H
#define LG_INTERRUPT_H

void interrupt_install(void);
/* The signal received since the last call (and forget it), or 0. */
int interrupt_take(void);

#endif
