/*
 * 03-select/server.c - an echo server on select(2): one thread, many clients.
 *
 * The process sleeps in one call, select(), that watches every socket at once and returns
 * when at least one of them is ready: the listening socket has a client to accept, a client
 * has sent bytes, or a client's socket has room again for an echo it could not take. Then
 * the loop does exactly the reads and writes that cannot block, and goes back to sleep.
 * Waiting (phase 1 of a read) happens for all clients together in select(); copying
 * (phase 2) in read().
 *
 *	./server [-H host] [-p port] [-m max_conns] [-q | -v] [-h]	(default port 9003)
 *
 * What select costs, in plain sight: the fd_sets are rebuilt on every pass and copied into
 * the kernel and back, and both the kernel and this loop scan every descriptor up to the
 * highest; and no descriptor at or past FD_SETSIZE (1024) can be watched at all.
 *
 * What a connection costs: a small struct conn. Every read goes into one buffer the loop
 * shares, and the echo is written back at once; only what the socket did not take is kept,
 * in a buffer of the connection's own that exists while it holds bytes.
 *
 * Left out on purpose: timers, and any cleverness in the loop beyond what select needs.
 *
 * Read with docs/03-select.md.
 */
#include <err.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/select.h>
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

#define LAB		"03-select"
#define DEFAULT_PORT	"9003"

/*
 * FD_SET() on a descriptor >= FD_SETSIZE writes past the end of the fd_set (undefined
 * behaviour, see select(2) BUGS), so a connection whose fd is that high is refused. stdin,
 * stdout, stderr, the two ends of the signal pipe and the listening socket use six of the
 * FD_SETSIZE descriptors.
 */
#define MAX_CONNS_DEFAULT	(FD_SETSIZE - 6)
/*
 * Clients accepted in one pass, at most (serve). One a pass is too few when a pass costs a
 * select() over every descriptor: in a connect storm the accept queue (SOMAXCONN, 4096
 * clients) fills faster than they are taken, and once it is full the kernel drops handshakes.
 * Until EAGAIN is too many: a storm refills the queue as fast as it empties, and the connected
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
 * select() answers in descriptors, so the connections are kept in an array indexed by fd:
 * conns[fd] is the connection on fd, and max_fd the highest open one.
 */
static struct conn		 conns[FD_SETSIZE];
static int			 max_fd = -1;
static long			 nconns;
static long			 max_conns;
static struct accept_pause	 pause_accept;
static struct stats		 stats;
/* Every read lands here, whatever the connection: one buffer for the whole loop. */
static char			 iobuf[IO_SIZE];

/*
 * Accept one client, or refuse it (past FD_SETSIZE or -m) with a log line. Returns whether
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
	if (fd >= FD_SETSIZE) {
		log_event("refused %s: fd %d is past FD_SETSIZE (%d)", peer, fd, FD_SETSIZE);
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
 * are called only when select() said the socket is ready, so each does one read() or one
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
	 * Echo at once, without asking select() first: a socket almost always has room, so
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
 * select() until something is ready, 3. do the ready reads and writes. Returns 0 when a
 * signal asked it to stop, -1 if select() itself failed.
 */
/* doc:serve */
static int
serve(int listen_fd, int wake_fd)
{
	fd_set rset, wset;
	struct timeval tv, *timeout;
	const char *why;
	struct conn *c;
	int fd, n, nfds, ready, ms;

	while (!sig_stop) {
		/* 1. Interest: read while nothing is pending, wait for room while something is. */
		FD_ZERO(&rset);
		FD_ZERO(&wset);
		FD_SET(wake_fd, &rset);		/* readable once a stop signal came (main) */
		nfds = wake_fd + 1;
		if (!accept_paused(&pause_accept)) {
			FD_SET(listen_fd, &rset);
			if (listen_fd >= nfds)
				nfds = listen_fd + 1;
		}
		for (fd = 0; fd <= max_fd; fd++) {
			c = &conns[fd];
			if (!c->open)
				continue;
			if (c->pending == NULL)
				FD_SET(fd, &rset);
			else
				FD_SET(fd, &wset);
			if (fd >= nfds)
				nfds = fd + 1;
		}

		/* 2. Wait, with no timeout unless accept is paused (common/pause.h). */
		timeout = NULL;
		if ((ms = accept_pause_ms(&pause_accept)) >= 0) {
			tv.tv_sec = ms / 1000;
			tv.tv_usec = ms % 1000 * 1000;
			timeout = &tv;
		}
		ready = select(nfds, &rset, &wset, NULL, timeout);
		if (ready == -1) {
			if (errno == EINTR)
				continue;
			log_error("select: %s", strerror(errno));
			return -1;
		}
		log_trace("select: %d ready", ready);

		/*
		 * 3. Dispatch: select() left set only the descriptors that are ready. First the
		 * clients in the accept queue, up to ACCEPT_BUDGET: any left over keep the
		 * listening socket ready, and the next pass takes more.
		 */
		for (n = 0; FD_ISSET(listen_fd, &rset) && n < ACCEPT_BUDGET; n++)
			if (!conn_open(listen_fd))
				break;
		for (fd = 0; fd <= max_fd; fd++) {
			c = &conns[fd];
			if (!c->open)
				continue;
			why = NULL;
			if (FD_ISSET(fd, &rset)) {
				log_trace("fd %d: readable", fd);
				why = on_readable(c);
			} else if (FD_ISSET(fd, &wset)) {
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
		.max_conns = MAX_CONNS_DEFAULT,
		.verbosity = VERBOSITY_NORMAL,
	};
	const char *why;
	int listen_fd, wake_fd, fd, status;

	server_opts_parse(&opts, argc, argv);
	max_conns = opts.max_conns;
	/*
	 * SIGINT and SIGTERM set sig_stop and write a byte to a pipe whose read end, wake_fd,
	 * is in every read set: the self-pipe trick. A signal at any moment, even while every
	 * client streams without pause, makes the next select() return at once, and the loop
	 * sees sig_stop. The listening socket is non-blocking: readiness is a hint. If the
	 * connection is gone by the time we call accept() (taken by another process sharing the
	 * socket, or on BSD systems reset by the client, UNP 16.6), a blocking accept() would
	 * stall every client until the next one.
	 */
	if ((listen_fd = server_start(&opts, LISTEN_NONBLOCKING, &wake_fd, &why)) == -1)
		errx(1, "%s", why);
	if (listen_fd >= FD_SETSIZE || wake_fd >= FD_SETSIZE)
		errx(1, "descriptors %d and %d: past FD_SETSIZE", listen_fd, wake_fd);
	if (net_announce(listen_fd) == -1)
		err(1, "stdout");

	status = serve(listen_fd, wake_fd) == 0 ? 0 : 1;

	/* Stop accepting first, then let every client go. */
	(void)close(listen_fd);
	for (fd = 0; fd <= max_fd; fd++)
		if (conns[fd].open)
			conn_close(&conns[fd], "server stopping");
	stats_print(&stats);
	return status;
}
