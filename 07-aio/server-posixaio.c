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
 * What no signal says: glibc hides two failures, a completion signal that the full queue of
 * signals refused (RLIMIT_SIGPENDING), and a helper thread it could not start (RLIMIT_NPROC).
 * So once a second the loop sweeps every request with aio_error(), and closes with a log
 * line the connections whose request lost its signal, or has waited a second for a thread.
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
#include <sys/stat.h>

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

/*
 * The sweep's period, in milliseconds: how long a request may have its signal lost, or wait
 * for a helper thread that will not come, before the loop notices (see sweep).
 */
#define SWEEP_MS	1000

/* Why the connection of a request that failed for want of a thread or a signal is closed. */
#define NO_THREAD	"no helper thread for its request: glibc could not start one (RLIMIT_NPROC?)"
#define NO_SIGNAL	"its completion signal could not be queued (RLIMIT_SIGPENDING): what " \
			"the request read or wrote is unknown"

/* doc:conn */
struct conn {
	bool		 open;		/* false: this slot is free */
	int		 fd;
	struct aiocb	 cb;		/* the one request in flight: a read, or the echo's write */
	bool		 writing;	/* cb is the echo's write; false: a read */
	char		*buf;		/* IO_SIZE bytes, handed to every read before the bytes come */
	size_t		 len;		/* the echo: bytes read */
	size_t		 done;		/* and written back so far */
	long long	 submitted;	/* when cb was submitted, in ms (the sweep's clock) */
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
static long long		 next_sweep;	/* when the next sweep is due (ms) */

static void	conn_close(struct conn *, const char *);

/* Milliseconds on CLOCK_MONOTONIC: when a request was submitted, when a sweep is due. */
static long long
now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);	/* cannot fail with this clock */
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

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
	c->submitted = now_ms();
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
 * Why a request failed, in words. Two errors are not the system call's. ECANCELED: the sweep
 * took the request back, no helper thread could be had for it. EAGAIN, which a blocking
 * socket never returns: glibc could not queue the completion signal, and stored the error of
 * rt_sigqueueinfo() over the request's result, so what was read or written is lost.
 */
static const char *
failed(int e)
{
	if (e == ECANCELED)
		return NO_THREAD;
	if (e == EAGAIN)
		return NO_SIGNAL;
	return strerror(e);
}

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
		return failed(e);	/* ECONNRESET: the client is gone */
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
		return failed(e);	/* EPIPE, ECONNRESET: the client is gone */
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

/* The connection's request is done (its signal came, or the sweep found it): handle it. */
static void
complete(struct conn *c)
{
	const char *why;

	why = c->writing ? on_written(c) : on_read(c);
	if (why != NULL)
		conn_close(c, why);
}

/*
 * The sweep: what no signal says. Called once a second at most, when the loop has taken every
 * signal queued, it asks glibc about every request with aio_error().
 *
 * 1. Done, with EAGAIN: its signal was lost. Real-time signals queue up to RLIMIT_SIGPENDING
 *    (ulimit -i), counted over every process of the user; past it the helper's
 *    rt_sigqueueinfo() fails, and glibc stores that EAGAIN as the request's error, over what
 *    read() or write() returned. No signal will come, and the bytes are lost: the sweep closes
 *    the connection, with a log line. (A request done otherwise has its signal queued.)
 * 2. More requests in progress than helper threads: glibc could not start a thread
 *    (pthread_create: EAGAIN, RLIMIT_NPROC) and queued the request behind the running ones,
 *    without a word; behind reads of idle clients it would wait for ever. A request waits a
 *    moment for an idle thread to wake, never a second: one that has waited a second, and that
 *    aio_cancel() can still take back (no thread has started it), is cancelled. Its signal
 *    comes with ECANCELED, and its connection is closed, as 08-threaded refuses a client it
 *    cannot start a thread for.
 */
/* doc:sweep */
static void
sweep(void)
{
	long running = 0, lost = 0, helpers, cancelled = 0;
	long long now = now_ms();
	struct stat task;
	struct conn *c;
	int fd, e;

	next_sweep = now + SWEEP_MS;
	for (fd = 0; fd <= max_fd; fd++) {
		c = &conns[fd];
		if (!c->open)
			continue;
		if ((e = aio_error(&c->cb)) == EINPROGRESS) {
			running++;
		} else if (e == EAGAIN) {
			lost++;
			complete(c);	/* closes it: NO_SIGNAL */
		}
	}
	if (lost > 0)
		log_error("sweep: %ld requests done whose signal could not be queued "
		    "(RLIMIT_SIGPENDING); their connections closed", lost);

	/* /proc/self/task has a link per thread, and two more; one thread is this one. */
	if (stat("/proc/self/task", &task) == -1 || (helpers = (long)task.st_nlink - 3) >= running)
		return;
	for (fd = 0; fd <= max_fd; fd++) {
		c = &conns[fd];
		if (c->open && now - c->submitted >= SWEEP_MS &&
		    aio_cancel(fd, &c->cb) == AIO_CANCELED)
			cancelled++;
	}
	if (cancelled > 0)
		log_error("sweep: %ld requests in progress, %ld helper threads: %ld waited a second "
		    "for a thread glibc could not start (RLIMIT_NPROC?); cancelled", running,
		    helpers, cancelled);
}
/* end doc:sweep */

/* How long the wait may last: until accept's pause ends or a sweep is due; -1, for ever. */
static int
wait_ms(void)
{
	int ms = accept_pause_ms(&pause_accept);
	long long due;

	if (nconns == 0)
		return ms;	/* no request: nothing to sweep */
	due = next_sweep - now_ms();
	if (due < 0)
		due = 0;
	return ms >= 0 && ms < due ? ms : (int)due;
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

		/* 2. Wait, until the next sweep at most (or accept's pause ends: common/pause.h). */
		timeout = NULL;
		if ((ms = wait_ms()) >= 0) {
			ts.tv_sec = ms / 1000;
			ts.tv_nsec = ms % 1000 * 1000000L;
			timeout = &ts;
		}
		if ((signo = sigtimedwait(set, &si, timeout)) == -1) {
			if (errno != EINTR && errno != EAGAIN) {
				log_error("sigtimedwait: %s", strerror(errno));
				return -1;
			}
			/* EAGAIN: the timeout, and so no signal queued: sweep if it is time. */
			if (errno == EAGAIN && nconns > 0 && now_ms() >= next_sweep)
				sweep();
			continue;
		}

		/* 3. Handle the signal: a request done, a client, or a stop. */
		if (signo == SIG_AIO) {
			c = si.si_value.sival_ptr;
			log_trace("sigtimedwait: signal %d (SIGRTMIN, si_code %s): fd %d: aio_%s "
			    "completed", signo, si.si_code == SI_ASYNCIO ? "SI_ASYNCIO" : "other",
			    c->fd, c->writing ? "write" : "read");
			complete(c);
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

/*
 * The stop. Every connection's request is running in a helper thread, asleep in read() or
 * write(). aio_cancel() cannot take back a request that runs (AIO_NOTCANCELED): shutdown()
 * wakes the call (read returns 0, write fails with EPIPE), aio_suspend() waits until the
 * thread is done with the buffer, and only then is the connection closed and the buffer freed.
 *
 * Those completions are waited for, not taken as signals: SIG_AIO is ignored first, and
 * unblocked, since the kernel keeps a blocked signal queued even when it is ignored. An
 * ignored signal is dropped as it is sent. Queued, each of the N completions would also make
 * the kernel look through the process's N threads, every one of which blocks the signal, for
 * one to wake: N searches of N threads, 20 s with 19,900 idle connections (0.8 s ignored).
 * A write that was done before the stop, its signal not yet taken, still sent its bytes: they
 * count in the summary (19,990 clients held, each echoed, had been counted as 16,993).
 */
/* doc:close_all */
static void
close_all(void)
{
	struct sigaction ignore = { .sa_handler = SIG_IGN };
	const struct aiocb *list[1];
	sigset_t aio;
	ssize_t n;
	int fd;

	if (sigemptyset(&aio) == -1 || sigaddset(&aio, SIG_AIO) == -1 ||
	    sigaction(SIG_AIO, &ignore, NULL) == -1 || sigprocmask(SIG_UNBLOCK, &aio, NULL) == -1)
		log_error("cannot ignore SIG_AIO (%s): the stop will be slow", strerror(errno));
	for (fd = 0; fd <= max_fd; fd++)
		if (conns[fd].open)
			(void)shutdown(fd, SHUT_RDWR);
	for (fd = 0; fd <= max_fd; fd++) {
		if (!conns[fd].open)
			continue;
		list[0] = &conns[fd].cb;
		while (aio_error(&conns[fd].cb) == EINPROGRESS)
			(void)aio_suspend(list, 1, NULL);
		if ((n = aio_return(&conns[fd].cb)) > 0 && conns[fd].writing)
			stats_echoed(&stats, (size_t)n);
		conn_close(&conns[fd], "server stopping");
	}
}
/* end doc:close_all */

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
	struct aioinit ai;
	const char *why;
	sigset_t set;
	int listen_fd, status;

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
	close_all();
	free(conns);
	stats_print(&stats);
	return status;
}
