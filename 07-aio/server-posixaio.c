/*
 * 07-aio/server-posixaio.c - the same echo server on POSIX AIO (aio(7)): the program asks for
 * a whole read, and a signal tells it when the bytes are in its buffer.
 *
 * This is asynchronous I/O as POSIX specifies it, and as the articles tell it: aio_read() and
 * aio_write() return at once, and when the request is done the process is notified, here by a
 * real-time signal that carries the connection (SIGEV_SIGNAL), collected by the loop with
 * sigtimedwait(2). "It sends a signal when the data is ready", made true; -v shows every
 * request and every signal.
 *
 *	./server-posixaio [-H host] [-p port] [-m max_conns] [-q | -v] [-h]	(default port 9007)
 *
 * What it is underneath: not the kernel. glibc implements POSIX AIO in user space, with a pool
 * of threads that make ordinary blocking calls, a read() on the socket that sleeps until the
 * client sends, and then queue the signal themselves. A read pending on an idle connection
 * holds one of those threads for as long as the client says nothing; with more idle clients
 * than threads, the other requests wait in glibc's queue and their clients stall. So the pool
 * is sized from -m with aio_init(3): a thread per connection, what 08-threaded does by hand,
 * and /proc/PID/task shows them come and go.
 *
 * The listening socket has no aio_accept(). It uses the articles' fourth model, signal-driven
 * I/O: with O_ASYNC and F_SETSIG (fcntl(2)) the kernel queues a signal when a client arrives,
 * and the loop accepts until EAGAIN. So every event, a client, a completed request or a stop,
 * is a signal, and the loop is one sigtimedwait().
 *
 * What a connection costs: a struct conn holding its request (struct aiocb), a 64 KiB buffer
 * that every read must be handed before the bytes come, and a helper thread while a request
 * is pending.
 *
 * Left out on purpose: lio_listio(3), SIGEV_THREAD, aio_suspend() as the wait (all in
 * docs/07-aio.md, exercises).
 *
 * Read with docs/07-aio.md.
 */
#include <aio.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
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

#define LAB		"07-aio"
#define DEFAULT_PORT	"9007"

/*
 * Every connection holds a helper thread while its request is pending, nearly all the time:
 * -m is also the size of glibc's thread pool (see main). A thousand threads are a few
 * megabytes of stacks; -m raises it, up to what the system lets a process start.
 */
#define MAX_CONNS_DEFAULT	1000

/* The two real-time signals: a request completed (si_value: its connection), a client came. */
#define SIG_AIO		(SIGRTMIN)
#define SIG_ACCEPT	(SIGRTMIN + 1)

/* doc:conn */
struct conn {
	bool		 open;		/* false: this slot is free */
	int		 fd;
	struct aiocb	 cb;		/* the one request in flight: a read, or the echo's write */
	bool		 writing;	/* cb is the echo's write; false: a read */
	char		*buf;		/* IO_SIZE bytes, handed to every read before the bytes come */
	size_t		 len;		/* the echo: bytes read */
	size_t		 done;		/* and written back so far */
	char		 peer[NET_ADDRSTRLEN];
};
/* end doc:conn */

/*
 * The table is indexed by fd: conns[fd] is the connection on fd, max_fd the highest open one.
 * Allocated once in main(), nslots entries.
 */
static struct conn		*conns;
static int			 nslots;
static int			 max_fd = -1;
static long			 nconns;
static long			 max_conns;
static struct accept_pause	 pause_accept;
static struct stats		 stats;

static void	conn_close(struct conn *, const char *);

/*
 * Hand the connection's request to glibc: read into its buffer, or write the rest of the echo
 * from it. aio_read() and aio_write() return at once; a helper thread makes the blocking call,
 * and when it returns, queues SIG_AIO to the process with the connection in si_value.
 * Returns NULL, or why the request could not be made (EAGAIN: out of resources).
 */
/* doc:submit */
static const char *
submit(struct conn *c, bool writing)
{
	memset(&c->cb, 0, sizeof(c->cb));
	c->cb.aio_fildes = c->fd;
	c->cb.aio_buf = writing ? c->buf + c->done : c->buf;
	c->cb.aio_nbytes = writing ? c->len - c->done : IO_SIZE;
	c->cb.aio_sigevent.sigev_notify = SIGEV_SIGNAL;
	c->cb.aio_sigevent.sigev_signo = SIG_AIO;
	c->cb.aio_sigevent.sigev_value.sival_ptr = c;
	c->writing = writing;
	if ((writing ? aio_write(&c->cb) : aio_read(&c->cb)) == -1)
		return strerror(errno);
	log_trace("fd %d: aio_%s of %zu bytes submitted", c->fd, writing ? "write" : "read",
	    c->cb.aio_nbytes);
	return NULL;
}
/* end doc:submit */

/*
 * Accept one client, or refuse it (past the table or -m) with a log line. Returns true if
 * there may be another one waiting, false once the queue is empty or accept is paused.
 */
/* doc:conn_open */
static bool
conn_open(int listen_fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char peer[NET_ADDRSTRLEN];
	const char *why;
	struct conn *c;
	int fd;

	/* Blocking, unlike the listening socket: the helper threads wait in read() and write(). */
	fd = accept4(listen_fd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);
	if (fd == -1) {
		if (errno == EAGAIN)
			return false;	/* nobody left in the queue */
		if (errno == EINTR || errno == ECONNABORTED)
			return true;
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
	c = &conns[fd];
	if ((c->buf = malloc(IO_SIZE)) == NULL) {
		log_event("refused %s: out of memory", peer);
		net_refuse(fd);
		return true;
	}
	c->open = true;
	c->fd = fd;
	(void)snprintf(c->peer, sizeof(c->peer), "%s", peer);
	if (fd > max_fd)
		max_fd = fd;
	nconns++;
	stats_opened(&stats);
	log_event("accepted %s on fd %d", peer, fd);
	if ((why = submit(c, false)) != NULL)
		conn_close(c, why);
	return true;
}
/* end doc:conn_open */

/*
 * The handlers are named for what completed. The request is done (its signal came): aio_error()
 * says how it went, aio_return() what it returned, once. They return NULL to keep the
 * connection, or why to close it, and submit the connection's next request.
 */
/* doc:on_read */
static const char *
on_read(struct conn *c)
{
	int e = aio_error(&c->cb);
	ssize_t n = aio_return(&c->cb);

	if (e != 0)
		return strerror(e);	/* ECONNRESET: the client is gone */
	if (n == 0)
		return "peer closed";	/* EOF, and everything before it was echoed */
	log_trace("fd %d: read %zd bytes", c->fd, n);
	/* Echo at once: the write's request goes in now, from the same buffer. */
	c->len = (size_t)n;
	c->done = 0;
	return submit(c, true);
}
/* end doc:on_read */

/* doc:on_written */
static const char *
on_written(struct conn *c)
{
	int e = aio_error(&c->cb);
	ssize_t n = aio_return(&c->cb);

	if (e != 0)
		return strerror(e);	/* EPIPE, ECONNRESET: the client is gone */
	log_trace("fd %d: wrote %zd bytes", c->fd, n);
	stats_echoed(&stats, (size_t)n);
	c->done += (size_t)n;
	/*
	 * A blocking write() returns short only when interrupted, and the helper threads block
	 * every signal; but aio_write() promises no more than write(). Resubmit the rest.
	 */
	if (c->done < c->len)
		return submit(c, true);
	return submit(c, false);	/* all out: read again, into the same buffer */
}
/* end doc:on_written */

/* Only once the connection's request is done: a helper thread may be using the buffer. */
static void
conn_close(struct conn *c, const char *why)
{
	(void)close(c->fd);	/* the fd is released even when close reports an error */
	log_event("closed %s (fd %d): %s", c->peer, c->fd, why);
	free(c->buf);
	c->buf = NULL;
	c->open = false;
	while (max_fd >= 0 && !conns[max_fd].open)
		max_fd--;
	nconns--;
	stats_closed(&stats);
	accept_pause_stop(&pause_accept);	/* a descriptor is free again */
}

/*
 * The whole model: 1. accept whoever is queued, 2. wait for the next signal, 3. handle it.
 * Every event is a signal, blocked in every thread and taken here, one per call, by
 * sigtimedwait(). Returns 0 when a signal asked it to stop, -1 if the wait itself failed.
 */
/* doc:serve */
static int
serve(int listen_fd, const sigset_t *set)
{
	struct timespec ts, *timeout;
	siginfo_t si;
	const char *why;
	struct conn *c;
	bool queued = true;	/* clients may be waiting to be accepted */
	int signo, ms;

	while (!sig_stop) {
		/* 1. Accept every client queued: one signal may stand for several. */
		if (queued && !accept_paused(&pause_accept)) {
			while (conn_open(listen_fd))
				continue;
			queued = accept_paused(&pause_accept);
		}

		/* 2. Wait, with no timeout unless accept is paused (common/pause.h). */
		timeout = NULL;
		if ((ms = accept_pause_ms(&pause_accept)) >= 0) {
			ts.tv_sec = ms / 1000;
			ts.tv_nsec = ms % 1000 * 1000000L;
			timeout = &ts;
		}
		if ((signo = sigtimedwait(set, &si, timeout)) == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;	/* EAGAIN: the timeout */
			log_error("sigtimedwait: %s", strerror(errno));
			return -1;
		}

		/* 3. Handle the signal: a request done, a client, or a stop. */
		if (signo == SIG_AIO) {
			c = si.si_value.sival_ptr;
			log_trace("sigtimedwait: signal %d (SIGRTMIN, si_code %s): fd %d: aio_%s "
			    "completed", signo, si.si_code == SI_ASYNCIO ? "SI_ASYNCIO" : "other",
			    c->fd, c->writing ? "write" : "read");
			why = c->writing ? on_written(c) : on_read(c);
			if (why != NULL)
				conn_close(c, why);
		} else if (signo == SIGINT || signo == SIGTERM) {
			log_trace("sigtimedwait: signal %d (%s)", signo, strsignal(signo));
			sig_stop = 1;
		} else {
			/* SIG_ACCEPT, or SIGIO if the queue of real-time signals was full. */
			log_trace("sigtimedwait: signal %d: a client to accept", signo);
			queued = true;
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
		.note = "POSIX AIO: glibc's helper threads, one per connection (-m).",
	};
	const struct aiocb *list[1];
	struct aioinit ai;
	const char *why;
	sigset_t set;
	int listen_fd, fd, status;

	/* A table entry for every descriptor up to the hard limit (fd_slots, common/server.h). */
	if ((nslots = fd_slots(0, NULL)) == -1)
		err(1, "getrlimit");
	server_opts_parse(&opts, argc, argv);
	max_conns = opts.max_conns;
	if ((conns = calloc((size_t)nslots, sizeof(*conns))) == NULL)
		err(1, "calloc");

	/*
	 * SIGPIPE ignored (server_start), and every signal the loop takes blocked, before any
	 * thread exists: blocked, they wait to be taken by sigtimedwait() instead of running a
	 * handler. glibc's helper threads block all signals themselves. SIGINT and SIGTERM are in
	 * the set like the others: a stop is one more signal to take, and no self-pipe is needed.
	 * Linux hands out the lowest-numbered pending signal first, so SIGTERM (15) overtakes
	 * any number of pending completions (34, SIGRTMIN): the server stops at once under load.
	 */
	if ((listen_fd = server_start(&opts, LISTEN_NONBLOCKING, NULL, &why)) == -1)
		errx(1, "%s", why);
	if (sigemptyset(&set) == -1 || sigaddset(&set, SIGINT) == -1 ||
	    sigaddset(&set, SIGTERM) == -1 || sigaddset(&set, SIG_AIO) == -1 ||
	    sigaddset(&set, SIG_ACCEPT) == -1 || sigaddset(&set, SIGIO) == -1 ||
	    sigprocmask(SIG_BLOCK, &set, NULL) == -1)
		err(1, "sigprocmask");

	/*
	 * glibc's pool: by default 20 threads (aio_init(3)), and a read pending on an idle
	 * client holds one for as long as the client is silent. With the 21st idle client, every
	 * new request would wait in glibc's queue, its client with it. So: one thread per
	 * connection (aio_threads = -m). An idle thread ends after aio_idle_time seconds.
	 */
	memset(&ai, 0, sizeof(ai));
	ai.aio_threads = (int)max_conns;
	ai.aio_num = (int)max_conns;
	ai.aio_idle_time = 1;
	aio_init(&ai);

	/*
	 * Signal-driven I/O on the listening socket: the kernel queues SIG_ACCEPT to this
	 * process whenever a client arrives (F_SETOWN, F_SETSIG, O_ASYNC). Non-blocking, so the
	 * loop can accept until EAGAIN, and a stale signal costs nothing.
	 */
	if (fcntl(listen_fd, F_SETOWN, getpid()) == -1 ||
	    fcntl(listen_fd, F_SETSIG, SIG_ACCEPT) == -1 ||
	    fcntl(listen_fd, F_SETFL, O_NONBLOCK | O_ASYNC) == -1)
		err(1, "fcntl");
	if (listen_fd >= nslots)
		errx(1, "descriptor %d: past the table (%d entries)", listen_fd, nslots);
	if (net_announce(listen_fd) == -1)
		err(1, "stdout");

	status = serve(listen_fd, &set) == 0 ? 0 : 1;

	/* Stop accepting first, then let every client go. */
	(void)close(listen_fd);
	/*
	 * Every connection's request is running in a helper thread, asleep in read() or write().
	 * aio_cancel() cannot take back a request that runs (AIO_NOTCANCELED); shutdown() wakes
	 * the call (read returns 0, write fails with EPIPE), and aio_suspend() waits until the
	 * thread is done with the buffer. Only then is the connection closed.
	 */
	for (fd = 0; fd <= max_fd; fd++)
		if (conns[fd].open)
			(void)shutdown(fd, SHUT_RDWR);
	for (fd = 0; fd <= max_fd; fd++) {
		if (!conns[fd].open)
			continue;
		list[0] = &conns[fd].cb;
		while (aio_error(&conns[fd].cb) == EINPROGRESS)
			(void)aio_suspend(list, 1, NULL);
		(void)aio_return(&conns[fd].cb);
		conn_close(&conns[fd], "server stopping");
	}
	free(conns);
	stats_print(&stats);
	return status;
}
