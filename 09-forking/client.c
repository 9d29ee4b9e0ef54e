/*
 * 09-forking/client.c - the two-process echo client: one blocking process per direction.
 *
 * After connecting, the client forks. The child copies stdin to the server and, at EOF, shuts
 * down the sending side (the server sees EOF, finishes and closes); the parent copies what
 * comes back to stdout until the server closes, then collects the child. Each process sleeps
 * in its own blocking call, so the client sends and receives at the same time (Stevens'
 * str_cli with fork, UNP 16.4; there the child is the one that reads the socket, here it is
 * the parent, which runs to the end and so can tell how it went).
 *
 *	./client [-H host] [-p port] [-q] [-h]	(default port 9009)
 *
 * Both processes hold the socket (fork() copies the descriptor), so the child's close() at
 * EOF would send nothing: shutdown(SHUT_WR) does, whoever else holds the descriptor. What the
 * child counts comes back to the parent through a shared mapping. stdin and stdout stay
 * blocking, as the shell gave them.
 *
 * Read with docs/09-forking.md.
 */
#include <err.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "buf.h"
#include "client.h"
#include "io.h"

#define LAB		"09-forking"
#define DEFAULT_PORT	"9009"

/* The sending child's side of the story, in memory shared with the parent. */
struct sender {
	unsigned long long	sent;		/* bytes of stdin sent to the server */
	bool			shut;		/* all of stdin sent, sending side shut down */
	int			error;		/* errno of a failed send or shutdown, else 0 */
};

/* doc:send-stdin */
static void
send_stdin(int sock, struct sender *s)
{
	char buf[IO_SIZE];
	sigset_t term;
	size_t put;
	ssize_t n;

	/*
	 * Once the server has closed, the parent sends SIGTERM (run) to end a child asleep on a
	 * terminal nobody types on. That wait is the only one it may cut short: everywhere else
	 * the signal is held, so that what was sent and how it ended (the reset a send saw, the
	 * half-close) is recorded before the child goes. A send needs no signal to end (run).
	 */
	(void)sigemptyset(&term);
	(void)sigaddset(&term, SIGTERM);
	(void)sigprocmask(SIG_BLOCK, &term, NULL);	/* valid arguments: cannot fail */
	for (;;) {
		(void)sigprocmask(SIG_UNBLOCK, &term, NULL);
		n = read(STDIN_FILENO, buf, sizeof(buf));	/* sleeps until input */
		(void)sigprocmask(SIG_BLOCK, &term, NULL);
		if (n == 0)
			break;
		if (n == -1) {
			if (errno == EINTR)
				continue;
			err(1, "stdin");
		}
		/* Sleeps while the socket is full; the parent reads the echo meanwhile. */
		put = write_all(sock, buf, (size_t)n, NULL);
		s->sent += put;
		if (put < (size_t)n) {
			s->error = errno;		/* EPIPE: the server left */
			return;
		}
	}
	/* EOF on stdin: tell the server there is no more. */
	if (shutdown(sock, SHUT_WR) == -1)
		s->error = errno;		/* ENOTCONN: the server reset it meanwhile */
	else
		s->shut = true;
}
/* end doc:send-stdin */

/*
 * Fork the sending child, and meanwhile copy what comes back to stdout until the server
 * closes; then collect the child, and with it what it sent and how that ended.
 */
static void
run(int sock, struct client_end *end)
{
	char buf[IO_SIZE];
	struct sender *s;
	ssize_t n;
	pid_t pid;
	int out_error = 0;

	/* Zeroed, anonymous and shared: the child's writes are the parent's to read. */
	s = mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (s == MAP_FAILED)
		err(1, "mmap");

	/* doc:receive */
	if ((pid = fork()) == -1)
		err(1, "fork");
	if (pid == 0) {
		send_stdin(sock, s);
		exit(0);		/* nothing buffered: stdout is written with write() */
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
			out_error = errno;	/* EPIPE: reported once the child is collected */
			break;
		}
		end->received += (unsigned long long)n;
	}

	/*
	 * The server has closed. Normally the child exited long ago: its half-close is what
	 * made the server close. If the server left first, the child may be asleep in a read of
	 * stdin that no byte will ever end (a terminal nobody types on): SIGTERM ends it (it
	 * holds the signal everywhere else). To a child that has exited and is not yet
	 * collected, the signal does nothing. A send needs no signal: once the server has
	 * closed, its kernel answers our bytes with a reset. If stdout failed instead, the
	 * server is still there and a send may wait for ever on a full socket: shutting the
	 * socket down ends that (EPIPE).
	 */
	if (out_error != 0)
		(void)shutdown(sock, SHUT_RDWR);	/* the process exits next anyway */
	(void)kill(pid, SIGTERM);			/* not collected yet: it exists */
	while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
		;					/* after this, *s is ours to read */
	/* end doc:receive */
	if (out_error != 0) {
		errno = out_error;
		err(1, "stdout");
	}
	end->sent = s->sent;
	end->shut = s->shut;
	if (end->error == 0)
		end->error = s->error;
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
