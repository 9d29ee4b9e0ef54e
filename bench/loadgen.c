/*
 * loadgen: the load generator and test driver of iomodels.
 *
 * One process, one epoll(7) loop, non-blocking sockets.  loadgen opens -c
 * TCP connections to an echo server, drives the traffic of one MODE on every
 * one of them, verifies every byte that comes back, and prints one result
 * line on stdout:
 *
 *	result mode=echo conns=50 ok=50 refused=0 errors=0 mismatches=0
 *	    messages=5000 bytes=320000 seconds=0.123 msgs_per_s=40650
 *	    mb_per_s=2.6 p50_us=120 p99_us=900 lost=0
 *
 * (on one line; the keys are always the same, in this order).  The tests use
 * it for what bash cannot do: hundreds of connections, resets, a slow reader,
 * a half-close.  `make bench` uses it to put every lab under the same load.
 *
 * Usage: loadgen [-H host] [-p port] [-c conns] [-n messages] [-s size]
 *		  [-b bytes] [-d seconds] [-P pid] [-t seconds] [-q] [-h] [MODE]
 *
 *	echo		ping-pong: -n messages of -s bytes, one round trip at a
 *			time, then half-close and wait for the server to close.
 *	stream		send -b bytes while reading the echo, then half-close.
 *	hold		echo one -s byte message, print "hold held=H refused=R"
 *			once every connection is settled, keep the held ones
 *			open until SIGUSR1, SIGTERM or the -t limit.  A second
 *			line comes with it (one write: who sees the first has
 *			the second), to measure how the server took them:
 *
 *	accept conn_per_s=8123 seconds=1.231 listen_overflows=0
 *	    listen_drops=0 lost=0
 *
 *			conn_per_s: connections held or refused per second,
 *			over the seconds from before the first connect until
 *			the last was settled; listen_overflows and listen_drops:
 *			what TcpExt's ListenOverflows (a handshake dropped, the
 *			listener's accept queue full) and ListenDrops (those
 *			and any other SYN a listener dropped) grew by in that
 *			time, in /proc/net/netstat ("unknown" without it).
 *			Those count every listener of the network namespace,
 *			not the server's alone: on a shared machine another
 *			program's overflows are in them.  lost: see below.
 *	reset		send up to -s bytes; at the first byte of echo, close
 *			with RST (SO_LINGER 0) while data is still in flight.
 *	halfclose	send all -b bytes (reading only when the send stalls),
 *			half-close, read the whole echo and the server's EOF.
 *	slow		small buffers; send without reading until stalled for
 *			300 ms, print "slow paused sent=N", wait for SIGUSR1,
 *			then read the echo, send the rest and half-close.
 *	abort		send -b bytes without reading, a piece once the
 *			server has read the last; half-close, print "abort shut
 *			sent=N", wait for SIGUSR1, then close with RST (SO_LINGER 0)
 *			while the server still has echo to write (see below).
 *
 * Two options serve the benchmark (bench/bench.sh):
 *
 *	-d seconds	echo and stream: a measured window instead of a count.
 *			It opens once echo has come back on every connection
 *			(the server has accepted it and serves it: a forking
 *			server has forked for it) or the connection has
 *			failed, and lasts -d seconds, during which every
 *			connection goes on (echo: round trip after round trip;
 *			stream: send after send); then each finishes its round
 *			trip, or stops sending, half-closes and reads the rest
 *			of its echo, verified as always.  The result line's
 *			messages, bytes, seconds, rates and latencies are
 *			those of the window alone: every run lasts the same
 *			time whatever the server's speed, and connection
 *			set-up and tear-down stay out of the numbers.
 *	-P pid		the server's process id (with -d, or in hold): print
 *			what /proc says of it and of every process it started,
 *			in one more line:
 *
 *	server cpu_us=812000 rss_kb=2140 rss0_kb=2090 threads=1 procs=1
 *
 *			With -d it comes when the window closes, before the
 *			connections do: cpu_us is the CPU time the tree used
 *			in the window, rss_kb, threads and procs are the tree
 *			at its end, loaded, and rss0_kb at its start.  In hold
 *			it comes after the accept line, once the server has
 *			settled: its threads, processes and memory the same
 *			(within 1%) in 3 samples 200 ms apart, or 20 s passed
 *			(stderr says so), settle_ms=N saying how long that
 *			took (POSIX AIO starts a thread per pending read
 *			seconds after the last echo).  cpu_us covers the time
 *			from before the first connect until then, and rss0_kb
 *			is the server before the first connect.  CPU time is
 *			the server's utime + stime (all its threads) and
 *			cutime + cstime (the children it has reaped), from
 *			/proc/PID/stat, plus the run time of every live
 *			descendant from /proc/PID/task/TID/schedstat, in ns:
 *			stat's clock ticks (10 ms) are truncated process by
 *			process, and a thousand children that ran 5 ms each
 *			would count for nothing.  Memory is the server's VmRSS
 *			when it is one process, and the sum of the tree's Pss
 *			(proportional set size: a page shared by n processes
 *			counts 1/n in each) when it has children, so that a
 *			forking server's shared pages are counted once; rss0_kb
 *			is the same measure.  A server that has exited (or is
 *			a zombie) gives "server exited".
 *
 * Every byte is verified without storing what was sent: connection c sends
 * the output of splitmix64 seeded with c, whose byte at any position can be
 * computed again, so what comes back is compared with the stream from the
 * position the echo has reached.  The bytes cover 0..255, NUL included, and
 * differ from one connection to the next.
 *
 * abort is the SIGPIPE test.  A server that writes to a connection the peer
 * has reset gets EPIPE, and SIGPIPE, which kills it unless it ignores the
 * signal; but only if the reset reaches a socket in CLOSE_WAIT, one that has
 * already received our FIN: a reset in ESTABLISHED makes the next write fail
 * with ECONNRESET, and no signal.  Our FIN reaches the server only once every
 * byte before it is in the server's receive queue, and a server that stops
 * reading while its echo waits for us (back-pressure) leaves in that queue
 * all we sent after it stopped.  Filling its receive window is not safe: the
 * window is the kernel's guess at how many bytes the buffer still holds, but
 * the buffer is charged for each packet's memory, not its bytes, and filled
 * to the window's edge it is some 95% full (ss -m: r, what is charged, near
 * rb, the buffer): a packet that does not fit is dropped, sent again, and
 * dropped again while the server does not read; our FIN, queued behind it,
 * never arrives.  So abort sends ABORT_PIECE bytes at a time, and the next
 * piece only once the server has acknowledged (SIOCOUTQ, tcp(7)) and read
 * all before it: on loopback the server's socket is in /proc/net/tcp, whose
 * rx_queue is what it has not read.  When what it has not read stays the
 * same for 300 ms, the server has stopped reading (or all -b bytes are
 * sent): abort half-closes, with at most a piece in the server's queue.  It
 * reads nothing, and offers a 1 KiB MSS, which keeps the server's send
 * buffer small, so that the server stops reading after some 100 KiB rather
 * than 3 MiB.  Once the server has acknowledged our FIN (SIOCOUTQ is 0),
 * abort prints "abort shut sent=N" (N: the bytes all connections sent) and
 * waits for SIGUSR1, then resets every connection.  The server has echo to
 * write and input it has not read yet, so its next write fails with EPIPE.
 * A FIN not acknowledged within 5 s is a failure, reported on stderr (on
 * loopback it takes microseconds; 5 s leaves room for a few retransmissions
 * of a segment dropped on a crowded machine: the first comes after 200 ms,
 * each next one after twice as long).  The echo is pending only if -b is
 * more than the kernel buffers between the server and us hold (the server's
 * send buffer: about 100 KiB with the small MSS, at most tcp_wmem's 4 MiB):
 * abort's default -b, 8 MiB, is, and the server stops reading long before
 * the end (without -q, loadgen says so).  With a smaller -b the server may
 * have nothing left to write, and the test tests nothing.  abort needs the
 * server on this machine (its socket in /proc/net/tcp or tcp6).
 *
 * Every connection ends with exactly one outcome, counted in the result
 * line: ok, it did its mode's job (in hold: was held; in reset and abort:
 * was reset as planned); refused, the server turned it away (connect()
 * refused, in every mode; in hold also closed or reset before its echo);
 * errors, any other failure (early EOF or reset, no free port, the -t limit
 * or a signal before it was done: "unfinished"); mismatches, a wrong byte
 * came back.  ok + refused + errors + mismatches = conns.  lost counts the
 * errors that were connections lost before the server had them: connected
 * on our side, but not a byte we sent was ever acknowledged, then reset or
 * silent until the end (a full accept queue drops the handshake's last ACK:
 * see conn_unacked).  A reset after a byte was acknowledged is the server's
 * own, a refusal in hold.  bytes is what came back verified, and the
 * latencies are those of the echo round trips; seconds leaves out the time
 * spent waiting for a signal (and, in hold, for the server to settle).
 * Every connection that is not ok is one line on stderr, "loadgen: conn N: "
 * and what became of it (MAX_REPORTS lines at most, then a count of the
 * rest), except hold's refusals under -q, which are expected there.  The -t
 * limit ends the run with "loadgen: timed out after N s".
 *
 * Exit status: 0 when every connection did its mode's job, in hold when
 * every connection was held or refused (refusals are what hold measures: its
 * line reports them); 1 otherwise, including the -t limit and SIGINT/SIGTERM
 * (except while hold is holding); 2 for bad usage.
 *
 * Linux only (epoll, signalfd, SIOCOUTQ, TCP_INFO, /proc/net/tcp and
 * netstat).  Deliberately standalone, libc only: it does not use common/, so
 * a bug there cannot hide behind the tool that tests it.
 */

#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <netinet/in.h>
#include <linux/sockios.h>		/* SIOCOUTQ */
#include <linux/tcp.h>			/* TCP_MAXSEG, TCP_INFO */

#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHUNK		65536		/* bytes per send() or recv() */
#define MAX_EVENTS	256
#define MAX_REPORTS	20		/* error lines printed on stderr */
#define MAX_CONNS	1000000
#define NS_PER_S	1000000000ULL
#define NS_PER_MS	1000000ULL
#define SLOW_STALL_NS	(300 * NS_PER_MS)
#define SLOW_SOCKBUF	4096
#define ABORT_BYTES	(8 * 1024 * 1024)	/* abort's default -b */
#define ABORT_PIECE	(16 * 1024)	/* abort: sent once all before is read */
#define ABORT_MISSES	50		/* abort: lookups that may miss, in a row */
#define ABORT_MSS	1024		/* abort: the segment size we offer */
#define ABORT_FIN_NS	(5000 * NS_PER_MS)	/* abort: time for the FIN's ack */
#define ABORT_POLL_NS	(2 * NS_PER_MS)	/* abort: how often to look at queues */
#define GOAL_OPEN	UINT64_MAX	/* -d: no goal until the window closes */
#define SNAP_TRIES	3		/* -P: reads of a tree that keeps reaping */
#define SETTLE_SAMPLES	3		/* hold -P: steady samples in a row */
#define SETTLE_GAP_NS	(200 * NS_PER_MS)	/* hold -P: between them */
#define SETTLE_NS	(20 * NS_PER_S)	/* hold -P: the longest wait */

/*
 * Latencies go into a log-linear histogram rather than an array of samples,
 * so that memory does not grow with -c times -n: values below 64 us are
 * exact, above that each power of two is cut into 64 buckets (error < 1.6%).
 */
#define HIST_SUB_BITS	6
#define HIST_SUB	(1U << HIST_SUB_BITS)
#define HIST_BUCKETS	(HIST_SUB * (64 - HIST_SUB_BITS + 1))

enum mode { MODE_ECHO, MODE_STREAM, MODE_HOLD, MODE_RESET, MODE_HALFCLOSE,
	MODE_SLOW, MODE_ABORT, MODE_COUNT };

static const char *const mode_names[MODE_COUNT] = {
	"echo", "stream", "hold", "reset", "halfclose", "slow", "abort",
};

enum state {
	ST_CONNECTING,		/* non-blocking connect() in progress */
	ST_OPEN,		/* connected: sending and/or receiving */
	ST_SHUT,		/* we half-closed: reading the rest and EOF */
	ST_CLOSED,		/* descriptor closed, outcome final */
};

/* What became of a connection; the result line counts each of them. */
enum outcome { OUT_PENDING, OUT_OK, OUT_REFUSED, OUT_ERROR, OUT_MISMATCH,
	OUT_COUNT };

/* The loop's phase: running traffic, or waiting for a signal. */
enum phase { PH_RUN, PH_PAUSED, PH_HOLDING };

/* How the loop ended. */
enum end { END_DONE, END_TIMEOUT, END_SIGNAL };

struct conn {
	int		fd;
	unsigned	id;		/* index, and the seed of its stream */
	enum state	state;
	enum outcome	outcome;
	uint32_t	events;		/* interest registered with epoll */
	uint64_t	goal;		/* bytes to send in all */
	uint64_t	limit;		/* bytes to send for now (echo) */
	uint64_t	sent;
	uint64_t	rcvd;		/* bytes echoed back and verified */
	uint64_t	t_msg;		/* when the current message started */
	uint64_t	t_progress;	/* when a send last made progress */
	bool		stalled;	/* the last send() said EAGAIN */
	bool		paused;		/* slow: done with phase 1 */
	bool		cut;		/* abort: half-closed before all was sent */
	bool		fin_in;		/* abort: the server has acked our FIN */
	int64_t		unread;		/* abort: what the server has not read */
	int		queued;		/* abort: what it has not acknowledged */
	unsigned	misses;		/* abort: lookups in a row that missed */
	bool		arrived;	/* echo came back, or it failed */
};

static struct {
	const char	*host;
	char		 port[8];
	unsigned	 conns;
	uint64_t	 messages;
	uint64_t	 size;
	uint64_t	 bytes;
	bool		 bytes_set;	/* -b given */
	uint64_t	 seconds;
	bool		 seconds_set;	/* -t given */
	uint64_t	 window_ns;	/* -d, 0 when not given */
	pid_t		 server;	/* -P, 0 when not given */
	bool		 quiet;
	enum mode	 mode;
} opt = {
	.host = "127.0.0.1",
	.port = "9000",
	.conns = 1,
	.messages = 100,
	.size = 64,
	.bytes = 1024 * 1024,
	.seconds = 30,
	.mode = MODE_ECHO,
};

static struct conn	*conns;
static int		 epfd = -1;
static enum phase	 phase = PH_RUN;
static bool		 resumed;	/* slow, abort: SIGUSR1 came, phase 2 */
static bool		 got_usr1;
static int		 got_term;	/* SIGTERM or SIGINT, 0 if none */

/* What the result line reports. */
static uint64_t		 count[OUT_COUNT];	/* connections per outcome */
static uint64_t		 messages;		/* echo round trips done */
static uint64_t		 bytes_ok;		/* bytes echoed and verified */
static uint64_t		 dropped;		/* hold: closed while held */
static uint64_t		 lost;			/* connected, no byte taken */
static uint64_t		 hist[HIST_BUCKETS];
static uint64_t		 hist_n;
static unsigned		 reports;		/* error lines so far */

/*
 * -d: the measured window.  It waits for echo on every connection (or its
 * failure), is open for -d seconds, then closed: round trips, bytes and
 * latencies count only while counting is set (always, without -d).
 */
enum window { WIN_NONE, WIN_WAIT, WIN_OPEN, WIN_CLOSED };

static enum window	 win = WIN_NONE;
static uint64_t		 win_start, win_end;
static unsigned		 warming;		/* connections not arrived */
static bool		 counting = true;

/* -P: what /proc says about the server's process tree at one moment. */
struct server_snap {
	bool		alive;
	uint64_t	cpu_us;		/* the tree's CPU time so far */
	uint64_t	rss_kb;		/* the server's VmRSS */
	uint64_t	pss_kb;		/* the tree's Pss, summed */
	unsigned	threads;
	unsigned	procs;
};

static struct server_snap snap0;		/* at the window's start */

/* hold: the kernel's listen counters, before the first connect. */
struct listen_counts {
	bool		known;		/* /proc/net/netstat had them */
	uint64_t	overflows;	/* TcpExt ListenOverflows */
	uint64_t	drops;		/* TcpExt ListenDrops */
};

static struct listen_counts listen0;
static uint64_t		 t_first;		/* before the first connect */

/* Scratch buffers: one connection's I/O is done before the next starts. */
static unsigned char	 sbuf[CHUNK], rbuf[CHUNK], expect[CHUNK];

/*
 * What sbuf holds: sbuf_len bytes of connection sbuf_id's stream from
 * position sbuf_pos.  Kept from one send() to the next, so that a server
 * that takes a few bytes at a time does not make us compute 64 KiB of
 * stream for each of them.
 */
static unsigned		 sbuf_id;
static uint64_t		 sbuf_pos;
static size_t		 sbuf_len;

static void
usage(FILE *fp)
{
	fprintf(fp,
"usage: loadgen [-H host] [-p port] [-c conns] [-n messages] [-s size]\n"
"               [-b bytes] [-d seconds] [-P pid] [-t seconds] [-q] [-h]\n"
"               [MODE]\n"
"\n"
"Drive echo traffic at a server, verify every byte, print one result line.\n"
"\n"
"modes:\n"
"  echo       ping-pong: -n messages of -s bytes, one at a time (default)\n"
"  stream     send -b bytes while reading the echo, then half-close\n"
"  hold       echo one -s byte message, print \"hold held=H refused=R\"\n"
"             and \"accept conn_per_s=N seconds=S listen_overflows=N\n"
"             listen_drops=N lost=N\" (the kernel's counts, all listeners),\n"
"             keep the held connections open until SIGUSR1, SIGTERM or -t\n"
"  reset      send up to -s bytes; at the first echo, close with RST\n"
"  halfclose  send all -b bytes, half-close, then read the whole echo\n"
"  slow       send -b bytes without reading until stalled for 300 ms,\n"
"             print \"slow paused sent=N\", wait for SIGUSR1, then read\n"
"  abort      send -b bytes without reading, 16 KiB at a time, each once the\n"
"             server has read the last, until sent or the server stops\n"
"             reading for 300 ms (it must run on this machine); half-close,\n"
"             print \"abort shut sent=N\" once the server has the FIN, wait\n"
"             for SIGUSR1, then close with RST: the server, in CLOSE_WAIT\n"
"             with echo pending, gets EPIPE (and SIGPIPE) at its next write\n"
"\n"
"options:\n"
"  -H host     server address (default 127.0.0.1)\n"
"  -p port     server port (default 9000)\n"
"  -c conns    connections, all opened at once (default 1)\n"
"  -n messages echo: messages per connection (default 100)\n"
"  -s size     echo, hold, reset: message size in bytes (default 64)\n"
"  -b bytes    stream, halfclose, slow, abort: bytes per connection\n"
"              (default 1M; abort 8M, more than the kernel buffers hold)\n"
"  -d seconds  echo, stream: run for a measured window of this many seconds\n"
"              (decimals allowed) from the moment echo has come back on\n"
"              every connection, instead of -n or -b; the result line's\n"
"              counts, rates and latencies are the window's\n"
"  -P pid      the server's process id: print \"server cpu_us=N rss_kb=N\n"
"              rss0_kb=N threads=N procs=N\" for it and every process it\n"
"              started (echo and stream with -d: the CPU time over the\n"
"              window, the rest at its end; hold: from before connecting\n"
"              until all are held and the server has settled, after the\n"
"              accept line, with settle_ms=N)\n"
"  -t seconds  time limit for the whole run (default 30, or -d + 30)\n"
"  -q          print only the result line, hold's, slow's or abort's own\n"
"              line, and a line per connection that failed\n"
"  -h          print this help\n"
"\n"
"Every connection is counted once in the result line: ok, refused (connect\n"
"refused; in hold also closed before its echo), errors or mismatches; lost\n"
"counts the errors that connected but had not a byte acknowledged.\n"
"Sizes take a K or M suffix (KiB, MiB).  Exit status: 0 when every\n"
"connection did its job (hold: was held or refused), 1 otherwise (errors,\n"
"refusals, mismatches, the time limit, a signal), 2 for bad usage.\n");
}

static void __attribute__((noreturn, format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("loadgen: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	usage(stderr);
	exit(2);
}

/*
 * Parse the argument of option -c as a decimal number in [min, max], with a
 * K or M suffix (KiB, MiB) when units is set.  strtoull(3) alone would
 * accept leading blanks and a sign (turning "-1" into 2^64 - 1), so the
 * first character must be a digit.
 */
static uint64_t
parse_num(int c, const char *s, uint64_t min, uint64_t max, bool units)
{
	unsigned long long v;
	uint64_t mult = 1;
	char *end;

	if (*s < '0' || *s > '9')
		usage_error("-%c: '%s' is not a number", c, s);
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		usage_error("-%c: '%s': %s", c, s, strerror(errno));
	if (units && (*end == 'K' || *end == 'k'))
		mult = 1024, end++;
	else if (units && (*end == 'M' || *end == 'm'))
		mult = 1024 * 1024, end++;
	if (*end != '\0')
		usage_error("-%c: '%s' is not a number", c, s);
	if (v > max / mult || v * mult < min || v * mult > max)
		usage_error("-%c: '%s' is out of range (%" PRIu64 " to %" PRIu64
		    ")", c, s, min, max);
	return v * mult;
}

/*
 * Parse -d's argument: seconds, with at most three decimals (a millisecond),
 * from 0.01 to a day.
 */
static uint64_t
parse_seconds(int c, const char *s)
{
	uint64_t whole = 0, ms = 0, scale = 100;
	const char *p = s;

	if (*p < '0' || *p > '9')
		usage_error("-%c: '%s' is not a number of seconds", c, s);
	for (; *p >= '0' && *p <= '9'; p++)
		if (whole <= 86400)
			whole = whole * 10 + (uint64_t)(*p - '0');
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9' && scale > 0; p++, scale /= 10)
			ms += (uint64_t)(*p - '0') * scale;
	if (*p != '\0')
		usage_error("-%c: '%s' is not a number of seconds (at most "
		    "three decimals)", c, s);
	ms += whole * 1000;
	if (ms < 10 || ms > 86400 * 1000)
		usage_error("-%c: '%s' is out of range (0.01 to 86400)", c, s);
	return ms * NS_PER_MS;
}

static void
parse_args(int argc, char *argv[])
{
	static const char optstring[] = "H:p:c:n:s:b:d:P:t:qh";
	int c, m;

	/* Our own messages, so that every line starts with "loadgen:". */
	opterr = 0;
	while ((c = getopt(argc, argv, optstring)) != -1) {
		switch (c) {
		case 'H':
			opt.host = optarg;
			break;
		case 'p':
			snprintf(opt.port, sizeof opt.port, "%" PRIu64,
			    parse_num(c, optarg, 1, 65535, false));
			break;
		case 'c':
			opt.conns = (unsigned)parse_num(c, optarg, 1, MAX_CONNS,
			    false);
			break;
		case 'n':
			opt.messages = parse_num(c, optarg, 0, 1000000000,
			    false);
			break;
		case 's':
			opt.size = parse_num(c, optarg, 1, 1ULL << 30, true);
			break;
		case 'b':
			opt.bytes = parse_num(c, optarg, 0, 1ULL << 40, true);
			opt.bytes_set = true;
			break;
		case 'd':
			opt.window_ns = parse_seconds(c, optarg);
			break;
		case 'P':
			opt.server = (pid_t)parse_num(c, optarg, 1, INT32_MAX,
			    false);
			break;
		case 't':
			opt.seconds = parse_num(c, optarg, 1, 1000000, false);
			opt.seconds_set = true;
			break;
		case 'q':
			opt.quiet = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			if (optopt != 0 && optopt != ':' &&
			    strchr(optstring, optopt) != NULL)
				usage_error("option -%c needs an argument",
				    optopt);
			usage_error("unknown option -%c", optopt);
		}
	}
	if (optind < argc) {
		for (m = 0; m < MODE_COUNT; m++)
			if (strcmp(argv[optind], mode_names[m]) == 0)
				break;
		if (m == MODE_COUNT)
			usage_error("unknown mode '%s'", argv[optind]);
		opt.mode = (enum mode)m;
		optind++;
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (opt.window_ns > 0 && opt.mode != MODE_ECHO &&
	    opt.mode != MODE_STREAM)
		usage_error("-d works with echo and stream only");
	if (opt.server != 0 && opt.window_ns == 0 && opt.mode != MODE_HOLD)
		usage_error("-P needs -d (echo, stream) or hold");
	if (opt.window_ns > 0 && !opt.seconds_set)
		opt.seconds = opt.window_ns / NS_PER_S + 30;
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		err(1, "clock_gettime");
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* The splitmix64 output function (Steele, Lea, Flood 2014). */
static uint64_t
mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/*
 * Fill buf with len bytes of connection id's stream from position pos.  The
 * k-th 64-bit output of splitmix64 seeded with id is mix64(id + (k + 1) *
 * golden ratio), so any position is reached without running the generator
 * from the start; bytes are taken low byte first on every machine.
 */
static void
stream_fill(uint64_t id, uint64_t pos, unsigned char *buf, size_t len)
{
	uint64_t word;
	size_t i, skip, take;

	while (len > 0) {
		word = mix64(id + (pos / 8 + 1) * 0x9e3779b97f4a7c15ULL);
		skip = pos % 8;
		take = 8 - skip < len ? 8 - skip : len;
		for (i = 0; i < take; i++)
			buf[i] = (unsigned char)(word >> (8 * (skip + i)));
		buf += take;
		pos += take;
		len -= take;
	}
}

static void
hist_add(uint64_t us)
{
	unsigned idx, shift;

	if (us < HIST_SUB) {
		idx = (unsigned)us;
	} else {
		shift = (unsigned)(63 - __builtin_clzll(us)) - HIST_SUB_BITS;
		idx = HIST_SUB * (shift + 1) +
		    (unsigned)((us >> shift) - HIST_SUB);
	}
	hist[idx]++;
	hist_n++;
}

/* The pct-th percentile in microseconds: the middle of its bucket. */
static uint64_t
hist_pct(unsigned pct)
{
	uint64_t rank, seen = 0;
	unsigned idx, shift;

	if (hist_n == 0)
		return 0;
	rank = (hist_n * pct + 99) / 100;
	for (idx = 0; idx < HIST_BUCKETS; idx++) {
		seen += hist[idx];
		if (seen >= rank)
			break;
	}
	if (idx < HIST_SUB)
		return idx;
	shift = idx / HIST_SUB - 1;
	return ((uint64_t)(HIST_SUB + idx % HIST_SUB) << shift) +
	    ((1ULL << shift) - 1) / 2;
}

/* Print a line that the driving script waits for, and flush it at once. */
static void __attribute__((format(printf, 1, 2)))
print_sync(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (fflush(stdout) == EOF)
		err(1, "stdout");
}

/*
 * -P: the server's process tree, from /proc (proc(5)).  What one process
 * says in /proc/PID/stat: its parent, its state, its CPU time and that of
 * the children it has reaped, its threads.  False if it is gone.
 */
struct proc_info {
	pid_t		pid;
	pid_t		ppid;
	char		state;
	uint64_t	own_ticks;	/* utime + stime: all its threads */
	uint64_t	reaped_ticks;	/* cutime + cstime: children waited for */
	unsigned	threads;
	bool		in_tree;
};

static bool
proc_read(pid_t pid, struct proc_info *pi)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	long long cut, cst, nthr;
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return false;
	n = read(fd, buf, sizeof buf - 1);
	(void)close(fd);	/* read-only: nothing to lose */
	if (n <= 0)
		return false;
	buf[n] = '\0';
	/*
	 * The command name (field 2) is in parentheses and may hold spaces
	 * or parentheses itself: the fields after it start after the last
	 * ')'.  Then state (3), ppid (4), ... utime (14), stime (15), cutime
	 * (16), cstime (17), ... num_threads (20).
	 */
	if ((p = strrchr(buf, ')')) == NULL || sscanf(p + 1, " %c %d %*d %*d "
	    "%*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld %*d %*d %lld",
	    &pi->state, &pi->ppid, &ut, &st, &cut, &cst, &nthr) != 7)
		return false;
	pi->pid = pid;
	pi->own_ticks = ut + st;
	pi->reaped_ticks = (uint64_t)(cut > 0 ? cut : 0) +
	    (uint64_t)(cst > 0 ? cst : 0);
	pi->threads = nthr > 0 ? (unsigned)nthr : 0;
	pi->in_tree = false;
	return true;
}

/*
 * The run time of every live thread of pid, in ns, from /proc/PID/task/TID/
 * schedstat (its first field, sum_exec_runtime); false if the kernel does
 * not have it.
 */
static bool
proc_run_ns(pid_t pid, uint64_t *ns)
{
	char path[64], buf[128];
	struct dirent *de;
	ssize_t n;
	DIR *d;
	int fd;

	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	if ((d = opendir(path)) == NULL)
		return false;
	*ns = 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/proc/%d/task/%.16s/schedstat",
		    (int)pid, de->d_name);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
			/* A thread that just ended took its directory along. */
			*strrchr(path, '/') = '\0';
			if (access(path, F_OK) == -1)
				continue;
			(void)closedir(d);
			return false;
		}
		n = read(fd, buf, sizeof buf - 1);
		(void)close(fd);	/* read-only: nothing to lose */
		if (n > 0) {
			buf[n] = '\0';
			*ns += strtoull(buf, NULL, 10);
		}
	}
	(void)closedir(d);	/* read-only: nothing to lose */
	return true;
}

/* The first number after "key" in file path (kB in status and smaps). */
static uint64_t
proc_field_kb(const char *path, const char *key)
{
	char line[256];
	size_t len = strlen(key);
	uint64_t kb = 0;
	FILE *fp;

	if ((fp = fopen(path, "re")) == NULL)
		return 0;
	while (fgets(line, sizeof line, fp) != NULL)
		if (strncmp(line, key, len) == 0) {
			kb = strtoull(line + len, NULL, 10);
			break;
		}
	(void)fclose(fp);	/* read-only: nothing to lose */
	return kb;
}

static int
pid_cmp(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return (x > y) - (x < y);
}

/*
 * Every process on the machine whose parent is in the tree joins the tree,
 * until none does: the server's children, theirs, and so on.  *n_out is the
 * number of processes read; the array is the caller's to free.
 */
static struct proc_info *
tree_scan(pid_t root, size_t *n_out)
{
	struct proc_info *all = NULL, *tmp;
	size_t n = 0, cap = 0, ntree = 1, sorted, i;
	pid_t *tree;
	struct dirent *de;
	char *end;
	long v;
	DIR *d;

	if ((d = opendir("/proc")) == NULL)
		err(1, "/proc");
	while ((de = readdir(d)) != NULL) {
		v = strtol(de->d_name, &end, 10);
		if (*end != '\0' || v <= 0 || v == root)
			continue;
		if (n == cap) {
			cap = cap == 0 ? 1024 : cap * 2;
			if ((tmp = realloc(all, cap * sizeof *all)) == NULL)
				err(1, "realloc");
			all = tmp;
		}
		if (proc_read((pid_t)v, &all[n]))
			n++;
	}
	(void)closedir(d);	/* read-only: nothing to lose */

	/* tree: the pids known to be in it, sorted for bsearch(3). */
	if ((tree = malloc((n + 1) * sizeof *tree)) == NULL)
		err(1, "malloc");
	tree[0] = root;
	do {
		sorted = ntree;
		for (i = 0; i < n; i++) {
			if (all[i].in_tree || bsearch(&all[i].ppid, tree, sorted,
			    sizeof *tree, pid_cmp) == NULL)
				continue;
			all[i].in_tree = true;
			tree[ntree++] = all[i].pid;
		}
		qsort(tree, ntree, sizeof *tree, pid_cmp);
	} while (ntree > sorted);
	free(tree);
	*n_out = n;
	return all;
}

/*
 * The server's tree now.  A child reaped during the scan would be counted
 * twice (alive, and in its parent's cutime) or not at all: the root is read
 * before and after the scan, and the scan done again if its reaped time
 * moved meanwhile.
 */
static void
server_snap(struct server_snap *s)
{
	struct proc_info root, again, *all = NULL;
	uint64_t tick_ns = NS_PER_S / (uint64_t)sysconf(_SC_CLK_TCK), ns, run;
	char path[64];
	size_t n = 0, i;
	int try;

	memset(s, 0, sizeof *s);
	for (try = 0; try < SNAP_TRIES; try++) {
		free(all);
		if (!proc_read(opt.server, &root) || root.state == 'Z')
			return;
		all = tree_scan(opt.server, &n);
		if (!proc_read(opt.server, &again) || again.state == 'Z') {
			free(all);
			return;
		}
		if (again.reaped_ticks == root.reaped_ticks)
			break;
	}
	s->alive = true;
	ns = (again.own_ticks + again.reaped_ticks) * tick_ns;
	s->threads = again.threads;
	s->procs = 1;
	for (i = 0; i < n; i++) {
		if (!all[i].in_tree)
			continue;
		if (!proc_run_ns(all[i].pid, &run))
			run = all[i].own_ticks * tick_ns;
		ns += run + all[i].reaped_ticks * tick_ns;
		if (all[i].state == 'Z')
			continue;
		s->threads += all[i].threads;
		s->procs++;
		snprintf(path, sizeof path, "/proc/%d/smaps_rollup",
		    (int)all[i].pid);
		s->pss_kb += proc_field_kb(path, "Pss:");
	}
	free(all);
	snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)opt.server);
	s->pss_kb += proc_field_kb(path, "Pss:");
	snprintf(path, sizeof path, "/proc/%d/status", (int)opt.server);
	s->rss_kb = proc_field_kb(path, "VmRSS:");
	s->cpu_us = ns / 1000;
	/* A process that is exiting has no memory left, nor a VmRSS line. */
	if (s->rss_kb == 0)
		s->alive = false;
}

/* The memory the server line reports: RSS of one process, Pss of a tree. */
static uint64_t
snap_kb(const struct server_snap *s)
{
	return s->procs > 1 ? s->pss_kb : s->rss_kb;
}

/*
 * hold: the server once it has settled.  A server may go on working after
 * the last connection is held: glibc's POSIX AIO starts a thread for each
 * pending read some time after its aio_read() (10,000 threads took about
 * 3 s), a forking server's children touch their pages.  Looked at the moment
 * the last echo came back, such a server looks cheaper than it is.  So the
 * tree is sampled every SETTLE_GAP_NS until SETTLE_SAMPLES samples in a row
 * have the same threads and processes and memory within 1% of the first of
 * them, or SETTLE_NS have passed (then the last sample stands, and stderr
 * says so).  Nothing arrives on idle connections meanwhile: the loop may
 * sleep.  Returns the milliseconds it waited.
 */
static uint64_t
server_settle(struct server_snap *s)
{
	struct server_snap first = { 0 };
	struct timespec gap = { 0, SETTLE_GAP_NS };
	uint64_t start = now_ns(), kb, kb1;
	unsigned steady = 0;

	for (;;) {
		server_snap(s);
		if (!s->alive)
			break;
		kb = snap_kb(s);
		kb1 = snap_kb(&first);
		if (steady > 0 && s->threads == first.threads &&
		    s->procs == first.procs && kb * 100 <= kb1 * 101 &&
		    kb * 100 >= kb1 * 99) {
			if (++steady == SETTLE_SAMPLES)
				break;
		} else {
			first = *s;
			steady = 1;
		}
		if (now_ns() - start >= SETTLE_NS) {
			warnx("the server had not settled after %" PRIu64
			    " s (threads or memory still changing): sampled "
			    "anyway", (uint64_t)(SETTLE_NS / NS_PER_S));
			break;
		}
		/* The signals we take are blocked (signalfd): no EINTR. */
		(void)nanosleep(&gap, NULL);
	}
	return (now_ns() - start) / NS_PER_MS;
}

/*
 * The line the driving script reads: the tree now (in hold, once settled),
 * against snap0.  Memory is the server's RSS when it is one process, the
 * tree's Pss when it has children, at both moments.
 */
static void
server_line(void)
{
	struct server_snap s;
	char settle[32] = "";

	if (opt.mode == MODE_HOLD)
		snprintf(settle, sizeof settle, " settle_ms=%" PRIu64,
		    server_settle(&s));
	else
		server_snap(&s);
	if (!s.alive || !snap0.alive) {
		print_sync("server exited\n");
		return;
	}
	print_sync("server cpu_us=%" PRIu64 " rss_kb=%" PRIu64 " rss0_kb=%"
	    PRIu64 " threads=%u procs=%u%s\n", s.cpu_us > snap0.cpu_us ?
	    s.cpu_us - snap0.cpu_us : 0, snap_kb(&s),
	    s.procs > 1 ? snap0.pss_kb : snap0.rss_kb, s.threads, s.procs,
	    settle);
}

/*
 * hold: TcpExt's ListenOverflows (a handshake completed but the listener's
 * accept queue was full: the kernel dropped it, and the client, which
 * believes it is connected, waits or is reset) and ListenDrops (those and
 * every other SYN a listener dropped), from /proc/net/netstat: pairs of
 * lines, the names, then the values.  They count every listening socket of
 * this network namespace, not the server's alone.
 */
static struct listen_counts
listen_read(void)
{
	struct listen_counts lc = { false, 0, 0 };
	char *names = NULL, *values = NULL, *n, *v, *sn, *sv;
	size_t nsz = 0, vsz = 0;
	unsigned found = 0;
	FILE *fp;

	if ((fp = fopen("/proc/net/netstat", "re")) == NULL)
		return lc;
	while (getline(&names, &nsz, fp) != -1 &&
	    getline(&values, &vsz, fp) != -1) {
		if (strncmp(names, "TcpExt:", 7) != 0)
			continue;
		/* Past the "TcpExt:" of each line, names and values pair. */
		n = strtok_r(names, " \n", &sn);
		v = strtok_r(values, " \n", &sv);
		while (n != NULL && v != NULL &&
		    (n = strtok_r(NULL, " \n", &sn)) != NULL &&
		    (v = strtok_r(NULL, " \n", &sv)) != NULL) {
			if (strcmp(n, "ListenOverflows") == 0) {
				lc.overflows = strtoull(v, NULL, 10);
				found++;
			} else if (strcmp(n, "ListenDrops") == 0) {
				lc.drops = strtoull(v, NULL, 10);
				found++;
			}
		}
	}
	(void)fclose(fp);	/* read-only: nothing to lose */
	free(names);
	free(values);
	lc.known = found == 2;
	return lc;
}

/*
 * hold: every connection has its answer.  The hold line, then the accept
 * line: how fast the server answered (held or refused, per second from
 * before the first connect until now), the listen overflows and drops the
 * kernel counted meanwhile (any listener's: "unknown" without /proc/net/
 * netstat), and the connections lost so far (see conn_unacked).  Both in one
 * write: a script that sees the first has the second.  With -P, then, the
 * server line, once the server has settled.
 */
static void
hold_lines(uint64_t now)
{
	struct listen_counts lc = listen_read();
	double secs = (double)(now - t_first) / NS_PER_S;
	char over[24] = "unknown", drops[24] = "unknown";

	if (lc.known && listen0.known) {
		snprintf(over, sizeof over, "%" PRIu64,
		    lc.overflows - listen0.overflows);
		snprintf(drops, sizeof drops, "%" PRIu64,
		    lc.drops - listen0.drops);
	}
	if (secs <= 0)
		secs = 1e-9;
	print_sync("hold held=%" PRIu64 " refused=%" PRIu64 "\n"
	    "accept conn_per_s=%.0f seconds=%.3f listen_overflows=%s "
	    "listen_drops=%s lost=%" PRIu64 "\n", count[OUT_OK],
	    count[OUT_REFUSED], (double)(count[OUT_OK] + count[OUT_REFUSED]) /
	    secs, secs, over, drops, lost);
	if (opt.server != 0)
		server_line();
}

/* Print one line about connection c on stderr, MAX_REPORTS at most. */
static void __attribute__((format(printf, 2, 3)))
conn_report(const struct conn *c, const char *fmt, ...)
{
	va_list ap;

	if (reports++ >= MAX_REPORTS)
		return;
	va_start(ap, fmt);
	fprintf(stderr, "loadgen: conn %u: ", c->id);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void
conn_settle(struct conn *c, enum outcome out)
{
	count[c->outcome]--;
	count[out]++;
	c->outcome = out;
}

/* Echo came back on c, or c failed: the window may open. */
static void
conn_arrive(struct conn *c)
{
	if (!c->arrived) {
		c->arrived = true;
		warming--;
	}
}

static void
conn_close(struct conn *c)
{
	conn_arrive(c);
	/* close(2) also takes the descriptor out of the epoll set. */
	if (c->fd != -1 && close(c->fd) == -1)
		warn("conn %u: close", c->id);
	c->fd = -1;
	c->state = ST_CLOSED;
	c->events = 0;
}

/*
 * Settle c with outcome out (not ok), say why on stderr, and close it.  A
 * refusal in hold is an expected answer, which -q keeps quiet.
 */
static void __attribute__((format(printf, 3, 4)))
conn_fail(struct conn *c, enum outcome out, const char *fmt, ...)
{
	char line[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (!(opt.quiet && opt.mode == MODE_HOLD && out == OUT_REFUSED))
		conn_report(c, "%s", line);
	conn_settle(c, out);
	conn_close(c);
}

/*
 * Whether c is connected on our side (the server's SYN-ACK came), has sent
 * bytes, and the server's kernel acknowledged none of them even when we sent
 * them again: a connection lost in the listen queue.  When that queue is
 * full the kernel drops the handshake's last ACK (ListenOverflows), so the
 * client believes it is connected while the server has no socket for it:
 * what the client sends is not taken, and it meets silence, then a reset
 * when the server gives up.  A socket that exists acknowledges data at once,
 * whether or not its server reads it, so a reset after an acknowledged byte
 * is the server's own (a refusal), and so is one that crossed our first
 * bytes, before they were due to be sent again (200 ms at least).
 * tcpi_bytes_acked counts the SYN as 1 (tcp(7), TCP_INFO).
 */
static bool
conn_unacked(const struct conn *c)
{
	struct tcp_info ti;
	socklen_t len = sizeof ti;

	memset(&ti, 0, sizeof ti);
	if (c->fd == -1 || c->sent == 0 ||
	    getsockopt(c->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == -1 ||
	    len < offsetof(struct tcp_info, tcpi_bytes_acked) +
	    sizeof ti.tcpi_bytes_acked)
		return false;
	return ti.tcpi_bytes_acked <= 1 && ti.tcpi_total_retrans > 0;
}

/*
 * The server closed (err == 0) or reset the connection, or a call failed
 * with err.  That is the normal end only after our half-close, once the
 * whole echo is in; in hold it is how a full server refuses.  A connection
 * whose bytes were never taken was not refused but lost: an error.
 */
static void
conn_lost(struct conn *c, const char *call, int err)
{
	if (c->outcome == OUT_PENDING && conn_unacked(c)) {
		lost++;
		conn_fail(c, OUT_ERROR, "lost: %s: %s, and the server's kernel "
		    "never acknowledged a byte: the handshake was dropped at "
		    "its listener", call, err == 0 ? "closed" : strerror(err));
	} else if (opt.mode == MODE_HOLD) {
		/*
		 * Before its echo, the server turned the connection away;
		 * after it, the server may close held connections (it is
		 * shutting down, say): count it and move on.
		 */
		if (c->outcome != OUT_PENDING) {
			dropped++;
			conn_close(c);
		} else if (err == 0) {
			conn_fail(c, OUT_REFUSED, "refused: the server closed the "
			    "connection before its echo");
		} else {
			conn_fail(c, OUT_REFUSED, "refused: %s: %s before its echo",
			    call, strerror(err));
		}
	} else if (err == 0 && c->state == ST_SHUT && c->rcvd == c->goal) {
		conn_settle(c, OUT_OK);
		conn_close(c);
	} else if (err == 0) {
		conn_fail(c, OUT_ERROR, "server closed the connection after "
		    "%" PRIu64 " of %" PRIu64 " bytes echoed", c->rcvd,
		    c->sent);
	} else if (err == ECONNRESET) {
		conn_fail(c, OUT_ERROR, "connection reset by peer after "
		    "%" PRIu64 " of %" PRIu64 " bytes echoed", c->rcvd,
		    c->sent);
	} else {
		conn_fail(c, OUT_ERROR, "%s: %s after %" PRIu64 " of %" PRIu64
		    " bytes echoed", call, strerror(err), c->rcvd, c->sent);
	}
}

/*
 * A refused connect() is a refusal in every mode, anything else an error;
 * except a reset in hold: the server accepted the connection and reset it
 * before we saw the handshake end, which is how it turns a client away.
 */
static void
conn_connect_failed(struct conn *c, int err)
{
	if (opt.mode == MODE_HOLD && err == ECONNRESET)
		conn_lost(c, "connect", err);
	else
		conn_fail(c, err == ECONNREFUSED ? OUT_REFUSED : OUT_ERROR,
		    "connect: %s", strerror(err));
}

/* Half-close: FIN after everything sent so far; we keep reading. */
static void
conn_shut(struct conn *c)
{
	if (shutdown(c->fd, SHUT_WR) == -1) {
		conn_lost(c, "shutdown", errno);
		return;
	}
	c->state = ST_SHUT;
}

/*
 * Half-close once everything is sent: shutdown(2) sends FIN while we keep
 * reading, and the server's EOF then tells that it has echoed it all.  Echo
 * waits for its last round trip first; hold and reset never half-close, and
 * slow does only in its second phase.  (abort also half-closes when its send
 * stalls: see abort_ready.)
 */
static void
conn_maybe_shut(struct conn *c)
{
	if (c->state != ST_OPEN || c->sent < c->goal)
		return;
	switch (opt.mode) {
	case MODE_ECHO:
		if (c->rcvd < c->goal)
			return;
		break;
	case MODE_STREAM:
	case MODE_HALFCLOSE:
	case MODE_ABORT:
		break;
	case MODE_SLOW:
		if (!resumed)
			return;
		break;
	default:
		return;
	}
	conn_shut(c);
}

/*
 * The events connection c waits for follow from its state, as in nc's
 * readwrite(): write while there is something to send, read unless the
 * mode forbids it for now.
 */
static uint32_t
conn_want(const struct conn *c)
{
	bool rd, wr;

	if (c->state == ST_CONNECTING)
		return EPOLLOUT;
	if (c->state == ST_CLOSED)
		return 0;
	wr = c->state == ST_OPEN && c->sent < c->limit;
	rd = true;
	if (opt.mode == MODE_HALFCLOSE) {
		/*
		 * Read only when the send is stalled: a server that applies
		 * back-pressure stops reading while its echo waits for us,
		 * and would deadlock a client that never reads.
		 */
		rd = c->sent == c->goal || c->stalled;
	} else if (opt.mode == MODE_SLOW && !resumed) {
		rd = false;
		wr = wr && !c->paused;
	} else if (opt.mode == MODE_ABORT) {
		/* abort_ready() sends, a piece at a time; no reading. */
		rd = wr = false;
	}
	return (rd ? EPOLLIN : 0) | (wr ? EPOLLOUT : 0);
}

/* Tell epoll what c waits for now, if that changed. */
static void
conn_update(struct conn *c)
{
	struct epoll_event ev;

	if (c->state == ST_CLOSED)
		return;
	memset(&ev, 0, sizeof ev);
	ev.events = conn_want(c);
	if (ev.events == c->events)
		return;
	ev.data.ptr = c;
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) == -1) {
		conn_fail(c, OUT_ERROR, "epoll_ctl: %s", strerror(errno));
		return;
	}
	c->events = ev.events;
}

/* Connected: set up the first message (echo) or the whole stream. */
static void
conn_start(struct conn *c)
{
	c->state = ST_OPEN;
	c->t_msg = c->t_progress = now_ns();
	c->limit = opt.mode == MODE_ECHO && c->goal > 0 ? opt.size : c->goal;
	conn_maybe_shut(c);
}

static void
conn_open(struct conn *c, const struct addrinfo *ai)
{
	struct epoll_event ev;
	int buf = SLOW_SOCKBUF, mss = ABORT_MSS;

	c->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, ai->ai_protocol);
	if (c->fd == -1) {
		conn_fail(c, OUT_ERROR, "socket: %s", strerror(errno));
		return;
	}
	/*
	 * slow, abort: small buffers, set before connect() because the
	 * receive buffer decides the window scale offered in the SYN, so that
	 * the kernel cannot absorb much of what we neither send nor read.
	 * (abort keeps its send buffer: it sends a piece only once the
	 * server has read all before it, so little waits in it.)
	 */
	if ((opt.mode == MODE_SLOW || opt.mode == MODE_ABORT) &&
	    (setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf) == -1 ||
	    (opt.mode == MODE_SLOW && setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF,
	    &buf, sizeof buf) == -1))) {
		conn_fail(c, OUT_ERROR, "setsockopt: %s", strerror(errno));
		return;
	}
	/*
	 * abort: a small MSS, offered in the SYN.  Linux sizes the server's
	 * send buffer from the segment size, to about 2 MiB with loopback's
	 * 64 KiB segments; with 1 KiB ones it stays near 100 KiB, and abort
	 * has that much less to send before the server stops reading.
	 */
	if (opt.mode == MODE_ABORT && setsockopt(c->fd, IPPROTO_TCP, TCP_MAXSEG,
	    &mss, sizeof mss) == -1) {
		conn_fail(c, OUT_ERROR, "setsockopt TCP_MAXSEG: %s",
		    strerror(errno));
		return;
	}
	/*
	 * A non-blocking connect() returns EINPROGRESS and reports the end
	 * of the handshake as EPOLLOUT, the result in SO_ERROR (connect(2)).
	 * EAGAIN or EADDRNOTAVAIL here mean no local port was free.
	 */
	if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) == 0) {
		conn_start(c);
	} else if (errno == EINPROGRESS) {
		c->state = ST_CONNECTING;
	} else {
		conn_connect_failed(c, errno);
		return;
	}
	if (c->state == ST_CLOSED)
		return;
	memset(&ev, 0, sizeof ev);
	ev.events = conn_want(c);
	ev.data.ptr = c;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) == -1) {
		conn_fail(c, OUT_ERROR, "epoll_ctl: %s", strerror(errno));
		return;
	}
	c->events = ev.events;
}

static void
on_connected(struct conn *c)
{
	socklen_t len = sizeof(int);
	int e;

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &len) == -1)
		e = errno;
	if (e != 0)
		conn_connect_failed(c, e);
	else
		conn_start(c);
}

/*
 * Send c's stream up to its limit until the socket is full (EAGAIN), which
 * is what halfclose waits for before it reads.  The burst is bounded by the
 * socket buffers: a server with back-pressure stops taking bytes while its
 * echo waits for us, and we read nothing in here.
 */
/* send() the next bytes of c's stream, max at most; send's return value. */
static ssize_t
conn_send(struct conn *c, uint64_t max)
{
	size_t len, off;

	if (sbuf_len == 0 || sbuf_id != c->id || c->sent < sbuf_pos ||
	    c->sent >= sbuf_pos + sbuf_len) {
		/*
		 * Up to the limit, not the goal: an echo round trip needs
		 * -s bytes, and computing 64 KiB of stream for each one
		 * would cost more than the round trip itself.
		 */
		sbuf_len = c->limit - c->sent < CHUNK ?
		    (size_t)(c->limit - c->sent) : CHUNK;
		sbuf_id = c->id;
		sbuf_pos = c->sent;
		stream_fill(c->id, c->sent, sbuf, sbuf_len);
	}
	off = (size_t)(c->sent - sbuf_pos);
	len = sbuf_len - off;
	if (len > max)
		len = (size_t)max;
	/* MSG_NOSIGNAL: a reset peer gives EPIPE, not SIGPIPE. */
	return send(c->fd, sbuf + off, len, MSG_NOSIGNAL);
}

static void
on_writable(struct conn *c)
{
	ssize_t n;

	while (c->sent < c->limit) {
		n = conn_send(c, c->limit - c->sent);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				c->stalled = true;
				return;
			}
			conn_lost(c, "send", errno);
			return;
		}
		c->sent += (uint64_t)n;
		c->stalled = false;
		c->t_progress = now_ns();
	}
	conn_maybe_shut(c);
}

/*
 * Check that buf, just received, is c's stream from where the echo stands.
 * A byte the server never got from us is a mismatch as much as a wrong one.
 */
static bool
conn_verify(struct conn *c, const unsigned char *buf, size_t n)
{
	uint64_t pending = c->sent - c->rcvd;
	size_t check = n < pending ? n : (size_t)pending;
	size_t i;

	stream_fill(c->id, c->rcvd, expect, check);
	if (memcmp(buf, expect, check) != 0) {
		for (i = 0; buf[i] == expect[i]; i++)
			continue;
		conn_fail(c, OUT_MISMATCH, "mismatch at byte %" PRIu64
		    ": got 0x%02x, expected 0x%02x", c->rcvd + i, buf[i],
		    expect[i]);
		return false;
	}
	if (n > check) {
		conn_fail(c, OUT_MISMATCH, "mismatch: %zu bytes came back "
		    "beyond the %" PRIu64 " sent", n - check, c->sent);
		return false;
	}
	return true;
}

/* A whole message came back: an echo round trip, or a hold. */
static void
message_done(struct conn *c)
{
	uint64_t now = now_ns();

	if (counting) {
		hist_add((now - c->t_msg) / 1000);
		messages++;
	}
	if (opt.mode == MODE_HOLD) {
		conn_settle(c, OUT_OK);
	} else if (c->limit < c->goal) {
		c->limit += opt.size;
		c->t_msg = now;
	}
}

/*
 * One recv() per wake-up: level-triggered epoll reports the socket again
 * while data is left, and the other connections get their turn meanwhile.
 */
static void
on_readable(struct conn *c)
{
	ssize_t n;

	n = recv(c->fd, rbuf, sizeof rbuf, 0);
	if (n == -1) {
		if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
			conn_lost(c, "recv", errno);
		return;
	}
	if (n == 0) {
		conn_lost(c, "recv", 0);
		return;
	}
	if (!conn_verify(c, rbuf, (size_t)n))
		return;
	c->rcvd += (uint64_t)n;
	conn_arrive(c);
	if (counting)
		bytes_ok += (uint64_t)n;
	if ((opt.mode == MODE_ECHO || opt.mode == MODE_HOLD) &&
	    c->outcome == OUT_PENDING && c->rcvd == c->limit)
		message_done(c);
	conn_maybe_shut(c);
}

/*
 * Close with SO_LINGER {1, 0}: close() drops what is queued and sends RST
 * instead of FIN (socket(7)).  That is the job of reset and abort: ok.
 */
static void
conn_reset(struct conn *c)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	if (setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == -1) {
		conn_fail(c, OUT_ERROR, "setsockopt SO_LINGER: %s",
		    strerror(errno));
		return;
	}
	conn_settle(c, OUT_OK);
	conn_close(c);
}

/*
 * reset: once the server has echoed at least one byte, it has accepted the
 * connection and is busy with it, data in flight both ways (what a reset
 * should hit).
 */
static void
conn_maybe_reset(struct conn *c)
{
	if (c->state == ST_OPEN && c->rcvd > 0)
		conn_reset(c);
}

static void
conn_event(struct conn *c, uint32_t ev)
{
	if (c->state == ST_CONNECTING) {
		on_connected(c);
	} else {
		if ((ev & EPOLLOUT) && c->state == ST_OPEN)
			on_writable(c);
		/*
		 * EPOLLHUP and EPOLLERR are reported even when not asked for,
		 * maybe with data still queued: recv() returns the data
		 * first, then EOF or the error.
		 */
		if ((ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) &&
		    c->state != ST_CLOSED)
			on_readable(c);
	}
	if (opt.mode == MODE_RESET)
		conn_maybe_reset(c);
	conn_update(c);
}

/*
 * Signals arrive through a signalfd in the same epoll set as the sockets.
 * They are blocked from the start, so one sent before loadgen waits for it
 * (SIGUSR1 right after the "paused" line) stays pending in the kernel until
 * read here: nothing is lost, no handler races with the loop, and waiting
 * for a signal is the same epoll_wait() that watches sockets and the clock.
 */
static int
signals_setup(void)
{
	sigset_t set;
	int sfd;

	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		err(1, "signal");
	if (sigemptyset(&set) == -1 || sigaddset(&set, SIGUSR1) == -1 ||
	    sigaddset(&set, SIGTERM) == -1 || sigaddset(&set, SIGINT) == -1)
		err(1, "sigaddset");
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1)
		err(1, "sigprocmask");
	if ((sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) == -1)
		err(1, "signalfd");
	return sfd;
}

static void
on_signal(int sfd)
{
	struct signalfd_siginfo si;
	ssize_t n;

	for (;;) {
		n = read(sfd, &si, sizeof si);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n == -1)
			err(1, "read signalfd");
		if (n != (ssize_t)sizeof si)
			errx(1, "read signalfd: short read");
		if (si.ssi_signo == SIGUSR1)
			got_usr1 = true;
		else
			got_term = (int)si.ssi_signo;
	}
}

/*
 * slow, phase 1: a connection is done when it has sent everything or its
 * send has made no progress for SLOW_STALL_NS.  Returns whether every open
 * connection is done; *wake is lowered to the next moment to check.
 */
static bool
slow_stalled(uint64_t now, uint64_t *wake)
{
	struct conn *c;
	bool all = true;
	unsigned i;

	for (i = 0; i < opt.conns; i++) {
		c = &conns[i];
		if (c->state == ST_CLOSED || c->paused)
			continue;
		if (c->state == ST_OPEN && (c->sent == c->goal ||
		    now - c->t_progress >= SLOW_STALL_NS)) {
			c->paused = true;
			conn_update(c);
			continue;
		}
		all = false;
		if (c->state == ST_OPEN &&
		    c->t_progress + SLOW_STALL_NS < *wake)
			*wake = c->t_progress + SLOW_STALL_NS;
	}
	return all;
}

/*
 * abort: the peer's address, or ours, as /proc/net/tcp and tcp6 print it:
 * each 32-bit word of the address in hex as the machine stores it, then the
 * port in hex ("0100007F:2328" is 127.0.0.1:9000 on x86).  Returns false if
 * the family is neither.
 */
static bool
proc_net_addr(const struct sockaddr_storage *ss, char *out, size_t size)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
	uint32_t w[4];

	if (ss->ss_family == AF_INET) {
		memcpy(&w[0], &sin->sin_addr, sizeof w[0]);
		snprintf(out, size, "%08X:%04X", w[0], ntohs(sin->sin_port));
		return true;
	}
	if (ss->ss_family == AF_INET6) {
		memcpy(w, &sin6->sin6_addr, sizeof w);
		snprintf(out, size, "%08X%08X%08X%08X:%04X", w[0], w[1], w[2],
		    w[3], ntohs(sin6->sin6_port));
		return true;
	}
	return false;
}

/*
 * abort: how many bytes the server's end of connection c has received and
 * not read, from its line in /proc/net/tcp (or tcp6): local address ours
 * as the peer, remote ours, then "tx_queue:rx_queue" in hex.  Returns -1
 * with errno set if the kernel cannot say (ENOENT: no such socket here).
 */
static int64_t
abort_server_unread(const struct conn *c)
{
	struct sockaddr_storage me, peer;
	socklen_t len = sizeof me, plen = sizeof peer;
	char line[512], want_local[48], want_rem[48], local[48], rem[48];
	unsigned long tx, rx;
	int64_t unread = -1;
	FILE *f;

	if (getsockname(c->fd, (struct sockaddr *)&me, &len) == -1 ||
	    getpeername(c->fd, (struct sockaddr *)&peer, &plen) == -1)
		return -1;
	if (!proc_net_addr(&peer, want_local, sizeof want_local) ||
	    !proc_net_addr(&me, want_rem, sizeof want_rem)) {
		errno = EAFNOSUPPORT;
		return -1;
	}
	if ((f = fopen(me.ss_family == AF_INET ? "/proc/net/tcp" :
	    "/proc/net/tcp6", "re")) == NULL)
		return -1;
	while (unread == -1 && fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "%*s %47s %47s %*s %lx:%lx", local, rem, &tx,
		    &rx) == 4 && strcmp(local, want_local) == 0 &&
		    strcmp(rem, want_rem) == 0)
			unread = (int64_t)rx;
	fclose(f);
	if (unread == -1)
		errno = ENOENT;
	return unread;
}

/*
 * abort, phase 1: send a piece once the server has acknowledged and read
 * all we sent before it (see "abort is the SIGPIPE test" above), and
 * half-close once all -b bytes are sent.  Nothing is read: the server's
 * echo piles up until it stops reading.  Progress is a piece sent, or a
 * change in what the server has not acknowledged or not read: while it
 * reads, that changes.
 */
static void
abort_send(struct conn *c, uint64_t now)
{
	int64_t unread;
	uint64_t piece;
	int queued;
	ssize_t n;

	if (c->state != ST_OPEN)
		return;
	/*
	 * /proc/net/tcp is read a page at a time, and a line can slip
	 * between two pages while other sockets come and go: one miss means
	 * nothing.  Many in a row: the server is not on this machine.
	 */
	unread = abort_server_unread(c);
	if (unread == -1 && errno == ENOENT && ++c->misses < ABORT_MISSES)
		return;
	if (unread == -1) {
		conn_fail(c, OUT_ERROR, "the server's socket in /proc/net/tcp: "
		    "%s (abort needs the server on this machine)",
		    strerror(errno));
		return;
	}
	c->misses = 0;
	if (ioctl(c->fd, SIOCOUTQ, &queued) == -1) {
		conn_fail(c, OUT_ERROR, "SIOCOUTQ: %s", strerror(errno));
		return;
	}
	if (unread != c->unread || queued != c->queued) {
		c->unread = unread;
		c->queued = queued;
		c->t_progress = now;
	}
	if (unread > 0 || queued > 0 || c->sent >= c->goal) {
		conn_maybe_shut(c);
		return;
	}
	piece = c->goal - c->sent < ABORT_PIECE ? c->goal - c->sent :
	    ABORT_PIECE;
	if ((n = conn_send(c, piece)) == -1) {
		if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
			conn_lost(c, "send", errno);
		return;
	}
	c->sent += (uint64_t)n;
	c->t_progress = now;
}

/*
 * abort: has the server acknowledged everything we sent, our FIN included
 * (SIOCOUTQ counts the FIN)?  Then its socket is in CLOSE_WAIT.
 */
static bool
abort_fin_in(struct conn *c)
{
	int queued;

	c->fin_in = ioctl(c->fd, SIOCOUTQ, &queued) == 0 && queued == 0;
	return c->fin_in;
}

/*
 * abort: move every connection on (see abort_send); one that has made no
 * progress for SLOW_STALL_NS half-closes with what it has sent (the server
 * has stopped reading).  A FIN not acknowledged within ABORT_FIN_NS is a
 * failure.
 * Returns whether every connection is either settled or has its FIN in;
 * *wake is lowered to the next look (window updates come with no event).
 */
static bool
abort_ready(uint64_t now, uint64_t *wake)
{
	struct conn *c;
	bool all = true;
	unsigned i;

	for (i = 0; i < opt.conns; i++) {
		c = &conns[i];
		if (c->state == ST_CLOSED || c->fin_in)
			continue;
		if (c->state == ST_OPEN)
			abort_send(c, now);
		if (c->state == ST_OPEN && now - c->t_progress >= SLOW_STALL_NS) {
			c->cut = true;
			conn_shut(c);
			c->t_progress = now;
		}
		if (c->state == ST_SHUT && abort_fin_in(c))
			continue;
		if (c->state == ST_SHUT && now - c->t_progress >= ABORT_FIN_NS) {
			conn_fail(c, OUT_ERROR, "the server did not take the "
			    "half-close within %llu ms (%" PRIu64 " bytes sent)",
			    ABORT_FIN_NS / NS_PER_MS, c->sent);
			continue;
		}
		if (c->state == ST_CLOSED)
			continue;
		all = false;
		if (now + ABORT_POLL_NS < *wake)
			*wake = now + ABORT_POLL_NS;
	}
	return all;
}

/* abort: the line the driving script waits for, and how it went. */
static void
abort_shut_line(void)
{
	uint64_t sent = 0;
	unsigned i, cut = 0;

	for (i = 0; i < opt.conns; i++) {
		sent += conns[i].sent;
		if (conns[i].cut && conns[i].fin_in)
			cut++;
	}
	print_sync("abort shut sent=%" PRIu64 "\n", sent);
	if (!opt.quiet && cut > 0)
		fprintf(stderr, "loadgen: abort: %u connection%s sent less than "
		    "-b: the server stopped reading (it has echo pending)\n",
		    cut, cut == 1 ? "" : "s");
}

/*
 * -d: echo has come back on every connection; the window opens, with the
 * server's state at its start (-P), and the counts start from zero.
 */
static void
window_open(uint64_t *now)
{
	if (opt.server != 0)
		server_snap(&snap0);
	*now = now_ns();
	win_start = *now;
	win_end = win_start + opt.window_ns;
	messages = bytes_ok = hist_n = 0;
	memset(hist, 0, sizeof hist);
	win = WIN_OPEN;
}

/*
 * -d: the window is over.  The counts stop, the server is looked at while
 * every connection is still open (-P), and each connection is given its
 * goal: echo finishes the round trip under way, stream sends no more; then
 * both half-close and read the rest of the echo, verified as always.
 */
static void
window_close(uint64_t now)
{
	struct conn *c;
	unsigned i;

	win_end = now;
	counting = false;
	win = WIN_CLOSED;
	if (opt.server != 0)
		server_line();
	for (i = 0; i < opt.conns; i++) {
		c = &conns[i];
		if (c->state == ST_CLOSED)
			continue;
		c->goal = opt.mode == MODE_ECHO ? c->limit : c->sent;
		c->limit = c->goal;
		conn_maybe_shut(c);
		conn_update(c);
	}
}

/*
 * The loop: check the clock and the signals, move to the next phase when
 * every connection is ready for it, wait, dispatch, repeat.  *waited
 * accumulates the time spent waiting for a signal, which is not traffic.
 */
static enum end
run(int sfd, uint64_t deadline, uint64_t *waited)
{
	struct epoll_event evs[MAX_EVENTS];
	uint64_t now, wake, t_wait = 0, sent;
	unsigned i;
	int n;

	for (;;) {
		now = now_ns();
		if (phase != PH_RUN && (now >= deadline || got_term ||
		    got_usr1))
			*waited += now - t_wait;
		if (now >= deadline)
			return phase == PH_HOLDING ? END_DONE : END_TIMEOUT;
		if (got_term)
			return phase == PH_HOLDING ? END_DONE : END_SIGNAL;
		if (phase == PH_HOLDING && got_usr1)
			return END_DONE;
		if (phase == PH_PAUSED && got_usr1) {
			got_usr1 = false;
			phase = PH_RUN;
			resumed = true;
			for (i = 0; i < opt.conns; i++) {
				if (opt.mode == MODE_ABORT) {
					if (conns[i].state == ST_SHUT)
						conn_reset(&conns[i]);
					continue;
				}
				conn_maybe_shut(&conns[i]);
				conn_update(&conns[i]);
			}
			continue;
		}
		if (win == WIN_WAIT && warming == 0)
			window_open(&now);
		if (win == WIN_OPEN && now >= win_end)
			window_close(now);
		wake = win == WIN_OPEN && win_end < deadline ? win_end :
		    deadline;
		if (phase == PH_RUN && count[OUT_PENDING] == 0) {
			if (opt.mode != MODE_HOLD)
				return END_DONE;
			hold_lines(now);
			phase = PH_HOLDING;
			t_wait = now;
			continue;
		}
		if (phase == PH_RUN && opt.mode == MODE_SLOW && !resumed &&
		    slow_stalled(now, &wake)) {
			for (sent = 0, i = 0; i < opt.conns; i++)
				sent += conns[i].sent;
			print_sync("slow paused sent=%" PRIu64 "\n", sent);
			phase = PH_PAUSED;
			t_wait = now;
			continue;
		}
		if (phase == PH_RUN && opt.mode == MODE_ABORT && !resumed &&
		    abort_ready(now, &wake)) {
			abort_shut_line();
			phase = PH_PAUSED;
			t_wait = now;
			continue;
		}

		/* Round up, so as not to wake just before the moment. */
		n = epoll_wait(epfd, evs, MAX_EVENTS,
		    (int)((wake - now + NS_PER_MS - 1) / NS_PER_MS));
		if (n == -1) {
			if (errno == EINTR)
				continue;
			err(1, "epoll_wait");
		}
		for (i = 0; i < (unsigned)n; i++) {
			if (evs[i].data.ptr == NULL)
				on_signal(sfd);
			else
				conn_event(evs[i].data.ptr, evs[i].events);
		}
	}
}

/*
 * Raise the soft limit on descriptors to the hard one: the tests open more
 * than a thousand connections, past the usual soft limit of 1024.
 */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
		warn("getrlimit");
		return;
	}
	if (rl.rlim_cur == rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		warn("setrlimit RLIMIT_NOFILE");
}

static void
report(uint64_t ns)
{
	double secs = (double)ns / NS_PER_S;

	if (secs <= 0)
		secs = 1e-9;
	printf("result mode=%s conns=%u ok=%" PRIu64 " refused=%" PRIu64
	    " errors=%" PRIu64 " mismatches=%" PRIu64 " messages=%" PRIu64
	    " bytes=%" PRIu64 " seconds=%.3f msgs_per_s=%.0f mb_per_s=%.1f"
	    " p50_us=%" PRIu64 " p99_us=%" PRIu64 " lost=%" PRIu64 "\n",
	    mode_names[opt.mode], opt.conns, count[OUT_OK], count[OUT_REFUSED],
	    count[OUT_ERROR], count[OUT_MISMATCH], messages, bytes_ok, secs,
	    (double)messages / secs, (double)bytes_ok / secs / 1e6,
	    hist_pct(50), hist_pct(99), lost);
	if (fflush(stdout) == EOF)
		warn("stdout");
}

int
main(int argc, char *argv[])
{
	struct addrinfo hints, *ai;
	struct epoll_event ev;
	struct conn *c;
	uint64_t t_start, t_end, waited = 0;
	enum end end;
	unsigned i;
	int sfd, e;

	parse_args(argc, argv);
	raise_nofile();
	sfd = signals_setup();

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((e = getaddrinfo(opt.host, opt.port, &hints, &ai)) != 0)
		errx(1, "%s:%s: %s", opt.host, opt.port, gai_strerror(e));

	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		err(1, "epoll_create1");
	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &ev) == -1)
		err(1, "epoll_ctl signalfd");
	if ((conns = calloc(opt.conns, sizeof *conns)) == NULL)
		err(1, "calloc");

	if (!opt.quiet)
		fprintf(stderr, "loadgen: %s: %u connection%s to %s:%s, "
		    "time limit %" PRIu64 " s\n", mode_names[opt.mode],
		    opt.conns, opt.conns == 1 ? "" : "s", opt.host, opt.port,
		    opt.seconds);

	/*
	 * Open every connection up front (the servers listen with a backlog
	 * of 4096), each going its own way from then on: a blocking server
	 * serves one at a time and accepts the next only when one closes.
	 */
	if (opt.server != 0 && opt.mode == MODE_HOLD)
		server_snap(&snap0);
	if (opt.mode == MODE_HOLD)
		listen0 = listen_read();
	if (opt.window_ns > 0)
		win = WIN_WAIT;
	t_first = t_start = now_ns();
	count[OUT_PENDING] = opt.conns;
	warming = opt.conns;
	for (i = 0; i < opt.conns; i++) {
		conns[i].fd = -1;
		conns[i].id = i;
		switch (opt.mode) {
		case MODE_ECHO:
			conns[i].goal = opt.window_ns > 0 ? GOAL_OPEN :
			    opt.messages * opt.size;
			break;
		case MODE_HOLD:
		case MODE_RESET:
			conns[i].goal = opt.size;
			break;
		case MODE_ABORT:
			conns[i].goal = opt.bytes_set ? opt.bytes : ABORT_BYTES;
			break;
		case MODE_STREAM:
			conns[i].goal = opt.window_ns > 0 ? GOAL_OPEN :
			    opt.bytes;
			break;
		default:
			conns[i].goal = opt.bytes;
			break;
		}
		conn_open(&conns[i], ai);
	}
	freeaddrinfo(ai);

	end = run(sfd, t_start + opt.seconds * NS_PER_S, &waited);
	t_end = now_ns();
	if (win == WIN_OPEN)
		window_close(t_end);
	if (win == WIN_WAIT) {
		fprintf(stderr, "loadgen: the window never opened: %u "
		    "connection%s had no echo yet\n", warming,
		    warming == 1 ? "" : "s");
		messages = bytes_ok = hist_n = 0;
	}

	/*
	 * Whatever is still open closes with FIN: held connections (ok), and
	 * those the time limit or a signal cut short (errors).
	 */
	for (i = 0; i < opt.conns; i++) {
		c = &conns[i];
		if (c->outcome == OUT_PENDING && conn_unacked(c)) {
			lost++;
			conn_fail(c, OUT_ERROR, "lost: connected, but the "
			    "server's kernel never acknowledged a byte of the %"
			    PRIu64 " sent: the handshake was dropped at its "
			    "listener", c->sent);
		} else if (c->outcome == OUT_PENDING) {
			conn_fail(c, OUT_ERROR, "unfinished: %" PRIu64 " of %"
			    PRIu64 " bytes sent, %" PRIu64 " echoed", c->sent,
			    c->goal, c->rcvd);
		}
		conn_close(c);
	}
	report(opt.window_ns > 0 ? win_end - win_start :
	    t_end - t_start - waited);
	if (reports > MAX_REPORTS)
		fprintf(stderr, "loadgen: %u more lines like these not shown\n",
		    reports - MAX_REPORTS);
	if (!opt.quiet && dropped > 0)
		fprintf(stderr, "loadgen: the server closed %" PRIu64
		    " held connection%s\n", dropped, dropped == 1 ? "" : "s");
	if (end == END_TIMEOUT)
		fprintf(stderr, "loadgen: timed out after %" PRIu64 " s\n",
		    opt.seconds);
	else if (end == END_SIGNAL)
		fprintf(stderr, "loadgen: interrupted by %s\n",
		    got_term == SIGINT ? "SIGINT" : "SIGTERM");

	free(conns);
	if (close(epfd) == -1 || close(sfd) == -1)
		warn("close");
	/* Every connection has its outcome now; in hold a refusal is one. */
	return end == END_DONE && count[OUT_OK] + (opt.mode == MODE_HOLD ?
	    count[OUT_REFUSED] : 0) == opt.conns ? 0 : 1;
}
