/*
 * client.c - see client.h.
 */
#include <errno.h>
#include <string.h>

#include "client.h"
#include "log.h"

bool
client_lost(int err)
{
	return err == ECONNRESET || err == EPIPE || err == ENOTCONN || err == ECONNABORTED ||
	    err == ETIMEDOUT;
}

int
client_finish(const struct client_end *e)
{
	if (e->error == 0 && e->shut && e->received == e->sent) {
		log_event("done: sent %llu bytes, received %llu bytes", e->sent, e->received);
		return 0;
	}
	if (e->received == 0 && (e->error != 0 || !e->shut)) {
		log_error("the server closed the connection at once: it may be full (-m)");
		return 1;
	}
	if (e->error != 0)
		log_error("the server reset the connection (%s) after echoing %llu of %llu bytes",
		    strerror(e->error), e->received, e->sent);
	else if (!e->shut)
		log_error("the server closed the connection before the end of input "
		    "(sent %llu bytes, echoed %llu)", e->sent, e->received);
	else
		log_error("the server closed the connection after echoing %llu of %llu bytes",
		    e->received, e->sent);
	return 1;
}
