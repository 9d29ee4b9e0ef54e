/*
 * server.c - see server.h.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>

#include "io.h"
#include "log.h"
#include "net.h"
#include "server.h"
#include "signals.h"

int
fd_slots(int own_fds, long *max_conns)
{
	struct rlimit nofile;
	long soft;

	if (getrlimit(RLIMIT_NOFILE, &nofile) == -1)
		return -1;
	soft = nofile.rlim_cur < FD_SLOTS_MAX ? (long)nofile.rlim_cur : FD_SLOTS_MAX;
	if (max_conns != NULL)
		*max_conns = soft > own_fds ? soft - own_fds : 1;
	return nofile.rlim_max < FD_SLOTS_MAX ? (int)nofile.rlim_max : FD_SLOTS_MAX;
}

/* The one failure server_start() reports, as a line; *why points at it. */
static char why_buf[NET_NAMESTRLEN + 128];

static int
failed(const char **why, const char *what, const char *reason)
{
	(void)snprintf(why_buf, sizeof(why_buf), "%s: %s", what, reason);
	*why = why_buf;
	return -1;
}

int
server_start(const struct server_opts *opts, enum server_listen mode, int *wake_fd,
    const char **why)
{
	char name[NET_NAMESTRLEN], what[NET_NAMESTRLEN + 16];
	const char *reason;
	int fd;

	log_init(opts->lab, opts->verbosity);
	/* Before anything is opened: otherwise a socket could become fd 0, 1 or 2 (io.h). */
	if (std_fds_open() == -1)
		return failed(why, "/dev/null", strerror(errno));
	/* From the first client on, the log must not be able to stop the server (log.h). */
	if (log_never_block() == -1)
		log_error("stderr: %s: a log nobody reads could stall the server",
		    strerror(errno));
	if (sig_setup(wake_fd) == -1)
		return failed(why, "signal set-up", strerror(errno));
	(void)snprintf(what, sizeof(what), "cannot listen on %s",
	    net_name(opts->host, opts->port, name));
	if ((fd = net_listen(opts->host, opts->port, &reason)) == -1)
		return failed(why, what, reason);
	if (mode == LISTEN_NONBLOCKING && set_nonblocking(fd) == -1) {
		reason = strerror(errno);
		(void)close(fd);
		return failed(why, "set_nonblocking", reason);
	}
	return fd;
}
