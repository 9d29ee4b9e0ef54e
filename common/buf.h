/*
 * buf.h - the fixed per-connection buffer.
 *
 * An echo server reads into the buffer and writes out of it. Its size never changes: when it is
 * full the lab stops reading from that client until the client takes some of its echo (back-
 * pressure), so a client that sends without reading costs CONN_BUF_SIZE bytes and no more.
 *
 *	data:  [ sent ...... | pending (head..tail) | free (tail..CONN_BUF_SIZE) ]
 *
 * Bytes are read in at tail and written out from head. When everything pending has been
 * written, head and tail go back to 0; when the free part runs out while bytes already sent sit
 * at the front, the pending bytes are moved down (one memmove, at most CONN_BUF_SIZE bytes).
 */
#ifndef IOMODELS_BUF_H
#define IOMODELS_BUF_H

#include <stdbool.h>
#include <stddef.h>

#ifndef CONN_BUF_SIZE
#define CONN_BUF_SIZE	16384
#endif

struct conn_buf {
	size_t	head;			/* first byte not yet written back */
	size_t	tail;			/* one past the last byte read in */
	char	data[CONN_BUF_SIZE];
};

void	 conn_buf_init(struct conn_buf *b);
/* Where to read into and how much room there is (0: full). */
char	*conn_buf_space(struct conn_buf *b, size_t *room);
/* n bytes were read into the space. */
void	 conn_buf_fill(struct conn_buf *b, size_t n);
/* The bytes waiting to be written and how many (0: nothing pending). */
char	*conn_buf_pending(struct conn_buf *b, size_t *len);
/* n pending bytes were written. */
void	 conn_buf_drain(struct conn_buf *b, size_t n);
bool	 conn_buf_full(const struct conn_buf *b);
bool	 conn_buf_empty(const struct conn_buf *b);

#endif
