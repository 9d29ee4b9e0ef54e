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
#include "log.h"
#include "net.h"
#include "options.h"

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
	ssize_t n;

	for (;;) {
		n = read(STDIN_FILENO, buf, sizeof(buf));	/* sleeps until input */
		if (n == 0)
			break;
		if (n == -1) {
			if (errno == EINTR)
				continue;
			err(1, "stdin");
		}
		/* Sleeps while the socket is full; the parent reads the echo meanwhile. */
		if (write_all(sock, buf, (size_t)n) == -1) {
			s->error = errno;		/* EPIPE: the server left */
			return;
		}
		s->sent += (unsigned long long)n;
	}
	/*
	 * EOF on stdin: tell the server there is no more. Once it has our FIN it may close at
	 * once, and the parent then sends SIGTERM (main): hold that signal until the half-close
	 * and its record are both done, or the parent could read "not shut" after a half-close.
	 */
	(void)sigemptyset(&term);
	(void)sigaddset(&term, SIGTERM);
	(void)sigprocmask(SIG_BLOCK, &term, NULL);	/* valid arguments: cannot fail */
	if (shutdown(sock, SHUT_WR) == -1)
		s->error = errno;		/* ENOTCONN: the server reset it meanwhile */
	else
		s->shut = true;
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
	char buf[IO_SIZE], name[NET_NAMESTRLEN];
	struct sender *s;
	const char *why;
	ssize_t n;
	pid_t pid;
	int sock;

	client_opts_parse(&opts, argc, argv);
	log_init(LAB " client", opts.quiet ? VERBOSITY_QUIET : VERBOSITY_NORMAL);
	if (std_fds_open() == -1)
		err(1, "/dev/null");
	/* A server that resets us must give an error message (EPIPE), not a silent death. */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		err(1, "signal");

	net_name(opts.host, opts.port, name);
	if ((sock = net_connect(opts.host, opts.port, &why)) == -1)
		errx(1, "cannot connect to %s: %s", name, why);
	log_event("connected to %s", name);
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
			end.error = errno;	/* ECONNRESET: the server reset it */
			break;
		}
		if (write_all(STDOUT_FILENO, buf, (size_t)n) == -1)
			err(1, "stdout");
		end.received += (unsigned long long)n;
	}

	/*
	 * The server has closed. Normally the child exited long ago: its half-close is what
	 * made the server close. If the server left first, the child may be asleep in a read of
	 * stdin that no byte will ever end (a terminal nobody types on): SIGTERM ends it. To a
	 * child that has exited and is not yet collected, the signal does nothing.
	 */
	(void)kill(pid, SIGTERM);			/* not collected yet: it exists */
	while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
		;					/* after this, *s is ours to read */
	/* end doc:receive */
	end.sent = s->sent;
	end.shut = s->shut;
	if (end.error == 0)
		end.error = s->error;
	(void)close(sock);	/* the process exits next; nothing left to flush */
	return client_finish(&end);
}
