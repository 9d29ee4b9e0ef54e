/*
 * stats.h - what a server counts for its one summary line at exit:
 *
 *	summary: served 12 connections, echoed 1048576 bytes, peak 5 concurrent
 *
 * printed on stdout (like "listening on"), so a script can read both. The words follow the
 * numbers ("served 1 connection"), so a script matches "connections?" and "bytes?". When the
 * log lost lines (stderr could not take them: log.h), the line ends with how many:
 *
 *	summary: served 3 connections, echoed 4096 bytes, peak 2 concurrent, 15 log lines dropped
 */
#ifndef IOMODELS_STATS_H
#define IOMODELS_STATS_H

#include <stddef.h>

struct stats {
	unsigned long		served;		/* connections accepted and served */
	unsigned long		open;		/* open now */
	unsigned long		peak;		/* most open at once */
	unsigned long long	bytes;		/* bytes echoed (written back) */
};

void	stats_opened(struct stats *s);
void	stats_closed(struct stats *s);
void	stats_echoed(struct stats *s, size_t n);
void	stats_print(const struct stats *s);

#endif
