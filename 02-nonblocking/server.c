/*
 * 02-nonblocking/server.c - an echo server on non-blocking sockets alone: one thread, many
 * clients, and no call that waits.
 *
 * Every socket is non-blocking, and the loop never asks the kernel which one is ready: it
 * tries them all, in turn, again and again. accept() while clients are queued (512 at most),
 * then one read() (or one write() of an echo that did not fit) on every connection: a sweep.
 * A call with nothing to do fails at once with EAGAIN and the sweep moves on. Waiting (phase 1
 * of a read) is this loop asking again and again; copying (phase 2) happens in the read() that
 * finally finds bytes.
 *
 *	./server [-H host] [-p port] [-m max_conns] [-i usec] [-q | -v] [-h]	(default port 9002)
 *
 * What it costs, in plain sight: THE LOOP NEVER SLEEPS. With no client at all it calls
 * accept() after accept(), and uses a whole CPU core for as long as it runs; every connection
 * adds a read() to every sweep, whether its client sent anything or not. -i usec sleeps
 * between two sweeps: less CPU, at the price of up to usec of delay for every client.
 *
 * What a connection costs: a small struct conn. Every read goes into one buffer the loop
 * shares, and the echo is written back at once; only what the socket did not take is kept,
 * in a buffer of the connection's own that exists while it holds bytes.
 *
 * Left out on purpose: select(), poll(), epoll and every other way to wait for readiness.
 * They are labs 03 to 06, and this one shows why they exist.
 *
 * Read with docs/02-nonblocking.md.
 */
#include <err.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#include "buf.h"
#include "io.h"
#include "log.h"
#include "net.h"
#include "options.h"
#include "pause.h"
#include "server.h"
#include "signals.h"
#include "stats.h"

#define LAB		"02-nonblocking"
#define DEFAULT_PORT	"9002"

/*
 * No readiness call, so no FD_SETSIZE either: the limit is how many descriptors the process
 * may open, RLIMIT_NOFILE (getrlimit(2)). stdin, stdout, stderr and the listening socket use
 * four (there is no signal pipe: see main); by default -m is the soft limit minus those four.
 */
#define OWN_FDS		4
/*
 * Clients accepted in one sweep, at most (serve). One a sweep is too few when a sweep costs a
 * read() on every connection: in a connect storm the accept queue (SOMAXCONN, 4096 clients)
 * fills faster than they are taken, and once it is full the kernel drops handshakes. Until
 * EAGAIN is too many: a storm refills the queue as fast as it empties, and the connected
 * clients would wait as long as it lasts. 512, an eighth of the queue, empties a full one in 8
 * sweeps, and adds to a sweep at most some 5 ms (about 10 us an accept with its log line, on a
 * busy 2-core machine).
 */
#define ACCEPT_BUDGET	512
/* -i: the longest sleep between two sweeps, a second. */
#define MAX_SWEEP_US	1000000L

/* doc:conn */
struct conn {
	bool		 open;		/* false: this slot is free */
	int		 fd;
	struct conn_buf	*pending;	/* echo the socket did not take yet; NULL: none */
	char		 peer[NET_ADDRSTRLEN];
};
/* end doc:conn */

/*
 * The connections are kept in a table indexed by fd, as in 03-select and 04-poll: conns[fd]
 * is the connection on fd, and max_fd the highest open one; a sweep visits conns[0] to
 * conns[max_fd]. Allocated once in main(), nslots entries.
 */
static struct conn		*conns;
static int			 nslots;
static int			 max_fd = -1;
static long			 nconns;
static long			 max_conns;
static long			 sweep_us;	/* -i: the sleep between two sweeps; 0: none */
static unsigned long long	 sweeps;	/* for the log line at exit */
static struct accept_pause	 pause_accept;
static struct stats		 stats;
/* Every read lands here, whatever the connection: one buffer for the whole loop. */
static char			 iobuf[IO_SIZE];

/*
 * Accept one client, or refuse it (past the table or -m) with a log line. Returns whether
 * another may be waiting: false once the queue is empty, or accept paused.
 */
/* doc:conn_open */
static bool
conn_open(int listen_fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char peer[NET_ADDRSTRLEN];
	struct conn *c;
	int fd;

	/* SOCK_NONBLOCK: a read must never wait for a silent client (see on_readable). */
	fd = accept4(listen_fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd == -1) {
		if (errno == EAGAIN)
			return false;	/* nobody waiting: the answer of almost every sweep */
		if (errno == EINTR || errno == ECONNABORTED)
			return true;	/* that one is gone; the next may be there */
		/*
		 * EMFILE, ENFILE, ENOBUFS, ENOMEM: the client stays queued, and the next sweep
		 * would fail the same way; serve() stops trying for a while (common/pause.h).
		 */
		log_error("accept: %s; pausing accept until a connection closes or 1 s passes",
		    strerror(errno));
		accept_pause_start(&pause_accept);
		return false;
	}
	net_addr_str((struct sockaddr *)&ss, len, peer);
	if (fd >= nslots) {
		log_event("refused %s: fd %d is past the table (%d entries)", peer, fd, nslots);
		net_refuse(fd);
		return true;
	}
	if (nconns >= max_conns) {
		log_event("refused %s: the server is full (-m %ld)", peer, max_conns);
		net_refuse(fd);
		return true;
	}
	c = &conns[fd];
	c->open = true;
	c->fd = fd;
	c->pending = NULL;
	(void)snprintf(c->peer, sizeof(c->peer), "%s", peer);
	if (fd > max_fd)
		max_fd = fd;
	nconns++;
	stats_opened(&stats);
	log_event("accepted %s on fd %d", peer, fd);
	return true;
}
/* end doc:conn_open */

/*
 * The handlers move bytes and return NULL to keep the connection, or why to close it. Nobody
 * said the socket is ready: each does one read() or one write() that does not wait, and
 * EAGAIN, "nothing now", is the usual answer. The next sweep tries again.
 */
/* doc:on_readable */
static const char *
on_readable(struct conn *c)
{
	ssize_t n, w;

	n = read(c->fd, iobuf, sizeof(iobuf));
	if (n == 0)
		return "peer closed";	/* EOF, and everything before it was echoed */
	if (n == -1)
		return errno == EAGAIN || errno == EINTR ? NULL : strerror(errno);
	log_trace("fd %d: read %zd bytes", c->fd, n);

	/*
	 * Echo at once, in the same sweep: a socket almost always has room, so one read and
	 * one write make one echo. Non-blocking, the write takes what fits now, maybe less
	 * than n.
	 */
	w = write(c->fd, iobuf, (size_t)n);
	if (w == -1) {
		if (errno != EAGAIN && errno != EINTR)
			return strerror(errno);		/* EPIPE, ECONNRESET: the client is gone */
		w = 0;
	}
	log_trace("fd %d: wrote %zd bytes", c->fd, w);
	stats_echoed(&stats, (size_t)w);
	if (w < n) {
		/* The socket is full: keep the rest, and read no more until it is out. */
		if ((c->pending = conn_buf_new(iobuf + w, (size_t)(n - w))) == NULL)
			return "out of memory";
		log_trace("fd %d: %zd bytes pending", c->fd, n - w);
	}
	return NULL;
}
/* end doc:on_readable */

/* doc:on_writable */
static const char *
on_writable(struct conn *c)
{
	size_t len;
	char *p = conn_buf_pending(c->pending, &len);
	ssize_t n = write(c->fd, p, len);

	if (n == -1)
		return errno == EAGAIN || errno == EINTR ? NULL : strerror(errno);
	log_trace("fd %d: wrote %zd bytes", c->fd, n);
	stats_echoed(&stats, (size_t)n);
	conn_buf_drain(c->pending, (size_t)n);
	if (conn_buf_empty(c->pending)) {
		/* All out: give the buffer back; the connection reads again. */
		conn_buf_free(c->pending);
		c->pending = NULL;
	}
	return NULL;
}
/* end doc:on_writable */

static void
conn_close(struct conn *c, const char *why)
{
	(void)close(c->fd);	/* the fd is released even when close reports an error */
	log_event("closed %s (fd %d): %s", c->peer, c->fd, why);
	conn_buf_free(c->pending);	/* echo still pending is dropped */
	c->pending = NULL;
	c->open = false;
	while (max_fd >= 0 && !conns[max_fd].open)
		max_fd--;
	nconns--;
	stats_closed(&stats);
	accept_pause_stop(&pause_accept);	/* a descriptor is free again */
}

/*
 * The whole model, one sweep after another: 1. try to accept a client, 2. try every
 * connection, a read while nothing is pending, a write of the rest while something is,
 * 3. with -i, sleep. Nothing waits for readiness, so nothing needs waking: the stop flag is
 * tested before every sweep.
 */
/* doc:serve */
static void
serve(int listen_fd)
{
	const struct timespec nap = {
		.tv_sec = sweep_us / 1000000,
		.tv_nsec = sweep_us % 1000000 * 1000,
	};
	const char *why;
	struct conn *c;
	int fd, n;

	while (!sig_stop) {
		sweeps++;

		/*
		 * 1. Accept: until nobody is left in the queue or ACCEPT_BUDGET were taken, unless
		 * paused after EMFILE (common/pause.h). Those left over wait for the next sweep.
		 */
		for (n = 0; n < ACCEPT_BUDGET && !accept_paused(&pause_accept); n++)
			if (!conn_open(listen_fd))
				break;

		/* 2. Every connection in turn: one read, or one write of what is pending. */
		for (fd = 0; fd <= max_fd; fd++) {
			c = &conns[fd];
			if (!c->open)
				continue;
			if (c->pending == NULL)
				why = on_readable(c);
			else
				why = on_writable(c);
			if (why != NULL)
				conn_close(c, why);
		}

		/*
		 * 3. -i: sleep between sweeps, trading latency for CPU. A stop signal cuts the
		 * sleep short (EINTR: the handlers have no SA_RESTART); the loop sees sig_stop.
		 */
		if (sweep_us > 0)
			(void)nanosleep(&nap, NULL);
	}
}
/* end doc:serve */

/* -i usec, 02's own option: the sleep between two sweeps, 0 to MAX_SWEEP_US. */
static int
on_option(int ch, const char *arg)
{
	(void)ch;		/* -i is the only one */
	if (opt_number(arg, 0, MAX_SWEEP_US, &sweep_us) == -1) {
		(void)fprintf(stderr, "%s: bad usec '%.20s': want 0..%ld\n", LAB, arg,
		    MAX_SWEEP_US);
		return -1;
	}
	return 0;
}

int
main(int argc, char *argv[])
{
	struct server_opts opts = {
		.lab = LAB,
		.host = "127.0.0.1",
		.port = DEFAULT_PORT,
		.verbosity = VERBOSITY_NORMAL,
		.note = "It never waits: it tries every socket in turn, again and again, so\n"
		    "even with no client at all IT USES A WHOLE CPU CORE. -i sleeps between\n"
		    "two sweeps: less CPU, more delay.",
		.lab_opts = "i:",
		.lab_usage = "[-i usec]",
		.lab_help =
		    "  -i usec       sleep between two sweeps of the sockets, 0..1000000 (default 0)",
		.lab_option = on_option,
	};
	const char *why;
	int listen_fd, fd;

	/* A table entry per descriptor; -m defaults to what the fd limit leaves (server.h). */
	if ((nslots = fd_slots(OWN_FDS, &opts.max_conns)) == -1)
		err(1, "getrlimit");
	server_opts_parse(&opts, argc, argv);
	max_conns = opts.max_conns;
	/* doc:stop */
	/*
	 * SIGINT and SIGTERM set sig_stop, and the loop tests it before every sweep. That is
	 * enough here, with no self-pipe (NULL): the event loops need one to wake a wait that
	 * may sleep for ever, and this loop never waits. A sweep makes only calls that return
	 * at once, and the one sleep, -i's nanosleep(), returns EINTR when a signal arrives; a
	 * signal that lands just before it is seen one sleep later, -i usec at most (1 s).
	 * The listening socket is non-blocking like every socket here: accept() is tried at
	 * every sweep.
	 */
	if ((listen_fd = server_start(&opts, LISTEN_NONBLOCKING, NULL, &why)) == -1)
		errx(1, "%s", why);
	/* end doc:stop */
	if (listen_fd >= nslots)
		errx(1, "descriptor %d: past the table (%d entries)", listen_fd, nslots);
	/*
	 * Allocated once, at full size. A large calloc() gets fresh zero pages from the kernel
	 * (mmap(2)), which cost address space but no memory until touched, and the loop touches
	 * only the entries up to the highest descriptor.
	 */
	if ((conns = calloc((size_t)nslots, sizeof(*conns))) == NULL)
		err(1, "calloc");
	if (net_announce(listen_fd) == -1)
		err(1, "stdout");
	if (sweep_us == 0)
		log_event("busy polling: this loop never sleeps, and uses a whole CPU core even "
		    "with no client (-i usec to sleep between sweeps)");
	else
		log_event("busy polling, with a sleep of %ld us between sweeps", sweep_us);

	serve(listen_fd);

	/* Stop accepting first, then let every client go. */
	(void)close(listen_fd);
	for (fd = 0; fd <= max_fd; fd++)
		if (conns[fd].open)
			conn_close(&conns[fd], "server stopping");
	free(conns);
	log_event("stopping after %llu sweeps", sweeps);
	stats_print(&stats);
	return 0;
}
