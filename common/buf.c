/*
 * buf.c - see buf.h.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"

void
conn_buf_init(struct conn_buf *b)
{
	b->head = 0;
	b->tail = 0;
}

struct conn_buf *
conn_buf_new(const char *p, size_t n)
{
	struct conn_buf *b;

	if (n > sizeof(b->data) || (b = malloc(sizeof(*b))) == NULL)
		return NULL;
	memcpy(b->data, p, n);
	b->head = 0;
	b->tail = n;
	return b;
}

void
conn_buf_free(struct conn_buf *b)
{
	free(b);
}

char *
conn_buf_space(struct conn_buf *b, size_t *room)
{
	if (b->tail == sizeof(b->data) && b->head > 0) {
		memmove(b->data, b->data + b->head, b->tail - b->head);
		b->tail -= b->head;
		b->head = 0;
	}
	*room = sizeof(b->data) - b->tail;
	return b->data + b->tail;
}

void
conn_buf_fill(struct conn_buf *b, size_t n)
{
	b->tail += n;
}

char *
conn_buf_pending(struct conn_buf *b, size_t *len)
{
	*len = b->tail - b->head;
	return b->data + b->head;
}

void
conn_buf_drain(struct conn_buf *b, size_t n)
{
	b->head += n;
	if (b->head == b->tail)
		b->head = b->tail = 0;
}

bool
conn_buf_full(const struct conn_buf *b)
{
	return b->tail - b->head == sizeof(b->data);
}

bool
conn_buf_empty(const struct conn_buf *b)
{
	return b->tail == b->head;
}
