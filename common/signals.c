/*
 * signals.c - see signals.h.
 */
#include <stddef.h>
#include <string.h>

#include "signals.h"

volatile sig_atomic_t sig_stop;

static void
on_stop_signal(int signo)
{
	(void)signo;
	sig_stop = 1;
}

int
sig_setup(sigset_t *wait_mask)
{
	struct sigaction sa;
	sigset_t stop_set;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	/* A write to a socket the peer has reset must fail with EPIPE, not kill the server. */
	if (sigaction(SIGPIPE, &sa, NULL) == -1)
		return -1;

	if (sigemptyset(&stop_set) == -1 ||
	    sigaddset(&stop_set, SIGINT) == -1 ||
	    sigaddset(&stop_set, SIGTERM) == -1)
		return -1;
	if (wait_mask != NULL) {
		/* Blocked from here on; *wait_mask is the current mask without them. */
		if (sigprocmask(SIG_BLOCK, &stop_set, wait_mask) == -1 ||
		    sigdelset(wait_mask, SIGINT) == -1 ||
		    sigdelset(wait_mask, SIGTERM) == -1)
			return -1;
	}

	sa.sa_handler = on_stop_signal;
	sa.sa_flags = 0;	/* no SA_RESTART: blocking calls return EINTR */
	sa.sa_mask = stop_set;
	if (sigaction(SIGINT, &sa, NULL) == -1 || sigaction(SIGTERM, &sa, NULL) == -1)
		return -1;
	return 0;
}
