/*
 * nodelay PID FD - print "nodelay=1" or "nodelay=0": whether process PID's descriptor FD, a TCP
 * socket, has TCP_NODELAY (tcp(7)).
 *
 * What a server set on its sockets cannot be seen from outside in /proc or ss; so this asks the
 * socket itself: pidfd_open(2) and pidfd_getfd(2) (Linux 5.6) give us a duplicate of the
 * server's descriptor, the same open socket, and getsockopt(2) reads the option on it. It needs
 * the right to ptrace PID (root, or the same user without Yama's restriction).
 *
 * Exit 0 with the line; 1 if the descriptor cannot be had or is not a TCP socket; 2 for bad
 * usage.
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/syscall.h>

int
main(int argc, char *argv[])
{
	int pidfd, fd, on;
	socklen_t len = sizeof(on);

	if (argc != 3) {
		(void)fprintf(stderr, "usage: nodelay PID FD\n");
		return 2;
	}
	/* Raw syscalls: glibc 2.36 has no wrappers for them. */
	if ((pidfd = (int)syscall(SYS_pidfd_open, atoi(argv[1]), 0)) == -1)
		err(1, "pidfd_open %s", argv[1]);
	if ((fd = (int)syscall(SYS_pidfd_getfd, pidfd, atoi(argv[2]), 0)) == -1)
		err(1, "pidfd_getfd %s %s", argv[1], argv[2]);
	if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &len) == -1)
		err(1, "getsockopt TCP_NODELAY");
	(void)printf("nodelay=%d\n", on != 0);
	return 0;
}
