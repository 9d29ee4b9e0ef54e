/*
 * 02-nonblocking/client.c - an echo client on non-blocking descriptors: stdin and the socket
 * tried in turn, again and again, with no call that waits for them.
 *
 * Two buffers, one per direction, as in 03-select/client.c: "up" holds what was read from
 * stdin and not yet sent, "down" what came from the server and is not yet on stdout. How full
 * they are decides what to try: read stdin while "up" has room, send while it has bytes, and
 * the same for the other direction. Nothing says when a try would succeed, so the loop makes
 * every try it may, round after round; EAGAIN means "not now". At EOF on stdin, once
 * everything is sent, shutdown(SHUT_WR) tells the server; the client then runs until the
 * server closes.
 *
 *	./client [-H host] [-p port] [-q] [-h]	(default port 9002)
 *
 * Like the server, it never sleeps: while it waits for you to type, it uses a whole CPU core.
 *
 * stdin must not block, but O_NONBLOCK is a flag of the open file description, which stdin
 * shares with the shell and every other program on the terminal (fcntl(2), open(2)). Set on
 * it, it would outlive this client, killed or not, and the shell's next read would fail with
 * EAGAIN. So the client never sets it there: it opens stdin anew, a description of its own,
 * non-blocking (stdin_nonblocking). stdout stays blocking, as in 03's client: a write to it
 * waits only for whoever reads our output.
 *
 * Read with docs/02-nonblocking.md.
 */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "buf.h"
#include "client.h"
#include "io.h"

#define LAB		"02-nonblocking"
#define DEFAULT_PORT	"9002"

/*
 * Make descriptor 0 a non-blocking stdin of our own, and leave the shared one as it was.
 * Opening /proc/self/fd/0 opens the same terminal, pipe or FIFO again (proc(5)): a new open
 * file description, whose O_NONBLOCK nobody else sees. dup2() puts it on descriptor 0, which
 * drops our reference to the shell's. A regular file is kept as it is: a read of a file never
 * waits for input, and opening it again would lose its offset. Returns 0, or -1 with errno
 * set (ENXIO: stdin is a socket, which cannot be opened again).
 */
/* doc:stdin */
static int
stdin_nonblocking(void)
{
	struct stat st;
	int fd;

	if (fstat(STDIN_FILENO, &st) == -1)
		return -1;
	if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))
		return 0;
	/* O_NOCTTY: opening a terminal must not make it our controlling terminal. */
	if ((fd = open("/proc/self/fd/0", O_RDONLY | O_NONBLOCK | O_NOCTTY)) == -1)
		return -1;
	if (dup2(fd, STDIN_FILENO) == -1) {
		(void)close(fd);	/* the error to report is dup2's */
		return -1;
	}
	(void)close(fd);	/* descriptor 0 holds the description now */
	return 0;
}
/* end doc:stdin */

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
	ssize_t n;

	for (;;) {
		/*
		 * Every try the buffers allow, in turn, without asking which would succeed:
		 * stdin and the socket are non-blocking, so a try that finds nothing fails at
		 * once with EAGAIN, and the next round makes it again.
		 */
		if (server_eof && conn_buf_empty(&down))
			return;		/* the server closed and stdout has it all */

		if (!stdin_eof && !conn_buf_full(&up) &&
		    (n = client_fill(STDIN_FILENO, &up)) <= 0) {
			if (n == -1 && !client_again())
				err(1, "stdin");
			stdin_eof = n == 0;
		}
		if (!conn_buf_empty(&up)) {
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
		if (!server_eof && !conn_buf_full(&down)) {
			if ((n = client_fill(sock, &down)) > 0) {
				end->received += (unsigned long long)n;
			} else if (n == 0 || !client_again()) {
				if (n == -1 && end->error == 0)
					end->error = errno;
				server_eof = true;
			}
		}
		/* stdout is blocking: this waits only if whoever reads our output is slow. */
		if (!conn_buf_empty(&down) && client_flush(STDOUT_FILENO, &down) == -1 &&
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
	if (stdin_nonblocking() == -1)
		err(1, "stdin: cannot open it again, non-blocking");
	if (set_nonblocking(sock) == -1)
		err(1, "set_nonblocking");
	run(sock, &end);
	return client_finish(sock, &end);
}
