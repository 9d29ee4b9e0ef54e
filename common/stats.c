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
	(void)printf("summary: served %lu connection%s, echoed %llu byte%s, peak %lu concurrent\n",
	    s->served, s->served == 1 ? "" : "s", s->bytes, s->bytes == 1 ? "" : "s", s->peak);
	(void)fflush(stdout);
}
