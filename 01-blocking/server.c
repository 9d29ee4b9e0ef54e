/*
 * 01-blocking/server.c - the iterative echo server: blocking I/O, one client at a time.
 *
 * Every call waits until it is done. accept() sleeps until a client connects; read() sleeps
 * until that client sends something (phase 1 of a read: waiting for data), then copies it
 * into our buffer (phase 2: copying); write_all() sleeps until the kernel has taken the whole
 * echo. Only when the client leaves does the loop go back to accept() for the next one.
 * Meanwhile the others wait in the kernel's accept queue: connected, their bytes received by
 * the kernel, but nobody reads them.
 *
 *	./server [-H host] [-p port] [-m max_conns] [-q | -v] [-h]	(default port 9001)
 *
 * Left out on purpose: any way to serve two clients at once. That is what the next eight
 * labs do, each differently. -m is accepted, as by every lab, but this server never holds more
 * than one connection.
 *
 * Read with docs/01-blocking.md.
 */
#include <err.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#include "buf.h"
#include "io.h"
#include "log.h"
#include "net.h"
#include "options.h"
#include "server.h"
#include "signals.h"
#include "stats.h"

#define LAB		"01-blocking"
#define DEFAULT_PORT	"9001"

static struct stats stats;

/*
 * Serve one client until it leaves: read what it sent, write it all back, again. Returns why
 * the connection ended, for the log.
 */
/* doc:echo-client */
static const char *
echo_client(int fd)
{
	char buf[IO_SIZE];
	ssize_t n;

	while (!sig_stop) {
		n = read(fd, buf, sizeof(buf));		/* sleeps until data, EOF or error */
		if (n == 0)
			return "peer closed";		/* EOF: every byte was echoed */
		if (n == -1) {
			if (errno == EINTR)
				continue;		/* a signal: the loop tests sig_stop */
			return strerror(errno);
		}
		log_trace("fd %d: read %zd bytes", fd, n);
		/*
		 * Sleeps until the kernel has taken every byte. A client that sends but does not
		 * read fills its receive buffer and then ours: the write waits, this loop stops
		 * reading, and the client's sends stall in turn. That is the back-pressure.
		 */
		if (write_all(fd, buf, (size_t)n, &sig_stop) < (size_t)n)
			return errno == EINTR ? "server stopping" : strerror(errno);
		log_trace("fd %d: wrote %zd bytes", fd, n);
		stats_echoed(&stats, (size_t)n);
	}
	return "server stopping";
}
/* end doc:echo-client */

/* doc:serve */
static void
serve(int listen_fd)
{
	struct sockaddr_storage peer;
	socklen_t peer_len;
	char addr[NET_ADDRSTRLEN];
	const char *why;
	int fd;

	while (!sig_stop) {
		peer_len = sizeof(peer);
		fd = accept(listen_fd, (struct sockaddr *)&peer, &peer_len);	/* sleeps */
		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;	/* a signal (test sig_stop), or a client gave up */
			/*
			 * Out of descriptors or memory: the error would come back at once,
			 * so wait a second rather than spin.
			 */
			log_error("accept: %s", strerror(errno));
			(void)nanosleep(&(struct timespec){ .tv_sec = 1 }, NULL);
			continue;
		}
		net_addr_str((struct sockaddr *)&peer, peer_len, addr);
		log_event("accepted %s on fd %d", addr, fd);
		stats_opened(&stats);

		why = echo_client(fd);		/* every other client waits meanwhile */

		(void)close(fd);		/* nothing useful to do if close fails */
		stats_closed(&stats);
		log_event("closed %s (fd %d): %s", addr, fd, why);
	}
}
/* end doc:serve */

int
main(int argc, char *argv[])
{
	struct server_opts opts = {
		.lab = LAB,
		.host = "127.0.0.1",
		.port = DEFAULT_PORT,
		.max_conns = 1,
		.verbosity = VERBOSITY_NORMAL,
	};
	const char *why;
	int listen_fd;

	server_opts_parse(&opts, argc, argv);
	/*
	 * A signal interrupts the call the server sleeps in (EINTR), and every loop tests
	 * sig_stop after every call, so one SIGTERM stops it, idle or busy. One window stays
	 * open: a SIGTERM that lands between a test of sig_stop and the next blocking call is
	 * only seen when that call returns for another reason. An event loop closes it
	 * (03-select); a blocking call has no way to (docs/01-blocking.md).
	 */
	if ((listen_fd = server_start(&opts, LISTEN_BLOCKING, NULL, &why)) == -1)
		errx(1, "%s", why);
	if (net_announce(listen_fd) == -1)
		err(1, "stdout");

	serve(listen_fd);

	(void)close(listen_fd);
	stats_print(&stats);
	return 0;
}
