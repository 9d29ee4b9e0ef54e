/*
 * 05-epoll-lt/server.c - an echo server on epoll(7), level-triggered: one thread, many clients.
 *
 * The process sleeps in one call, epoll_wait(), that watches every socket at once and returns
 * when at least one of them is ready: the listening socket has a client to accept, a client
 * has sent bytes, or a client's socket has room again for an echo it could not take. Then
 * the loop does exactly the reads and writes that cannot block, and goes back to sleep.
 * Waiting (phase 1 of a read) happens for all clients together in epoll_wait(); copying
 * (phase 2) in read().
 *
 *	./server [-H host] [-p port] [-m max_conns] [-q | -v] [-h]	(default port 9005)
 *
 * What epoll changes from select and poll: the kernel keeps the interest list. A socket is
 * registered once (EPOLL_CTL_ADD) when it is accepted, its interest is changed
 * (EPOLL_CTL_MOD) only when its echo backs up or has gone out, and close() takes it out.
 * Nothing is rebuilt or copied into the kernel per pass, and epoll_wait() returns only the
 * descriptors that are ready: a pass costs in proportion to the ready ones, not to all of
 * them. Level-triggered, epoll's default: a socket that is still ready is reported again at
 * the next call, as select and poll would, so one read per report is enough.
 *
 * What a connection costs: a small struct conn, and its entry in the kernel's epoll set.
 * Every read goes into one buffer the loop shares, and the echo is written back at once;
 * only what the socket did not take is kept, in a buffer of the connection's own that exists
 * while it holds bytes.
 *
 * Left out on purpose: timers, and any cleverness in the loop beyond what epoll needs.
 *
 * Read with docs/05-epoll-lt.md.
 */
#include <err.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
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

#define LAB		"05-epoll-lt"
#define DEFAULT_PORT	"9005"

/*
 * epoll watches any descriptor, so the limit is how many the process may open,
 * RLIMIT_NOFILE (getrlimit(2)). stdin, stdout, stderr, the two ends of the signal pipe, the
 * listening socket and the epoll instance use seven; by default -m is the soft limit minus
 * those seven (see main).
 */
#define OWN_FDS		7
/*
 * How many ready descriptors one epoll_wait() hands back at most. More stay ready in the
 * kernel for the next call, which starts with them: nobody is skipped, only served a pass
 * later.
 */
#define MAX_EVENTS	256
/*
 * Clients accepted in one pass, at most (serve). One a pass is too few when a pass costs an
 * epoll_wait() and up to MAX_EVENTS reads: in a connect storm the accept queue (SOMAXCONN,
 * 4096 clients) fills faster than they are taken, and once it is full the kernel drops
 * handshakes. Until EAGAIN is too many: a storm refills the queue as fast as it empties, and
 * the connected clients would wait as long as it lasts. 512, an eighth of the queue, empties a
 * full one in 8 passes, and adds to a pass at most some 5 ms (about 10 us an accept with its
 * log line, on a busy 2-core machine).
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
 * epoll_wait() answers with what was registered for each descriptor (here its number), so
 * the connections are kept in a table indexed by fd: conns[fd] is the connection on fd, and
 * max_fd the highest open one. Allocated once in main(), nslots entries. epfd is the epoll
 * instance: the kernel's copy of what each descriptor is watched for.
 */
static struct conn		*conns;
static int			 nslots;
static int			 epfd;
static int			 max_fd = -1;
static long			 nconns;
static long			 max_conns;
static struct accept_pause	 pause_accept;
static struct stats		 stats;
/* Every read lands here, whatever the connection: one buffer for the whole loop. */
static char			 iobuf[IO_SIZE];

/*
 * Accept one client, or refuse it (past the table, -m or epoll) with a log line. Returns
 * whether another may be waiting: false once the queue is empty, or accept paused.
 */
/* doc:conn_open */
static bool
conn_open(int listen_fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char peer[NET_ADDRSTRLEN];
	struct epoll_event ev = { .events = EPOLLIN };
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
		log_event("refused %s: fd %d is past the table (%d entries)", peer, fd, nslots);
		net_refuse(fd);
		return true;
	}
	if (nconns >= max_conns) {
		log_event("refused %s: the server is full (-m %ld)", peer, max_conns);
		net_refuse(fd);
		return true;
	}
	/*
	 * Registered once, for reading: nothing is pending yet. From now on the kernel keeps
	 * this interest; serve() changes it only when the echo backs up or has gone out.
	 * epoll_ctl(2) can fail for want of memory, or at fs.epoll.max_user_watches.
	 */
	ev.data.fd = fd;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
		log_error("refused %s: epoll_ctl: %s", peer, strerror(errno));
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
 * are called only when epoll_wait() said the socket is ready, so each does one read() or one
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
	 * Echo at once, without asking epoll first: a socket almost always has room, so
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
	/*
	 * close() also takes the socket out of the epoll set: the set holds open files, and
	 * this is the file's last descriptor (no dup(), no fork()). epoll(7), Q6.
	 */
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
 * The whole model: 1. keep the kernel's interest list in step with the state, 2. sleep in
 * epoll_wait() until something is ready, 3. do the ready reads and writes. Returns 0 when a
 * signal asked it to stop, -1 if epoll itself failed.
 */
/* doc:serve */
static int
serve(int listen_fd, int wake_fd)
{
	struct epoll_event events[MAX_EVENTS], ev = { 0 };
	const char *why;
	struct conn *c;
	bool listening = true, backed_up;
	int fd, i, n, ready;

	while (!sig_stop) {
		/*
		 * 1. Interest: the kernel keeps it (main() and conn_open() registered each
		 * descriptor once), so nothing is rebuilt here. The listening socket's changes
		 * with the accept pause (common/pause.h); a connection's in step 3, when its
		 * state does.
		 */
		if (listening == accept_paused(&pause_accept)) {
			listening = !listening;
			ev.events = listening ? EPOLLIN : 0;
			ev.data.fd = listen_fd;
			if (epoll_ctl(epfd, EPOLL_CTL_MOD, listen_fd, &ev) == -1) {
				log_error("epoll_ctl: %s", strerror(errno));
				return -1;
			}
		}

		/* 2. Wait, with no timeout (-1) unless accept is paused (common/pause.h). */
		ready = epoll_wait(epfd, events, MAX_EVENTS, accept_pause_ms(&pause_accept));
		if (ready == -1) {
			if (errno == EINTR)
				continue;
			log_error("epoll_wait: %s", strerror(errno));
			return -1;
		}
		log_trace("epoll_wait: %d ready", ready);

		/*
		 * 3. Dispatch: epoll_wait() returned only the descriptors that are ready. EPOLLHUP
		 * and EPOLLERR come even unasked (epoll_ctl(2)); they too mean that the one call
		 * the connection waits for will not block (it returns the EOF or the error).
		 */
		for (i = 0; i < ready; i++) {
			fd = events[i].data.fd;
			if (fd == listen_fd) {
				/*
				 * The clients in the accept queue, up to ACCEPT_BUDGET: any left
				 * over keep the listening socket ready, and level-triggered, the
				 * next epoll_wait() reports it again.
				 */
				for (n = 0; n < ACCEPT_BUDGET; n++)
					if (!conn_open(listen_fd))
						break;
				continue;
			}
			if (fd == wake_fd)
				continue;	/* a stop signal came: the loop sees sig_stop */
			c = &conns[fd];
			if (!c->open)
				continue;
			backed_up = c->pending != NULL;
			why = NULL;
			if (!backed_up) {
				log_trace("fd %d: readable", fd);
				why = on_readable(c);
			} else {
				log_trace("fd %d: writable", fd);
				why = on_writable(c);
			}
			/*
			 * The echo just backed up, or the last of it went out: tell the kernel,
			 * once, to wait for room instead of bytes, or for bytes again.
			 */
			if (why == NULL && (c->pending != NULL) != backed_up) {
				ev.events = c->pending != NULL ? EPOLLOUT : EPOLLIN;
				ev.data.fd = fd;
				if (epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) == -1)
					why = strerror(errno);
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
	struct epoll_event ev = { .events = EPOLLIN };
	const char *why;
	int listen_fd, wake_fd, fd, status;

	/*
	 * A table entry for every descriptor up to the hard limit; -m defaults to what the soft
	 * limit leaves once the server has its own seven (fd_slots, common/server.h).
	 */
	if ((nslots = fd_slots(OWN_FDS, &opts.max_conns)) == -1)
		err(1, "getrlimit");
	server_opts_parse(&opts, argc, argv);
	max_conns = opts.max_conns;
	/*
	 * Allocated once, at full size. A large calloc() gets fresh zero pages from the kernel
	 * (mmap(2)), which cost address space but no memory until touched, and only the entries
	 * of descriptors in use are touched (docs/05-epoll-lt.md measures it).
	 */
	if ((conns = calloc((size_t)nslots, sizeof(*conns))) == NULL)
		err(1, "calloc");

	/*
	 * SIGINT and SIGTERM set sig_stop and write a byte to a pipe whose read end, wake_fd,
	 * is registered in the epoll set: the self-pipe trick. A signal at any moment, even while
	 * every client streams without pause, makes the next epoll_wait() return at once, and the
	 * loop sees sig_stop. The listening socket is non-blocking: readiness is a hint. If the
	 * connection is gone by the time we call accept() (taken by another process sharing the
	 * socket, or on BSD systems reset by the client, UNP 16.6), a blocking accept() would
	 * stall every client until the next one.
	 */
	if ((listen_fd = server_start(&opts, LISTEN_NONBLOCKING, &wake_fd, &why)) == -1)
		errx(1, "%s", why);
	/*
	 * The epoll instance (epoll_create1(2)), and its first two entries, registered once for
	 * reading: the signal pipe and the listening socket.
	 */
	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		err(1, "epoll_create1");
	ev.data.fd = wake_fd;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, wake_fd, &ev) == -1)
		err(1, "epoll_ctl");
	ev.data.fd = listen_fd;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, listen_fd, &ev) == -1)
		err(1, "epoll_ctl");
	if (net_announce(listen_fd) == -1)
		err(1, "stdout");

	status = serve(listen_fd, wake_fd) == 0 ? 0 : 1;

	/* Stop accepting first, then let every client go. */
	(void)close(listen_fd);
	for (fd = 0; fd <= max_fd; fd++)
		if (conns[fd].open)
			conn_close(&conns[fd], "server stopping");
	(void)close(epfd);
	free(conns);
	stats_print(&stats);
	return status;
}
