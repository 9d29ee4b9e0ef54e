/*
 * 07-aio/client.c - an echo client on io_uring(7): stdin and the socket, both through the ring.
 *
 * Two buffers, one per direction: "up" is filled by a read of stdin and emptied by sends to
 * the server, "down" is filled by a receive from the server and emptied by writes to stdout.
 * Each direction has at most one request in flight, so a buffer is either being filled or
 * being emptied, never both: while a request is in flight the kernel owns its buffer. The
 * two directions run at the same time, so the client never needs stop-and-wait (compare
 * 01-blocking/client.c). At EOF on stdin, once everything is sent, shutdown(SHUT_WR) tells the
 * server; the client then runs until the server closes.
 *
 *	./client [-H host] [-p port] [-q] [-h]	(default port 9007)
 *
 * stdin may be a regular file, a pipe or a terminal: a read request works on all three, and
 * with offset -1 it moves the file position as read(2) does. The client sets O_NONBLOCK on
 * nothing: io_uring does the waiting. If stdin or stdout is non-blocking already (another
 * program set it on a terminal we share), a kernel may complete a read or a write that would
 * wait with -EAGAIN at once (Linux 6.18 polls instead); the client then asks the ring to poll
 * that descriptor, and tries again.
 *
 * The ring is set up as in server.c, which comments every step; this file keeps it short.
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
#include "client.h"

#define LAB		"07-aio"
#define DEFAULT_PORT	"9007"
#define RING_ENTRIES	8	/* two requests in flight at most, a poll each */

/* What a request was: its user_data. */
enum op {
	OP_STDIN,		/* a read of stdin into "up" */
	OP_SEND,		/* a send of "up" to the server */
	OP_RECV,		/* a receive from the server into "down" */
	OP_STDOUT,		/* a write of "down" to stdout */
	OP_STDIN_POLL,		/* stdin was non-blocking: wait until it is readable */
	OP_STDOUT_POLL,		/* stdout was non-blocking: wait until it is writable */
};

static struct {
	int			 fd;
	unsigned		*sq_head, *sq_tail, sq_mask;
	struct io_uring_sqe	*sqes;
	unsigned		*cq_head, *cq_tail, cq_mask;
	struct io_uring_cqe	*cqes;
} ring;
static unsigned		 sq_tail;

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

/* The rings, mapped; then the probe. Returns 0, or -1 with *why set. */
static int
ring_setup(const char **why)
{
	static const unsigned char need[] = {
		IORING_OP_READ, IORING_OP_WRITE, IORING_OP_RECV, IORING_OP_SEND, IORING_OP_POLL_ADD,
	};
	static char reason[128];
	struct io_uring_params p;
	struct io_uring_probe *probe;
	char *sq, *cq;
	size_t i;

	memset(&p, 0, sizeof(p));
	if ((ring.fd = (int)syscall(SYS_io_uring_setup, RING_ENTRIES, &p)) == -1) {
		(void)snprintf(reason, sizeof(reason), "io_uring_setup: %s", strerror(errno));
		*why = reason;
		return -1;
	}
	sq = mmap(NULL, p.sq_off.array + p.sq_entries * sizeof(unsigned),
	    PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring.fd, IORING_OFF_SQ_RING);
	cq = mmap(NULL, p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe),
	    PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring.fd, IORING_OFF_CQ_RING);
	ring.sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe),
	    PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring.fd, IORING_OFF_SQES);
	if (sq == MAP_FAILED || cq == MAP_FAILED || ring.sqes == MAP_FAILED) {
		*why = "mmap of the rings failed";
		return -1;
	}
	ring.sq_head = (unsigned *)(sq + p.sq_off.head);
	ring.sq_tail = (unsigned *)(sq + p.sq_off.tail);
	ring.sq_mask = *(unsigned *)(sq + p.sq_off.ring_mask);
	ring.cq_head = (unsigned *)(cq + p.cq_off.head);
	ring.cq_tail = (unsigned *)(cq + p.cq_off.tail);
	ring.cq_mask = *(unsigned *)(cq + p.cq_off.ring_mask);
	ring.cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
	for (i = 0; i < p.sq_entries; i++)
		((unsigned *)(sq + p.sq_off.array))[i] = (unsigned)i;
	sq_tail = *ring.sq_tail;

	if ((probe = calloc(1, sizeof(*probe) + 256 * sizeof(probe->ops[0]))) == NULL) {
		*why = "out of memory";
		return -1;
	}
	*why = NULL;
	if (syscall(SYS_io_uring_register, ring.fd, IORING_REGISTER_PROBE, probe, 256) == -1)
		*why = "this kernel has no IORING_REGISTER_PROBE";
	for (i = 0; *why == NULL && i < sizeof(need); i++) {
		if (need[i] > probe->last_op || !(probe->ops[need[i]].flags & IO_URING_OP_SUPPORTED)) {
			(void)snprintf(reason, sizeof(reason), "this kernel lacks io_uring opcode %u",
			    need[i]);
			*why = reason;
		}
	}
	free(probe);
	return *why == NULL ? 0 : -1;
}

/*
 * Queue a request: opcode on fd with the buffer (p, len), or with poll events (p NULL). At
 * most two are in flight and the ring has eight entries, so the queue is never full.
 */
static void
queue(enum op op, unsigned char opcode, int fd, void *p, size_t len)
{
	struct io_uring_sqe *sqe = &ring.sqes[sq_tail & ring.sq_mask];

	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = opcode;
	sqe->fd = fd;
	if (opcode == IORING_OP_POLL_ADD) {
		sqe->poll32_events = (unsigned)len;
	} else {
		sqe->addr = (uintptr_t)p;
		sqe->len = (unsigned)len;
	}
	/* A file's own position, as read() and write() use (a send or receive has none). */
	if (opcode == IORING_OP_READ || opcode == IORING_OP_WRITE)
		sqe->off = (uint64_t)-1;
	sqe->user_data = op;
	sq_tail++;
}

/* Hand the kernel what is queued and sleep until a completion is in. */
static int
ring_enter(void)
{
	store_release(ring.sq_tail, sq_tail);
	return (int)syscall(SYS_io_uring_enter, ring.fd, sq_tail - load_acquire(ring.sq_head), 1,
	    IORING_ENTER_GETEVENTS, NULL, 0);
}

/*
 * Copy stdin to the server and its echo to stdout until the server closes; *end records what
 * went through and how it ended. A failure on the socket stops the sending side only: what
 * the server sent before it went away is still received and written out.
 */
/* doc:client-loop */
static void
run(int sock, struct client_end *end)
{
	static struct conn_buf up, down;	/* stdin -> server, server -> stdout */
	bool stdin_eof = false, server_eof = false, up_busy = false, down_busy = false;
	struct io_uring_cqe *cqe;
	unsigned head;
	size_t len;
	char *p;
	int res;

	for (;;) {
		/* 1. Submit: what each direction asks for follows from its buffer. */
		if (!up_busy && !conn_buf_empty(&up)) {
			p = conn_buf_pending(&up, &len);
			queue(OP_SEND, IORING_OP_SEND, sock, p, len);
			up_busy = true;
		} else if (!up_busy && !stdin_eof) {
			p = conn_buf_space(&up, &len);
			queue(OP_STDIN, IORING_OP_READ, STDIN_FILENO, p, len);
			up_busy = true;
		} else if (!up_busy && !end->shut && end->error == 0) {
			/* All input is sent: half-close, so the server sees EOF. */
			if (shutdown(sock, SHUT_WR) == -1)
				end->error = errno;	/* ENOTCONN: reset meanwhile */
			else
				end->shut = true;
		}
		if (!down_busy && !conn_buf_empty(&down)) {
			p = conn_buf_pending(&down, &len);
			queue(OP_STDOUT, IORING_OP_WRITE, STDOUT_FILENO, p, len);
			down_busy = true;
		} else if (!down_busy && !server_eof) {
			p = conn_buf_space(&down, &len);
			queue(OP_RECV, IORING_OP_RECV, sock, p, len);
			down_busy = true;
		} else if (!down_busy) {
			return;		/* the server closed and stdout has it all */
		}

		/* 2. Wait. */
		if (ring_enter() == -1) {
			if (errno == EINTR)
				continue;
			err(1, "io_uring_enter");
		}

		/* 3. Reap: a request done frees its direction; its result moves the buffer. */
		while ((head = *ring.cq_head) != load_acquire(ring.cq_tail)) {
			cqe = &ring.cqes[head & ring.cq_mask];
			res = cqe->res;
			switch (cqe->user_data) {
			case OP_STDIN:
				if (res > 0)
					conn_buf_fill(&up, (size_t)res);
				else if (res == 0)
					stdin_eof = true;
				else if (res == -EAGAIN)
					queue(OP_STDIN_POLL, IORING_OP_POLL_ADD, STDIN_FILENO, NULL, POLLIN);
				else if (res != -EINTR)
					errno = -res, err(1, "stdin");
				up_busy = res == -EAGAIN;	/* busy polling, or free */
				break;
			case OP_SEND:
				up_busy = false;
				if (res >= 0) {
					conn_buf_drain(&up, (size_t)res);
					end->sent += (unsigned long long)res;
				} else if (res != -EINTR && res != -EAGAIN) {
					/* The server is gone (EPIPE, ECONNRESET): send no more. */
					end->error = -res;
					stdin_eof = true;
					conn_buf_init(&up);
				}
				break;
			case OP_RECV:
				down_busy = false;
				if (res > 0) {
					conn_buf_fill(&down, (size_t)res);
					end->received += (unsigned long long)res;
				} else if (res == 0 || (res != -EINTR && res != -EAGAIN)) {
					if (res < 0 && end->error == 0)
						end->error = -res;
					server_eof = true;
				}
				break;
			case OP_STDOUT:
				if (res >= 0)
					conn_buf_drain(&down, (size_t)res);
				else if (res == -EAGAIN)
					queue(OP_STDOUT_POLL, IORING_OP_POLL_ADD, STDOUT_FILENO, NULL,
					    POLLOUT);
				else if (res != -EINTR)
					errno = -res, err(1, "stdout");
				down_busy = res == -EAGAIN;
				break;
			case OP_STDIN_POLL:
				up_busy = false;	/* readable: read again */
				break;
			case OP_STDOUT_POLL:
				down_busy = false;	/* writable: write again */
				break;
			}
			store_release(ring.cq_head, head + 1);
		}
	}
}
/* end doc:client-loop */

int
main(int argc, char *argv[])
{
	struct client_end end = { 0 };
	const char *why;
	int sock;

	client_init(LAB, DEFAULT_PORT, argc, argv);
	if (ring_setup(&why) == -1)
		errx(1, "io_uring cannot be used: %s; any other lab's client talks to this server",
		    why);
	sock = client_connect();
	run(sock, &end);
	/*
	 * Requests still in flight (a read of a terminal) end with the process: the kernel
	 * cancels them when the ring closes.
	 */
	return client_finish(sock, &end);
}
