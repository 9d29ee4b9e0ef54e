/*
 * signals.h - SIGPIPE ignored; SIGINT and SIGTERM set a flag and wake the loop.
 *
 * A handler may call almost nothing (signal-safety(7)), so it sets sig_stop and the lab's
 * loop decides when to stop. The handlers are installed without SA_RESTART: a blocking
 * accept(), read() or write() returns -1/EINTR and the loop gets to test the flag.
 *
 * Testing a flag and then going to sleep leaves a window: a signal that lands after the
 * test and before the call is only noticed when the call returns for another reason. A
 * blocking lab lives with it (docs/01-blocking.md). An event loop closes it with the
 * self-pipe trick: given wake_fd, sig_setup() makes a pipe, the handler also writes one byte
 * to it (write(2) is async-signal-safe), and the loop watches the read end like any socket.
 * A signal at any moment leaves the pipe readable, so the next wait returns at once, however
 * busy the other descriptors are. (pselect() and its mask close the window too, but only
 * while nothing else is ready: under steady traffic the blocked signal is never delivered.
 * docs/03-select.md shows it.)
 */
#ifndef IOMODELS_SIGNALS_H
#define IOMODELS_SIGNALS_H

#include <signal.h>

extern volatile sig_atomic_t sig_stop;

/*
 * Install the handlers. With wake_fd non-NULL, also make the self-pipe and store its read
 * end (non-blocking, close-on-exec) in *wake_fd. Returns 0, or -1 with errno set.
 */
int	sig_setup(int *wake_fd);

#endif
