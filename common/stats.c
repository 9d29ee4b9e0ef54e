/*
 * stats.c - see stats.h.
 */
#include <stddef.h>
#include <stdio.h>

#include "log.h"
#include "stats.h"

void
stats_opened(struct stats *s)
{
	s->served++;
	if (++s->open > s->peak)
		s->peak = s->open;
}

void
stats_closed(struct stats *s)
{
	s->open--;
}

void
stats_echoed(struct stats *s, size_t n)
{
	s->bytes += n;
}

void
stats_print(const struct stats *s)
{
	unsigned long dropped = log_dropped();

	(void)printf("summary: served %lu connection%s, echoed %llu byte%s, peak %lu concurrent",
	    s->served, s->served == 1 ? "" : "s", s->bytes, s->bytes == 1 ? "" : "s", s->peak);
	if (dropped > 0)
		(void)printf(", %lu log line%s dropped", dropped, dropped == 1 ? "" : "s");
	(void)printf("\n");
	(void)fflush(stdout);
}
