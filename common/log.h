/*
 * log.h - one line per event on stderr, prefixed with the lab's name.
 *
 * Three levels, chosen with -q and -v on every server's command line:
 *	-q	errors only
 *	(none)	plus connections accepted, closed (and why) and refused
 *	-v	plus every readiness or completion event and every read/write with its byte count,
 *		so a student watches the model work
 *
 * log_init() also makes err(3) and warn(3) print the lab's name, so a lab can use them before
 * its loop ("03-select: cannot listen on ...") and the prefix stays the same everywhere.
 *
 * A server's log must never stop its echo or its stop: with -v and stderr a pipe that nobody
 * reads, the pipe fills (64 KiB) and a write that waited for room would wait for ever. So once
 * a server starts (server_start() calls log_never_block()), a line that stderr cannot take at
 * once is dropped and counted, and the summary line says how many (stats.h). A client keeps
 * the plain blocking write: it has nothing better to do than wait, and its last words matter.
 */
#ifndef IOMODELS_LOG_H
#define IOMODELS_LOG_H

#include <stdbool.h>

enum verbosity {
	VERBOSITY_QUIET,
	VERBOSITY_NORMAL,
	VERBOSITY_VERBOSE,
};

void		log_init(const char *lab, enum verbosity level);
bool		log_verbose(void);
/*
 * From now on, never wait for stderr: call once fds 0-2 are in place (std_fds_open) and
 * before any thread or child starts. Returns -1 with errno set if it cannot (then lines are
 * written as before, and may wait).
 */
int		log_never_block(void);
/* Lines dropped so far, by this process, its threads and the children it forked since. */
unsigned long	log_dropped(void);

/* An error of the server itself (not of one client): always printed. */
void		log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A connection accepted, closed or refused: hidden by -q. */
void		log_event(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Every event and every read/write: shown only with -v. */
void		log_trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
