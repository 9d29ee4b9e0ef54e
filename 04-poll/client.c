/*
 * 04-poll/client.c - an echo client on poll(2): stdin and the socket watched at once.
 *
 * Two buffers, one per direction: "up" holds what was read from stdin and not yet sent,
 * "down" what came from the server and is not yet on stdout. How full they are decides what
 * to wait for (the OpenBSD nc readwrite() idea): read stdin while "up" has room, send while
 * it has bytes, and the same for the other direction. So the client sends and receives at
 * the same time and never needs stop-and-wait (compare 01-blocking/client.c). At EOF on stdin,
 * once everything is sent, shutdown(SHUT_WR) tells the server; the client then runs until the
 * server closes (Stevens' str_cli with poll and shutdown). It is 03-select's loop with an
 * array of three struct pollfd in place of the two fd_sets.
 *
 *	./client [-H host] [-p port] [-q] [-h]	(default port 9004)
 *
 * Only the socket is non-blocking. stdin and stdout are shared with the shell, and O_NONBLOCK
 * set on them would stay set for every other program on the same terminal; poll() says when
 * a read of stdin cannot block, and a write to stdout waits only for whoever reads it.
 *
 * Read with docs/04-poll.md.
 */
#include <err.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <unistd.h>
#include <sys/socket.h>

#include "buf.h"
#include "client.h"
#include "io.h"

#define LAB		"04-poll"
#define DEFAULT_PORT	"9004"

/* The entries of the poll() array: stdin, the socket, stdout. */
enum { IN, SOCK, OUT, NPFD };

/*
 * Whether poll() said that the call p was asked about (POLLIN: a read, POLLOUT: a write)
 * will not block. POLLHUP and POLLERR come even unasked (poll(2)): the call then returns the
 * EOF or the error at once, so they count as a yes.
 */
static bool
ready(const struct pollfd *p, short ev)
{
	return (p->events & ev) != 0 && (p->revents & (ev | POLLHUP | POLLERR)) != 0;
}

/*
 * Copy stdin to the server and its echo to stdout until the server closes; *end records what
 * went through and how it ended. A failure on the socket stops the sending side only: what
 * the server sent before it went away is still read and written out.
 */
/* doc:client-loop */
static void
run(int sock, struct client_end *end)
{
	static struct conn_buf up, down;	/* stdin -> server, server -> stdout */
	bool stdin_eof = false, server_eof = false;
	struct pollfd pfd[NPFD];
	ssize_t n;
	int i;

	for (;;) {
		/* What to wait for follows from how full each buffer is. */
		pfd[IN].fd = STDIN_FILENO;
		pfd[SOCK].fd = sock;
		pfd[OUT].fd = STDOUT_FILENO;
		for (i = 0; i < NPFD; i++)
			pfd[i].events = 0;
		if (!stdin_eof && !conn_buf_full(&up))
			pfd[IN].events |= POLLIN;
		if (!conn_buf_empty(&up))
			pfd[SOCK].events |= POLLOUT;
		if (!server_eof && !conn_buf_full(&down))
			pfd[SOCK].events |= POLLIN;
		if (!conn_buf_empty(&down))
			pfd[OUT].events |= POLLOUT;
		if (server_eof && conn_buf_empty(&down))
			return;		/* the server closed and stdout has it all */
		/*
		 * An entry asked nothing must leave the array (fd -1): POLLHUP and POLLERR are
		 * reported even with events 0, so a stdin at EOF would wake poll() for ever.
		 */
		for (i = 0; i < NPFD; i++)
			if (pfd[i].events == 0)
				pfd[i].fd = -1;

		if (poll(pfd, NPFD, -1) == -1) {
			if (errno == EINTR)
				continue;
			err(1, "poll");
		}

		if (ready(&pfd[IN], POLLIN) && (n = client_fill(STDIN_FILENO, &up)) <= 0) {
			if (n == -1 && !client_again())
				err(1, "stdin");
			stdin_eof = n == 0;
		}
		if (ready(&pfd[SOCK], POLLOUT)) {
			if ((n = client_flush(sock, &up)) > 0) {
				end->sent += (unsigned long long)n;
			} else if (!client_again()) {
				/* The server is gone (EPIPE, ECONNRESET): send no more. */
				end->error = errno;
				stdin_eof = true;
				conn_buf_init(&up);
			}
		}
		if (stdin_eof && conn_buf_empty(&up) && !end->shut && end->error == 0) {
			/* All input is sent: half-close, so the server sees EOF. */
			if (shutdown(sock, SHUT_WR) == -1)
				end->error = errno;	/* ENOTCONN: reset meanwhile */
			else
				end->shut = true;
		}
		if (ready(&pfd[SOCK], POLLIN)) {
			if ((n = client_fill(sock, &down)) > 0) {
				end->received += (unsigned long long)n;
			} else if (n == 0 || !client_again()) {
				if (n == -1 && end->error == 0)
					end->error = errno;
				server_eof = true;
			}
		}
		if (ready(&pfd[OUT], POLLOUT) && client_flush(STDOUT_FILENO, &down) == -1 &&
		    !client_again())
			err(1, "stdout");
	}
}
/* end doc:client-loop */

int
main(int argc, char *argv[])
{
	struct client_end end = { 0 };
	int sock;

	sock = client_start(LAB, DEFAULT_PORT, argc, argv);
	if (set_nonblocking(sock) == -1)
		err(1, "set_nonblocking");
	run(sock, &end);
	return client_finish(sock, &end);
}
