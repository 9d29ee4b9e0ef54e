/*
 * 05-epoll-lt/client.c - an echo client on epoll(7), level-triggered: stdin and the socket
 * watched at once.
 *
 * Two buffers, one per direction: "up" holds what was read from stdin and not yet sent,
 * "down" what came from the server and is not yet on stdout. How full they are decides what
 * to wait for (the OpenBSD nc readwrite() idea): read stdin while "up" has room, send while
 * it has bytes, and the same for the other direction. So the client sends and receives at
 * the same time and never needs stop-and-wait (compare 01-blocking/client.c). At EOF on stdin,
 * once everything is sent, shutdown(SHUT_WR) tells the server; the client then runs until the
 * server closes (Stevens' str_cli with shutdown, on epoll where he used select).
 *
 *	./client [-H host] [-p port] [-q] [-h]	(default port 9005)
 *
 * With epoll the kernel keeps what each descriptor is watched for, so the loop tells it only
 * when that changes (watch()). And epoll refuses what select and poll accept: a regular file
 * (and /dev/null) cannot be registered, epoll_ctl() fails with EPERM, because such a file is
 * always ready and there is nothing to wait for. `./client < file` must still work, so a
 * descriptor epoll refuses is treated as what it is, always ready: the loop does not wait for
 * it, and does not sleep while there is work for it.
 *
 * Only the socket is non-blocking. stdin and stdout are shared with the shell, and O_NONBLOCK
 * set on them would stay set for every other program on the same terminal; epoll says when
 * a read of stdin cannot block, and a write to stdout waits only for whoever reads it.
 *
 * Read with docs/05-epoll-lt.md.
 */
#include <err.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "buf.h"
#include "client.h"
#include "io.h"

#define LAB		"05-epoll-lt"
#define DEFAULT_PORT	"9005"

/* One descriptor as the loop watches it. */
struct watch {
	int		 fd;
	bool		 always;	/* epoll refused it (EPERM): always ready */
	uint32_t	 want;		/* what the loop waits for on it; 0: nothing */
	uint32_t	 ready;		/* what it is ready for now, of what is wanted */
};

/*
 * Wait on w for want (EPOLLIN, EPOLLOUT, both, or 0 for nothing), telling the kernel only
 * when that changes: EPOLL_CTL_ADD, MOD or DEL. A descriptor with nothing wanted leaves the
 * set, because EPOLLHUP and EPOLLERR are reported even unasked, and level-triggered they
 * would wake every wait. One that epoll refuses with EPERM is marked always ready instead.
 * Returns 0, or -1 with errno set.
 */
/* doc:watch */
static int
watch(int ep, struct watch *w, uint32_t want)
{
	struct epoll_event ev = { .events = want, .data.ptr = w };
	int op;

	if (want == w->want)
		return 0;
	op = w->want == 0 ? EPOLL_CTL_ADD : want == 0 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
	if (!w->always && epoll_ctl(ep, op, w->fd, &ev) == -1) {
		if (errno != EPERM)
			return -1;
		w->always = true;	/* a regular file or /dev/null: nothing to wait for */
	}
	w->want = want;
	return 0;
}
/* end doc:watch */

/*
 * Copy stdin to the server and its echo to stdout until the server closes; *end records what
 * went through and how it ended. A failure on the socket stops the sending side only: what
 * the server sent before it went away is still read and written out.
 */
/* doc:client-loop */
static void
run(int sock, struct client_end *end)
{
	static struct conn_buf up, down;	/* stdin -> server, server -> stdout */
	struct watch in = { .fd = STDIN_FILENO }, out = { .fd = STDOUT_FILENO };
	struct watch net = { .fd = sock };
	bool stdin_eof = false, server_eof = false;
	struct epoll_event events[3];
	struct watch *w;
	int ep, i, ready;
	ssize_t n;

	if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		err(1, "epoll_create1");
	for (;;) {
		/* What to wait for follows from how full each buffer is. */
		if (watch(ep, &in, !stdin_eof && !conn_buf_full(&up) ? EPOLLIN : 0) == -1 ||
		    watch(ep, &net, (conn_buf_empty(&up) ? 0 : EPOLLOUT) |
		    (!server_eof && !conn_buf_full(&down) ? EPOLLIN : 0)) == -1 ||
		    watch(ep, &out, conn_buf_empty(&down) ? 0 : EPOLLOUT) == -1)
			err(1, "epoll_ctl");
		if (server_eof && conn_buf_empty(&down))
			break;		/* the server closed and stdout has it all */

		/* Always ready means ready now: then the wait only collects, it does not sleep. */
		in.ready = in.always ? in.want : 0;
		out.ready = out.always ? out.want : 0;
		net.ready = 0;
		ready = epoll_wait(ep, events, 3, in.ready != 0 || out.ready != 0 ? 0 : -1);
		if (ready == -1) {
			if (errno == EINTR)
				continue;
			err(1, "epoll_wait");
		}
		/* EPOLLHUP, EPOLLERR: what is wanted will not block (it fails, or sees EOF). */
		for (i = 0; i < ready; i++) {
			w = events[i].data.ptr;
			w->ready = events[i].events & (EPOLLHUP | EPOLLERR) ? w->want :
			    events[i].events & w->want;
		}

		if ((in.ready & EPOLLIN) && (n = client_fill(STDIN_FILENO, &up)) <= 0) {
			if (n == -1 && !client_again())
				err(1, "stdin");
			stdin_eof = n == 0;
		}
		if (net.ready & EPOLLOUT) {
			if ((n = client_flush(sock, &up)) > 0) {
				end->sent += (unsigned long long)n;
			} else if (!client_again()) {
				/* The server is gone (EPIPE, ECONNRESET): send no more. */
				end->error = errno;
				stdin_eof = true;
				conn_buf_init(&up);
			}
		}
		if (stdin_eof && conn_buf_empty(&up) && !end->shut && end->error == 0) {
			/* All input is sent: half-close, so the server sees EOF. */
			if (shutdown(sock, SHUT_WR) == -1)
				end->error = errno;	/* ENOTCONN: reset meanwhile */
			else
				end->shut = true;
		}
		if (net.ready & EPOLLIN) {
			if ((n = client_fill(sock, &down)) > 0) {
				end->received += (unsigned long long)n;
			} else if (n == 0 || !client_again()) {
				if (n == -1 && end->error == 0)
					end->error = errno;
				server_eof = true;
			}
		}
		if ((out.ready & EPOLLOUT) && client_flush(STDOUT_FILENO, &down) == -1 &&
		    !client_again())
			err(1, "stdout");
	}
	(void)close(ep);
}
/* end doc:client-loop */

int
main(int argc, char *argv[])
{
	struct client_end end = { 0 };
	int sock;

	sock = client_start(LAB, DEFAULT_PORT, argc, argv);
	if (set_nonblocking(sock) == -1)
		err(1, "set_nonblocking");
	run(sock, &end);
	return client_finish(sock, &end);
}
