/*
 * io.c - see io.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "io.h"

int
std_fds_open(void)
{
	int fd;

	/* open() returns the lowest free number: each call fills the next hole in 0..2. */
	while (fcntl(STDERR_FILENO, F_GETFD) == -1 || fcntl(STDOUT_FILENO, F_GETFD) == -1 ||
	    fcntl(STDIN_FILENO, F_GETFD) == -1) {
		if ((fd = open("/dev/null", O_RDWR)) == -1)
			return -1;
		if (fd > STDERR_FILENO) {
			(void)close(fd);	/* cannot happen: one of 0..2 was free */
			break;
		}
	}
	return 0;
}

size_t
write_all(int fd, const void *buf, size_t len, const volatile sig_atomic_t *stop)
{
	const char *p = buf;
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		if (stop != NULL && *stop) {
			errno = EINTR;
			break;
		}
		n = write(fd, p + done, len - done);
		if (n == -1) {
			if (errno == EINTR)
				continue;	/* *stop, if any, is tested above */
			break;
		}
		done += (size_t)n;
	}
	return done;
}

int
set_nonblocking(int fd)
{
	int flags;

	if ((flags = fcntl(fd, F_GETFL)) == -1)
		return -1;
	return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}
