/*
 * 08-threaded/server.c - the thread-per-client echo server: 01's blocking code, one copy of it
 * per client.
 *
 * The main thread sleeps in accept(). Each client it accepts gets a thread of its own, which
 * runs echo_client(), the blocking loop of 01-blocking: read() sleeps until that client sends
 * something (phase 1 of a read: waiting for data), then copies it into the buffer (phase 2:
 * copying); write_all() sleeps until the kernel has taken the whole echo. While one thread
 * sleeps the kernel runs the others, so every client is served at once, and the waiting for
 * many clients is done by the scheduler, not by the program.
 *
 *	./server [-H host] [-p port] [-m max_conns] [-q | -v] [-h]	(default port 9008)
 *
 * What a client costs, in plain sight: a thread, that is a task in the kernel (an ID from the
 * same space as process IDs, a kernel stack, a place in the scheduler's queues) and a stack in
 * our address space, whose size is chosen below (STACK_SIZE). What the threads share is locked:
 * the counters behind the summary, and the list of connections the stop needs.
 *
 * Left out on purpose: a pool of threads made in advance, and any limit on how long a client
 * may keep its thread.
 *
 * Read with docs/08-threaded.md.
 */
#include <err.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
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
#include "server.h"
#include "signals.h"
#include "stats.h"

#define LAB		"08-threaded"
#define DEFAULT_PORT	"9008"

/*
 * The stack of each connection thread, set explicitly: the default is RLIMIT_STACK (8 MiB
 * here), of which a thread uses a few pages. echo_client() keeps its IO_SIZE (64 KiB) buffer
 * on the stack, as in 01; what runs below it (write_all(), a log line's vsnprintf(), glibc's
 * thread start-up) needs under 8 KiB more, and the ASan build's instrumented frames under
 * 16 KiB (docs/08-threaded.md measures both). 256 KiB leaves room for either with a wide
 * margin: a stack overflow here would be a crash, so memory is the cheaper thing to spend.
 * It costs address space, not memory: a page is only backed once it is touched.
 */
#define STACK_SIZE		(256 * 1024)

/*
 * -m by default. Each thread is a task the kernel counts against RLIMIT_NPROC (shared with
 * every other process of the same user) and against kernel.pid_max (32768 on many systems),
 * and costs about 100 KiB when it streams (its 64 KiB buffer touched, a few pages of stack,
 * the kernel's 16 KiB stack). 4096 threads: 1 GiB of address space for stacks, at most about
 * 400 MB of memory, and well under those limits on an ordinary machine. Past whatever limit
 * the machine has, pthread_create() fails and that client is refused (conn_start).
 */
#define MAX_CONNS_DEFAULT	4096

/* doc:conn */
struct conn {
	pthread_t	 thread;
	int		 fd;
	bool		 done;		/* its thread has left echo_client(): hands off fd */
	struct conn	*prev, *next;	/* every thread not joined yet (main thread only) */
	struct conn	*next_done;	/* threads that ended, waiting for their join */
	char		 peer[NET_ADDRSTRLEN];
};
/* end doc:conn */

/*
 * What the threads share, and the one mutex that guards it. The list conns is the main
 * thread's alone (only it adds, joins and removes), so it needs no lock; what a connection
 * thread changes is under the lock: its done flag, the finished list, the counts. A default
 * mutex cannot fail to lock or unlock (pthread_mutex_lock(3p): the errors are for other kinds
 * of mutex), so those calls are not tested.
 */
/* doc:shared */
static pthread_mutex_t	 lock = PTHREAD_MUTEX_INITIALIZER;
static struct conn	*conns;		/* main thread only */
static struct conn	*finished;	/* under lock */
static long		 nlive;		/* threads not done; under lock */
static bool		 stopping;	/* under lock */
static struct stats	 stats;		/* under lock */
/* end doc:shared */
static long		 max_conns;
static pthread_attr_t	 thread_attr;

/*
 * Serve one client until it leaves: read what it sent, write it all back, again. Returns why
 * the connection ended, for the log.
 *
 * 01's loop, with no test of sig_stop: that flag is written by the signal handler, which runs
 * in the main thread, and a volatile sig_atomic_t is safe between a handler and the thread it
 * interrupts, not between two threads (C11 7.14.1.1: read here, it would be a data race, and
 * ThreadSanitizer says so). This thread is stopped through its socket instead (stop_threads).
 */
/* doc:echo-client */
static const char *
echo_client(int fd)
{
	char buf[IO_SIZE];
	ssize_t n;

	for (;;) {
		n = read(fd, buf, sizeof(buf));		/* sleeps until data, EOF or error */
		if (n == 0)
			return "peer closed";		/* EOF: every byte was echoed */
		if (n == -1) {
			if (errno == EINTR)
				continue;		/* no handler runs here; retry */
			return strerror(errno);
		}
		log_trace("fd %d: read %zd bytes", fd, n);
		/*
		 * Sleeps until the kernel has taken every byte. A client that sends but does not
		 * read fills its receive buffer and then ours: the write waits, this loop stops
		 * reading, and the client's sends stall in turn. That is the back-pressure.
		 */
		if (write_all(fd, buf, (size_t)n, NULL) < (size_t)n)	/* no flag: see above */
			return strerror(errno);
		log_trace("fd %d: wrote %zd bytes", fd, n);
		pthread_mutex_lock(&lock);		/* every thread adds to the same count */
		stats_echoed(&stats, (size_t)n);
		pthread_mutex_unlock(&lock);
	}
}
/* end doc:echo-client */

/*
 * A connection's thread: what 01's serve() does for a client between accept() and the next
 * accept(). SIGINT and SIGTERM are blocked here (conn_start), so a stop never interrupts this
 * thread: the main thread wakes it by shutting its socket down, and read() returns 0.
 */
/* doc:conn-thread */
static void *
conn_thread(void *arg)
{
	struct conn *c = arg;
	char name[16];			/* a thread's name has 15 characters at most */
	const char *why;

	/* For ps -L, top -H and /proc/PID/task/TID/comm, which otherwise say "server". */
	(void)snprintf(name, sizeof(name), "echo fd %d", c->fd);
	(void)pthread_setname_np(pthread_self(), name);	/* fits: cannot fail */
	pthread_mutex_lock(&lock);
	stats_opened(&stats);
	pthread_mutex_unlock(&lock);
	log_event("accepted %s on fd %d", c->peer, c->fd);

	why = echo_client(c->fd);	/* the other clients' threads run meanwhile */

	pthread_mutex_lock(&lock);
	if (stopping)
		why = "server stopping";	/* the main thread's shutdown() ended the loop */
	c->done = true;			/* from here on the main thread leaves fd alone */
	c->next_done = finished;
	finished = c;
	nlive--;
	stats_closed(&stats);
	pthread_mutex_unlock(&lock);

	(void)close(c->fd);		/* nothing useful to do if close fails */
	log_event("closed %s (fd %d): %s", c->peer, c->fd, why);
	return NULL;
}
/* end doc:conn-thread */

/*
 * Give the client on fd a thread, or refuse it (past -m, or when no thread can be made) with a
 * log line and a reset.
 */
/* doc:conn-start */
static void
conn_start(int fd, const char *addr)
{
	sigset_t stop_signals, old_mask;
	struct conn *c;
	bool full;
	int rc;

	pthread_mutex_lock(&lock);
	if (!(full = nlive >= max_conns))
		nlive++;			/* the slot is taken before the thread runs */
	pthread_mutex_unlock(&lock);
	if (full) {
		log_event("refused %s: the server is full (-m %ld)", addr, max_conns);
		net_refuse(fd);
		return;
	}
	if ((c = malloc(sizeof(*c))) == NULL) {
		rc = ENOMEM;
		goto refuse;
	}
	c->fd = fd;
	c->done = false;
	(void)snprintf(c->peer, sizeof(c->peer), "%s", addr);

	/*
	 * A new thread starts with its creator's signal mask. Block SIGINT and SIGTERM for it, so
	 * that the kernel delivers them to the main thread, the only one that has them unblocked:
	 * it is asleep in accept(), and the signal makes it return EINTR (pthread_sigmask(3)).
	 */
	(void)sigemptyset(&stop_signals);
	(void)sigaddset(&stop_signals, SIGINT);
	(void)sigaddset(&stop_signals, SIGTERM);
	(void)pthread_sigmask(SIG_BLOCK, &stop_signals, &old_mask);	/* valid arguments */
	rc = pthread_create(&c->thread, &thread_attr, conn_thread, c);
	(void)pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
	if (rc != 0) {
		free(c);
		goto refuse;
	}
	c->prev = NULL;			/* the main thread's list: no lock (see lock) */
	c->next = conns;
	if (conns != NULL)
		conns->prev = c;
	conns = c;
	return;

refuse:
	/* EAGAIN: RLIMIT_NPROC, kernel.threads-max or pid_max reached; or out of memory. */
	log_error("refused %s: cannot start a thread: %s", addr, strerror(rc));
	net_refuse(fd);
	pthread_mutex_lock(&lock);
	nlive--;
	pthread_mutex_unlock(&lock);
}
/* end doc:conn-start */

/*
 * Join the threads that have ended since the last call, and free their struct conn. A thread
 * that returned still holds its stack until it is joined (pthread_join(3)): without this, every
 * client ever served would leave 256 KiB of address space behind.
 */
/* doc:join-finished */
static void
join_finished(void)
{
	struct conn *c, *next;

	pthread_mutex_lock(&lock);
	c = finished;
	finished = NULL;
	pthread_mutex_unlock(&lock);
	for (; c != NULL; c = next) {
		next = c->next_done;
		(void)pthread_join(c->thread, NULL);	/* joinable, and joined once */
		if (c->prev != NULL)
			c->prev->next = c->next;
		else
			conns = c->next;
		if (c->next != NULL)
			c->next->prev = c->prev;
		free(c);
	}
}
/* end doc:join-finished */

/* doc:serve */
static void
serve(int listen_fd)
{
	struct sockaddr_storage peer;
	socklen_t peer_len;
	char addr[NET_ADDRSTRLEN];
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
		join_finished();

		conn_start(fd, addr);		/* a thread serves it; we go back to accept() */
	}
}
/* end doc:serve */

/*
 * Stop: wake every connection thread, then join them all. A thread asleep in read() or
 * write() has SIGTERM blocked and would sleep on; shutdown(SHUT_RDWR) on its socket wakes it
 * (read() returns 0, write() fails with EPIPE) and, unlike a signal, cannot be missed: it
 * changes the socket's state, and a thread that reaches read() only later finds the socket
 * already shut.
 */
/* doc:stop */
static void
stop_threads(void)
{
	struct conn *c;

	pthread_mutex_lock(&lock);
	stopping = true;
	for (c = conns; c != NULL; c = c->next)
		if (!c->done)
			(void)shutdown(c->fd, SHUT_RDWR);	/* ENOTCONN: already reset */
	pthread_mutex_unlock(&lock);
	while (conns != NULL) {
		(void)pthread_join(conns->thread, NULL);
		c = conns;
		conns = c->next;
		free(c);
	}
}
/* end doc:stop */

int
main(int argc, char *argv[])
{
	struct server_opts opts = {
		.lab = LAB,
		.host = "127.0.0.1",
		.port = DEFAULT_PORT,
		.max_conns = MAX_CONNS_DEFAULT,
		.verbosity = VERBOSITY_NORMAL,
		.note = "One thread per client; -m caps the threads.",
	};
	const char *why;
	int listen_fd, rc;

	server_opts_parse(&opts, argc, argv);
	max_conns = opts.max_conns;
	if ((rc = pthread_attr_init(&thread_attr)) != 0 ||
	    (rc = pthread_attr_setstacksize(&thread_attr, STACK_SIZE)) != 0) {
		errno = rc;		/* the pthread calls return the error, not set errno */
		err(1, "thread attributes");
	}

	/*
	 * A signal interrupts accept(), the call the main thread sleeps in (EINTR), and the loop
	 * tests sig_stop after every call, so one SIGTERM stops it. The window of 01 stays open:
	 * a SIGTERM that lands between a test of sig_stop and accept() is only seen when accept()
	 * returns for another reason, the next client (docs/08-threaded.md). The connection
	 * threads never see the signal (conn_start blocks it for them); stop_threads() wakes them.
	 */
	if ((listen_fd = server_start(&opts, LISTEN_BLOCKING, NULL, &why)) == -1)
		errx(1, "%s", why);
	if (net_announce(listen_fd) == -1)
		err(1, "stdout");

	serve(listen_fd);

	(void)close(listen_fd);		/* stop accepting: new clients are refused */
	stop_threads();
	stats_print(&stats);		/* every thread is joined: no lock needed */
	return 0;
}
