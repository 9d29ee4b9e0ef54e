/*
 * pause.h - the one-second pause of accept() after EMFILE, ENFILE, ENOBUFS or ENOMEM.
 *
 * Out of descriptors (or memory), accept() fails and leaves the client in the queue, so the
 * listening socket stays ready: a loop that kept watching it would wake, fail and wake again,
 * at full speed, for ever. The event-loop labs stop watching it instead, until one of their
 * own connections closes (accept_pause_stop) or a second has passed, whatever else is ready
 * meanwhile: the descriptors that ran out may be another process's (ENFILE, ENOMEM), and then
 * no close of ours will ever end the pause.
 */
#ifndef IOMODELS_PAUSE_H
#define IOMODELS_PAUSE_H

#include <stdbool.h>
#include <time.h>

struct accept_pause {
	bool		on;
	struct timespec	until;		/* CLOCK_MONOTONIC */
};

/* accept() failed for want of a resource: pause for a second. */
void	accept_pause_start(struct accept_pause *p);
/* A descriptor came free: end the pause now. */
void	accept_pause_stop(struct accept_pause *p);
/* Whether accept is paused; once the second is over this ends the pause and says false. */
bool	accept_paused(struct accept_pause *p);
/* Milliseconds until the pause ends, rounded up, for a wait's timeout; -1 if not paused. */
int	accept_pause_ms(const struct accept_pause *p);

#endif
