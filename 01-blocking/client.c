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
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "buf.h"
#include "client.h"
#include "io.h"
#include "log.h"
#include "options.h"
#include "net.h"

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
	size_t got;
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
		if (write_all(sock, buf, (size_t)n) == -1) {	/* send the chunk... */
			end->error = errno;			/* EPIPE: the server left */
			return;
		}
		end->sent += (unsigned long long)n;
		got = read_full(sock, buf, (size_t)n, &end->error); /* ...wait for all of it */
		if (write_all(STDOUT_FILENO, buf, got) == -1)	/* what came back, even if short */
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

int
main(int argc, char *argv[])
{
	struct client_opts opts = {
		.lab = LAB,
		.host = "127.0.0.1",
		.port = DEFAULT_PORT,
	};
	struct client_end end = { 0 };
	char buf[IO_SIZE], name[NET_NAMESTRLEN];
	const char *why;
	ssize_t n;
	int sock;

	client_opts_parse(&opts, argc, argv);
	log_init(LAB " client", opts.quiet ? VERBOSITY_QUIET : VERBOSITY_NORMAL);
	if (std_fds_open() == -1)
		err(1, "/dev/null");
	/* A server that resets us must give an error message (EPIPE), not a silent death. */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		err(1, "signal");

	net_name(opts.host, opts.port, name);
	if ((sock = net_connect(opts.host, opts.port, &why)) == -1)
		errx(1, "cannot connect to %s: %s", name, why);
	log_event("connected to %s", name);

	echo_stdin(sock, &end);

	/*
	 * Read until the server closes: after our half-close it is its EOF; after a failure,
	 * whatever it sent before it went away, written out before the verdict.
	 */
	while ((n = read(sock, buf, sizeof(buf))) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (end.error == 0)
				end.error = errno;
			break;
		}
		if (write_all(STDOUT_FILENO, buf, (size_t)n) == -1)
			err(1, "stdout");
		end.received += (unsigned long long)n;
	}
	(void)close(sock);	/* the process exits next; nothing left to flush */
	return client_finish(&end);
}
