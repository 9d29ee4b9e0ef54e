/*
 * log.c - see log.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

/* A whole line, prefix and newline included: the message is cut to fit. */
#define LOG_LINE_MAX	600

/*
 * A write of at most PIPE_BUF bytes to a pipe is atomic (pipe(7)): all of it or, when the
 * pipe lacks room and the write must not wait, none of it (EAGAIN). So a line is never
 * interleaved with another thread's or process's, and never cut in two by a full pipe.
 */
_Static_assert(LOG_LINE_MAX <= PIPE_BUF, "a log line must fit one atomic pipe write");

static const char *log_lab = "iomodels";
static enum verbosity log_level = VERBOSITY_NORMAL;

/* fd 2 is a socket: send() it lines with MSG_DONTWAIT (log_never_block). */
static bool log_to_socket;

/*
 * Lines dropped. Threads (08) add to it at once: an atomic counter, no lock. Children (09)
 * are copies: log_never_block() moves the counter to a page shared with every child forked
 * after it, so the parent's summary counts their drops too.
 */
static atomic_ulong log_own_drops;
static atomic_ulong *log_drops = &log_own_drops;

void
log_init(const char *lab, enum verbosity level)
{
	log_lab = lab;
	log_level = level;
	/*
	 * err(3) and warn(3) prefix their messages with this glibc variable (the program's
	 * name, "server" here); pointing it at the lab's name keeps one prefix for every line.
	 */
	program_invocation_short_name = (char *)lab;
}

bool
log_verbose(void)
{
	return log_level >= VERBOSITY_VERBOSE;
}

/*
 * O_NONBLOCK belongs to an open file description, which fd 2 shares with the shell that
 * started us (a terminal, say): setting it there would make the shell's own reads and writes
 * fail with EAGAIN. Opening /proc/self/fd/2 opens the same pipe or terminal again, a new
 * description with flags of its own (proc(5)), and dup2() puts it in fd 2's place: our fd 2
 * changes, the shell's does not, and no descriptor is added (the labs count theirs). A socket
 * cannot be opened that way, and needs not: send(MSG_DONTWAIT) asks for one call what
 * O_NONBLOCK asks for every call. Anything else (a regular file, /dev/null) takes a write
 * without waiting for a reader, and stays as it is.
 */
int
log_never_block(void)
{
	atomic_ulong *shared;
	struct stat st;
	int fd;

	shared = mmap(NULL, sizeof(*shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
	    -1, 0);
	if (shared == MAP_FAILED)
		return -1;
	atomic_init(shared, atomic_load(log_drops));
	log_drops = shared;

	if (fstat(STDERR_FILENO, &st) == -1)
		return -1;
	if (S_ISSOCK(st.st_mode)) {
		log_to_socket = true;
		return 0;
	}
	if (!S_ISFIFO(st.st_mode) && !isatty(STDERR_FILENO))
		return 0;
	/* ENXIO: a FIFO with no reader now; EACCES: a pipe another user made (net_announce). */
	if ((fd = open("/proc/self/fd/2", O_WRONLY | O_NONBLOCK | O_NOCTTY)) == -1)
		return -1;
	/*
	 * From here on err(3), warn(3) and a sanitizer's report cannot wait for stderr either; a
	 * child we fork (09) inherits the new fd 2 with the rest.
	 */
	if (dup2(fd, STDERR_FILENO) == -1) {
		(void)close(fd);
		return -1;
	}
	(void)close(fd);		/* fd 2 holds the description now */
	return 0;
}

unsigned long
log_dropped(void)
{
	return atomic_load(log_drops);
}

/*
 * Format the whole line first, then write it with one call: a line written in pieces could be
 * interleaved with another thread's or process's line. Once log_never_block() has run, the
 * call never waits: a line the pipe, terminal or socket cannot take now is dropped and
 * counted. A terminal or a socket may take part of one; the rest is lost, and the line counts
 * as dropped too.
 */
static void log_line(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

static void
log_line(const char *fmt, va_list ap)
{
	char msg[512], line[LOG_LINE_MAX];
	int saved_errno = errno;
	ssize_t n;
	size_t len;
	int r;

	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	r = snprintf(line, sizeof(line), "%s: %s\n", log_lab, msg);
	len = r < 0 ? 0 : (size_t)r;		/* < 0: only past INT_MAX bytes */
	if (len >= sizeof(line)) {		/* cut (a long lab name): keep the newline */
		len = sizeof(line) - 1;
		line[len - 1] = '\n';
	}
	if (log_to_socket)
		n = send(STDERR_FILENO, line, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	else
		n = write(STDERR_FILENO, line, len);
	if (n != (ssize_t)len)
		atomic_fetch_add(log_drops, 1);
	errno = saved_errno;
}

void
log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line(fmt, ap);
	va_end(ap);
}

void
log_event(const char *fmt, ...)
{
	va_list ap;

	if (log_level < VERBOSITY_NORMAL)
		return;
	va_start(ap, fmt);
	log_line(fmt, ap);
	va_end(ap);
}

void
log_trace(const char *fmt, ...)
{
	va_list ap;

	if (log_level < VERBOSITY_VERBOSE)
		return;
	va_start(ap, fmt);
	log_line(fmt, ap);
	va_end(ap);
}
