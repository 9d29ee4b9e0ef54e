/*
 * 04-poll/server.c - an echo server on poll(2): one thread, many clients.
 *
 * The process sleeps in one call, poll(), that watches every socket at once and returns
 * when at least one of them is ready: the listening socket has a client to accept, a client
 * has sent bytes, or a client's socket has room again for an echo it could not take. Then
 * the loop does exactly the reads and writes that cannot block, and goes back to sleep.
 * Waiting (phase 1 of a read) happens for all clients together in poll(); copying
 * (phase 2) in read().
 *
 *	./server [-H host] [-p port] [-m max_conns] [-q | -v] [-h]	(default port 9004)
 *
 * What poll changes from select: an array of struct pollfd instead of the fd_sets, with the
 * question (events) apart from the answer (revents), and no FD_SETSIZE: any descriptor the
 * process may open can be watched. What stays, in plain sight: the whole array is copied
 * into the kernel and back on every call, and both the kernel and this loop scan all of it,
 * up to the highest descriptor, however few are ready.
 *
 * What a connection costs: a small struct conn and its struct pollfd. Every read goes into
 * one buffer the loop shares, and the echo is written back at once; only what the socket did
 * not take is kept, in a buffer of the connection's own that exists while it holds bytes.
 *
 * Left out on purpose: timers, and any cleverness in the loop beyond what poll needs.
 *
 * Read with docs/04-poll.md.
 */
#include <err.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

#define LAB		"04-poll"
#define DEFAULT_PORT	"9004"

/*
 * poll() watches any descriptor, so the limit is how many the process may open,
 * RLIMIT_NOFILE (getrlimit(2)). stdin, stdout, stderr, the two ends of the signal pipe and
 * the listening socket use six; by default -m is the soft limit minus those six (see main).
 */
#define OWN_FDS		6
/*
 * Clients accepted in one pass, at most (serve). One a pass is too few when a pass costs a
 * poll() over every descriptor: in a connect storm the accept queue (SOMAXCONN, 4096 clients)
 * fills faster than they are taken, and once it is full the kernel drops handshakes. Until
 * EAGAIN is too many: a storm refills the queue as fast as it empties, and the connected
 * clients would wait as long as it lasts. 512, an eighth of the queue, empties a full one in 8
 * passes, and adds to a pass at most some 5 ms (about 10 us an accept with its log line, on a
 * busy 2-core machine).
 */
#define ACCEPT_BUDGET	512

/* doc:conn */
struct conn {
	bool		 open;		/* false: this slot is free */
	int		 fd;
	struct conn_buf	*pending;	/* echo the socket did not take yet; NULL: none */
	char		 peer[NET_ADDRSTRLEN];
};
/* end doc:conn */

/*
 * Both tables are indexed by fd: conns[fd] is the connection on fd, pfd[fd] what poll() is
 * asked and answers about fd (its fd field -1 when fd is not watched), and max_fd the highest
 * open connection. Allocated once in main(), nslots entries each.
 */
static struct conn		*conns;
static struct pollfd		*pfd;
static int			 nslots;
static int			 max_fd = -1;
static long			 nconns;
static long			 max_conns;
static struct accept_pause	 pause_accept;
static struct stats		 stats;
/* Every read lands here, whatever the connection: one buffer for the whole loop. */
static char			 iobuf[IO_SIZE];

/*
 * Accept one client, or refuse it (past the tables or -m) with a log line. Returns whether
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

	/* SOCK_NONBLOCK: a write must never wait for a slow client (see on_readable). */
	fd = accept4(listen_fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd == -1) {
		if (errno == EAGAIN)
			return false;	/* nobody (left) in the queue (see main) */
		if (errno == EINTR || errno == ECONNABORTED)
			return true;	/* that one is gone; the next may be there */
		/* EMFILE, ENFILE, ENOBUFS, ENOMEM: the client stays queued (common/pause.h). */
		log_error("accept: %s; pausing accept until a connection closes or 1 s passes",
		    strerror(errno));
		accept_pause_start(&pause_accept);
		return false;
	}
	net_addr_str((struct sockaddr *)&ss, len, peer);
	if (fd >= nslots) {
		log_event("refused %s: fd %d is past the tables (%d entries)", peer, fd, nslots);
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
 * The handlers move bytes and return NULL to keep the connection, or why to close it. They
 * are called only when poll() said the socket is ready, so each does one read() or one
 * write() that does not wait; EAGAIN can still happen (a readiness report is a hint, not a
 * promise) and just means "wait again".
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
	 * Echo at once, without asking poll() first: a socket almost always has room, so
	 * one wait, one read and one write make one echo. Non-blocking, the write takes what
	 * fits now, maybe less than n.
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
 * The whole model: 1. derive from each connection's state what to wait for, 2. sleep in
 * poll() until something is ready, 3. do the ready reads and writes. Returns 0 when a
 * signal asked it to stop, -1 if poll() itself failed.
 */
/* doc:serve */
static int
serve(int listen_fd, int wake_fd)
{
	const char *why;
	struct conn *c;
	int fd, n, nfds, ready;

	while (!sig_stop) {
		/* 1. Interest: read while nothing is pending, wait for room while something is. */
		nfds = max_fd + 1;
		if (wake_fd >= nfds)
			nfds = wake_fd + 1;
		if (listen_fd >= nfds)
			nfds = listen_fd + 1;
		for (fd = 0; fd < nfds; fd++) {
			c = &conns[fd];
			pfd[fd].fd = -1;	/* not watched: poll(2) skips a negative fd */
			if (!c->open)
				continue;
			pfd[fd].fd = fd;
			if (c->pending == NULL)
				pfd[fd].events = POLLIN;
			else
				pfd[fd].events = POLLOUT;
		}
		pfd[wake_fd].fd = wake_fd;	/* readable once a stop signal came (main) */
		pfd[wake_fd].events = POLLIN;
		if (!accept_paused(&pause_accept)) {
			pfd[listen_fd].fd = listen_fd;
			pfd[listen_fd].events = POLLIN;
		}

		/* 2. Wait, with no timeout (-1) unless accept is paused (common/pause.h). */
		ready = poll(pfd, (nfds_t)nfds, accept_pause_ms(&pause_accept));
		if (ready == -1) {
			if (errno == EINTR)
				continue;
			log_error("poll: %s", strerror(errno));
			return -1;
		}
		log_trace("poll: %d ready", ready);

		/*
		 * 3. Dispatch: poll() wrote in each entry's revents what is ready, 0 if nothing.
		 * POLLHUP and POLLERR come even unasked (poll(2)); they too mean that the one call
		 * the connection waits for will not block (it returns the EOF or the error).
		 * First the clients in the accept queue, up to ACCEPT_BUDGET: any left over keep
		 * the listening socket ready, and the next pass takes more.
		 */
		for (n = 0; pfd[listen_fd].revents != 0 && n < ACCEPT_BUDGET; n++)
			if (!conn_open(listen_fd))
				break;
		for (fd = 0; fd < nfds; fd++) {
			c = &conns[fd];
			if (!c->open)
				continue;
			why = NULL;
			if (pfd[fd].revents != 0 && c->pending == NULL) {
				log_trace("fd %d: readable", fd);
				why = on_readable(c);
			} else if (pfd[fd].revents != 0) {
				log_trace("fd %d: writable", fd);
				why = on_writable(c);
			}
			if (why != NULL)
				conn_close(c, why);
		}
	}
	return 0;
}
/* end doc:serve */

int
main(int argc, char *argv[])
{
	struct server_opts opts = {
		.lab = LAB,
		.host = "127.0.0.1",
		.port = DEFAULT_PORT,
		.verbosity = VERBOSITY_NORMAL,
	};
	const char *why;
	int listen_fd, wake_fd, fd, status;

	/* doc:tables */
	/*
	 * The descriptor limit decides the sizes (fd_slots). -m defaults to what the soft limit
	 * leaves once the server has its own six; past that, accept() fails with EMFILE and the
	 * client waits in the queue (see conn_open). The tables get an entry for every descriptor
	 * up to the hard limit, because the soft one can be raised while the server runs
	 * (prlimit(1)).
	 */
	if ((nslots = fd_slots(OWN_FDS, &opts.max_conns)) == -1)
		err(1, "getrlimit");
	server_opts_parse(&opts, argc, argv);
	max_conns = opts.max_conns;
	/*
	 * Allocated once, at full size. A large calloc() gets fresh zero pages from the kernel
	 * (mmap(2)), which cost address space but no memory until touched, and the loop touches
	 * only the entries up to the highest descriptor (docs/04-poll.md measures it).
	 */
	conns = calloc((size_t)nslots, sizeof(*conns));
	pfd = calloc((size_t)nslots, sizeof(*pfd));
	if (conns == NULL || pfd == NULL)
		err(1, "calloc");
	/* end doc:tables */

	/*
	 * SIGINT and SIGTERM set sig_stop and write a byte to a pipe whose read end, wake_fd,
	 * is watched by every poll(): the self-pipe trick. A signal at any moment, even while
	 * every client streams without pause, makes the next poll() return at once, and the loop
	 * sees sig_stop. The listening socket is non-blocking: readiness is a hint. If the
	 * connection is gone by the time we call accept() (taken by another process sharing the
	 * socket, or on BSD systems reset by the client, UNP 16.6), a blocking accept() would
	 * stall every client until the next one.
	 */
	if ((listen_fd = server_start(&opts, LISTEN_NONBLOCKING, &wake_fd, &why)) == -1)
		errx(1, "%s", why);
	if (listen_fd >= nslots || wake_fd >= nslots)
		errx(1, "descriptors %d and %d: past the tables (%d entries)", listen_fd, wake_fd,
		    nslots);
	if (net_announce(listen_fd) == -1)
		err(1, "stdout");

	status = serve(listen_fd, wake_fd) == 0 ? 0 : 1;

	/* Stop accepting first, then let every client go. */
	(void)close(listen_fd);
	for (fd = 0; fd <= max_fd; fd++)
		if (conns[fd].open)
			conn_close(&conns[fd], "server stopping");
	free(conns);
	free(pfd);
	stats_print(&stats);
	return status;
}
