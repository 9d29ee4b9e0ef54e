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
#include <stdbool.h>
#include <unistd.h>
#include <sys/socket.h>

#include "buf.h"
#include "client.h"
#include "io.h"

#define LAB		"08-threaded"
#define DEFAULT_PORT	"9008"

/*
 * What the sending thread works with: written by that thread, read by run() after the join.
 * Its buffer is here rather than on its own stack, because the thread may be cancelled in
 * read() (run): cancellation unwinds its frames behind the back of AddressSanitizer, which
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
	size_t put;
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
		/*
		 * Sleeps while the socket is full; the main thread reads the echo meanwhile.
		 * Not cancellable here (run): what went out, and the reset a send saw, are
		 * recorded before the thread ends.
		 */
		(void)pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
		put = write_all(s->sock, s->buf, (size_t)n, NULL);
		s->sent += put;
		if (put < (size_t)n) {
			s->error = errno;		/* EPIPE: the server left */
			return NULL;
		}
		(void)pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
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

/*
 * Start the sending thread, and meanwhile copy what comes back to stdout until the server
 * closes; then collect the sender, and with it what it sent and how that ended.
 */
static void
run(int sock, struct client_end *end)
{
	struct sender s = { .sock = sock };
	char buf[IO_SIZE];
	pthread_t sender;
	ssize_t n;
	int rc, out_error = 0;

	/* doc:receive */
	if ((rc = pthread_create(&sender, NULL, send_stdin, &s)) != 0) {
		errno = rc;		/* the pthread calls return the error, not set errno */
		err(1, "pthread_create");
	}

	/*
	 * Meanwhile, read until the server closes: after our half-close it is its EOF; after a
	 * failure, whatever it sent before it went away, written out before the verdict.
	 */
	while ((n = read(sock, buf, sizeof(buf))) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			end->error = errno;	/* ECONNRESET: the server reset it */
			break;
		}
		if (write_all(STDOUT_FILENO, buf, (size_t)n, NULL) < (size_t)n) {
			out_error = errno;	/* EPIPE: reported once the sender is joined */
			break;
		}
		end->received += (unsigned long long)n;
	}

	/*
	 * The server has closed. Normally the sender ended long ago: its half-close is what
	 * made the server close. If the server left first, the sender may be asleep in a read
	 * of stdin that no byte will ever end (a terminal nobody types on): cancel it. read() is
	 * a cancellation point (pthreads(7)); a thread that has already returned ignores it. A
	 * send is not cancelled, and need not be: once the server has closed, its kernel
	 * answers our bytes with a reset. If stdout failed instead, the server is still there
	 * and a send may wait for ever on a full socket: shutting it down ends that (EPIPE).
	 */
	if (out_error != 0)
		(void)shutdown(sock, SHUT_RDWR);	/* the process exits next anyway */
	(void)pthread_cancel(sender);			/* ESRCH cannot happen: not joined */
	(void)pthread_join(sender, NULL);		/* after this, s is ours to read */
	/* end doc:receive */
	if (out_error != 0) {
		errno = out_error;
		err(1, "stdout");
	}
	end->sent = s.sent;
	end->shut = s.shut;
	if (end->error == 0)
		end->error = s.error;
}

int
main(int argc, char *argv[])
{
	struct client_end end = { 0 };
	int sock;

	sock = client_start(LAB, DEFAULT_PORT, argc, argv);
	run(sock, &end);
	return client_finish(sock, &end);
}
