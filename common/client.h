/*
 * client.h - what every lab's client does besides its model: how it starts, how it moves
 * bytes between a descriptor and a buffer, and the one line that says how it ended.
 *
 * The clients differ in how they wait for stdin and the socket (that is their lab's model),
 * not in how they start or what they report, so a lab's client.c is its run() loop and a
 * main() of a few lines:
 *
 *	sock = client_start(LAB, DEFAULT_PORT, argc, argv);
 *	run(sock, &end);
 *	return client_finish(sock, &end);
 *
 * Each client counts what it sent and what came back, and notes how the connection ended;
 * client_finish() turns that into one of:
 *
 *	done: sent 12 bytes, received 12 bytes						exit 0
 *	the server closed the connection at once: it may be full (-m)			exit 1
 *	the server reset the connection (Connection reset by peer) without echoing any
 *	    of the 65536 bytes sent: it may be full (-m)				exit 1
 *	the server closed the connection before the end of input, after echoing 8 of
 *	    8 bytes									exit 1
 *	the server closed the connection after echoing 100 of 300 bytes			exit 1
 *	the server closed the connection after sending 104857600 bytes for the 1048576
 *	    sent: more than an echo							exit 1
 *
 * The verdict is decided by what was sent and what came back, never by timing. "At once"
 * means before the client had sent a byte: a server that turns a client away (past -m) closes
 * with a reset (net_refuse), so even a client with nothing to send tells a refusal from an
 * empty echo. Once bytes went out, a reset with nothing echoed looks the same whether it came
 * a microsecond or a minute later, so the client says what it saw: none of them came back.
 */
#ifndef IOMODELS_CLIENT_H
#define IOMODELS_CLIENT_H

#include <stdbool.h>
#include <sys/types.h>

#include "buf.h"

struct client_end {
	unsigned long long	sent;		/* bytes of stdin the socket took */
	unsigned long long	received;	/* bytes that came back, all written to stdout */
	bool			shut;		/* all of stdin sent, sending side shut down */
	int			error;		/* 0: ended by the server's EOF; else the errno
						   (ECONNRESET, EPIPE, ENOTCONN...) that ended it */
};

/*
 * Everything before the model: client_init(), then client_connect(). Returns the connected
 * socket, blocking. Like option parsing, it exits on failure with one line (status 1, or 2
 * for bad arguments): before the model runs there is nothing to clean up.
 */
int	client_start(const char *lab, const char *default_port, int argc, char *argv[]);

/*
 * The first half: parse the command line, start the log ("LAB client: ..."), make sure
 * descriptors 0-2 are open, and ignore SIGPIPE (a server that resets the connection must
 * give an error message, EPIPE, not a silent death). A lab that must check something before
 * it connects (07-aio: whether io_uring can be used) calls the two halves itself.
 */
void	client_init(const char *lab, const char *default_port, int argc, char *argv[]);

/* The second half: connect to the server -H and -p name, and log it. */
int	client_connect(void);

/* Read into b's free space from fd: the byte count, 0 at EOF, or -1 with errno set. */
ssize_t	client_fill(int fd, struct conn_buf *b);

/* Write what b holds to fd, as much as fd takes: the byte count, or -1 with errno set. */
ssize_t	client_flush(int fd, struct conn_buf *b);

/* After -1 from client_fill() or client_flush(): EAGAIN or EINTR, nothing to do now. */
bool	client_again(void);

/* Close sock, log how the connection ended; returns the exit status, 0 or 1. */
int	client_finish(int sock, const struct client_end *e);

#endif
