/*
 * pause.c - see pause.h.
 */
#include "pause.h"

#define NS_PER_S	1000000000L
#define NS_PER_MS	1000000L

static struct timespec
now(void)
{
	struct timespec ts;

	/* CLOCK_MONOTONIC cannot fail with a valid pointer (clock_gettime(2)). */
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts;
}

/* b - a in nanoseconds. */
static long long
diff_ns(struct timespec a, struct timespec b)
{
	return (long long)(b.tv_sec - a.tv_sec) * NS_PER_S + (b.tv_nsec - a.tv_nsec);
}

void
accept_pause_start(struct accept_pause *p)
{
	p->on = true;
	p->until = now();
	p->until.tv_sec += 1;
}

void
accept_pause_stop(struct accept_pause *p)
{
	p->on = false;
}

bool
accept_paused(struct accept_pause *p)
{
	if (p->on && diff_ns(now(), p->until) <= 0)
		p->on = false;
	return p->on;
}

int
accept_pause_ms(const struct accept_pause *p)
{
	long long ns;

	if (!p->on)
		return -1;
	ns = diff_ns(now(), p->until);
	return ns <= 0 ? 0 : (int)((ns + NS_PER_MS - 1) / NS_PER_MS);
}
