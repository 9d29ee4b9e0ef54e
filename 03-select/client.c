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
#include <signal.h>
#include <stdbool.h>
#include <unistd.h>
#include <sys/select.h>
#include <sys/socket.h>

#include "buf.h"
#include "io.h"
#include "log.h"
#include "net.h"
#include "options.h"

#define LAB		"03-select"
#define DEFAULT_PORT	"9003"

/*
 * Move what fd has into b. Returns the byte count, 0 at EOF, or -1 when there was nothing
 * after all (EAGAIN, EINTR); other errors end the client.
 */
static ssize_t
fill(int fd, struct conn_buf *b, const char *what)
{
	size_t room;
	char *p = conn_buf_space(b, &room);
	ssize_t n = read(fd, p, room);

	if (n == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return -1;
		err(1, "%s", what);
	}
	conn_buf_fill(b, (size_t)n);
	return n;
}

/* Move what b holds to fd, as much as fits. Returns the byte count, -1 as for fill(). */
static ssize_t
flush(int fd, struct conn_buf *b, const char *what)
{
	size_t len;
	char *p = conn_buf_pending(b, &len);
	ssize_t n = write(fd, p, len);

	if (n == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return -1;
		err(1, "%s", what);
	}
	conn_buf_drain(b, (size_t)n);
	return n;
}

/*
 * Copy stdin to the server and its echo to stdout until the server closes. Returns true if
 * all of stdin had been sent and the sending side shut down by then.
 */
/* doc:client-loop */
static bool
run(int sock, unsigned long long *sent, unsigned long long *received)
{
	static struct conn_buf up, down;	/* stdin -> server, server -> stdout */
	bool stdin_eof = false, shut = false, server_eof = false;
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
			return shut;	/* the server closed and stdout has it all */

		if (select(sock + 1, &rset, &wset, NULL, NULL) == -1) {
			if (errno == EINTR)
				continue;
			err(1, "select");
		}

		if (FD_ISSET(STDIN_FILENO, &rset) && fill(STDIN_FILENO, &up, "stdin") == 0)
			stdin_eof = true;
		if (FD_ISSET(sock, &wset) && (n = flush(sock, &up, "send to server")) > 0)
			*sent += (unsigned long long)n;
		if (stdin_eof && conn_buf_empty(&up) && !shut) {
			/* All input is sent: half-close, so the server sees EOF. */
			if (shutdown(sock, SHUT_WR) == -1)
				err(1, "shutdown");
			shut = true;
		}
		if (FD_ISSET(sock, &rset)) {
			n = fill(sock, &down, "receive from server");
			if (n == 0)
				server_eof = true;
			else if (n > 0)
				*received += (unsigned long long)n;
		}
		if (FD_ISSET(STDOUT_FILENO, &wset))
			(void)flush(STDOUT_FILENO, &down, "stdout");	/* -1: wait again */
	}
}
/* end doc:client-loop */

int
main(int argc, char *argv[])
{
	struct client_opts opts = {
		.lab = LAB,
		.host = "127.0.0.1",
		.port = DEFAULT_PORT,
	};
	unsigned long long sent = 0, received = 0;
	const char *why;
	bool shut;
	int sock;

	client_opts_parse(&opts, argc, argv);
	log_init(LAB, opts.quiet ? VERBOSITY_QUIET : VERBOSITY_NORMAL);
	/* A server that resets us must give an error message (EPIPE), not a silent death. */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		err(1, "signal");

	if ((sock = net_connect(opts.host, opts.port, &why)) == -1)
		errx(1, "cannot connect to %s:%s: %s", opts.host, opts.port, why);
	if (sock >= FD_SETSIZE)
		errx(1, "socket is fd %d, past FD_SETSIZE", sock);
	if (set_nonblocking(sock) == -1)
		err(1, "set_nonblocking");
	log_event("connected to %s:%s", opts.host, opts.port);

	shut = run(sock, &sent, &received);

	(void)close(sock);	/* the process exits next; nothing left to flush */
	if (!shut)
		errx(1, "server closed the connection before the end of input "
		    "(%llu bytes sent, %llu echoed)", sent, received);
	if (received < sent)
		errx(1, "server closed the connection after echoing %llu of %llu bytes",
		    received, sent);
	log_event("done: sent %llu bytes, received %llu bytes", sent, received);
	return 0;
}
