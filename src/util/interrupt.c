/*
 * A flag set by the first SIGINT, SIGTERM or SIGHUP; see interrupt.h.
 */
#include "util/interrupt.h"

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t received;

static void on_signal(int sig)
{
	received = sig;
	signal(sig, SIG_DFL);
}

void interrupt_install(void)
{
	static const int signals[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: a blocking wait returns EINTR and looks at the flag. */
	for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
		sigaction(signals[i], &sa, NULL);
}

int interrupt_take(void)
{
	int sig = received;
	received = 0;
	return sig;
}
