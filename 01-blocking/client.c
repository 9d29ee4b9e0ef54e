/*
 * 01-blocking/client.c - the stop-and-wait echo client: blocking I/O, one thing at a time.
 *
 * Read a chunk of stdin, send it, then read back exactly that many bytes and write them to
 * stdout; then the next chunk. At EOF on stdin, shut down the sending side (the server sees
 * EOF, finishes and closes) and read until the server closes.
 *
 *	./client [-H host] [-p port] [-q] [-h]	(default port 9001)
 *
 * Stop-and-wait is the only safe shape for a blocking client that does not know how much the
 * server will send: had it sent all of stdin before reading, a large input would fill both
 * directions' buffers and both sides would block writing forever. Waiting for each echo keeps
 * at most one chunk in flight, at the price of one round trip per chunk; 03-select's client
 * waits for both directions at once instead.
 *
 * Read with docs/01-blocking.md.
 */
#include <err.h>
#include <errno.h>
#include <unistd.h>
#include <sys/socket.h>

#include "buf.h"
#include "client.h"
#include "io.h"

#define LAB		"01-blocking"
#define DEFAULT_PORT	"9001"

/*
 * Read up to len bytes into buf, until len came or the server closed or reset the
 * connection. Returns how many came; *error is 0 after EOF or a full read, else the errno.
 */
static size_t
read_full(int fd, char *buf, size_t len, int *error)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = read(fd, buf + got, len - got);
		if (n == 0)
			break;
		if (n == -1) {
			if (errno == EINTR)
				continue;
			*error = errno;
			break;
		}
		got += (size_t)n;
	}
	return got;
}

/* doc:stop-and-wait */
static void
echo_stdin(int sock, struct client_end *end)
{
	char buf[IO_SIZE];
	size_t got, put;
	ssize_t n;

	for (;;) {
		n = read(STDIN_FILENO, buf, sizeof(buf));	/* sleeps until input */
		if (n == 0)
			break;
		if (n == -1) {
			if (errno == EINTR)
				continue;
			err(1, "stdin");
		}
		put = write_all(sock, buf, (size_t)n, NULL);	/* send the chunk... */
		end->sent += put;
		if (put < (size_t)n) {
			end->error = errno;			/* EPIPE: the server left */
			return;
		}
		got = read_full(sock, buf, (size_t)n, &end->error); /* ...wait for all of it */
		if (write_all(STDOUT_FILENO, buf, got, NULL) < got)	/* what came back */
			err(1, "stdout");
		end->received += got;
		if (got < (size_t)n)
			return;			/* the server closed or reset the connection */
	}
	/* EOF on stdin: tell the server there is no more (it sees EOF and closes). */
	if (shutdown(sock, SHUT_WR) == -1)
		end->error = errno;		/* ENOTCONN: the server reset it meanwhile */
	else
		end->shut = true;
}
/* end doc:stop-and-wait */

/*
 * Stop-and-wait until stdin ends, then read until the server closes: after our half-close it
 * is its EOF; after a failure, whatever it sent before it went away, written out before the
 * verdict.
 */
static void
run(int sock, struct client_end *end)
{
	char buf[IO_SIZE];
	ssize_t n;

	echo_stdin(sock, end);
	while ((n = read(sock, buf, sizeof(buf))) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (end->error == 0)
				end->error = errno;
			break;
		}
		if (write_all(STDOUT_FILENO, buf, (size_t)n, NULL) < (size_t)n)
			err(1, "stdout");
		end->received += (unsigned long long)n;
	}
}

int
main(int argc, char *argv[])
{
	struct client_end end = { 0 };
	int sock;

	sock = client_start(LAB, DEFAULT_PORT, argc, argv);
	run(sock, &end);
	return client_finish(sock, &end);
}
