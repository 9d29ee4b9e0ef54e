/*
 * net.h - the listening and the connecting socket, and addresses as text.
 *
 * Functions return -1 and set *why to a short reason (from strerror(3) or gai_strerror(3));
 * the lab decides what a failure means. Nothing here exits.
 */
#ifndef IOMODELS_NET_H
#define IOMODELS_NET_H

#include <stddef.h>
#include <sys/socket.h>

/* Long enough for "[ffff:...:ffff]:65535". */
#define NET_ADDRSTRLEN	64
/* For net_name(): a host name cut at 100 characters, and the port. */
#define NET_NAMESTRLEN	128

/*
 * A TCP socket bound to host:port (port "0": the kernel picks one) and listening, with
 * SO_REUSEADDR so a restarted server does not wait out TIME_WAIT. Blocking, like any new
 * socket: a lab that wants a non-blocking one says so itself.
 *
 * With TCP_NODELAY (tcp(7)), which Linux copies to every connection accepted from it: an echo
 * goes out at once, whole. Nagle's algorithm (RFC 896) would hold back a segment shorter than
 * the largest while earlier bytes are unacknowledged: a 64 KiB echo on loopback is one full
 * segment and a tail of 53 bytes, and the tail would wait for the client's acknowledgement,
 * which the client may delay; a client that keeps a fixed amount in flight then waits for every
 * tail. Measured with 256 KiB in flight on one connection, 06-epoll-et streamed at 0.24-0.36
 * times the reference server's rate without it (docs/06-epoll-et.md). Not the model: every
 * lab gets it, so that the bench compares the models and not Nagle.
 */
int		 net_listen(const char *host, const char *port, const char **why);

/*
 * Print "listening on HOST:PORT" with the port the socket really has, on stdout, and flush it:
 * tests and scripts wait for this line. Call it once the socket listens.
 */
int		 net_announce(int listen_fd);

/* A blocking TCP socket connected to host:port. */
int		 net_connect(const char *host, const char *port, const char **why);

/* "127.0.0.1:54321" or "[::1]:54321" into buf (NET_ADDRSTRLEN bytes); returns buf. */
const char	*net_addr_str(const struct sockaddr *sa, socklen_t len, char *buf);

/*
 * host and port as one name for messages, in the form -H accepts back: "127.0.0.1:9003",
 * "[::1]:9003"; a host longer than 100 characters is cut ("..."). buf has NET_NAMESTRLEN
 * bytes; returns buf.
 */
const char	*net_name(const char *host, const char *port, char *buf);

/*
 * Turn a just-accepted client away: close fd with a reset (SO_LINGER 0) instead of the
 * usual FIN, so the client learns it was refused whatever it does next, even if it has
 * nothing to send and only waits for the end (a FIN would look like an empty echo).
 */
void		 net_refuse(int fd);

#endif
