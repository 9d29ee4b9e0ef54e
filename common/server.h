/*
 * server.h - what every server does before its loop, none of it the model: the descriptor
 * limit turned into table sizes, then the log, fds 0-2, the stop signals and the listening
 * socket. A lab's main() reads as: size, parse, start, its own set-up, announce, serve, stop.
 *
 * Nothing here exits: a failure comes back with a line saying what failed, and the lab
 * reports it (errx(1, ...)), as the contract wants (exit 1, the reason on stderr).
 */
#ifndef IOMODELS_SERVER_H
#define IOMODELS_SERVER_H

#include <stdbool.h>

#include "options.h"

/*
 * A table indexed by descriptor never gets more entries than this: 2^20, the kernel's default
 * for the highest limit there can be (fs.nr_open).
 */
#define FD_SLOTS_MAX	(1 << 20)

/*
 * For a server that keeps a table indexed by descriptor (02-07): how many entries, one for
 * every descriptor up to the hard RLIMIT_NOFILE (getrlimit(2)), since the soft limit can be
 * raised while the server runs (prlimit(1)); and, in *max_conns unless it is NULL, the
 * default -m: what the soft limit leaves once the server has own_fds descriptors of its own
 * (0-2, the listening socket, the signal pipe...), at least 1. Past that, accept() fails with
 * EMFILE and the client waits in the queue. Returns the number of entries, or -1 with errno
 * set.
 */
int	fd_slots(int own_fds, long *max_conns);

/* How server_start() makes the listening socket. */
enum server_listen {
	LISTEN_BLOCKING,	/* accept() sleeps: 01, 08, 09 */
	LISTEN_NONBLOCKING,	/* accept() is tried when told it is ready, and may find nothing */
};

/*
 * Start the log at -q/-v, make sure fds 0-2 are open (std_fds_open), keep the log from ever
 * waiting for stderr (log_never_block), ignore SIGPIPE and catch SIGINT and SIGTERM (sig_setup;
 * with wake_fd not NULL, the self-pipe too, its read end in *wake_fd), and listen on -H/-p.
 * Call it once the options are parsed, before any thread or child starts. Returns the
 * listening socket, or -1 with *why saying what failed ("cannot listen on 127.0.0.1:9003:
 * Address already in use").
 */
int	server_start(const struct server_opts *opts, enum server_listen mode, int *wake_fd,
	    const char **why);

#endif
