/*
 * net.c - see net.h. getaddrinfo(3) for every address, so -H takes a name, an IPv4 or an
 * IPv6 address alike.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include "net.h"

/* The TCP addresses host:port stands for; 0, or -1 with *why set. */
static int
resolve(const char *host, const char *port, int flags, struct addrinfo **res, const char **why)
{
	struct addrinfo hints;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = flags;
	if ((rc = getaddrinfo(host, port, &hints, res)) != 0) {
		*why = gai_strerror(rc);
		return -1;
	}
	return 0;
}

int
net_listen(const char *host, const char *port, const char **why)
{
	struct addrinfo *res, *ai;
	int fd = -1, one = 1, saved;

	if (resolve(host, port, AI_PASSIVE, &res, why) == -1)
		return -1;
	/* Try each address the name resolves to; keep the errno of the last failure. */
	saved = EADDRNOTAVAIL;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd == -1) {
			saved = errno;
			continue;
		}
		/*
		 * TCP_NODELAY: every connection accepted from this socket inherits it (net.h).
		 * Should it fail, echoes are only slower: its return is not a reason to give up.
		 */
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
		    bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, SOMAXCONN) == 0)
			break;
		saved = errno;
		(void)close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1)
		*why = strerror(saved);
	return fd;
}

int
net_announce(int listen_fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char addr[NET_ADDRSTRLEN];

	if (getsockname(listen_fd, (struct sockaddr *)&ss, &len) == -1)
		return -1;
	if (printf("listening on %s\n", net_addr_str((struct sockaddr *)&ss, len, addr)) < 0 ||
	    fflush(stdout) == EOF)
		return -1;
	return 0;
}

int
net_connect(const char *host, const char *port, const char **why)
{
	struct addrinfo *res, *ai;
	int fd = -1, saved;

	if (resolve(host, port, 0, &res, why) == -1)
		return -1;
	saved = ECONNREFUSED;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd == -1) {
			saved = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		saved = errno;
		(void)close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1)
		*why = strerror(saved);
	return fd;
}

const char *
net_addr_str(const struct sockaddr *sa, socklen_t len, char *buf)
{
	char host[INET6_ADDRSTRLEN];

	(void)len;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		(void)inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		(void)snprintf(buf, NET_ADDRSTRLEN, "%s:%u", host, ntohs(sin->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

		(void)inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		(void)snprintf(buf, NET_ADDRSTRLEN, "[%s]:%u", host, ntohs(sin6->sin6_port));
	} else {
		(void)snprintf(buf, NET_ADDRSTRLEN, "(family %d)", sa->sa_family);
	}
	return buf;
}

const char *
net_name(const char *host, const char *port, char *buf)
{
	const char *open = "", *close = "", *cut = "";

	if (strchr(host, ':') != NULL) {
		open = "[";
		close = "]";
	}
	if (strlen(host) > 100)
		cut = "...";
	(void)snprintf(buf, NET_NAMESTRLEN, "%s%.100s%s%s:%s", open, host, cut, close, port);
	return buf;
}

void
net_refuse(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	/* If the option cannot be set, the client gets a FIN: still refused, less clearly. */
	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	(void)close(fd);
}
