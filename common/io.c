/*
 * io.c - see io.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "io.h"
#include "signals.h"

ssize_t
write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	size_t left = len;
	ssize_t n;

	while (left > 0) {
		n = write(fd, p, left);
		if (n == -1) {
			/* Retry after a signal, unless it asked the server to stop. */
			if (errno == EINTR && !sig_stop)
				continue;
			return -1;
		}
		p += n;
		left -= (size_t)n;
	}
	return (ssize_t)len;
}

int
set_nonblocking(int fd)
{
	int flags;

	if ((flags = fcntl(fd, F_GETFL)) == -1)
		return -1;
	return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}
