/*
 * client.h - how every lab's client ends: one line that says what happened, and the exit
 * status.
 *
 * The clients differ in how they move bytes (that is their lab's model), not in what they
 * report. Each one counts what it sent and what came back, and notes how the connection
 * ended; client_finish() turns that into one of:
 *
 *	done: sent 12 bytes, received 12 bytes						exit 0
 *	the server closed the connection at once: it may be full (-m)			exit 1
 *	the server closed the connection before the end of input (sent 8, echoed 8)	exit 1
 *	the server closed the connection after echoing 100 of 300 bytes			exit 1
 *	the server reset the connection (Connection reset by peer) after echoing ...	exit 1
 *
 * "At once" is decided by what came back, not by timing: a server that turns a client away
 * (past -m) closes before echoing anything, and it does so with a reset (net_refuse), so even
 * a client with nothing to send tells a refusal from an empty echo.
 */
#ifndef IOMODELS_CLIENT_H
#define IOMODELS_CLIENT_H

#include <stdbool.h>

struct client_end {
	unsigned long long	sent;		/* bytes of stdin sent to the server */
	unsigned long long	received;	/* bytes of echo written to stdout */
	bool			shut;		/* all of stdin sent, sending side shut down */
	int			error;		/* 0: ended by the server's EOF; else the errno
						   (ECONNRESET, EPIPE, ENOTCONN...) that ended it */
};

/* Log how the connection ended; returns the exit status, 0 or 1. */
int	client_finish(const struct client_end *e);

/*
 * Whether err, from a read, write or shutdown on the socket, means the server has closed or
 * reset the connection (the client then stops and reports), rather than a local failure.
 */
bool	client_lost(int err);

#endif
