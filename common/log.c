/*
 * log.c - see log.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

static const char *log_lab = "iomodels";
static enum verbosity log_level = VERBOSITY_NORMAL;

void
log_init(const char *lab, enum verbosity level)
{
	log_lab = lab;
	log_level = level;
	/*
	 * err(3) and warn(3) prefix their messages with this glibc variable (the program's
	 * name, "server" here); pointing it at the lab's name keeps one prefix for every line.
	 */
	program_invocation_short_name = (char *)lab;
}

bool
log_verbose(void)
{
	return log_level >= VERBOSITY_VERBOSE;
}

/*
 * Format the whole line first, then write it with one call: stderr is unbuffered, and a line
 * written in pieces could be interleaved with another thread's or process's line.
 */
static void log_line(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

static void
log_line(const char *fmt, va_list ap)
{
	char msg[512];
	int saved_errno = errno;

	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	(void)fprintf(stderr, "%s: %s\n", log_lab, msg);
	errno = saved_errno;
}

void
log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line(fmt, ap);
	va_end(ap);
}

void
log_event(const char *fmt, ...)
{
	va_list ap;

	if (log_level < VERBOSITY_NORMAL)
		return;
	va_start(ap, fmt);
	log_line(fmt, ap);
	va_end(ap);
}

void
log_trace(const char *fmt, ...)
{
	va_list ap;

	if (log_level < VERBOSITY_VERBOSE)
		return;
	va_start(ap, fmt);
	log_line(fmt, ap);
	va_end(ap);
}
