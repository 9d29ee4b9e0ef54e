/*
 * 08-threaded/client.c - the two-thread echo client: one blocking thread per direction.
 *
 * A second thread copies stdin to the server and, at EOF, shuts down the sending side (the
 * server sees EOF, finishes and closes); the main thread copies what comes back to stdout
 * until the server closes. Each thread sleeps in its own blocking call, so the client sends
 * and receives at the same time without stop-and-wait (01-blocking/client.c) and without
 * watching two descriptors in one call (03-select/client.c): the kernel does the waiting for
 * both (Stevens' str_cli with threads, UNP 26.3).
 *
 *	./client [-H host] [-p port] [-q] [-h]	(default port 9008)
 *
 * stdin and stdout stay blocking, as the shell gave them: nothing here needs O_NONBLOCK.
 *
 * Read with docs/08-threaded.md.
 */
#include <err.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <unistd.h>
#include <sys/socket.h>

#include "buf.h"
#include "client.h"
#include "io.h"
#include "log.h"
#include "net.h"
#include "options.h"

#define LAB		"08-threaded"
#define DEFAULT_PORT	"9008"

/*
 * What the sending thread works with: written by that thread, read by main() after the join.
 * Its buffer is here rather than on its own stack, because the thread may be cancelled in
 * read() (main): cancellation unwinds its frames behind the back of AddressSanitizer, which
 * would then take their stale guard zones for live ones (a false "stack-buffer-overflow" in
 * the thread's exit, in the make sanitize build).
 */
struct sender {
	int			sock;
	unsigned long long	sent;		/* bytes of stdin sent to the server */
	bool			shut;		/* all of stdin sent, sending side shut down */
	int			error;		/* errno of a failed send or shutdown, else 0 */
	char			buf[IO_SIZE];
};

/* doc:send-stdin */
static void *
send_stdin(void *arg)
{
	struct sender *s = arg;
	ssize_t n;

	for (;;) {
		n = read(STDIN_FILENO, s->buf, sizeof(s->buf));	/* sleeps until input */
		if (n == 0)
			break;
		if (n == -1) {
			if (errno == EINTR)
				continue;
			err(1, "stdin");
		}
		/* Sleeps while the socket is full; the main thread reads the echo meanwhile. */
		if (write_all(s->sock, s->buf, (size_t)n) == -1) {
			s->error = errno;		/* EPIPE: the server left */
			return NULL;
		}
		s->sent += (unsigned long long)n;
	}
	/*
	 * EOF on stdin: tell the server there is no more. shutdown(), not close(): the main
	 * thread still reads the echo from this socket.
	 */
	if (shutdown(s->sock, SHUT_WR) == -1)
		s->error = errno;		/* ENOTCONN: the server reset it meanwhile */
	else
		s->shut = true;
	return NULL;
}
/* end doc:send-stdin */

int
main(int argc, char *argv[])
{
	struct client_opts opts = {
		.lab = LAB,
		.host = "127.0.0.1",
		.port = DEFAULT_PORT,
	};
	struct client_end end = { 0 };
	struct sender s = { 0 };
	char buf[IO_SIZE], name[NET_NAMESTRLEN];
	const char *why;
	pthread_t sender;
	ssize_t n;
	int rc, out_error = 0;

	client_opts_parse(&opts, argc, argv);
	log_init(LAB " client", opts.quiet ? VERBOSITY_QUIET : VERBOSITY_NORMAL);
	if (std_fds_open() == -1)
		err(1, "/dev/null");
	/* A server that resets us must give an error message (EPIPE), not a silent death. */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		err(1, "signal");

	net_name(opts.host, opts.port, name);
	if ((s.sock = net_connect(opts.host, opts.port, &why)) == -1)
		errx(1, "cannot connect to %s: %s", name, why);
	log_event("connected to %s", name);

	/* doc:receive */
	if ((rc = pthread_create(&sender, NULL, send_stdin, &s)) != 0) {
		errno = rc;		/* the pthread calls return the error, not set errno */
		err(1, "pthread_create");
	}

	/*
	 * Meanwhile, read until the server closes: after our half-close it is its EOF; after a
	 * failure, whatever it sent before it went away, written out before the verdict.
	 */
	while ((n = read(s.sock, buf, sizeof(buf))) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			end.error = errno;	/* ECONNRESET: the server reset it */
			break;
		}
		if (write_all(STDOUT_FILENO, buf, (size_t)n) == -1) {
			out_error = errno;	/* EPIPE: reported once the sender is joined */
			break;
		}
		end.received += (unsigned long long)n;
	}

	/*
	 * The server has closed. Normally the sender ended long ago: its half-close is what
	 * made the server close. If the server left first, the sender may be asleep in a read
	 * of stdin that no byte will ever end (a terminal nobody types on): cancel it. read() is
	 * a cancellation point (pthreads(7)); a thread that has already returned ignores it.
	 */
	(void)pthread_cancel(sender);			/* ESRCH cannot happen: not joined */
	(void)pthread_join(sender, NULL);		/* after this, s is ours to read */
	/* end doc:receive */
	if (out_error != 0) {
		errno = out_error;
		err(1, "stdout");
	}
	end.sent = s.sent;
	end.shut = s.shut;
	if (end.error == 0)
		end.error = s.error;
	(void)close(s.sock);	/* the process exits next; nothing left to flush */
	return client_finish(&end);
}
