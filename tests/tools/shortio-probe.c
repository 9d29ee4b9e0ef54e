/*
 * shortio-probe - checks what tests/tools/shortio.so promises, for tests/tools.bats.
 *
 * Run it under LD_PRELOAD=shortio.so (or without, to see the difference). It moves bytes
 * through AF_UNIX stream socketpairs (stream sockets, which the shim treats like TCP) with
 * every interposed call in turn (write, send, sendto, writev, sendmsg; read, recv, recvfrom,
 * readv, recvmsg), checks every byte, and prints one line of what it saw:
 *
 *	shortio-probe files DIR		a pipe, a file in DIR, a datagram socketpair and an
 *					eventfd: every call moves all it was asked to
 *					("files ok")
 *	shortio-probe blocking N	N bytes through a blocking socketpair, written by a
 *					thread: "calls=C short=S eagain=E"; E must be 0
 *	shortio-probe nonblocking N	N bytes through a non-blocking socketpair, one
 *					thread, poll(): "calls=C short=S eagain_writes=W
 *					eagain_reads=R", the EAGAINs that came right after
 *					poll() said ready (only the shim makes those)
 *	shortio-probe edge N		the same after registering a descriptor with EPOLLET
 *	shortio-probe fork N		N bytes in this process, then 10 in a forked child
 *					that ends with exit(): "parent=PID child=PID"
 *	shortio-probe threads N		N bytes in each of 4 threads at once ("threads ok")
 *	shortio-probe sizes		20 writes of 1000 bytes, one thread: "sizes=A,B,..."
 *
 * Exit status 0 when every byte arrived intact and nothing broke a promise (a blocking
 * socket never says EAGAIN, a non-socket is never cut short); 1 otherwise, with a line on
 * stderr. Every loop is bounded: a poll() that waits more than 10 s fails the run.
 */
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK		4096
#define POLL_MS		10000
#define MAX_N		(64 * 1024 * 1024)

/* The byte at position pos of every stream: all 256 values, NUL included. */
static unsigned char
byte_at(size_t pos)
{
	return (unsigned char)(pos * 131 + (pos >> 8));
}

/* One write-like call, the k-th interposed function in turn. */
static ssize_t
put(int fd, const unsigned char *p, size_t len, unsigned k)
{
	struct iovec iov[2];
	struct msghdr m;
	size_t half = len / 2;

	switch (k % 5) {
	case 0:
		return write(fd, p, len);
	case 1:
		return send(fd, p, len, 0);
	case 2:
		return sendto(fd, p, len, 0, NULL, 0);
	case 3:
		iov[0].iov_base = (void *)p;
		iov[0].iov_len = half;
		iov[1].iov_base = (void *)(p + half);
		iov[1].iov_len = len - half;
		return writev(fd, iov, 2);
	default:
		memset(&m, 0, sizeof m);
		iov[0].iov_base = (void *)p;
		iov[0].iov_len = len;
		m.msg_iov = iov;
		m.msg_iovlen = 1;
		return sendmsg(fd, &m, 0);
	}
}

/* One read-like call, the k-th interposed function in turn. */
static ssize_t
get(int fd, unsigned char *p, size_t len, unsigned k)
{
	struct iovec iov[2];
	struct msghdr m;
	size_t half = len / 2;

	switch (k % 5) {
	case 0:
		return read(fd, p, len);
	case 1:
		return recv(fd, p, len, 0);
	case 2:
		return recvfrom(fd, p, len, 0, NULL, NULL);
	case 3:
		iov[0].iov_base = p;
		iov[0].iov_len = half;
		iov[1].iov_base = p + half;
		iov[1].iov_len = len - half;
		return readv(fd, iov, 2);
	default:
		memset(&m, 0, sizeof m);
		iov[0].iov_base = p;
		iov[0].iov_len = len;
		m.msg_iov = iov;
		m.msg_iovlen = 1;
		return recvmsg(fd, &m, 0);
	}
}

struct counts {
	unsigned long	calls, shorts, eagain_w, eagain_r;
};

struct writer {
	int		fd;
	size_t		n;
	struct counts	c;
	int		err;		/* errno of a failed write, 0 if none */
};

/* Blocking write_all of n stream bytes; a blocking socket must never say EAGAIN. */
static void *
writer_main(void *arg)
{
	struct writer *w = arg;
	unsigned char buf[CHUNK];
	size_t pos = 0, len, i;
	ssize_t n;

	while (pos < w->n) {
		len = w->n - pos < CHUNK ? w->n - pos : CHUNK;
		for (i = 0; i < len; i++)
			buf[i] = byte_at(pos + i);
		n = put(w->fd, buf, len, (unsigned)w->c.calls++);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				w->c.eagain_w++;
			w->err = errno;
			break;
		}
		if ((size_t)n < len)
			w->c.shorts++;
		pos += (size_t)n;
	}
	(void)shutdown(w->fd, SHUT_WR);
	return NULL;
}

/* Read until EOF, checking every byte; returns the count, or -1 on a wrong byte or error. */
static long long
read_check(int fd, struct counts *c)
{
	unsigned char buf[CHUNK];
	size_t pos = 0, i;
	ssize_t n;

	for (;;) {
		n = get(fd, buf, sizeof buf, (unsigned)c->calls++);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			if (errno == EAGAIN)
				c->eagain_r++;
			warn("read");
			return -1;
		}
		if (n == 0)
			return (long long)pos;
		for (i = 0; i < (size_t)n; i++, pos++)
			if (buf[i] != byte_at(pos)) {
				warnx("byte %zu: got %u, expected %u", pos, buf[i], byte_at(pos));
				return -1;
			}
	}
}

/* n bytes through a blocking socketpair: a writer thread, this thread reads. */
static bool
exchange(size_t n, struct counts *total)
{
	struct writer w = { .n = n };
	struct counts rc = { 0 };
	pthread_t tid;
	long long got;
	int sv[2], e;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		err(1, "socketpair");
	w.fd = sv[0];
	if ((e = pthread_create(&tid, NULL, writer_main, &w)) != 0)
		errx(1, "pthread_create: %s", strerror(e));
	got = read_check(sv[1], &rc);
	if (got == -1)
		(void)shutdown(sv[1], SHUT_RDWR);	/* unblock the writer */
	(void)pthread_join(tid, NULL);
	(void)close(sv[0]);
	(void)close(sv[1]);
	if (total != NULL) {
		total->calls += w.c.calls + rc.calls;
		total->shorts += w.c.shorts;
		total->eagain_w += w.c.eagain_w;
		total->eagain_r += rc.eagain_r;
	}
	if (w.err != 0)
		warnx("write: %s", strerror(w.err));
	if (got != (long long)n)
		warnx("%lld of %zu bytes came through", got, n);
	return w.err == 0 && got == (long long)n;
}

/* One thread, non-blocking both ways, poll() for readiness. */
static bool
nonblocking(size_t n, struct counts *c)
{
	unsigned char out[CHUNK], in[CHUNK];
	struct pollfd pfd[2];
	size_t sent = 0, rcvd = 0, len, i;
	ssize_t r;
	int sv[2];
	bool shut = false;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == -1)
		err(1, "socketpair");
	for (;;) {
		pfd[0].fd = shut ? -1 : sv[0];
		pfd[0].events = POLLOUT;
		pfd[1].fd = sv[1];
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, POLL_MS) <= 0) {
			warnx("poll: nothing ready for %d ms", POLL_MS);
			return false;
		}
		if (!shut && (pfd[0].revents & POLLOUT)) {
			len = n - sent < CHUNK ? n - sent : CHUNK;
			for (i = 0; i < len; i++)
				out[i] = byte_at(sent + i);
			r = put(sv[0], out, len, (unsigned)c->calls++);
			if (r == -1 && errno == EAGAIN)
				c->eagain_w++;		/* right after POLLOUT */
			else if (r == -1)
				err(1, "write");
			else if ((size_t)r < len)
				c->shorts++;
			if (r > 0)
				sent += (size_t)r;
			if (sent == n) {
				(void)shutdown(sv[0], SHUT_WR);
				shut = true;
			}
		}
		if (pfd[1].revents & (POLLIN | POLLHUP)) {
			r = get(sv[1], in, sizeof in, (unsigned)c->calls++);
			if (r == -1 && errno == EAGAIN) {
				c->eagain_r++;		/* right after POLLIN */
				continue;
			}
			if (r == -1)
				err(1, "read");
			if (r == 0)
				break;
			for (i = 0; i < (size_t)r; i++, rcvd++)
				if (in[i] != byte_at(rcvd)) {
					warnx("byte %zu is wrong", rcvd);
					return false;
				}
		}
	}
	(void)close(sv[0]);
	(void)close(sv[1]);
	if (rcvd != n)
		warnx("%zu of %zu bytes came through", rcvd, n);
	return rcvd == n;
}

/* fd takes len bytes in one call and gives them back in one call, unchanged. */
static bool
whole(const char *what, int wfd, int rfd, size_t len)
{
	unsigned char out[CHUNK], in[CHUNK];
	ssize_t n;
	size_t i;

	for (i = 0; i < len; i++)
		out[i] = byte_at(i);
	if ((n = write(wfd, out, len)) != (ssize_t)len) {
		warnx("%s: write moved %zd of %zu bytes", what, n, len);
		return false;
	}
	if (rfd >= 0 && ((n = read(rfd, in, sizeof in)) != (ssize_t)len ||
	    memcmp(in, out, len) != 0)) {
		warnx("%s: read gave %zd of %zu bytes", what, n, len);
		return false;
	}
	return true;
}

static bool
files(const char *dir)
{
	unsigned char buf[CHUNK];
	char path[4096];
	uint64_t v = 1;
	int p[2], sv[2], fd, efd;
	bool ok = true;

	if (pipe(p) == -1 || socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == -1)
		err(1, "pipe");
	ok &= whole("pipe", p[1], p[0], CHUNK);
	if (fcntl(p[1], F_SETFL, O_NONBLOCK) == -1 || fcntl(p[0], F_SETFL, O_NONBLOCK) == -1)
		err(1, "fcntl");
	ok &= whole("non-blocking pipe", p[1], p[0], CHUNK);
	ok &= whole("datagram socket", sv[0], sv[1], 1000);
	snprintf(path, sizeof path, "%s/probe-file", dir);
	if ((fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600)) == -1)
		err(1, "%s", path);
	ok &= whole("file", fd, -1, CHUNK);
	if (lseek(fd, 0, SEEK_SET) == -1)
		err(1, "lseek");
	if (read(fd, buf, sizeof buf) != (ssize_t)sizeof buf ||
	    buf[CHUNK - 1] != byte_at(CHUNK - 1)) {
		warnx("file: a read was cut short");
		ok = false;
	}
	if ((efd = eventfd(0, EFD_NONBLOCK)) == -1)
		err(1, "eventfd");
	if (write(efd, &v, sizeof v) != (ssize_t)sizeof v ||
	    read(efd, &v, sizeof v) != (ssize_t)sizeof v) {
		warnx("eventfd: a call was cut short");
		ok = false;
	}
	return ok;
}

struct job {
	size_t	n;
	bool	ok;
};

static void *
job_main(void *arg)
{
	struct job *j = arg;

	j->ok = exchange(j->n, NULL);
	return NULL;
}

int
main(int argc, char *argv[])
{
	struct counts c = { 0 };
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET };
	struct job jobs[4];
	pthread_t tids[4];
	size_t n = 0;
	pid_t child;
	ssize_t r;
	int i, st, ep, sv[2];
	bool ok;

	if (argc < 2)
		errx(2, "usage: shortio-probe files DIR | sizes | "
		    "blocking|nonblocking|edge|fork|threads N");
	if (argc > 2)
		n = strtoul(argv[2], NULL, 10);
	if (n > MAX_N)
		errx(2, "N is at most %d", MAX_N);

	if (strcmp(argv[1], "files") == 0 && argc == 3) {
		ok = files(argv[2]);
		if (ok)
			printf("files ok\n");
	} else if (strcmp(argv[1], "blocking") == 0) {
		ok = exchange(n, &c) && c.eagain_w == 0 && c.eagain_r == 0;
		printf("calls=%lu short=%lu eagain=%lu\n", c.calls, c.shorts,
		    c.eagain_w + c.eagain_r);
	} else if (strcmp(argv[1], "nonblocking") == 0 || strcmp(argv[1], "edge") == 0) {
		if (argv[1][0] == 'e') {
			if ((ep = epoll_create1(0)) == -1 || pipe(sv) == -1 ||
			    epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ev) == -1)
				err(1, "epoll");
		}
		ok = nonblocking(n, &c);
		printf("calls=%lu short=%lu eagain_writes=%lu eagain_reads=%lu\n", c.calls,
		    c.shorts, c.eagain_w, c.eagain_r);
	} else if (strcmp(argv[1], "fork") == 0) {
		ok = exchange(n, NULL);
		fflush(stdout);
		if ((child = fork()) == -1)
			err(1, "fork");
		if (child == 0)
			exit(exchange(10, NULL) ? 0 : 1);	/* exit(): the shim logs */
		if (waitpid(child, &st, 0) == -1)
			err(1, "waitpid");
		ok = ok && WIFEXITED(st) && WEXITSTATUS(st) == 0;
		printf("parent=%ld child=%ld\n", (long)getpid(), (long)child);
	} else if (strcmp(argv[1], "threads") == 0) {
		for (i = 0; i < 4; i++) {
			jobs[i].n = n;
			if (pthread_create(&tids[i], NULL, job_main, &jobs[i]) != 0)
				errx(1, "pthread_create");
		}
		ok = true;
		for (i = 0; i < 4; i++) {
			(void)pthread_join(tids[i], NULL);
			ok = ok && jobs[i].ok;
		}
		if (ok)
			printf("threads ok\n");
	} else if (strcmp(argv[1], "sizes") == 0) {
		unsigned char buf[1000];

		memset(buf, 'x', sizeof buf);
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
			err(1, "socketpair");
		ok = true;
		printf("sizes=");
		for (i = 0; i < 20; i++) {
			r = write(sv[0], buf, sizeof buf);
			printf("%s%zd", i > 0 ? "," : "", r);
			ok = ok && r > 0;
		}
		printf("\n");
	} else {
		errx(2, "unknown mode '%s'", argv[1]);
	}
	return ok ? 0 : 1;
}
