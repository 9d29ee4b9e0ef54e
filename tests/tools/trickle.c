/*
 * trickle - a deliberately awkward echo server, for testing clients.
 *
 * A lab's client is otherwise only ever tested against its own server, which on loopback
 * echoes 16 KiB in one piece, right away. trickle echoes every byte back, binary-safe, but in
 * small random pieces (1 to -k bytes, each its own write with TCP_NODELAY) with small random
 * pauses between them (0 to -u microseconds): a client that does one read() where it needs
 * the whole echo, or expects the echo in the chunks it sent, gets part of it. When the client
 * half-closes, trickle finishes echoing what it read and closes.
 *
 *	trickle [-p port] [-k bytes] [-u usec] [-c N] [-r N] [-x N] [-X N] [-a] [-n]
 *		[-e N] [-P] [-s seed] [-q] [-h]
 *
 * It prints "listening on 127.0.0.1:PORT" on stdout (flushed) when it accepts connections,
 * as the labs do (-p 0, the default, picks a free port), and logs one line per connection
 * accepted and closed on stderr ("trickle: ..."). Each connection has a thread, a 16 KiB
 * buffer and its own random generator (seeded from -s and the connection's number, so a run
 * is reproducible as far as the scheduler allows); an error closes only that connection.
 * SIGTERM and SIGINT end it with status 0, SIGPIPE is ignored.
 *
 * Misbehaviour on request, to see that a client (or bench/loadgen) notices:
 *	-c N	after echoing N bytes on a connection, close it with FIN: half-close, discard
 *		what the client still sends until it closes (10 s at most), then close. The
 *		client reads exactly N bytes, then EOF ("a server that echoes 100 B and closes").
 *	-r N	after echoing N bytes, close with a reset (SO_LINGER 0): the client gets
 *		ECONNRESET, after at most N bytes (a reset discards what is still in flight).
 *	-x N	flip all bits of the byte at offset N of every connection's echo.
 *	-X N	once any connection has echoed N bytes, the whole process exits with status 3
 *		(the kernel then closes every connection): a server that dies mid-run.
 *	-a	accept every connection and close it at once with a reset (SO_LINGER 0), as a
 *		full server does to a client past its connection cap.
 *	-n	read nothing: once a connection's first bytes have arrived, reset it with them
 *		unread (a server that never reads, then gives up). The client has sent bytes
 *		and got none back, and the reset came after them, not at once.
 *	-e N	as soon as a connection is accepted, send it N bytes nobody asked for (0xa5,
 *		0x5a, ...), then echo as usual: the client gets N bytes more than it sent.
 *	-P	do not ignore SIGPIPE, and write without MSG_NOSIGNAL: a write to a connection
 *		the client has reset kills the process (status 141 in the shell), as it kills a
 *		server that forgot to ignore SIGPIPE. For testing loadgen's abort mode.
 *
 * They combine; where limits coincide, -X acts first, then -r, then -c. The -e bytes are not
 * echoed bytes: the limits, and the log's counts, are of the echo alone.
 *
 * Bad arguments print the usage on stderr and exit 2; a port it cannot listen on, exit 1.
 *
 * Deliberately standalone (libc and pthreads only): it does not use common/, so it cannot
 * share a bug with the programs it tests. See also tests/tools/shortio.c and tests/tools.bats.
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <err.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE	16384			/* per connection: the memory bound */
#define STACK_SIZE	(256 * 1024)
#define DRAIN_MS	10000			/* -c: how long to discard input at most */
#define OFF		UINT64_MAX		/* an option not given */
#define GOLDEN		0x9e3779b97f4a7c15ULL

static struct {
	unsigned	port;
	uint64_t	piece;		/* -k */
	uint64_t	delay_us;	/* -u */
	uint64_t	close_at;	/* -c */
	uint64_t	reset_at;	/* -r */
	uint64_t	corrupt_at;	/* -x */
	uint64_t	exit_at;	/* -X */
	bool		reject;		/* -a */
	bool		unread;		/* -n */
	uint64_t	extra;		/* -e */
	bool		sigpipe;	/* -P */
	uint64_t	seed;
	bool		quiet;
} opt = {
	.port = 0,
	.piece = 100,
	.delay_us = 2000,
	.close_at = OFF,
	.reset_at = OFF,
	.corrupt_at = OFF,
	.exit_at = OFF,
	.seed = 1,
};

struct conn {
	int		fd;
	uint64_t	id;
	uint64_t	rng;
	char		peer[INET_ADDRSTRLEN + 8];
	unsigned char	buf[BUF_SIZE];
};

/* How a connection ends. */
enum end { END_CLOSE, END_FIN, END_RESET };

static void
usage(FILE *fp)
{
	fprintf(fp,
"usage: trickle [-p port] [-k bytes] [-u usec] [-c N] [-r N] [-x N] [-X N] [-a] [-n]\n"
"               [-e N] [-P] [-s seed] [-q] [-h]\n"
"\n"
"An echo server on 127.0.0.1 that answers in small random pieces with small random\n"
"pauses, and misbehaves on request. For testing clients.\n"
"\n"
"  -p port   port to listen on (default 0: a free one; see the listening line)\n"
"  -k bytes  largest piece of echo per write, 1 or more (default 100)\n"
"  -u usec   longest pause between pieces, in microseconds (default 2000)\n"
"  -c N      after echoing N bytes on a connection, close it (FIN)\n"
"  -r N      after echoing N bytes on a connection, reset it (RST)\n"
"  -x N      flip all bits of byte N (from 0) of every connection's echo\n"
"  -X N      once a connection has echoed N bytes, exit with status 3\n"
"  -a        reset every connection as soon as it is accepted\n"
"  -n        read nothing: reset a connection once its first bytes have arrived\n"
"  -e N      send N bytes unasked on every connection, then echo\n"
"  -P        do not ignore SIGPIPE: a write to a reset connection kills trickle\n"
"  -s seed   seed of the random pieces and pauses (default 1)\n"
"  -q        log errors only\n"
"  -h        print this help\n");
}

static void __attribute__((noreturn, format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("trickle: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	usage(stderr);
	exit(2);
}

/* A decimal number in [min, max]: digits only (strtoull alone takes "-1" and " 1"). */
static uint64_t
parse_num(int c, const char *s, uint64_t min, uint64_t max)
{
	unsigned long long v;
	char *end;

	if (*s < '0' || *s > '9')
		usage_error("-%c: '%s' is not a number", c, s);
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end != '\0' || errno != 0 || v < min || v > max)
		usage_error("-%c: '%s' is not a number from %" PRIu64 " to %" PRIu64, c, s,
		    min, max);
	return v;
}

static void
parse_args(int argc, char *argv[])
{
	static const char optstring[] = "p:k:u:c:r:x:X:ane:Ps:qh";
	int c;

	opterr = 0;
	while ((c = getopt(argc, argv, optstring)) != -1) {
		switch (c) {
		case 'p':
			opt.port = (unsigned)parse_num(c, optarg, 0, 65535);
			break;
		case 'k':
			opt.piece = parse_num(c, optarg, 1, BUF_SIZE);
			break;
		case 'u':
			opt.delay_us = parse_num(c, optarg, 0, 1000000);
			break;
		case 'c':
			opt.close_at = parse_num(c, optarg, 0, OFF - 1);
			break;
		case 'r':
			opt.reset_at = parse_num(c, optarg, 0, OFF - 1);
			break;
		case 'x':
			opt.corrupt_at = parse_num(c, optarg, 0, OFF - 1);
			break;
		case 'X':
			opt.exit_at = parse_num(c, optarg, 0, OFF - 1);
			break;
		case 'a':
			opt.reject = true;
			break;
		case 'n':
			opt.unread = true;
			break;
		case 'e':
			opt.extra = parse_num(c, optarg, 0, OFF - 1);
			break;
		case 'P':
			opt.sigpipe = true;
			break;
		case 's':
			opt.seed = parse_num(c, optarg, 0, UINT64_MAX);
			break;
		case 'q':
			opt.quiet = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			if (optopt != 0 && strchr(optstring, optopt) != NULL)
				usage_error("option -%c needs an argument", optopt);
			usage_error("unknown option -%c", optopt);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
}

static void __attribute__((format(printf, 1, 2)))
logmsg(const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (opt.quiet)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	/* One fprintf per line: stdio's lock keeps the threads' lines whole. */
	fprintf(stderr, "trickle: %s\n", line);
}

static uint64_t
rng_next(uint64_t *state)
{
	uint64_t z = (*state += GOLDEN);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Sleep a random 0..-u microseconds. */
static void
pause_a_little(struct conn *c)
{
	uint64_t us;
	struct timespec ts;

	if (opt.delay_us == 0 || (us = rng_next(&c->rng) % (opt.delay_us + 1)) == 0)
		return;
	ts.tv_sec = (time_t)(us / 1000000);
	ts.tv_nsec = (long)(us % 1000000) * 1000;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		continue;
}

/* Write all len bytes (blocking socket); -1 with errno on failure. */
static int
send_all(int fd, const unsigned char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = send(fd, p, len, opt.sigpipe ? 0 : MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The first limit at or past echoed bytes, or OFF. */
static uint64_t
next_limit(uint64_t echoed)
{
	const uint64_t lim[] = { opt.close_at, opt.reset_at, opt.exit_at };
	uint64_t next = OFF;
	size_t i;

	for (i = 0; i < sizeof lim / sizeof lim[0]; i++)
		if (lim[i] != OFF && lim[i] >= echoed && lim[i] < next)
			next = lim[i];
	return next;
}

/* What to do now that a connection has echoed exactly echoed bytes; -X ends it all here. */
static bool
limit_reached(const struct conn *c, uint64_t echoed, enum end *end, const char **why)
{
	if (echoed == opt.exit_at) {
		logmsg("conn %" PRIu64 ": echoed %" PRIu64 " bytes: exiting (-X)", c->id, echoed);
		_exit(3);
	}
	if (echoed == opt.reset_at) {
		*end = END_RESET;
		*why = "reset (-r)";
		return true;
	}
	if (echoed == opt.close_at) {
		*end = END_FIN;
		*why = "closed (-c)";
		return true;
	}
	return false;
}

/* -c: FIN now, then read and discard until the client closes, so close() sends no RST. */
static void
drain(struct conn *c)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	struct timespec t0, t;
	long left = DRAIN_MS;
	ssize_t n;

	if (shutdown(c->fd, SHUT_WR) == -1)
		return;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (left > 0 && poll(&pfd, 1, (int)left) > 0) {
		n = read(c->fd, c->buf, sizeof c->buf);
		if (n == 0 || (n == -1 && errno != EINTR))
			return;
		clock_gettime(CLOCK_MONOTONIC, &t);
		left = DRAIN_MS - ((t.tv_sec - t0.tv_sec) * 1000 +
		    (t.tv_nsec - t0.tv_nsec) / 1000000);
	}
}

/* SO_LINGER {1, 0}: close() discards what is queued and sends RST instead of FIN. */
static void
reset_close(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == -1)
		logmsg("setsockopt SO_LINGER: %s", strerror(errno));
	(void)close(fd);	/* the descriptor is released even if close reports an error */
}

/* -n: wait until the client's first bytes (or its EOF) have arrived, and read none. */
static void
wait_readable(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	while (poll(&pfd, 1, -1) == -1 && errno == EINTR)
		continue;
}

/* -e: send opt.extra bytes of a fixed pattern; -1 with errno on failure. */
static int
send_extra(struct conn *c)
{
	uint64_t left = opt.extra;
	size_t i, len;

	for (i = 0; i < sizeof c->buf; i++)
		c->buf[i] = i % 2 == 0 ? 0xa5 : 0x5a;
	while (left > 0) {
		len = left < sizeof c->buf ? (size_t)left : sizeof c->buf;
		if (send_all(c->fd, c->buf, len) == -1)
			return -1;
		left -= len;
	}
	return 0;
}

/*
 * One connection: read up to 16 KiB, echo it in pieces, repeat until EOF (the client
 * half-closed or closed: everything read has been echoed), an error, or a limit.
 */
static void *
conn_main(void *arg)
{
	struct conn *c = arg;
	enum end end = END_CLOSE;
	const char *why = "peer closed";
	char reason[128];
	uint64_t echoed = 0, piece;
	size_t off;
	ssize_t n;
	int one = 1;

	if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == -1)
		logmsg("conn %" PRIu64 ": TCP_NODELAY: %s", c->id, strerror(errno));
	if (limit_reached(c, 0, &end, &why))
		goto out;
	if (opt.unread) {
		wait_readable(c->fd);
		end = END_RESET;
		why = "reset with its bytes unread (-n)";
		goto out;
	}
	if (opt.extra > 0) {
		if (send_extra(c) == -1) {
			snprintf(reason, sizeof reason, "write (-e): %s", strerror(errno));
			why = reason;
			goto out;
		}
		logmsg("conn %" PRIu64 ": sent %" PRIu64 " bytes unasked (-e)", c->id,
		    opt.extra);
	}
	for (;;) {
		n = read(c->fd, c->buf, sizeof c->buf);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == 0)
			break;
		if (n == -1) {
			snprintf(reason, sizeof reason, "read: %s", strerror(errno));
			why = reason;
			goto out;
		}
		for (off = 0; off < (size_t)n; off += piece) {
			piece = rng_next(&c->rng) % opt.piece + 1;
			if (piece > (size_t)n - off)
				piece = (size_t)n - off;
			if (piece > next_limit(echoed) - echoed)
				piece = next_limit(echoed) - echoed;
			if (opt.corrupt_at != OFF && opt.corrupt_at >= echoed &&
			    opt.corrupt_at - echoed < piece)
				c->buf[off + (opt.corrupt_at - echoed)] ^= 0xff;
			if (send_all(c->fd, c->buf + off, piece) == -1) {
				snprintf(reason, sizeof reason, "write: %s", strerror(errno));
				why = reason;
				goto out;
			}
			echoed += piece;
			if (limit_reached(c, echoed, &end, &why))
				goto out;
			pause_a_little(c);
		}
	}
out:
	if (end == END_FIN)
		drain(c);
	if (end == END_RESET)
		reset_close(c->fd);
	else
		(void)close(c->fd);
	logmsg("conn %" PRIu64 " (%s): %s after echoing %" PRIu64 " bytes", c->id, c->peer,
	    why, echoed);
	free(c);
	return NULL;
}

/* SIGTERM and SIGINT are blocked in every thread; this one waits for them. */
static void *
signal_main(void *arg)
{
	const sigset_t *set = arg;
	int sig;

	while (sigwait(set, &sig) != 0)
		continue;
	logmsg("stopping on %s", sig == SIGINT ? "SIGINT" : "SIGTERM");
	_exit(0);
}

/* err(3) for the functions that return an error number instead of setting errno. */
static void __attribute__((noreturn))
die_errno(int e, const char *what)
{
	errno = e;
	err(1, "%s", what);
}

static int
listen_on(unsigned port)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof sin;
	int fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		err(1, "socket");
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == -1)
		err(1, "setsockopt SO_REUSEADDR");
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof sin) == -1 || listen(fd, 4096) == -1)
		err(1, "cannot listen on 127.0.0.1:%u", port);
	if (getsockname(fd, (struct sockaddr *)&sin, &len) == -1)
		err(1, "getsockname");
	printf("listening on 127.0.0.1:%u\n", ntohs(sin.sin_port));
	if (fflush(stdout) == EOF)
		err(1, "stdout");
	return fd;
}

int
main(int argc, char *argv[])
{
	static sigset_t stop;
	struct sockaddr_in sin;
	struct timespec backoff = { .tv_nsec = 100 * 1000 * 1000 };
	pthread_attr_t attr;
	pthread_t tid;
	socklen_t len;
	struct conn *c;
	uint64_t id = 0;
	int lfd, fd, e;

	parse_args(argc, argv);
	if (signal(SIGPIPE, opt.sigpipe ? SIG_DFL : SIG_IGN) == SIG_ERR)
		err(1, "signal");
	if (sigemptyset(&stop) == -1 || sigaddset(&stop, SIGTERM) == -1 ||
	    sigaddset(&stop, SIGINT) == -1)
		err(1, "sigaddset");
	if ((e = pthread_sigmask(SIG_BLOCK, &stop, NULL)) != 0)
		die_errno(e, "pthread_sigmask");
	if ((e = pthread_attr_init(&attr)) != 0 ||
	    (e = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED)) != 0 ||
	    (e = pthread_attr_setstacksize(&attr, STACK_SIZE)) != 0)
		die_errno(e, "pthread_attr");
	if ((e = pthread_create(&tid, &attr, signal_main, &stop)) != 0)
		die_errno(e, "pthread_create");

	lfd = listen_on(opt.port);
	for (;;) {
		len = sizeof sin;
		fd = accept4(lfd, (struct sockaddr *)&sin, &len, SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EMFILE && errno != ENFILE && errno != ENOBUFS &&
			    errno != ENOMEM)
				err(1, "accept");
			/* Out of descriptors or memory: wait for connections to close. */
			logmsg("accept: %s; retrying in 100 ms", strerror(errno));
			(void)nanosleep(&backoff, NULL);
			continue;
		}
		id++;
		if (opt.reject) {
			reset_close(fd);
			logmsg("conn %" PRIu64 ": reset at once (-a)", id);
			continue;
		}
		if ((c = malloc(sizeof *c)) == NULL) {
			logmsg("conn %" PRIu64 ": out of memory", id);
			(void)close(fd);
			continue;
		}
		c->fd = fd;
		c->id = id;
		c->rng = opt.seed + id * GOLDEN;
		if (inet_ntop(AF_INET, &sin.sin_addr, c->peer, sizeof c->peer) == NULL)
			strcpy(c->peer, "?");
		snprintf(c->peer + strlen(c->peer), sizeof c->peer - strlen(c->peer), ":%u",
		    ntohs(sin.sin_port));
		logmsg("conn %" PRIu64 ": accepted %s", id, c->peer);
		if ((e = pthread_create(&tid, &attr, conn_main, c)) != 0) {
			logmsg("conn %" PRIu64 ": pthread_create: %s", id, strerror(e));
			(void)close(fd);
			free(c);
		}
	}
}
