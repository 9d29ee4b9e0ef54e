/*
 * io.h - small calls every lab needs and none teaches.
 */
#ifndef IOMODELS_IO_H
#define IOMODELS_IO_H

#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

/*
 * Make sure descriptors 0, 1 and 2 are open (on /dev/null if they were closed), before the
 * program opens anything else. Started as `./server <&- 2>&-`, the listening socket would
 * otherwise become fd 0 and a client fd 2, and every log line would go to that client.
 * Returns 0, or -1 with errno set.
 */
int	std_fds_open(void);

/*
 * Write all len bytes to a BLOCKING descriptor, retrying after short writes and EINTR.
 * Returns how many bytes the kernel took: len, or fewer with errno set (EPIPE, ECONNRESET...),
 * so that a caller can count what did go out before a failure. With stop non-NULL (&sig_stop,
 * set by SIGINT and SIGTERM) it gives up with EINTR once *stop is set, also between two short
 * writes, so a server stuck writing to a client that does not read stops at the first signal.
 * With stop NULL it tests no flag: for a client, which has no stop to obey, and for a thread,
 * which must not read a flag that a signal handler writes in another thread (08-threaded).
 * Only for the blocking labs and clients: on a non-blocking socket it would spin on EAGAIN,
 * and inside an event loop one slow client would stall every other (Stevens' Writen pitfall).
 */
size_t	write_all(int fd, const void *buf, size_t len, const volatile sig_atomic_t *stop);

/* Add O_NONBLOCK to fd's flags; 0 or -1 with errno set. */
int	set_nonblocking(int fd);

#endif
