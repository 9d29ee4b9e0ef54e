/*
 * 07-aio/server.c - an echo server on io_uring(7): one thread, many clients, and the kernel
 * does the whole read.
 *
 * The readiness labs (03 to 06) ask the kernel "which socket can I read now?", then read it
 * themselves. This server asks for the read itself: "receive from this socket into a buffer,
 * and tell me when the bytes are there". Requests go into a submission queue and answers come
 * back in a completion queue: two rings of memory shared with the kernel. One call,
 * io_uring_enter(2), hands over the new requests and sleeps until an answer is in. Both phases
 * of a read, waiting for the bytes and copying them, happen in the kernel, for every
 * connection at once; when the process wakes, the bytes are already in its memory.
 *
 *	./server [-H host] [-p port] [-m max_conns] [-q | -v] [-h]	(default port 9007)
 *
 * libc only, on purpose, as in the io_uring(7) man page's example: the rings are made with
 * io_uring_setup(2) and mmap(2), entered with syscall(2), and read and written with C11
 * acquire/release, so that every step is in this file (liburing would hide them). Accept,
 * receive, send and close go through the ring; once it runs, the loop makes no read(),
 * write(), recv() or send() at all (make trace LAB=07-aio shows it).
 *
 * What a connection costs: a small struct conn, and a request the kernel keeps for it. A
 * completion server must name a buffer before the bytes come, and one per connection would
 * cost every idle client a buffer. So the buffers come from a pool the kernel picks from only
 * when bytes arrive (a provided-buffer ring, IORING_REGISTER_PBUF_RING), and an echo gives its
 * buffer back at once: only what a socket did not take is kept, in a buffer of the
 * connection's own, as in the readiness labs.
 *
 * If io_uring cannot be used here (an old kernel, kernel.io_uring_disabled, a container's
 * seccomp filter), the server says why in one line and exits 1; 07-aio/server-posixaio, the
 * same echo on POSIX AIO, runs anywhere.
 *
 * Left out on purpose: liburing, SQPOLL, registered files and buffers, multishot and linked
 * requests (docs/07-aio.md, exercises).
 *
 * Read with docs/07-aio.md.
 */
#include <err.h>
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>

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
 * The limit is how many descriptors the process may open, RLIMIT_NOFILE (getrlimit(2)).
 * stdin, stdout, stderr, the two ends of the signal pipe, the listening socket and the ring
 * use seven; by default -m is the soft limit minus those seven (see main).
 */
#define OWN_FDS		7

/*
 * The submission queue holds SQ_ENTRIES requests between two io_uring_enter() calls (more are
 * handed over early, see sqe_get); the completion queue holds CQ_ENTRIES answers, enough for a
 * burst from thousands of connections. Past that the kernel keeps the overflow itself
 * (IORING_FEAT_NODROP) until the loop catches up.
 */
#define SQ_ENTRIES	256
#define CQ_ENTRIES	4096

/*
 * The pool the kernel picks receive buffers from: NBUFS buffers of BUF_SIZE bytes, 1 MiB in
 * all, whatever the number of connections. A buffer is out of the pool only from the moment
 * bytes land in it to the end of the next io_uring_enter(), when the echo has been sent from
 * it (see on_received). The size is a trade-off measured in docs/07-aio.md: more buffers ride
 * out bigger bursts of completions, bigger ones move a stream in fewer requests, and every
 * byte of the pool ends up in the server's memory once traffic has cycled through it.
 */
#define NBUFS		64		/* a power of two: the ring's size */
#define BUF_SIZE	16384
#define BGID		0		/* the pool's number ("buffer group") in the ring */

/*
 * Accept requests in flight at once. Each takes one client, so in a connect storm a pass of
 * the loop takes up to ACCEPTS from the listen queue: the budget, since the pass also reaps
 * the connected clients' completions. Each has its own place for the client's address.
 */
#define ACCEPTS		16

/* What a request was, in the low byte of its user_data; the descriptor is in the rest (for
 * an accept, which of the ACCEPTS it is). */
enum op {
	OP_ACCEPT,		/* a client to accept, on the listening socket */
	OP_RECV,		/* bytes from a client */
	OP_SEND,		/* an echo to a client */
	OP_WRITABLE,		/* a poll: room again in a client's socket */
	OP_CLOSE,		/* a connection's descriptor closed */
	OP_WAKE,		/* wake_fd readable: a stop signal came (main) */
};

/* doc:conn */
struct conn {
	bool		 open;		/* false: this slot is free */
	int		 fd;
	int		 bid;		/* pool buffer the echo is sent from; -1: none */
	unsigned	 len;		/* bytes in it */
	struct conn_buf	*pending;	/* echo the socket did not take yet; NULL: none */
	char		 peer[NET_ADDRSTRLEN];
};
/* end doc:conn */

/*
 * The two rings, as io_uring_setup(2) and mmap(2) give them: the kernel's head and tail
 * indices and the entries, in memory both sides see. Entries are at index & mask.
 */
static struct {
	int			 fd;
	unsigned		*sq_head, *sq_tail, sq_mask, sq_entries;
	struct io_uring_sqe	*sqes;
	unsigned		*cq_head, *cq_tail, cq_mask;
	struct io_uring_cqe	*cqes;
	void			*map[3];	/* the three mappings, for ring_close() */
	size_t			 map_len[3];
} ring;
/* Our tail of the submission queue: entries up to here are filled in, the kernel sees them
 * once ring_enter() publishes it. */
static unsigned			 sq_tail;

/* The pool and the ring through which the kernel is given its buffers (see NBUFS). */
static char			 pool[NBUFS][BUF_SIZE];
static struct io_uring_buf_ring	*bufring;
static unsigned short		 bufring_tail;

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
/* Where the kernel writes the address of the client each accept takes; armed: in flight. */
static struct {
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	bool			 armed;
} accepts[ACCEPTS];

/*
 * The kernel reads and writes the rings' indices from another CPU while this loop runs. Loading
 * an index the kernel moves is an acquire (the entries it filled before moving it are then
 * visible here); storing one the kernel reads is a release (the entries filled here before are
 * visible to it first). C11 atomics, as in io_uring(7)'s example.
 */
static unsigned
load_acquire(const unsigned *p)
{
	return atomic_load_explicit((const _Atomic unsigned *)p, memory_order_acquire);
}

static void
store_release(unsigned *p, unsigned v)
{
	atomic_store_explicit((_Atomic unsigned *)p, v, memory_order_release);
}


/* The number after key at the start of a line of the file at path ("": the first line), or -1. */
static long
proc_number(const char *path, const char *key)
{
	char line[256];
	long v = -1;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, key, strlen(key)) == 0) {
			v = strtol(line + strlen(key), NULL, 10);
			break;
		}
	}
	(void)fclose(f);
	return v;
}

/*
 * Why io_uring_setup() failed, in words a user can act on. EPERM and ENOSYS are how io_uring
 * is forbidden: by kernel.io_uring_disabled (Linux 6.6), or by a seccomp filter such as
 * container runtimes install ("Seccomp: 2" in /proc/self/status). ENOSYS is also a kernel
 * built without it, or older than 5.1.
 */
static const char *
io_uring_refusal(int e)
{
	static char reason[160];
	const char *because = "";
	long disabled;

	if (e == EPERM || e == ENOSYS) {
		disabled = proc_number("/proc/sys/kernel/io_uring_disabled", "");
		if (disabled > 0)
			because = disabled == 1 ? " (kernel.io_uring_disabled is 1: only members of "
			    "kernel.io_uring_group may use it)" : " (kernel.io_uring_disabled is 2)";
		else if (proc_number("/proc/self/status", "Seccomp:") == 2)
			because = " (a seccomp filter forbids it, as container runtimes do)";
		else if (e == ENOSYS)
			because = " (this kernel has no io_uring)";
	}
	(void)snprintf(reason, sizeof(reason), "io_uring_setup: %s%s", strerror(e), because);
	return reason;
}

/*
 * Set up the rings: io_uring_setup(2) makes them in the kernel and returns a descriptor,
 * mmap(2) on that descriptor maps them here. Then check that the kernel knows every request
 * this server makes. Returns 0, or -1 with *why saying what is missing.
 */
/* doc:ring_setup */
static int
ring_setup(const char **why)
{
	static const struct { unsigned char op; const char *name; } need[] = {
		{ IORING_OP_ACCEPT, "ACCEPT" }, { IORING_OP_RECV, "RECV" },
		{ IORING_OP_SEND, "SEND" }, { IORING_OP_CLOSE, "CLOSE" },
		{ IORING_OP_POLL_ADD, "POLL_ADD" },
	};
	static char reason[160];
	struct io_uring_params p;
	struct io_uring_probe *probe;
	char *sq, *cq;
	size_t i;

	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_CQSIZE;
	p.cq_entries = CQ_ENTRIES;
	if ((ring.fd = (int)syscall(SYS_io_uring_setup, SQ_ENTRIES, &p)) == -1) {
		*why = io_uring_refusal(errno);
		return -1;
	}
	/*
	 * Three areas to map: the submission ring (its indices and an array of entry numbers),
	 * the completion ring (its indices and the completions themselves), and the submission
	 * entries. The offsets of the indices come back in p.
	 */
	ring.map_len[0] = p.sq_off.array + p.sq_entries * sizeof(unsigned);
	ring.map_len[1] = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	ring.map_len[2] = p.sq_entries * sizeof(struct io_uring_sqe);
	ring.map[0] = sq = mmap(NULL, ring.map_len[0], PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_POPULATE, ring.fd, IORING_OFF_SQ_RING);
	ring.map[1] = cq = mmap(NULL, ring.map_len[1], PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_POPULATE, ring.fd, IORING_OFF_CQ_RING);
	ring.map[2] = ring.sqes = mmap(NULL, ring.map_len[2], PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_POPULATE, ring.fd, IORING_OFF_SQES);
	if (sq == MAP_FAILED || cq == MAP_FAILED || ring.sqes == MAP_FAILED) {
		(void)snprintf(reason, sizeof(reason), "mmap of the rings: %s", strerror(errno));
		*why = reason;
		return -1;
	}
	ring.sq_head = (unsigned *)(sq + p.sq_off.head);
	ring.sq_tail = (unsigned *)(sq + p.sq_off.tail);
	ring.sq_mask = *(unsigned *)(sq + p.sq_off.ring_mask);
	ring.sq_entries = *(unsigned *)(sq + p.sq_off.ring_entries);
	ring.cq_head = (unsigned *)(cq + p.cq_off.head);
	ring.cq_tail = (unsigned *)(cq + p.cq_off.tail);
	ring.cq_mask = *(unsigned *)(cq + p.cq_off.ring_mask);
	ring.cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
	/* The array says which entry each slot of the ring holds: here slot i is entry i. */
	for (i = 0; i < p.sq_entries; i++)
		((unsigned *)(sq + p.sq_off.array))[i] = (unsigned)i;
	sq_tail = *ring.sq_tail;

	/* Does this kernel know every request we make? IORING_REGISTER_PROBE (Linux 5.6). */
	if ((probe = calloc(1, sizeof(*probe) + 256 * sizeof(probe->ops[0]))) == NULL) {
		*why = "out of memory";
		return -1;
	}
	*why = NULL;
	if (syscall(SYS_io_uring_register, ring.fd, IORING_REGISTER_PROBE, probe, 256) == -1) {
		(void)snprintf(reason, sizeof(reason), "IORING_REGISTER_PROBE: %s", strerror(errno));
		*why = reason;
	}
	for (i = 0; *why == NULL && i < sizeof(need) / sizeof(need[0]); i++) {
		if (need[i].op > probe->last_op ||
		    !(probe->ops[need[i].op].flags & IO_URING_OP_SUPPORTED)) {
			(void)snprintf(reason, sizeof(reason), "this kernel has no IORING_OP_%s",
			    need[i].name);
			*why = reason;
		}
	}
	free(probe);
	return *why == NULL ? 0 : -1;
}
/* end doc:ring_setup */

/* Put pool buffer bid (back) in the ring, where the kernel takes it for the next receive. */
/* doc:buf_give */
static void
buf_give(int bid)
{
	struct io_uring_buf *b = &bufring->bufs[bufring_tail & (NBUFS - 1)];

	b->addr = (uintptr_t)pool[bid];
	b->len = BUF_SIZE;
	b->bid = (unsigned short)bid;
	bufring_tail++;
	atomic_store_explicit((_Atomic unsigned short *)&bufring->tail, bufring_tail,
	    memory_order_release);
}
/* end doc:buf_give */

/*
 * Register the pool (IORING_REGISTER_PBUF_RING, Linux 5.19): a ring of NBUFS buffer
 * descriptions, in a page of our memory, that the kernel takes buffers from. Returns 0, or -1
 * with *why set.
 */
static int
pool_setup(const char **why)
{
	static char reason[160];
	struct io_uring_buf_reg reg;
	int bid;

	bufring = mmap(NULL, NBUFS * sizeof(struct io_uring_buf), PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (bufring == MAP_FAILED) {
		(void)snprintf(reason, sizeof(reason), "mmap: %s", strerror(errno));
		*why = reason;
		return -1;
	}
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uintptr_t)bufring;
	reg.ring_entries = NBUFS;
	reg.bgid = BGID;
	if (syscall(SYS_io_uring_register, ring.fd, IORING_REGISTER_PBUF_RING, &reg, 1) == -1) {
		(void)snprintf(reason, sizeof(reason), "IORING_REGISTER_PBUF_RING: %s (Linux 5.19 "
		    "or later needed)", strerror(errno));
		*why = reason;
		return -1;
	}
	for (bid = 0; bid < NBUFS; bid++)
		buf_give(bid);
	return 0;
}

/*
 * io_uring_enter(2): publish the entries queued since the last call (one release of the tail
 * covers them all), hand them to the kernel, and with wait_nr > 0 sleep until that many
 * completions are in, or timeout_ms has passed (-1: no timeout; IORING_ENTER_EXT_ARG, Linux
 * 5.11). Returns what the kernel returns: the number of entries it took, or -1 with errno.
 */
/* doc:ring_enter */
static int
ring_enter(unsigned wait_nr, int timeout_ms)
{
	struct io_uring_getevents_arg arg;
	struct __kernel_timespec ts;
	unsigned submit, flags = 0;

	store_release(ring.sq_tail, sq_tail);
	submit = sq_tail - load_acquire(ring.sq_head);
	if (wait_nr > 0)
		flags |= IORING_ENTER_GETEVENTS;
	if (timeout_ms < 0)
		return (int)syscall(SYS_io_uring_enter, ring.fd, submit, wait_nr, flags, NULL, 0);
	memset(&arg, 0, sizeof(arg));
	ts.tv_sec = timeout_ms / 1000;
	ts.tv_nsec = timeout_ms % 1000 * 1000000L;
	arg.ts = (uintptr_t)&ts;
	return (int)syscall(SYS_io_uring_enter, ring.fd, submit, wait_nr,
	    flags | IORING_ENTER_EXT_ARG, &arg, sizeof(arg));
}
/* end doc:ring_enter */

/*
 * The next submission entry, zeroed, for request op on fd: user_data carries both, and comes
 * back in the completion. The caller fills in the rest; the kernel sees it at the next
 * ring_enter(). If the queue is full, what it holds is handed over first.
 */
/* doc:sqe_get */
static struct io_uring_sqe *
sqe_get(unsigned char opcode, int fd, enum op op)
{
	struct io_uring_sqe *sqe;

	while (sq_tail - load_acquire(ring.sq_head) == ring.sq_entries) {
		/* EAGAIN, EBUSY: the kernel is short of memory or of completion space; retry. */
		if (ring_enter(0, -1) == -1 && errno != EINTR && errno != EAGAIN && errno != EBUSY)
			err(1, "io_uring_enter");
	}
	sqe = &ring.sqes[sq_tail & ring.sq_mask];
	sq_tail++;
	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = opcode;
	sqe->fd = fd;
	sqe->user_data = (uint64_t)fd << 8 | op;
	return sqe;
}
/* end doc:sqe_get */

/* The oldest completion not yet handled, or NULL. */
static struct io_uring_cqe *
cqe_peek(void)
{
	unsigned head = *ring.cq_head;

	if (head == load_acquire(ring.cq_tail))
		return NULL;
	return &ring.cqes[head & ring.cq_mask];
}

/* The oldest completion was handled: its slot is the kernel's again. */
static void
cqe_seen(void)
{
	store_release(ring.cq_head, *ring.cq_head + 1);
}

/* The requests, one function each; every one completes with a cqe carrying its user_data. */
/* doc:queue */
static void
queue_accept(int listen_fd, int i)
{
	struct io_uring_sqe *sqe = sqe_get(IORING_OP_ACCEPT, listen_fd, OP_ACCEPT);

	sqe->user_data = (uint64_t)i << 8 | OP_ACCEPT;	/* accept i of ACCEPTS */
	accepts[i].armed = true;
	accepts[i].len = sizeof(accepts[i].ss);
	sqe->addr = (uintptr_t)&accepts[i].ss;	/* the kernel writes the client's address here */
	sqe->addr2 = (uintptr_t)&accepts[i].len;
	sqe->accept_flags = SOCK_CLOEXEC;	/* and not SOCK_NONBLOCK: see main */
}

static void
queue_recv(struct conn *c)
{
	struct io_uring_sqe *sqe = sqe_get(IORING_OP_RECV, c->fd, OP_RECV);

	/* No buffer named: the kernel takes one from the pool when the bytes arrive. */
	sqe->flags = IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	sqe->len = BUF_SIZE;
}

/*
 * MSG_DONTWAIT: the send takes what fits in the socket now, and completes within the
 * io_uring_enter() that submits it, short if need be (see on_sent).
 */
static void
queue_send(struct conn *c, const char *p, size_t len)
{
	struct io_uring_sqe *sqe = sqe_get(IORING_OP_SEND, c->fd, OP_SEND);

	sqe->addr = (uintptr_t)p;	/* must stay as it is until the send completes */
	sqe->len = (unsigned)len;
	sqe->msg_flags = MSG_DONTWAIT;
}

static void
queue_writable(struct conn *c)
{
	sqe_get(IORING_OP_POLL_ADD, c->fd, OP_WRITABLE)->poll32_events = POLLOUT;
}
/* end doc:queue */

/*
 * Accept i completed: fd is the new client's socket (or -errno). Take it, or refuse it (past
 * the table or -m) with a log line.
 */
/* doc:conn_open */
static void
conn_open(int fd, int i)
{
	char peer[NET_ADDRSTRLEN];
	struct conn *c;

	if (fd < 0) {
		if (fd == -EAGAIN || fd == -EINTR || fd == -ECONNABORTED)
			return;		/* nothing to accept after all: the loop asks again */
		/*
		 * EMFILE, ENFILE, ENOBUFS, ENOMEM: the client stays queued (common/pause.h). The
		 * other accepts in flight may fail the same way; one line says it.
		 */
		if (!pause_accept.on)
			log_error("accept: %s; pausing accept until a connection closes or 1 s "
			    "passes", strerror(-fd));
		accept_pause_start(&pause_accept);
		return;
	}
	net_addr_str((struct sockaddr *)&accepts[i].ss, accepts[i].len, peer);
	if (fd >= nslots) {
		log_event("refused %s: fd %d is past the table (%d entries)", peer, fd, nslots);
		net_refuse(fd);
		return;
	}
	if (nconns >= max_conns) {
		log_event("refused %s: the server is full (-m %ld)", peer, max_conns);
		net_refuse(fd);
		return;
	}
	c = &conns[fd];
	c->open = true;
	c->fd = fd;
	c->bid = -1;
	c->pending = NULL;
	(void)snprintf(c->peer, sizeof(c->peer), "%s", peer);
	if (fd > max_fd)
		max_fd = fd;
	nconns++;
	stats_opened(&stats);
	log_event("accepted %s on fd %d", peer, fd);
	queue_recv(c);		/* from now on the kernel waits for this client's bytes */
}
/* end doc:conn_open */

/*
 * The handlers are named for what completed. They get the result (res: a byte count, or
 * -errno) and return NULL to keep the connection, or why to close it. Each queues the
 * connection's next request: a connection always has exactly one in flight, a receive, a
 * send or a poll, until it closes.
 */
/* doc:on_received */
static const char *
on_received(struct conn *c, int res, unsigned flags)
{
	int bid = flags & IORING_CQE_F_BUFFER ? (int)(flags >> IORING_CQE_BUFFER_SHIFT) : -1;

	if (res == -ENOBUFS) {
		/*
		 * Bytes came while every pool buffer was out, each with an echo on its way. They
		 * are back after this reap, and the bytes wait in the socket: ask again.
		 */
		log_trace("fd %d: receive completed: no pool buffer free", c->fd);
		queue_recv(c);
		return NULL;
	}
	if (res <= 0) {
		if (bid >= 0)
			buf_give(bid);	/* a buffer that came with EOF or an error holds nothing */
		/* EOF: everything before it was echoed (a connection with echo pending does not
		 * receive). */
		return res == 0 ? "peer closed" : strerror(-res);
	}
	log_trace("fd %d: receive completed: read %d bytes into pool buffer %d", c->fd, res, bid);

	/*
	 * Echo at once, from the pool buffer the bytes are in. The send does not wait for a
	 * slow client (MSG_DONTWAIT): the buffer goes back to the pool as soon as it completes.
	 */
	c->bid = bid;
	c->len = (unsigned)res;
	queue_send(c, pool[bid], (size_t)res);
	return NULL;
}
/* end doc:on_received */

/* doc:on_sent */
static const char *
on_sent(struct conn *c, int res)
{
	if (res < 0 && res != -EAGAIN && res != -EINTR)
		return strerror(-res);		/* EPIPE, ECONNRESET: the client is gone */
	if (res < 0)
		res = 0;			/* the socket was full: nothing went */
	log_trace("fd %d: send completed: wrote %d bytes", c->fd, res);
	stats_echoed(&stats, (size_t)res);
	if (c->bid >= 0) {
		/* Sent from the pool: keep what the socket did not take, give the buffer back. */
		if ((unsigned)res < c->len) {
			c->pending = conn_buf_new(pool[c->bid] + res, c->len - (unsigned)res);
			if (c->pending == NULL)
				return "out of memory";
			log_trace("fd %d: %u bytes pending", c->fd, c->len - (unsigned)res);
		}
		buf_give(c->bid);
		c->bid = -1;
	} else {
		conn_buf_drain(c->pending, (size_t)res);
		if (conn_buf_empty(c->pending)) {
			conn_buf_free(c->pending);
			c->pending = NULL;
		}
	}
	if (c->pending == NULL)
		queue_recv(c);		/* all out: the connection receives again */
	else
		queue_writable(c);	/* a short send: the rest goes once there is room */
	return NULL;
}
/* end doc:on_sent */

/*
 * A poll completed: the socket has room again (or an error to report, which the send will
 * get). Resubmit the rest. The kernel could wait for room itself, with a send that does not
 * say MSG_DONTWAIT, but such a send, woken in vain (by the client's FIN, say), is handed to a
 * kernel worker thread that blocks on the socket (docs/07-aio.md, "Pitfalls").
 */
/* doc:on_writable */
static const char *
on_writable(struct conn *c, int res)
{
	size_t len;
	char *p;

	if (res < 0)
		return strerror(-res);
	log_trace("fd %d: poll completed: writable", c->fd);
	p = conn_buf_pending(c->pending, &len);
	queue_send(c, p, len);
	return NULL;
}
/* end doc:on_writable */

static void
conn_close(struct conn *c, const char *why)
{
	/* Nothing else is in flight for this fd: the request that ended it has completed. */
	if (ring.fd != -1) {
		(void)sqe_get(IORING_OP_CLOSE, c->fd, OP_CLOSE);
	} else {
		/*
		 * The end (see main): the ring is gone, but its request may hold the socket open
		 * until the kernel has torn the ring down, after the process has exited. shutdown(2)
		 * ends the connection now, whoever holds the socket (the client sees the FIN);
		 * close(2) lets go of the descriptor.
		 */
		(void)shutdown(c->fd, SHUT_RDWR);
		(void)close(c->fd);
	}
	log_event("closed %s (fd %d): %s", c->peer, c->fd, why);
	if (c->bid >= 0)
		buf_give(c->bid);
	c->bid = -1;
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
 * The whole model: 1. submit, 2. wait, 3. reap. The handlers of step 3 queue the requests
 * that step 2 of the next pass submits. Returns 0 when a signal asked it to stop, -1 if
 * io_uring_enter() itself failed.
 */
/* doc:serve */
static int
serve(int listen_fd, int wake_fd)
{
	struct io_uring_cqe *cqe;
	const char *why;
	struct conn *c;
	unsigned flags, op;
	int fd, res, i;

	/* A poll of wake_fd, in flight for good: it completes once a stop signal came (main). */
	sqe_get(IORING_OP_POLL_ADD, wake_fd, OP_WAKE)->poll32_events = POLLIN;
	while (!sig_stop) {
		/* 1. Submit: ACCEPTS accepts in flight, unless accept is paused (common/pause.h). */
		for (i = 0; i < ACCEPTS && !accept_paused(&pause_accept); i++)
			if (!accepts[i].armed)
				queue_accept(listen_fd, i);

		/* 2. Wait: hand the kernel every request queued, sleep until one completes. */
		if (ring_enter(1, accept_pause_ms(&pause_accept)) == -1 && errno != EINTR &&
		    errno != ETIME && errno != EBUSY && errno != EAGAIN) {
			log_error("io_uring_enter: %s", strerror(errno));
			return -1;
		}

		/* 3. Reap: each completion names its request (user_data) and its result (res). */
		log_trace("io_uring_enter: %u completed", load_acquire(ring.cq_tail) - *ring.cq_head);
		while ((cqe = cqe_peek()) != NULL) {
			fd = (int)(cqe->user_data >> 8);
			op = cqe->user_data & 0xff;
			res = cqe->res;
			flags = cqe->flags;
			cqe_seen();	/* copied: the slot is the kernel's again */
			c = &conns[fd];
			why = NULL;
			switch (op) {
			case OP_ACCEPT:		/* fd: which accept it was */
				accepts[fd].armed = false;
				conn_open(res, fd);
				break;
			case OP_RECV:
				why = on_received(c, res, flags);
				break;
			case OP_SEND:
				why = on_sent(c, res);
				break;
			case OP_WRITABLE:
				why = on_writable(c, res);
				break;
			case OP_CLOSE:
				log_trace("fd %d: close completed", fd);
				if (res < 0)
					log_error("close fd %d: %s", fd, strerror(-res));
				break;
			default:	/* OP_WAKE: sig_stop is set, the loop ends */
				break;
			}
			if (why != NULL)
				conn_close(c, why);
		}
	}
	return 0;
}
/* end doc:serve */

/*
 * The end: let go of the ring. It is a file, and each of its three mappings holds it open as
 * its descriptor does; once they are all gone, the kernel cancels every request still in
 * flight, in one pass over them, and lets go of their sockets (in the background: close()
 * returns at once). What a request may still write into, the pool, its buffer ring and
 * accepts[], stays where it is until the process has exited.
 */
/* doc:ring_close */
static void
ring_close(void)
{
	int i;

	for (i = 0; i < 3; i++)
		(void)munmap(ring.map[i], ring.map_len[i]);
	(void)close(ring.fd);
	ring.fd = -1;
}
/* end doc:ring_close */

int
main(int argc, char *argv[])
{
	struct server_opts opts = {
		.lab = LAB,
		.host = "127.0.0.1",
		.port = DEFAULT_PORT,
		.verbosity = VERBOSITY_NORMAL,
		.note = "io_uring: if it cannot be used here, run server-posixaio instead.",
	};
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
	 * SIGINT and SIGTERM set sig_stop and write a byte to a pipe whose read end, wake_fd,
	 * has a poll in flight in the ring (see serve): the self-pipe trick, with the ring as the
	 * wait. A signal at any moment, even while every client streams without pause, completes
	 * that poll, so the next io_uring_enter() returns at once and the loop sees sig_stop.
	 * The sig argument of io_uring_enter() alone would not do: like pselect's, its mask lets
	 * a blocked signal in only when the call has to sleep, and under load it never does
	 * (docs/07-aio.md, "Stopping").
	 *
	 * The listening socket is blocking, unlike the readiness labs', and so is every client
	 * socket (see queue_accept): nothing here ever calls accept(), recv() or send() itself.
	 * For every request the kernel first tries without waiting, and if there is nothing to do
	 * yet, it waits on our behalf (it arms a poll on the socket, IORING_FEAT_FAST_POLL), while
	 * the loop sleeps in io_uring_enter(). Only MSG_DONTWAIT asks it not to wait (see
	 * queue_send).
	 */
	if ((listen_fd = server_start(&opts, LISTEN_BLOCKING, &wake_fd, &why)) == -1)
		errx(1, "%s", why);
	/* Can io_uring be used here at all? If not, say why and what else there is, and stop. */
	if (ring_setup(&why) == -1 || pool_setup(&why) == -1)
		errx(1, "io_uring cannot be used: %s; run 07-aio/server-posixaio instead", why);
	/*
	 * Allocated once, at full size. A large calloc() gets fresh zero pages from the kernel
	 * (mmap(2)), which cost address space but no memory until touched.
	 */
	if ((conns = calloc((size_t)nslots, sizeof(*conns))) == NULL)
		err(1, "calloc");
	if (listen_fd >= nslots || wake_fd >= nslots)
		errx(1, "descriptors %d and %d: past the table (%d entries)", listen_fd, wake_fd,
		    nslots);
	if (net_announce(listen_fd) == -1)
		err(1, "stdout");

	status = serve(listen_fd, wake_fd) == 0 ? 0 : 1;

	/* doc:the_end */
	/*
	 * A request holds its socket open, whatever close() says: the ring goes first, and takes
	 * the accept and every connection's request with it. Then stop accepting, and let every
	 * client go, each with shutdown() and close() (see conn_close).
	 */
	ring_close();
	(void)shutdown(listen_fd, SHUT_RDWR);	/* stops listening now, as close() would */
	(void)close(listen_fd);
	for (fd = 0; fd <= max_fd; fd++)
		if (conns[fd].open)
			conn_close(&conns[fd], "server stopping");
	free(conns);	/* the kernel never writes into the table, nor into a pending buffer */
	/* end doc:the_end */
	stats_print(&stats);
	return status;
}
