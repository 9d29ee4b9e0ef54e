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
 */
#ifndef IOMODELS_LOG_H
#define IOMODELS_LOG_H

#include <stdbool.h>

enum verbosity {
	VERBOSITY_QUIET,
	VERBOSITY_NORMAL,
	VERBOSITY_VERBOSE,
};

void	log_init(const char *lab, enum verbosity level);
bool	log_verbose(void);

/* An error of the server itself (not of one client): always printed. */
void	log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A connection accepted, closed or refused: hidden by -q. */
void	log_event(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Every event and every read/write: shown only with -v. */
void	log_trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
