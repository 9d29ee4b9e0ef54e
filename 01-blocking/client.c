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
#include "io.h"
#include "log.h"
#include "options.h"
#include "net.h"

#define LAB		"01-blocking"
#define DEFAULT_PORT	"9001"

/*
 * Read exactly len bytes into buf. Returns len, fewer if the server closed first, or -1 with
 * errno set.
 */
static ssize_t
read_full(int fd, char *buf, size_t len)
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
			return -1;
		}
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* doc:stop-and-wait */
static void
echo_stdin(int sock, unsigned long long *sent)
{
	char buf[CONN_BUF_SIZE];
	ssize_t n, got;

	for (;;) {
		n = read(STDIN_FILENO, buf, sizeof(buf));	/* sleeps until input */
		if (n == 0)
			break;
		if (n == -1) {
			if (errno == EINTR)
				continue;
			err(1, "stdin");
		}
		if (write_all(sock, buf, (size_t)n) == -1)	/* send the chunk... */
			err(1, "send to server");
		got = read_full(sock, buf, (size_t)n);		/* ...and wait for all of it */
		if (got == -1)
			err(1, "receive from server");
		if (write_all(STDOUT_FILENO, buf, (size_t)got) == -1)
			err(1, "stdout");
		*sent += (unsigned long long)n;
		if (got < n)
			errx(1, "server closed the connection after echoing %llu of %llu bytes",
			    *sent - (unsigned long long)(n - got), *sent);
	}
	/* EOF on stdin: tell the server there is no more (it sees EOF and closes). */
	if (shutdown(sock, SHUT_WR) == -1)
		err(1, "shutdown");
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
	unsigned long long sent = 0, extra = 0;
	char buf[CONN_BUF_SIZE];
	const char *why;
	ssize_t n;
	int sock;

	client_opts_parse(&opts, argc, argv);
	log_init(LAB, opts.quiet ? VERBOSITY_QUIET : VERBOSITY_NORMAL);
	/* A server that resets us must give an error message (EPIPE), not a silent death. */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		err(1, "signal");

	if ((sock = net_connect(opts.host, opts.port, &why)) == -1)
		errx(1, "cannot connect to %s:%s: %s", opts.host, opts.port, why);
	log_event("connected to %s:%s", opts.host, opts.port);

	echo_stdin(sock, &sent);

	/* Everything was echoed; anything more before the server's EOF is not ours, but show it. */
	while ((n = read(sock, buf, sizeof(buf))) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			err(1, "receive from server");
		}
		if (write_all(STDOUT_FILENO, buf, (size_t)n) == -1)
			err(1, "stdout");
		extra += (unsigned long long)n;
	}
	(void)close(sock);	/* the process exits next; nothing left to flush */
	log_event("done: sent %llu bytes, received %llu bytes", sent, sent + extra);
	return 0;
}
