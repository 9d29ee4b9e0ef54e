/*
 * client.c - see client.h.
 */
#include <err.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "io.h"
#include "log.h"
#include "net.h"
#include "options.h"

static struct client_opts opts;

int
client_start(const char *lab, const char *default_port, int argc, char *argv[])
{
	client_init(lab, default_port, argc, argv);
	return client_connect();
}

void
client_init(const char *lab, const char *default_port, int argc, char *argv[])
{
	static char prefix[64];		/* log_init() keeps the pointer */

	opts.lab = lab;
	opts.host = "127.0.0.1";
	opts.port = default_port;
	client_opts_parse(&opts, argc, argv);
	(void)snprintf(prefix, sizeof(prefix), "%s client", lab);
	log_init(prefix, opts.quiet ? VERBOSITY_QUIET : VERBOSITY_NORMAL);
	if (std_fds_open() == -1)
		err(1, "/dev/null");
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		err(1, "signal");
}

int
client_connect(void)
{
	char name[NET_NAMESTRLEN];
	const char *why;
	int sock;

	net_name(opts.host, opts.port, name);
	if ((sock = net_connect(opts.host, opts.port, &why)) == -1)
		errx(1, "cannot connect to %s: %s", name, why);
	log_event("connected to %s", name);
	return sock;
}

ssize_t
client_fill(int fd, struct conn_buf *b)
{
	size_t room;
	char *p = conn_buf_space(b, &room);
	ssize_t n = read(fd, p, room);

	if (n > 0)
		conn_buf_fill(b, (size_t)n);
	return n;
}

ssize_t
client_flush(int fd, struct conn_buf *b)
{
	size_t len;
	char *p = conn_buf_pending(b, &len);
	ssize_t n = write(fd, p, len);

	if (n > 0)
		conn_buf_drain(b, (size_t)n);
	return n;
}

bool
client_again(void)
{
	return errno == EAGAIN || errno == EINTR;
}

int
client_finish(int sock, const struct client_end *e)
{
	char how[128];

	(void)close(sock);	/* the process exits next; nothing left to flush */
	if (e->error == 0 && e->shut && e->received == e->sent) {
		log_event("done: sent %llu bytes, received %llu bytes", e->sent, e->received);
		return 0;
	}
	if (e->sent == 0 && e->received == 0) {
		log_error("the server closed the connection at once: it may be full (-m)");
		return 1;
	}
	/* How it ended... */
	if (e->error != 0)
		(void)snprintf(how, sizeof(how), "reset the connection (%s)", strerror(e->error));
	else if (!e->shut)
		(void)snprintf(how, sizeof(how), "closed the connection before the end of input,");
	else
		(void)snprintf(how, sizeof(how), "closed the connection");
	/* ...and what came back before. */
	if (e->received == 0)
		log_error("the server %s without echoing any of the %llu bytes sent: "
		    "it may be full (-m)", how, e->sent);
	else if (e->received > e->sent)
		log_error("the server %s after sending %llu bytes for the %llu sent: "
		    "more than an echo", how, e->received, e->sent);
	else
		log_error("the server %s after echoing %llu of %llu bytes", how, e->received,
		    e->sent);
	return 1;
}
