/*
 * 03-select/client.c - an echo client on select(2): stdin and the socket watched at once.
 *
 * Two buffers, one per direction: "up" holds what was read from stdin and not yet sent,
 * "down" what came from the server and is not yet on stdout. How full they are decides what
 * to wait for (the OpenBSD nc readwrite() idea): read stdin while "up" has room, send while
 * it has bytes, and the same for the other direction. So the client sends and receives at
 * the same time and never needs stop-and-wait (compare 01-blocking/client.c). At EOF on stdin,
 * once everything is sent, shutdown(SHUT_WR) tells the server; the client then runs until the
 * server closes (Stevens' str_cli with select and shutdown).
 *
 *	./client [-H host] [-p port] [-q] [-h]	(default port 9003)
 *
 * Only the socket is non-blocking. stdin and stdout are shared with the shell, and O_NONBLOCK
 * set on them would stay set for every other program on the same terminal; select() says when
 * a read of stdin cannot block, and a write to stdout waits only for whoever reads it.
 *
 * Read with docs/03-select.md.
 */
#include <err.h>
#include <errno.h>
#include <stdbool.h>
#include <unistd.h>
#include <sys/select.h>
#include <sys/socket.h>

#include "buf.h"
#include "client.h"
#include "io.h"

#define LAB		"03-select"
#define DEFAULT_PORT	"9003"

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
	fd_set rset, wset;
	ssize_t n;

	for (;;) {
		/* What to wait for follows from how full each buffer is. */
		FD_ZERO(&rset);
		FD_ZERO(&wset);
		if (!stdin_eof && !conn_buf_full(&up))
			FD_SET(STDIN_FILENO, &rset);
		if (!conn_buf_empty(&up))
			FD_SET(sock, &wset);
		if (!server_eof && !conn_buf_full(&down))
			FD_SET(sock, &rset);
		if (!conn_buf_empty(&down))
			FD_SET(STDOUT_FILENO, &wset);
		if (server_eof && conn_buf_empty(&down))
			return;		/* the server closed and stdout has it all */

		if (select(sock + 1, &rset, &wset, NULL, NULL) == -1) {
			if (errno == EINTR)
				continue;
			err(1, "select");
		}

		if (FD_ISSET(STDIN_FILENO, &rset) && (n = client_fill(STDIN_FILENO, &up)) <= 0) {
			if (n == -1 && !client_again())
				err(1, "stdin");
			stdin_eof = n == 0;
		}
		if (FD_ISSET(sock, &wset)) {
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
		if (FD_ISSET(sock, &rset)) {
			if ((n = client_fill(sock, &down)) > 0) {
				end->received += (unsigned long long)n;
			} else if (n == 0 || !client_again()) {
				if (n == -1 && end->error == 0)
					end->error = errno;
				server_eof = true;
			}
		}
		if (FD_ISSET(STDOUT_FILENO, &wset) && client_flush(STDOUT_FILENO, &down) == -1 &&
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
	if (sock >= FD_SETSIZE)
		errx(1, "socket is fd %d, past FD_SETSIZE", sock);
	if (set_nonblocking(sock) == -1)
		err(1, "set_nonblocking");
	run(sock, &end);
	return client_finish(sock, &end);
}
