/*
 * io.h - two small calls every lab needs and none teaches.
 */
#ifndef IOMODELS_IO_H
#define IOMODELS_IO_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Write all len bytes to a BLOCKING descriptor, retrying after short writes and EINTR.
 * Returns len, or -1 with errno set (EPIPE, ECONNRESET...; EINTR once SIGINT or SIGTERM has
 * set sig_stop, so a server stuck writing to a client that does not read still stops). Only for the blocking labs and
 * clients: on a non-blocking socket it would spin on EAGAIN, and inside an event loop one slow
 * client would stall every other (Stevens' Writen pitfall).
 */
ssize_t	write_all(int fd, const void *buf, size_t len);

/* Add O_NONBLOCK to fd's flags; 0 or -1 with errno set. */
int	set_nonblocking(int fd);

#endif
