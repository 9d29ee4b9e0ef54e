/*
 * signals.c - see signals.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "signals.h"

volatile sig_atomic_t sig_stop;

static int wake_pipe[2] = { -1, -1 };

static void
on_stop_signal(int signo)
{
	int saved_errno = errno;

	(void)signo;
	sig_stop = 1;
	/*
	 * Non-blocking: if the pipe is full (a flood of signals), the bytes already in it wake
	 * the loop just as well, and the handler must never sleep.
	 */
	if (wake_pipe[1] != -1)
		(void)write(wake_pipe[1], "", 1);
	errno = saved_errno;
}

int
sig_setup(int *wake_fd)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	/* A write to a socket the peer has reset must fail with EPIPE, not kill the server. */
	if (sigaction(SIGPIPE, &sa, NULL) == -1)
		return -1;

	if (wake_fd != NULL) {
		if (pipe2(wake_pipe, O_NONBLOCK | O_CLOEXEC) == -1)
			return -1;
		*wake_fd = wake_pipe[0];
	}

	sa.sa_handler = on_stop_signal;
	sa.sa_flags = 0;	/* no SA_RESTART: blocking calls return EINTR */
	if (sigemptyset(&sa.sa_mask) == -1 ||
	    sigaddset(&sa.sa_mask, SIGINT) == -1 ||
	    sigaddset(&sa.sa_mask, SIGTERM) == -1)
		return -1;
	if (sigaction(SIGINT, &sa, NULL) == -1 || sigaction(SIGTERM, &sa, NULL) == -1)
		return -1;
	return 0;
}
