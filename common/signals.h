/*
 * signals.h - SIGPIPE ignored; SIGINT and SIGTERM only set a flag.
 *
 * A handler may call almost nothing (signal-safety(7)), so it sets sig_stop and the lab's
 * loop decides when to stop. The handlers are installed without SA_RESTART: a blocking
 * accept(), read() or select() returns -1/EINTR and the loop gets to test the flag.
 *
 * Testing the flag and then blocking leaves a window: a signal that lands after the test and
 * before the call is only noticed when the call returns for another reason. With a
 * non-NULL wait_mask, sig_setup() closes it the way pselect(2) describes: SIGINT and SIGTERM
 * are blocked for the whole loop, and *wait_mask is the mask to hand to pselect/ppoll/
 * epoll_pwait, which unblock them atomically for the duration of the wait only.
 */
#ifndef IOMODELS_SIGNALS_H
#define IOMODELS_SIGNALS_H

#include <signal.h>

extern volatile sig_atomic_t sig_stop;

int	sig_setup(sigset_t *wait_mask);

#endif
