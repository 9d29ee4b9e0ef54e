/*
 * shortio.so - an LD_PRELOAD shim that makes socket I/O as awkward as the kernel is allowed to
 * make it, so that the tests see whether a program copes with it.
 *
 * On loopback a write() of 16 KiB almost always moves 16 KiB and a readiness report is almost
 * always followed by data, so a program that ignores short writes or treats EAGAIN as an error
 * passes every test there. Preloaded into it, this shim turns those rare cases into the
 * common ones, on TCP (stream) sockets only:
 *
 *	writes	every write(), send(), sendto(), sendmsg(), writev() moves at most a random
 *		1..SHORTIO_MAX bytes (a short write, legal on any socket); on a non-blocking
 *		socket (O_NONBLOCK, or MSG_DONTWAIT in the flags) one call in SHORTIO_EAGAIN_PCT
 *		percent instead fails with EAGAIN, moving nothing.
 *	reads	on a non-blocking socket, one read(), recv(), recvfrom(), recvmsg(), readv() in
 *		SHORTIO_EAGAIN_PCT percent fails with EAGAIN (a spurious readiness report, which
 *		select(2) and poll(2) allow); with SHORTIO_READ_MAX set, every read asks for at
 *		most a random 1..SHORTIO_READ_MAX bytes (not for recv with MSG_WAITALL).
 *
 * Nothing else changes: a blocking socket never gets EAGAIN (that would be a lie), and files,
 * pipes, terminals, eventfds, UDP and other non-stream sockets are never touched. Whether a
 * descriptor is a stream socket is asked on every call (getsockopt SO_TYPE), because
 * descriptor numbers are reused; that costs a system call per I/O call, and with the
 * default cap of 7 bytes a megabyte takes about 260,000 writes: keep the data small.
 *
 *	LD_PRELOAD=tests/tools/shortio.so SHORTIO_LOG=/tmp/io.log ./server -p 0
 *
 * Environment (read once, at load; a bad value prints a line and exits 125):
 *	SHORTIO_MAX=N		writes move at most 1..N bytes (1 to 2^30, default 7)
 *	SHORTIO_EAGAIN_PCT=P	percent of non-blocking calls that fail with EAGAIN (0 to 100,
 *				default 10; 0 turns it off)
 *	SHORTIO_READ_MAX=N	reads ask for at most 1..N bytes (default 0: no cap)
 *	SHORTIO_SEED=S		seed of the random choices (default 1)
 *	SHORTIO_LOG=PATH	at exit, append one line to PATH:
 *		shortio pid=N short_writes=N eagain_writes=N eagain_reads=N short_reads=N
 *
 * The counts prove that faults were injected: short_writes counts writes that moved bytes
 * and fewer than asked because of the cap, short_reads reads the cap cut short (they returned
 * exactly the capped length), the eagain counts the calls failed on purpose. The line is
 * written by a destructor, so a process that ends with exit() or by returning from main()
 * writes it, one that ends by _exit() or a signal does not; nor does a process that never
 * read or wrote a stream socket (so the shell and tools a test runs under the same
 * LD_PRELOAD add no lines). It is one write(2) with O_APPEND, so the lines of many processes
 * do not mix. A forked child starts its counts at zero and writes its own line.
 *
 * Randomness is deterministic for a given SHORTIO_SEED: each thread draws from its own
 * generator (no locks), seeded from the seed, the order in which threads first did socket
 * I/O, and, after fork(), the child's place among its parent's forks. Counters are atomic.
 *
 * Edge-triggered epoll: a program that registers any descriptor with EPOLLET gets no more
 * injected EAGAINs. After a real EAGAIN the kernel promises an edge when the state changes;
 * after an invented one nothing changes and no edge ever comes, so a correct program would
 * wait for ever. The shim sees this by interposing epoll_ctl(2). Short writes and (with
 * SHORTIO_READ_MAX) short reads still happen there: the project's edge-triggered labs read
 * and write until EAGAIN, but a program that takes a short read or write to mean "drained",
 * as epoll(7) allows for stream sockets, can stall under this shim.
 *
 * Not seen by the shim: I/O that does not go through these libc symbols (stdio on a socket,
 * io_uring, POSIX AIO, sendfile, raw syscall()), and calls that libc makes to itself. With
 * _FORTIFY_SOURCE, reads go through __read_chk, __recv_chk and __recvfrom_chk, which are
 * interposed too. Load it with LD_PRELOAD, not dlopen() (its thread-local state uses the
 * initial-exec model).
 *
 * Sanitizer builds: gcc links the ASan runtime as a shared library, which insists on being
 * first in the library search order; with the shim preloaded before it, the program stops at
 * start with "ASan runtime does not come first in initial library list". Run it with
 *	ASAN_OPTIONS=verify_asan_link_order=0 LD_PRELOAD=tests/tools/shortio.so prog
 * (or put the runtime first: LD_PRELOAD="$(gcc -print-file-name=libasan.so) shortio.so").
 * Either way the calls go program -> shim -> ASan's interceptor -> libc, so ASan still checks
 * every buffer. clang links ASan into the program itself and needs neither. The shim itself
 * is never built with sanitizers: it is not what is being tested.
 *
 * Deliberately standalone (libc and libdl only): it does not use common/, so it cannot share a
 * bug with the programs it tests.
 */
#undef _FORTIFY_SOURCE		/* we define read() and recv() ourselves */

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXPORT		__attribute__((visibility("default")))
#define LOCAL_IOV	64		/* iovecs kept when an iovec array is capped */
#define MAX_LIMIT	(1UL << 30)
#define GOLDEN		0x9e3779b97f4a7c15ULL

/* The fortified entry points have no prototype unless _FORTIFY_SOURCE is on. */
ssize_t	__read_chk(int, void *, size_t, size_t);
ssize_t	__recv_chk(int, void *, size_t, size_t, int);
ssize_t	__recvfrom_chk(int, void *__restrict, size_t, size_t, int, __SOCKADDR_ARG,
	    socklen_t *__restrict);

/* The next definition of each function: libc's, or a sanitizer's interceptor before it. */
static struct {
	ssize_t	(*read)(int, void *, size_t);
	ssize_t	(*write)(int, const void *, size_t);
	ssize_t	(*readv)(int, const struct iovec *, int);
	ssize_t	(*writev)(int, const struct iovec *, int);
	ssize_t	(*recv)(int, void *, size_t, int);
	ssize_t	(*send)(int, const void *, size_t, int);
	ssize_t	(*recvfrom)(int, void *__restrict, size_t, int, __SOCKADDR_ARG,
		    socklen_t *__restrict);
	ssize_t	(*sendto)(int, const void *, size_t, int, __CONST_SOCKADDR_ARG, socklen_t);
	ssize_t	(*recvmsg)(int, struct msghdr *, int);
	ssize_t	(*sendmsg)(int, const struct msghdr *, int);
	ssize_t	(*read_chk)(int, void *, size_t, size_t);
	ssize_t	(*recv_chk)(int, void *, size_t, size_t, int);
	ssize_t	(*recvfrom_chk)(int, void *__restrict, size_t, size_t, int, __SOCKADDR_ARG,
		    socklen_t *__restrict);
	int	(*epoll_ctl)(int, int, int, struct epoll_event *);
} real;

/* Read-only after init(), except in a forked child before it runs anything else. */
static struct {
	size_t		write_max;
	size_t		read_max;	/* 0: reads are not capped */
	unsigned	eagain_pct;
	uint64_t	seed;		/* this process's seed (changes in a forked child) */
	bool		log;
	char		log_path[PATH_MAX];
} cfg;

static pthread_once_t	init_once = PTHREAD_ONCE_INIT;

static atomic_bool	edge_triggered;	/* some descriptor was registered with EPOLLET */
static atomic_ullong	n_calls;	/* I/O calls on stream sockets */
static atomic_ullong	n_short_writes, n_eagain_writes, n_eagain_reads, n_short_reads;
static atomic_ullong	n_forks;	/* fork() calls so far (the child's number) */
static atomic_ullong	n_threads;	/* threads that have drawn a number so far */
static atomic_ullong	generation = 1;	/* bumped in each forked child */

/* Per-thread generator; rng_gen != generation means "seed me first". */
static _Thread_local uint64_t rng_state __attribute__((tls_model("initial-exec")));
static _Thread_local uint64_t rng_gen __attribute__((tls_model("initial-exec")));

/* Write a message on stderr with the real write, and leave: a misconfigured test. */
static void __attribute__((noreturn))
die(const char *what, const char *value)
{
	static const char pre[] = "shortio: ";
	const char *parts[] = { pre, what, value, "\n" };
	size_t i;

	for (i = 0; i < sizeof parts / sizeof parts[0]; i++)
		if (parts[i] != NULL && real.write != NULL)
			(void)real.write(STDERR_FILENO, parts[i], strlen(parts[i]));
	_exit(125);
}

static void *
resolve(const char *name)
{
	void *p;

	/* RTLD_NEXT: the first definition after this library in the search order. */
	if ((p = dlsym(RTLD_NEXT, name)) == NULL) {
		if (strcmp(name, "write") == 0)
			_exit(125);	/* not even a way to say so */
		die("cannot find the real function ", name);
	}
	return p;
}

/* An environment number in [min, max], or def when the variable is unset or empty. */
static uint64_t
env_num(const char *name, uint64_t min, uint64_t max, uint64_t def)
{
	const char *s = getenv(name);
	unsigned long long v;
	char *end;

	if (s == NULL || *s == '\0')
		return def;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*s < '0' || *s > '9' || *end != '\0' || errno != 0 || v < min || v > max)
		die(name, " is not a number in its range (see shortio.c)");
	return v;
}

static uint64_t
mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/*
 * After fork() the child is alone and has the parent's counts and generators: start its
 * counts at zero, and give it a seed of its own (the parent's, mixed with which fork it is).
 */
static void
fork_prepare(void)
{
	atomic_fetch_add(&n_forks, 1);
}

static void
fork_child(void)
{
	cfg.seed = mix64(cfg.seed ^ (atomic_load(&n_forks) * GOLDEN));
	atomic_store(&n_threads, 0);
	atomic_store(&n_calls, 0);
	atomic_store(&n_short_writes, 0);
	atomic_store(&n_eagain_writes, 0);
	atomic_store(&n_eagain_reads, 0);
	atomic_store(&n_short_reads, 0);
	atomic_fetch_add(&generation, 1);
}

static void
init(void)
{
	const char *log;
	int saved = errno;

	real.write = resolve("write");
	real.read = resolve("read");
	real.readv = resolve("readv");
	real.writev = resolve("writev");
	real.recv = resolve("recv");
	real.send = resolve("send");
	real.recvfrom = resolve("recvfrom");
	real.sendto = resolve("sendto");
	real.recvmsg = resolve("recvmsg");
	real.sendmsg = resolve("sendmsg");
	real.read_chk = resolve("__read_chk");
	real.recv_chk = resolve("__recv_chk");
	real.recvfrom_chk = resolve("__recvfrom_chk");
	real.epoll_ctl = resolve("epoll_ctl");

	cfg.write_max = env_num("SHORTIO_MAX", 1, MAX_LIMIT, 7);
	cfg.read_max = env_num("SHORTIO_READ_MAX", 0, MAX_LIMIT, 0);
	cfg.eagain_pct = (unsigned)env_num("SHORTIO_EAGAIN_PCT", 0, 100, 10);
	cfg.seed = env_num("SHORTIO_SEED", 0, UINT64_MAX, 1);
	/* A copy: the program may change its environment later. */
	if ((log = getenv("SHORTIO_LOG")) != NULL && *log != '\0') {
		if (strlen(log) >= sizeof cfg.log_path)
			die("SHORTIO_LOG is too long", NULL);
		strcpy(cfg.log_path, log);
		cfg.log = true;
	}
	if (pthread_atfork(fork_prepare, NULL, fork_child) != 0)
		die("pthread_atfork failed", NULL);
	errno = saved;
}

/*
 * Everything is set up before main() runs; the other calls to ensure() cover I/O done by
 * the constructors of libraries that run before this one's.
 */
static void
ensure(void)
{
	(void)pthread_once(&init_once, init);
}

__attribute__((constructor)) static void
shortio_init(void)
{
	ensure();
}

static uint64_t
rng_next(void)
{
	uint64_t gen = atomic_load_explicit(&generation, memory_order_relaxed);

	if (rng_gen != gen) {
		rng_state = mix64(cfg.seed + (atomic_fetch_add(&n_threads, 1) + 1) * GOLDEN);
		rng_gen = gen;
	}
	rng_state += GOLDEN;
	return mix64(rng_state);
}

/* A random length in 1..max. */
static size_t
rng_len(size_t max)
{
	return 1 + (size_t)(rng_next() % max);
}

/* True pct percent of the time. */
static bool
rng_pct(unsigned pct)
{
	return pct > 0 && rng_next() % 100 < pct;
}

static void
count(atomic_ullong *n)
{
	atomic_fetch_add_explicit(n, 1, memory_order_relaxed);
}

/*
 * Is fd a stream socket now?  Asked on every call: descriptors are reused. One call
 * answers both questions: getsockopt(2) fails with ENOTSOCK on anything but a socket (a
 * file, a pipe, a terminal, an eventfd), and SO_TYPE tells TCP from UDP.
 */
static bool
is_stream_socket(int fd)
{
	socklen_t len = sizeof(int);
	int type;

	return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && len == sizeof(int) &&
	    type == SOCK_STREAM;
}

static bool
is_nonblocking(int fd, int flags)
{
	int fl;

	if (flags & MSG_DONTWAIT)
		return true;
	fl = fcntl(fd, F_GETFL);
	return fl != -1 && (fl & O_NONBLOCK) != 0;
}

/*
 * What to do with one call on fd asking to move len bytes: PASS (not ours, or nothing to
 * move), FAIL (return -1 with EAGAIN now), or move at most *cap bytes. errno is left as the
 * caller had it.
 */
enum verdict { PASS, FAIL, CAP };

static enum verdict
plan(int fd, size_t len, int flags, bool is_write, size_t *cap)
{
	enum verdict v = PASS;
	size_t max;
	int saved = errno;

	ensure();
	if (len == 0 || !is_stream_socket(fd))
		goto out;
	count(&n_calls);
	if (!atomic_load_explicit(&edge_triggered, memory_order_relaxed) &&
	    rng_pct(cfg.eagain_pct) && is_nonblocking(fd, flags)) {
		count(is_write ? &n_eagain_writes : &n_eagain_reads);
		v = FAIL;
		goto out;
	}
	max = is_write ? cfg.write_max : cfg.read_max;
	if (max == 0 || (!is_write && (flags & MSG_WAITALL)))
		goto out;
	*cap = rng_len(max);
	if (*cap < len)
		v = CAP;
out:
	errno = saved;
	return v;
}

/* The real call returned n after a cap of cap bytes (requested: more than cap). */
static ssize_t
capped(ssize_t n, size_t cap, bool is_write)
{
	int saved = errno;

	if (is_write && n > 0)
		count(&n_short_writes);
	else if (!is_write && n == (ssize_t)cap)
		count(&n_short_reads);
	errno = saved;
	return n;
}

static ssize_t
fail_eagain(void)
{
	errno = EAGAIN;
	return -1;
}

/* Total length of an iovec array; SIZE_MAX when it is invalid (the real call says why). */
static size_t
iov_total(const struct iovec *iov, int cnt)
{
	size_t total = 0;
	int i;

	if (cnt < 0 || cnt > IOV_MAX || (cnt > 0 && iov == NULL))
		return SIZE_MAX;
	for (i = 0; i < cnt; i++) {
		if (iov[i].iov_len > SIZE_MAX - total)
			return SIZE_MAX;
		total += iov[i].iov_len;
	}
	return total;
}

/* The first cap bytes of iov in out[] (at most LOCAL_IOV entries); returns the count. */
static int
iov_cap(const struct iovec *iov, int cnt, size_t cap, struct iovec *out)
{
	int i, n = 0;

	for (i = 0; i < cnt && cap > 0 && n < LOCAL_IOV; i++) {
		if (iov[i].iov_len == 0)
			continue;
		out[n] = iov[i];
		if (out[n].iov_len > cap)
			out[n].iov_len = cap;
		cap -= out[n].iov_len;
		n++;
	}
	return n;
}

/* --- writes -------------------------------------------------------------------------- */

EXPORT ssize_t
write(int fd, const void *buf, size_t len)
{
	size_t cap = 0;

	switch (plan(fd, len, 0, true, &cap)) {
	case FAIL:
		return fail_eagain();
	case CAP:
		return capped(real.write(fd, buf, cap), cap, true);
	default:
		return real.write(fd, buf, len);
	}
}

EXPORT ssize_t
send(int fd, const void *buf, size_t len, int flags)
{
	size_t cap = 0;

	switch (plan(fd, len, flags, true, &cap)) {
	case FAIL:
		return fail_eagain();
	case CAP:
		return capped(real.send(fd, buf, cap, flags), cap, true);
	default:
		return real.send(fd, buf, len, flags);
	}
}

EXPORT ssize_t
sendto(int fd, const void *buf, size_t len, int flags, __CONST_SOCKADDR_ARG addr,
    socklen_t alen)
{
	size_t cap = 0;

	switch (plan(fd, len, flags, true, &cap)) {
	case FAIL:
		return fail_eagain();
	case CAP:
		return capped(real.sendto(fd, buf, cap, flags, addr, alen), cap, true);
	default:
		return real.sendto(fd, buf, len, flags, addr, alen);
	}
}

EXPORT ssize_t
writev(int fd, const struct iovec *iov, int cnt)
{
	struct iovec part[LOCAL_IOV];
	size_t cap = 0, total = iov_total(iov, cnt);

	ensure();
	if (total == SIZE_MAX)
		return real.writev(fd, iov, cnt);
	switch (plan(fd, total, 0, true, &cap)) {
	case FAIL:
		return fail_eagain();
	case CAP:
		return capped(real.writev(fd, part, iov_cap(iov, cnt, cap, part)), cap, true);
	default:
		return real.writev(fd, iov, cnt);
	}
}

EXPORT ssize_t
sendmsg(int fd, const struct msghdr *msg, int flags)
{
	struct iovec part[LOCAL_IOV];
	struct msghdr m;
	size_t cap = 0, total;

	ensure();
	if (msg == NULL || msg->msg_iovlen > INT_MAX ||
	    (total = iov_total(msg->msg_iov, (int)msg->msg_iovlen)) == SIZE_MAX)
		return real.sendmsg(fd, msg, flags);
	switch (plan(fd, total, flags, true, &cap)) {
	case FAIL:
		return fail_eagain();
	case CAP:
		m = *msg;
		m.msg_iov = part;
		m.msg_iovlen = (size_t)iov_cap(msg->msg_iov, (int)msg->msg_iovlen, cap, part);
		return capped(real.sendmsg(fd, &m, flags), cap, true);
	default:
		return real.sendmsg(fd, msg, flags);
	}
}

/* --- reads --------------------------------------------------------------------------- */

EXPORT ssize_t
read(int fd, void *buf, size_t len)
{
	size_t cap = 0;

	switch (plan(fd, len, 0, false, &cap)) {
	case FAIL:
		return fail_eagain();
	case CAP:
		return capped(real.read(fd, buf, cap), cap, false);
	default:
		return real.read(fd, buf, len);
	}
}

EXPORT ssize_t
__read_chk(int fd, void *buf, size_t len, size_t buflen)
{
	size_t cap = 0;

	ensure();
	if (len > buflen)		/* the overflow the check is for: let it abort */
		return real.read_chk(fd, buf, len, buflen);
	switch (plan(fd, len, 0, false, &cap)) {
	case FAIL:
		return fail_eagain();
	case CAP:
		return capped(real.read_chk(fd, buf, cap, buflen), cap, false);
	default:
		return real.read_chk(fd, buf, len, buflen);
	}
}

EXPORT ssize_t
recv(int fd, void *buf, size_t len, int flags)
{
	size_t cap = 0;

	switch (plan(fd, len, flags, false, &cap)) {
	case FAIL:
		return fail_eagain();
	case CAP:
		return capped(real.recv(fd, buf, cap, flags), cap, false);
	default:
		return real.recv(fd, buf, len, flags);
	}
}

EXPORT ssize_t
__recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
	size_t cap = 0;

	ensure();
	if (len > buflen)
		return real.recv_chk(fd, buf, len, buflen, flags);
	switch (plan(fd, len, flags, false, &cap)) {
	case FAIL:
		return fail_eagain();
	case CAP:
		return capped(real.recv_chk(fd, buf, cap, buflen, flags), cap, false);
	default:
		return real.recv_chk(fd, buf, len, buflen, flags);
	}
}

EXPORT ssize_t
recvfrom(int fd, void *__restrict buf, size_t len, int flags, __SOCKADDR_ARG addr,
    socklen_t *__restrict alen)
{
	size_t cap = 0;

	switch (plan(fd, len, flags, false, &cap)) {
	case FAIL:
		return fail_eagain();
	case CAP:
		return capped(real.recvfrom(fd, buf, cap, flags, addr, alen), cap, false);
	default:
		return real.recvfrom(fd, buf, len, flags, addr, alen);
	}
}

EXPORT ssize_t
__recvfrom_chk(int fd, void *__restrict buf, size_t len, size_t buflen, int flags,
    __SOCKADDR_ARG addr, socklen_t *__restrict alen)
{
	size_t cap = 0;

	ensure();
	if (len > buflen)
		return real.recvfrom_chk(fd, buf, len, buflen, flags, addr, alen);
	switch (plan(fd, len, flags, false, &cap)) {
	case FAIL:
		return fail_eagain();
	case CAP:
		return capped(real.recvfrom_chk(fd, buf, cap, buflen, flags, addr, alen), cap,
		    false);
	default:
		return real.recvfrom_chk(fd, buf, len, buflen, flags, addr, alen);
	}
}

EXPORT ssize_t
readv(int fd, const struct iovec *iov, int cnt)
{
	struct iovec part[LOCAL_IOV];
	size_t cap = 0, total = iov_total(iov, cnt);

	ensure();
	if (total == SIZE_MAX)
		return real.readv(fd, iov, cnt);
	switch (plan(fd, total, 0, false, &cap)) {
	case FAIL:
		return fail_eagain();
	case CAP:
		return capped(real.readv(fd, part, iov_cap(iov, cnt, cap, part)), cap, false);
	default:
		return real.readv(fd, iov, cnt);
	}
}

EXPORT ssize_t
recvmsg(int fd, struct msghdr *msg, int flags)
{
	struct iovec part[LOCAL_IOV];
	struct msghdr m;
	size_t cap = 0, total;
	ssize_t n;

	ensure();
	if (msg == NULL || msg->msg_iovlen > INT_MAX ||
	    (total = iov_total(msg->msg_iov, (int)msg->msg_iovlen)) == SIZE_MAX)
		return real.recvmsg(fd, msg, flags);
	switch (plan(fd, total, flags, false, &cap)) {
	case FAIL:
		return fail_eagain();
	case CAP:
		/* A copy with fewer bytes; what recvmsg() reports goes back to the caller's. */
		m = *msg;
		m.msg_iov = part;
		m.msg_iovlen = (size_t)iov_cap(msg->msg_iov, (int)msg->msg_iovlen, cap, part);
		n = real.recvmsg(fd, &m, flags);
		msg->msg_namelen = m.msg_namelen;
		msg->msg_controllen = m.msg_controllen;
		msg->msg_flags = m.msg_flags;
		return capped(n, cap, false);
	default:
		return real.recvmsg(fd, msg, flags);
	}
}

/* --- edge-triggered epoll ------------------------------------------------------------ */

EXPORT int
epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	ensure();
	if ((op == EPOLL_CTL_ADD || op == EPOLL_CTL_MOD) && ev != NULL &&
	    (ev->events & EPOLLET))
		atomic_store(&edge_triggered, true);
	return real.epoll_ctl(epfd, op, fd, ev);
}

/* --- the counts, at exit -------------------------------------------------------------- */

/* Append s to the line at *p, stopping before end. */
static void
put_str(char **p, const char *end, const char *s)
{
	while (*s != '\0' && *p < end)
		*(*p)++ = *s++;
}

static void
put_num(char **p, const char *end, unsigned long long v)
{
	char digits[24];
	int n = 0;

	do
		digits[n++] = (char)('0' + v % 10);
	while ((v /= 10) > 0);
	while (n > 0 && *p < end)
		*(*p)++ = digits[--n];
}

/*
 * One line, formatted by hand and written with one write(2): no stdio, no malloc, so it is
 * safe even when exit() is called from a signal handler.
 */
__attribute__((destructor)) static void
shortio_fini(void)
{
	char line[256], *p = line;
	const char *end = line + sizeof line - 1;
	int fd, saved = errno;

	if (!cfg.log || atomic_load(&n_calls) == 0)
		return;
	put_str(&p, end, "shortio pid=");
	put_num(&p, end, (unsigned long long)getpid());
	put_str(&p, end, " short_writes=");
	put_num(&p, end, atomic_load(&n_short_writes));
	put_str(&p, end, " eagain_writes=");
	put_num(&p, end, atomic_load(&n_eagain_writes));
	put_str(&p, end, " eagain_reads=");
	put_num(&p, end, atomic_load(&n_eagain_reads));
	put_str(&p, end, " short_reads=");
	put_num(&p, end, atomic_load(&n_short_reads));
	*p++ = '\n';
	fd = open(cfg.log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd != -1) {
		(void)real.write(fd, line, (size_t)(p - line));	/* nowhere to report */
		(void)close(fd);
	}
	errno = saved;
}
