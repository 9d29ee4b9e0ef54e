/*
 * stats.c - see stats.h.
 */
#include <stddef.h>
#include <stdio.h>

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
	(void)printf("summary: served %lu connections, echoed %llu bytes, peak %lu concurrent\n",
	    s->served, s->bytes, s->peak);
	(void)fflush(stdout);
}
