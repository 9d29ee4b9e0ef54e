/*
 * 03-select/server.c - an echo server on select(2): one thread, many clients.
 *
 * The process sleeps in one call, pselect(), that watches every socket at once and returns
 * when at least one of them is ready: the listening socket has a client to accept, a client
 * has sent bytes, or a client's socket has room for the echo. Then the loop does exactly the
 * reads and writes that cannot block, and goes back to sleep. Waiting (phase 1 of a read)
 * happens for all clients together in pselect(); copying (phase 2) in read().
 *
 *	./server [-H host] [-p port] [-m max_conns] [-q | -v] [-h]	(default port 9003)
 *
 * What select costs, in plain sight: the fd_sets are rebuilt on every pass and copied into
 * the kernel and back, and both the kernel and this loop scan every descriptor up to the
 * highest; and no descriptor at or past FD_SETSIZE (1024) can be watched at all.
 *
 * Left out on purpose: timers, and any cleverness in the loop beyond what select needs.
 * Everything a connection owns is a fixed struct conn; nothing is allocated per read.
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
#include "signals.h"
#include "stats.h"

#define LAB		"03-select"
#define DEFAULT_PORT	"9003"

/*
 * FD_SET() on a descriptor >= FD_SETSIZE writes past the end of the fd_set (undefined
 * behaviour, see select(2) BUGS), so a connection whose fd is that high is refused. stdin,
 * stdout, stderr and the listening socket use four of the FD_SETSIZE descriptors.
 */
#define MAX_CONNS_DEFAULT	(FD_SETSIZE - 4)

/* doc:conn */
struct conn {
	bool		 open;		/* false: this slot is free */
	int		 fd;
	bool		 eof;		/* the client half-closed: read no more */
	char		 peer[NET_ADDRSTRLEN];
	struct conn_buf	 buf;		/* read in, not yet written back */
};
/* end doc:conn */

/*
 * select() answers in descriptors, so the connections are kept in an array indexed by fd:
 * conns[fd] is the connection on fd, and max_fd the highest open one. The array is static,
 * so its pages cost memory only once a connection has used them.
 */
static struct conn	 conns[FD_SETSIZE];
static int		 max_fd = -1;
static long		 nconns;
static long		 max_conns;
static bool		 accept_paused;
static struct stats	 stats;

/* Accept one client, or refuse it (past FD_SETSIZE or -m) with a log line. */
/* doc:conn_open */
static void
conn_open(int listen_fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char peer[NET_ADDRSTRLEN];
	struct conn *c;
	int fd;

	/* SOCK_NONBLOCK: a write must never wait for a slow client (see on_writable). */
	fd = accept4(listen_fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd == -1) {
		if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
			return;		/* nothing to accept after all (see main) */
		/*
		 * EMFILE, ENFILE, ENOBUFS, ENOMEM: the client stays in the queue and the
		 * listening socket stays readable, so selecting on it again would return at
		 * once, for ever. Stop watching it until a connection closes, or a second
		 * has passed (the descriptors may be another process's: ENFILE).
		 */
		log_error("accept: %s; pausing accept until a connection closes or 1 s passes",
		    strerror(errno));
		accept_paused = true;
		return;
	}
	net_addr_str((struct sockaddr *)&ss, len, peer);
	if (fd >= FD_SETSIZE) {
		log_event("refused %s: fd %d is past FD_SETSIZE (%d)", peer, fd, FD_SETSIZE);
		(void)close(fd);
		return;
	}
	if (nconns >= max_conns) {
		log_event("refused %s: %ld connections open (-m %ld)", peer, nconns, max_conns);
		(void)close(fd);
		return;
	}
	c = &conns[fd];
	c->open = true;
	c->fd = fd;
	c->eof = false;
	(void)snprintf(c->peer, sizeof(c->peer), "%s", peer);
	conn_buf_init(&c->buf);
	if (fd > max_fd)
		max_fd = fd;
	nconns++;
	stats_opened(&stats);
	log_event("accepted %s on fd %d", peer, fd);
}
/* end doc:conn_open */

/*
 * The handlers move bytes and return NULL to keep the connection, or why to close it. They
 * are called only when pselect() said the socket is ready, so each does one read() or one
 * write(); EAGAIN can still happen (a readiness report is a hint, not a promise) and just
 * means "wait again".
 */
/* doc:on_readable */
static const char *
on_readable(struct conn *c)
{
	size_t room;
	char *p = conn_buf_space(&c->buf, &room);
	ssize_t n = read(c->fd, p, room);

	if (n > 0) {
		conn_buf_fill(&c->buf, (size_t)n);
		log_trace("fd %d: read %zd bytes", c->fd, n);
		return NULL;
	}
	if (n == 0) {
		/* EOF: the client sent all it will. Close once its echo is written. */
		log_trace("fd %d: EOF", c->fd);
		c->eof = true;
		return conn_buf_empty(&c->buf) ? "peer closed" : NULL;
	}
	if (errno == EAGAIN || errno == EINTR)
		return NULL;
	return strerror(errno);		/* ECONNRESET: the client reset the connection */
}
/* end doc:on_readable */

/* doc:on_writable */
static const char *
on_writable(struct conn *c)
{
	size_t len;
	char *p = conn_buf_pending(&c->buf, &len);
	/* Non-blocking: writes what fits now (maybe less than len) instead of waiting. */
	ssize_t n = write(c->fd, p, len);

	if (n >= 0) {
		conn_buf_drain(&c->buf, (size_t)n);
		stats_echoed(&stats, (size_t)n);
		log_trace("fd %d: wrote %zd bytes", c->fd, n);
		return c->eof && conn_buf_empty(&c->buf) ? "peer closed" : NULL;
	}
	if (errno == EAGAIN || errno == EINTR)
		return NULL;
	return strerror(errno);		/* EPIPE, ECONNRESET: the client is gone */
}
/* end doc:on_writable */

static void
conn_close(struct conn *c, const char *why)
{
	(void)close(c->fd);	/* the fd is released even when close reports an error */
	log_event("closed %s (fd %d): %s", c->peer, c->fd, why);
	c->open = false;
	while (max_fd >= 0 && !conns[max_fd].open)
		max_fd--;
	nconns--;
	stats_closed(&stats);
	accept_paused = false;	/* a descriptor is free again */
}

/*
 * The whole model: 1. derive from each connection's buffer what to wait for, 2. sleep in
 * pselect() until something is ready, 3. do the ready reads and writes. Returns 0 when a
 * signal asked it to stop, -1 if pselect() itself failed.
 */
/* doc:serve */
static int
serve(int listen_fd, const sigset_t *wait_mask)
{
	fd_set rset, wset;
	struct timespec retry = { .tv_sec = 1 };
	const char *why;
	struct conn *c;
	int fd, nfds, ready;

	while (!sig_stop) {
		/* 1. Interest: read while there is room and no EOF; write while bytes wait. */
		FD_ZERO(&rset);
		FD_ZERO(&wset);
		nfds = 0;
		if (!accept_paused) {
			FD_SET(listen_fd, &rset);
			nfds = listen_fd + 1;
		}
		for (fd = 0; fd <= max_fd; fd++) {
			c = &conns[fd];
			if (!c->open)
				continue;
			if (!c->eof && !conn_buf_full(&c->buf))
				FD_SET(fd, &rset);
			if (!conn_buf_empty(&c->buf))
				FD_SET(fd, &wset);
			if (fd >= nfds)
				nfds = fd + 1;
		}

		/*
		 * 2. Wait. pselect() unblocks SIGINT/SIGTERM only while it sleeps, so a signal
		 * that arrived after the test of sig_stop above interrupts it (EINTR) instead of
		 * being missed. While accept is paused, wake after a second to retry it.
		 */
		ready = pselect(nfds, &rset, &wset, NULL, accept_paused ? &retry : NULL,
		    wait_mask);
		if (ready == -1) {
			if (errno == EINTR)
				continue;
			log_error("pselect: %s", strerror(errno));
			return -1;
		}
		log_trace("pselect: %d ready", ready);
		if (ready == 0)
			accept_paused = false;

		/* 3. Dispatch: pselect() left set only the descriptors that are ready. */
		if (FD_ISSET(listen_fd, &rset))
			conn_open(listen_fd);
		for (fd = 0; fd <= max_fd; fd++) {
			c = &conns[fd];
			if (!c->open)
				continue;
			why = NULL;
			if (FD_ISSET(fd, &rset)) {
				log_trace("fd %d: readable", fd);
				why = on_readable(c);
			}
			if (why == NULL && FD_ISSET(fd, &wset)) {
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
	sigset_t wait_mask;
	const char *why;
	int listen_fd, fd, status;

	server_opts_parse(&opts, argc, argv);
	log_init(LAB, opts.verbosity);
	max_conns = opts.max_conns;

	if (sig_setup(&wait_mask) == -1)
		err(1, "signal set-up");
	if ((listen_fd = net_listen(opts.host, opts.port, &why)) == -1)
		errx(1, "cannot listen on %s:%s: %s", opts.host, opts.port, why);
	/*
	 * Non-blocking: readiness is a hint. If the connection is gone by the time we call
	 * accept() (taken by another process sharing the socket, or on BSD systems reset by the
	 * client, UNP 16.6), a blocking accept() would stall every client until the next one.
	 */
	if (set_nonblocking(listen_fd) == -1)
		err(1, "set_nonblocking");
	if (listen_fd >= FD_SETSIZE)
		errx(1, "listening socket is fd %d, past FD_SETSIZE", listen_fd);
	if (net_announce(listen_fd) == -1)
		err(1, "stdout");

	status = serve(listen_fd, &wait_mask) == 0 ? 0 : 1;

	/* Stop accepting first, then let every client go. */
	(void)close(listen_fd);
	for (fd = 0; fd <= max_fd; fd++)
		if (conns[fd].open)
			conn_close(&conns[fd], "server stopping");
	stats_print(&stats);
	return status;
}
