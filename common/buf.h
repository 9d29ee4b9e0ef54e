/*
 * buf.h - the fixed-size buffer: a client's two directions, and a server connection's
 * pending echo.
 *
 * IO_SIZE is the size of every read the labs make and of every buffer. Its size never
 * changes: a server that cannot write an echo back keeps the rest in one of these and stops
 * reading from that client until the client takes it (back-pressure), so a client that sends
 * without reading costs IO_SIZE bytes and no more.
 *
 *	data:  [ sent ...... | pending (head..tail) | free (tail..IO_SIZE) ]
 *
 * Bytes come in at tail and go out from head. When everything pending has gone out, head and
 * tail go back to 0; when the free part runs out while bytes already sent sit at the front,
 * the pending bytes are moved down (one memmove, at most IO_SIZE bytes).
 *
 * An event-loop server does not give every connection one of these: it reads into one buffer
 * the loop shares, writes the echo back at once, and takes a buffer (conn_buf_new) only for
 * what the socket did not take, freeing it once that is written. An idle connection holds
 * none. 64 KiB: measured against 16 and 32 KiB on one streaming connection, fewer, larger
 * reads and writes move more bytes per system call (docs/03-select.md, "The measured row").
 */
#ifndef IOMODELS_BUF_H
#define IOMODELS_BUF_H

#include <stdbool.h>
#include <stddef.h>

#ifndef IO_SIZE
#define IO_SIZE	65536
#endif

struct conn_buf {
	size_t	head;			/* first byte not yet written out */
	size_t	tail;			/* one past the last byte put in */
	char	data[IO_SIZE];
};

void		 conn_buf_init(struct conn_buf *b);
/* A new buffer holding a copy of the n bytes at p (n <= IO_SIZE); NULL if out of memory. */
struct conn_buf	*conn_buf_new(const char *p, size_t n);
void		 conn_buf_free(struct conn_buf *b);
/* Where to read into and how much room there is (0: full). */
char		*conn_buf_space(struct conn_buf *b, size_t *room);
/* n bytes were read into the space. */
void		 conn_buf_fill(struct conn_buf *b, size_t n);
/* The bytes waiting to be written and how many (0: nothing pending). */
char		*conn_buf_pending(struct conn_buf *b, size_t *len);
/* n pending bytes were written. */
void		 conn_buf_drain(struct conn_buf *b, size_t n);
bool		 conn_buf_full(const struct conn_buf *b);
bool		 conn_buf_empty(const struct conn_buf *b);

#endif
