/*
 * 09-forking/server.c - the process-per-client echo server: 01's blocking code, one process
 * per client.
 *
 * The parent sleeps in accept(), and takes the client that woke it and any others queued (64
 * at most). For each it calls fork(): the child, a copy of the parent, closes the listening
 * socket (and the other clients' sockets), runs echo_client(), the blocking loop of
 * 01-blocking, on the client's socket, and exits; the parent closes its copy of the client's
 * socket, and once all have their child goes back to accept(). In each child, read() sleeps
 * until that client sends something (phase 1 of a read: waiting for data), then copies it
 * (phase 2: copying); the kernel runs the children side by side, as it runs any processes.
 *
 *	./server [-H host] [-p port] [-m max_conns] [-q | -v] [-h]	(default port 9009)
 *
 * What a client costs, in plain sight: a process, that is a task in the kernel, page tables of
 * its own, and a copy of every page of the parent that either of them writes to after fork()
 * (copy-on-write). Processes share nothing unless asked: a child's count of the bytes it echoed
 * would die with it, so each child writes it into memory that the parent and every child map
 * (MAP_SHARED), where the parent reads it once the child has exited.
 *
 * The parent's other duty: a child that exits stays a zombie until its parent collects it
 * with waitpid(). SIGCHLD interrupts accept() and the loop reaps; a one-second timeout on
 * accept() catches a SIGCHLD that came at the wrong moment (see main).
 *
 * Left out on purpose: a pool of processes forked in advance (Apache's prefork), and any
 * limit on how long a client may keep its process.
 *
 * Read with docs/09-forking.md.
 */
#include <err.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>

#include "buf.h"
#include "io.h"
#include "log.h"
#include "net.h"
#include "options.h"
#include "server.h"
#include "signals.h"
#include "stats.h"

#define LAB		"09-forking"
#define DEFAULT_PORT	"9009"

/*
 * -m by default. Each child is a process, counted against RLIMIT_NPROC (with every other
 * process and thread of the same user) and kernel.pid_max, and costs about 150 KiB of memory
 * idle and 220 KiB when it streams (its page tables, the pages copy-on-write gave it, its
 * 64 KiB buffer, the kernel's 16 KiB stack: docs/09-forking.md measures it). 1024 children
 * stay under 250 MB, and well under those limits on an ordinary machine. Past whatever limit
 * the machine has, fork() fails and that client is refused (child_start).
 */
#define MAX_CONNS_DEFAULT	1024

/*
 * Clients accepted in one go, at most, before the parent forks for them (serve). The parent
 * wakes in accept() and forks for each client it takes (accept, fork, close and reap: some
 * 0.35 ms of the parent's CPU a client, on a busy 2-core machine). One client a wake, the
 * kernel's accept queue (SOMAXCONN, 4096) is all a connect storm can wait in, and once it is
 * full the kernel drops handshakes. Taken in a batch, the clients wait in the parent instead,
 * and the queue has room for 64 more; the last of a batch waits for 63 forks, some 20 ms.
 */
#define ACCEPT_BUDGET		64

/* What a child tells the parent, in its slot of the shared mapping. */
#define WHY_LEN			64

/* doc:child */
struct child {
	pid_t		 pid;		/* 0: this slot is free */
	int		 fd;		/* the client's socket, as numbered in the child */
	char		 peer[NET_ADDRSTRLEN];
};

struct tally {
	atomic_ullong	 echoed;	/* bytes the child wrote back so far */
	char		 why[WHY_LEN];	/* why its connection ended; "" until it says */
};
/* end doc:child */

/* A client accepted, waiting for its child (serve). */
struct accepted {
	int		 fd;
	char		 addr[NET_ADDRSTRLEN];
};

/*
 * The parent's table of its children, max_conns slots; and, for the same slot numbers, the
 * tallies, in a mapping shared with every child (main). A child writes only its own tally;
 * the parent reads it after waitpid() has told it that child is gone.
 */
/* doc:shared */
static struct child	*children;	/* the parent's own */
static struct tally	*tallies;	/* MAP_SHARED: the parent's and every child's */
static struct tally	*mine;		/* in a child: its slot */
/* end doc:shared */
static long		 nchildren;
static long		 max_conns;
static struct stats	 stats;		/* the parent's */

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
		atomic_fetch_add(&mine->echoed, (unsigned long long)n);	/* the parent's to read */
	}
	return "server stopping";
}
/* end doc:echo-client */

/*
 * The child's whole life: what 01's serve() does for a client between accept() and the next
 * accept(). It inherited the parent's signal handlers: SIGTERM (from the parent's stop, or
 * Ctrl-C for the whole process group) sets its own sig_stop and interrupts its read() or
 * write(), so echo_client() returns "server stopping", idle or streaming.
 */
/* doc:child-main */
static void
child_main(int fd, const char *addr, struct tally *t)
{
	const char *why;

	mine = t;
	/*
	 * The parent accepts; a child only serves. It keeps stdio and its client's socket, and
	 * closes the rest it inherited (close_range(2)): the listening socket, and the sockets
	 * of the clients accepted with its own (serve), which are not its to keep open. (fd is
	 * at least 3: std_fds_open() in server_start(). When it is 3, the first call has
	 * nothing to close.)
	 */
	(void)close_range(3, (unsigned)fd - 1, 0);
	(void)close_range((unsigned)fd + 1, ~0U, 0);
	/*
	 * An accepted socket inherits the listening socket's options, main()'s one-second
	 * SO_RCVTIMEO included (socket(7)): left in place, read() would give up with EAGAIN on
	 * a client that is silent for a second. No timeout (zero) for the client's socket.
	 */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &(struct timeval){ 0 },
	    sizeof(struct timeval)) == -1)
		log_error("fd %d: SO_RCVTIMEO: %s", fd, strerror(errno));
	log_event("accepted %s on fd %d", addr, fd);

	why = echo_client(fd);		/* the other clients' processes run meanwhile */

	(void)close(fd);		/* nothing useful to do if close fails */
	(void)snprintf(mine->why, sizeof(mine->why), "%s", why);
	/*
	 * exit(), as in Stevens' servers: stdout was flushed before the first fork (the
	 * "listening on" line) and stderr is unbuffered, so no output of the parent's is written
	 * twice, and the program registers nothing with atexit(). A child that could inherit
	 * unwritten stdio buffers must leave with _exit() (docs/09-forking.md, pitfalls).
	 */
	exit(0);
}
/* end doc:child-main */

/*
 * Give the client on fd a child process, or refuse it (past -m, or when fork() fails) with a
 * log line and a reset. In the parent, fd is closed either way.
 */
/* doc:child-start */
static void
child_start(int fd, const char *addr)
{
	struct child *c;
	pid_t pid;
	long i;

	if (nchildren >= max_conns) {
		log_event("refused %s: the server is full (-m %ld)", addr, max_conns);
		net_refuse(fd);
		return;
	}
	for (i = 0; children[i].pid != 0; i++)
		;				/* nchildren < max_conns: a slot is free */
	c = &children[i];
	atomic_store(&tallies[i].echoed, 0);
	tallies[i].why[0] = '\0';

	if ((pid = fork()) == -1) {
		/* EAGAIN: RLIMIT_NPROC, kernel.threads-max or pid_max reached; or ENOMEM. */
		log_error("refused %s: cannot fork: %s", addr, strerror(errno));
		net_refuse(fd);
		return;
	}
	if (pid == 0)
		child_main(fd, addr, &tallies[i]);	/* does not return */

	c->pid = pid;
	c->fd = fd;
	(void)snprintf(c->peer, sizeof(c->peer), "%s", addr);
	nchildren++;
	stats_opened(&stats);
	/*
	 * The child has its own copy of the socket. Ours must go: the connection ends only when
	 * its last descriptor is closed, and the parent would run out of descriptors.
	 */
	(void)close(fd);
}
/* end doc:child-start */

/*
 * Collect every child that has exited: waitpid() frees what is left of it (a zombie: its
 * PID and exit status), and the parent reads its tally, counts its bytes and logs why it
 * ended. One SIGCHLD may stand for several children (signals do not queue), so loop until
 * waitpid() has no more to give.
 */
/* doc:reap */
static void
reap_children(void)
{
	char status_why[WHY_LEN];
	const char *why;
	struct child *c;
	pid_t pid;
	int status;
	long i;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < max_conns && children[i].pid != pid; i++)
			;
		if (i == max_conns)
			continue;		/* not one of ours: cannot happen */
		c = &children[i];
		why = tallies[i].why;
		if (why[0] == '\0') {		/* it died before it could say why */
			if (WIFSIGNALED(status))
				(void)snprintf(status_why, sizeof(status_why),
				    "its process was killed by signal %d", WTERMSIG(status));
			else
				(void)snprintf(status_why, sizeof(status_why),
				    "its process exited with status %d", WEXITSTATUS(status));
			why = status_why;
		}
		stats_echoed(&stats, (size_t)atomic_load(&tallies[i].echoed));
		stats_closed(&stats);
		c->pid = 0;
		nchildren--;
		log_event("closed %s (fd %d): %s", c->peer, c->fd, why);
	}
}
/* end doc:reap */

/*
 * Accept the clients waiting, ACCEPT_BUDGET at most, into batch; returns how many. The first
 * accept() sleeps until a client comes. The next ones are made only while poll(), with a zero
 * timeout, says another client is queued: none of them sleeps, so the clients in hand never
 * wait for one still to come.
 */
/* doc:accept-batch */
static int
accept_batch(int listen_fd, struct accepted *batch)
{
	struct pollfd queued = { .fd = listen_fd, .events = POLLIN };
	struct sockaddr_storage peer;
	socklen_t peer_len;
	int fd, n = 0;

	do {
		peer_len = sizeof(peer);
		fd = accept(listen_fd, (struct sockaddr *)&peer, &peer_len);
		if (fd == -1) {
			if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED)
				break;	/* a signal, the timeout, or a client gave up */
			/*
			 * Out of descriptors or memory: the error would come back at once. With
			 * clients in hand, forking for them frees our copies of their sockets;
			 * with none, wait a second rather than spin.
			 */
			log_error("accept: %s", strerror(errno));
			if (n == 0)
				(void)nanosleep(&(struct timespec){ .tv_sec = 1 }, NULL);
			break;
		}
		batch[n].fd = fd;
		net_addr_str((struct sockaddr *)&peer, peer_len, batch[n].addr);
		n++;
	} while (n < ACCEPT_BUDGET && poll(&queued, 1, 0) == 1);
	return n;
}
/* end doc:accept-batch */

/* doc:serve */
static void
serve(int listen_fd)
{
	static struct accepted batch[ACCEPT_BUDGET];
	int i, n;

	while (!sig_stop) {
		reap_children();		/* before sleeping: no zombie waits for a client */
		n = accept_batch(listen_fd, batch);	/* sleeps until a client comes */
		for (i = 0; i < n; i++) {
			reap_children();	/* a child gone meanwhile frees its slot (-m) */
			child_start(batch[i].fd, batch[i].addr);	/* we go on to the next */
		}
	}
}
/* end doc:serve */

/*
 * Stop: SIGTERM to every child, then wait for each one. A child asleep in read() or write()
 * is interrupted and stops at once; one streaming stops at its next test of sig_stop. One
 * that took the signal between its test of sig_stop and its next read() (01's window, now in
 * every child) would sleep on until its client sends: so whoever is left after 100 ms with
 * no child exiting gets SIGTERM again.
 */
/* doc:stop */
static void
stop_children(void)
{
	bool resend = true;
	long i;

	while (nchildren > 0) {
		if (resend)
			for (i = 0; i < max_conns; i++)
				if (children[i].pid != 0)
					(void)kill(children[i].pid, SIGTERM);	/* not reaped: exists */
		/* Sleeps until a child exits (SIGCHLD, EINTR) or 100 ms have passed. */
		resend = nanosleep(&(struct timespec){ .tv_nsec = 100 * 1000 * 1000 }, NULL) == 0;
		reap_children();
	}
}
/* end doc:stop */

/* Does nothing: its only effect is that accept() and nanosleep() return EINTR. */
static void
on_sigchld(int signo)
{
	(void)signo;
}

int
main(int argc, char *argv[])
{
	struct server_opts opts = {
		.lab = LAB,
		.host = "127.0.0.1",
		.port = DEFAULT_PORT,
		.max_conns = MAX_CONNS_DEFAULT,
		.verbosity = VERBOSITY_NORMAL,
		.note = "One process per client; -m caps the children.",
	};
	struct sigaction sa = { .sa_handler = on_sigchld };
	const char *why;
	int listen_fd;

	server_opts_parse(&opts, argc, argv);
	max_conns = opts.max_conns;
	if ((children = calloc((size_t)max_conns, sizeof(*children))) == NULL)
		err(1, "the table of children");
	/* Anonymous and shared: no file behind it, and fork() shares it instead of copying. */
	tallies = mmap(NULL, (size_t)max_conns * sizeof(*tallies), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (tallies == MAP_FAILED)
		err(1, "the shared tallies");

	/*
	 * A signal interrupts accept(), the call the parent sleeps in (EINTR), and the loop tests
	 * sig_stop and reaps after every call. SIGCHLD gets a handler, without SA_RESTART, only
	 * so that a child's exit interrupts accept() too (SA_NOCLDSTOP: not when one is merely
	 * stopped). 01's window is here twice: a SIGTERM or a SIGCHLD that lands between the
	 * loop's test and accept() is missed. The timeout below bounds what that costs: accept()
	 * returns EAGAIN after a second, so a missed stop or zombie waits at most that long.
	 */
	if ((listen_fd = server_start(&opts, LISTEN_BLOCKING, NULL, &why)) == -1)
		errx(1, "%s", why);
	sa.sa_flags = SA_NOCLDSTOP;
	if (sigemptyset(&sa.sa_mask) == -1 || sigaction(SIGCHLD, &sa, NULL) == -1)
		err(1, "SIGCHLD");
	if (setsockopt(listen_fd, SOL_SOCKET, SO_RCVTIMEO, &(struct timeval){ .tv_sec = 1 },
	    sizeof(struct timeval)) == -1)
		err(1, "SO_RCVTIMEO");
	if (net_announce(listen_fd) == -1)
		err(1, "stdout");

	serve(listen_fd);

	(void)close(listen_fd);		/* stop accepting: new clients are refused */
	stop_children();
	stats_print(&stats);
	return 0;
}
