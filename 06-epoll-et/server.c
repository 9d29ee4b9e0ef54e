/*
 * 06-epoll-et/server.c - an echo server on epoll(7), edge-triggered: one thread, many clients.
 *
 * The process sleeps in one call, epoll_wait(), that watches every socket at once and returns
 * when at least one of them is ready: the listening socket has a client to accept, a client
 * has sent bytes, or a client's socket has room again for an echo it could not take. Then
 * the loop does exactly the reads and writes that cannot block, and goes back to sleep.
 * Waiting (phase 1 of a read) happens for all clients together in epoll_wait(); copying
 * (phase 2) in read().
 *
 *	./server [-H host] [-p port] [-m max_conns] [-q | -v] [-h]	(default port 9006)
 *
 * What epoll changes from select and poll: the kernel keeps the interest list. A socket is
 * registered once (EPOLL_CTL_ADD) when it is accepted, and close() takes it out. Nothing is
 * rebuilt or copied into the kernel per pass, and epoll_wait() returns only the descriptors
 * that are ready: a pass costs in proportion to the ready ones, not to all of them.
 *
 * What edge-triggered (EPOLLET) changes from level-triggered (05-epoll-lt): epoll_wait()
 * reports a change once, when it happens (bytes arrived, room appeared), not a state for as
 * long as it lasts. So a socket is registered for both reading and writing and never
 * changed, and each handler goes on until EAGAIN: bytes left unread, or an echo left
 * unwritten, would never be reported again. The loop remembers what the edges said and the
 * calls have not used up: a listening socket with clients queued, connections owed a read.
 *
 * What a connection costs: a small struct conn, and its entry in the kernel's epoll set.
 * Every read goes into one buffer the loop shares, and the echo is written back at once;
 * only what the socket did not take is kept, in a buffer of the connection's own that exists
 * while it holds bytes.
 *
 * Left out on purpose: timers, and any cleverness in the loop beyond what epoll needs.
 *
 * Read with docs/06-epoll-et.md.
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

#define LAB		"06-epoll-et"
#define DEFAULT_PORT	"9006"

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
 * Reads per connection per turn, at most (16 x 64 KiB = 1 MiB). A client that sends as fast
 * as the loop reads would otherwise keep the loop reading it until it stops, with every
 * other client, and a stop signal, waiting (docs/06-epoll-et.md measures it).
 */
#define READ_BUDGET	16
/*
 * Clients accepted in one pass, at most (serve). One edge of the listening socket can announce
 * a whole connect storm. Accepting until EAGAIN in one go is too many: a storm refills the
 * queue (SOMAXCONN, 4096 clients) as fast as it empties, and the connected clients would wait
 * as long as it lasts. Too few, and the queue fills faster than it is emptied, and the kernel
 * drops handshakes. 512, an eighth of the queue, empties a full one in 8 passes, and adds to a
 * pass at most some 5 ms (about 10 us an accept with its log line, on a busy 2-core machine).
 */
#define ACCEPT_BUDGET	512

/* doc:conn */
struct conn {
	bool		 open;		/* false: this slot is free */
	bool		 owed;		/* the read budget ran out: on the owed list */
	int		 fd;
	struct conn_buf	*pending;	/* echo the socket did not take yet; NULL: none */
	char		 peer[NET_ADDRSTRLEN];
};
/* end doc:conn */

/*
 * epoll_wait() answers with what was registered for each descriptor (here its number), so
 * the connections are kept in a table indexed by fd: conns[fd] is the connection on fd, and
 * max_fd the highest open one. owed[] lists the nowed connections whose read budget ran out
 * with bytes maybe left: no edge will report those bytes again, so serve() reads them
 * unasked (each at most once: an owed connection is not read until its owed turn). Both
 * allocated once in main(), nslots entries. epfd is the epoll instance: the kernel's copy of
 * what each descriptor is watched for.
 */
static struct conn		*conns;
static int			*owed;
static int			 nowed;
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
 * whether clients may still be queued: false only once accept() said EAGAIN.
 */
/* doc:conn_open */
static bool
conn_open(int listen_fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char peer[NET_ADDRSTRLEN];
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLET };
	struct conn *c;
	int fd;

	/*
	 * SOCK_NONBLOCK: a write must never wait for a slow client, and the read that ends a
	 * turn must say EAGAIN instead of waiting for the next bytes (see on_readable).
	 */
	fd = accept4(listen_fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd == -1) {
		if (errno == EAGAIN)
			return false;	/* the queue is empty: the next client brings an edge */
		if (errno == EINTR || errno == ECONNABORTED)
			return true;	/* that one is gone; the next may be there */
		/* EMFILE, ENFILE, ENOBUFS, ENOMEM: the client stays queued (common/pause.h). */
		log_error("accept: %s; pausing accept until a connection closes or 1 s passes",
		    strerror(errno));
		accept_pause_start(&pause_accept);
		return true;
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
	 * Registered once, edge-triggered, for reading and writing, and never changed: an edge
	 * of either kind is news, and what the loop does with it follows from the connection's
	 * state (serve). epoll_ctl(2) can fail for want of memory, or at
	 * fs.epoll.max_user_watches.
	 */
	ev.data.fd = fd;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
		log_error("refused %s: epoll_ctl: %s", peer, strerror(errno));
		net_refuse(fd);
		return true;
	}
	c = &conns[fd];
	c->open = true;
	c->owed = false;
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
 * are called when epoll_wait() reported an edge: bytes arrived, or room appeared. That news
 * comes once. Bytes already waiting, or room already there, will not be reported again, so
 * each handler goes on until the call says EAGAIN: only after EAGAIN does the kernel owe a
 * new edge for the next change (epoll(7)). A handler that stopped earlier, after one read
 * or at a short write, could leave a connection that nothing will ever wake.
 */
/* doc:on_readable */
static const char *
on_readable(struct conn *c)
{
	ssize_t n, w;
	size_t done;
	int reads;

	for (reads = 0; reads < READ_BUDGET; reads++) {
		n = read(c->fd, iobuf, sizeof(iobuf));
		if (n == 0)
			return "peer closed";	/* EOF, and everything before it was echoed */
		if (n == -1) {
			if (errno == EINTR)
				continue;	/* nothing read: try again, the edge is spent */
			if (errno != EAGAIN)
				return strerror(errno);
			/* Empty: the next bytes to arrive bring a new edge. */
			log_trace("fd %d: read: EAGAIN", c->fd);
			return NULL;
		}
		log_trace("fd %d: read %zd bytes", c->fd, n);

		/*
		 * Echo at once, without asking epoll first: a socket almost always has room, so
		 * one wait, two reads (the second says EAGAIN) and one write make one echo. A
		 * short write is written on: only EAGAIN says the socket is full and promises
		 * the EPOLLOUT edge that will say when it has room again.
		 */
		done = 0;
		while (done < (size_t)n) {
			w = write(c->fd, iobuf + done, (size_t)n - done);
			if (w == -1 && errno == EINTR)
				continue;
			if (w == -1 && errno == EAGAIN) {
				log_trace("fd %d: write: EAGAIN", c->fd);
				break;
			}
			if (w == -1)
				return strerror(errno);	/* EPIPE, ECONNRESET: the client is gone */
			log_trace("fd %d: wrote %zd bytes", c->fd, w);
			stats_echoed(&stats, (size_t)w);
			done += (size_t)w;
		}
		if (done < (size_t)n) {
			/* The socket is full: keep the rest, and read no more until it is out. */
			if ((c->pending = conn_buf_new(iobuf + done, (size_t)n - done)) == NULL)
				return "out of memory";
			log_trace("fd %d: %zu bytes pending", c->fd, (size_t)n - done);
			return NULL;
		}
	}
	/* The budget is spent before EAGAIN: bytes may be left, and no edge for them. */
	c->owed = true;
	owed[nowed++] = c->fd;
	return NULL;
}
/* end doc:on_readable */

/* doc:on_writable */
static const char *
on_writable(struct conn *c)
{
	size_t len;
	char *p;
	ssize_t n;

	while (!conn_buf_empty(c->pending)) {
		p = conn_buf_pending(c->pending, &len);
		n = write(c->fd, p, len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return strerror(errno);
			/* Full again: the next EPOLLOUT edge says when there is room. */
			log_trace("fd %d: write: EAGAIN", c->fd);
			return NULL;
		}
		log_trace("fd %d: wrote %zd bytes", c->fd, n);
		stats_echoed(&stats, (size_t)n);
		conn_buf_drain(c->pending, (size_t)n);
	}
	/* All out: give the buffer back; the connection reads again (serve). */
	conn_buf_free(c->pending);
	c->pending = NULL;
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
 * The whole model: 1. use up what earlier edges announced on the listening socket, 2. sleep
 * in epoll_wait() until something changes, 3. do the reads and writes, each until EAGAIN.
 * Returns 0 when a signal asked it to stop, -1 if epoll itself failed.
 */
/* doc:serve */
static int
serve(int listen_fd, int wake_fd)
{
	struct epoll_event events[MAX_EVENTS];
	const char *why;
	struct conn *c;
	bool accept_ready = false, behind;
	int fd, i, n, ready;

	while (!sig_stop) {
		/*
		 * 1. Interest: the kernel keeps it, and edge-triggered it never changes (main()
		 * and conn_open() registered each descriptor once, for everything). Accept until
		 * EAGAIN, so the next client brings a new edge, but ACCEPT_BUDGET at most per
		 * pass: accept_ready stays true, and the next pass accepts on, unasked, once the
		 * connected clients had their turn. Out of descriptors, accept pauses
		 * (common/pause.h) with clients still queued, and their edge spent: when the pause
		 * ends, a connection closed or the second passed, no edge will say so, and
		 * accept_ready makes this loop accept again unasked.
		 */
		for (i = 0; i < ACCEPT_BUDGET && accept_ready && !accept_paused(&pause_accept); i++)
			accept_ready = conn_open(listen_fd);

		/*
		 * 2. Wait: not at all while connections are owed a read or clients are left to
		 * accept, else with no timeout (-1) unless accept is paused (common/pause.h).
		 */
		behind = nowed > 0 || (accept_ready && !accept_paused(&pause_accept));
		ready = epoll_wait(epfd, events, MAX_EVENTS,
		    behind ? 0 : accept_pause_ms(&pause_accept));
		if (ready == -1) {
			if (errno == EINTR)
				continue;
			log_error("epoll_wait: %s", strerror(errno));
			return -1;
		}
		log_trace("epoll_wait: %d ready", ready);

		/*
		 * 3. Dispatch. First the connections owed a read since the last pass: the budget
		 * stopped them before EAGAIN, and no edge will come for the bytes they left. They
		 * go after every other ready connection had its turn, which is the point. (None
		 * is backed up: a turn whose echo backs up ends there, before the budget does.)
		 */
		for (n = nowed, nowed = 0, i = 0; i < n; i++) {
			c = &conns[owed[i]];
			if (!c->open || !c->owed)
				continue;	/* closed since, maybe reopened */
			c->owed = false;
			log_trace("fd %d: still readable", c->fd);
			if ((why = on_readable(c)) != NULL)
				conn_close(c, why);
		}
		/*
		 * Then the edges. EPOLLIN, EPOLLOUT or both, with EPOLLHUP or EPOLLERR: what the
		 * connection does with one follows from its state, not from which edge it is.
		 */
		for (i = 0; i < ready; i++) {
			fd = events[i].data.fd;
			if (fd == listen_fd) {
				accept_ready = true;	/* accepted in step 1 */
				continue;
			}
			if (fd == wake_fd)
				continue;	/* a stop signal came: the loop sees sig_stop */
			c = &conns[fd];
			if (!c->open)
				continue;
			why = NULL;
			if (c->pending != NULL) {
				log_trace("fd %d: writable", fd);
				why = on_writable(c);
			}
			/*
			 * Not backed up, or no longer: read. After a flush that emptied the
			 * pending buffer this read needs no edge, and gets none: the bytes that
			 * queued up meanwhile brought theirs while the loop was not reading.
			 * (Owed again already: it had its turn in this pass.)
			 */
			if (why == NULL && c->pending == NULL && !c->owed) {
				log_trace("fd %d: readable", fd);
				why = on_readable(c);
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
	 * of descriptors in use are touched (docs/06-epoll-et.md measures it).
	 */
	conns = calloc((size_t)nslots, sizeof(*conns));
	owed = calloc((size_t)nslots, sizeof(*owed));
	if (conns == NULL || owed == NULL)
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
	 * reading: the signal pipe (level-triggered: it is never read, and after a signal the
	 * loop ends anyway) and the listening socket, edge-triggered like the connections.
	 */
	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		err(1, "epoll_create1");
	ev.data.fd = wake_fd;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, wake_fd, &ev) == -1)
		err(1, "epoll_ctl");
	ev.events = EPOLLIN | EPOLLET;
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
	free(owed);
	stats_print(&stats);
	return status;
}
