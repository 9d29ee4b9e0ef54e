/*
 * options.h - the command lines every lab shares (docs/README.md, "The command-line contract").
 *
 *	./server [-H host] [-p port] [-m max_conns] [-q | -v] [-h]
 *	./client [-H host] [-p port] [-q] [-h]
 *
 * One lab adds one option: 02-nonblocking takes -i usec, the sleep between two sweeps of its
 * sockets, when it sets sweep_us.
 *
 * The lab fills in its defaults, then calls the parser. Bad arguments print the usage on
 * stderr and exit 2; -h prints it on stdout and exits 0. This is the one place in common/
 * that exits on the lab's behalf: there is nothing to clean up yet.
 */
#ifndef IOMODELS_OPTIONS_H
#define IOMODELS_OPTIONS_H

#include "log.h"

struct server_opts {
	const char	*lab;		/* "03-select": log prefix and usage title */
	const char	*host;		/* -H: address to listen on */
	const char	*port;		/* -p: checked to be 0..65535; 0 picks a free port */
	long		 max_conns;	/* -m: connections served at once */
	enum verbosity	 verbosity;	/* -q / -v */
	long		*sweep_us;	/* non-NULL: -i usec is an option, stored here */
	const char	*note;		/* non-NULL: a line about the lab for the usage */
};

struct client_opts {
	const char	*lab;
	const char	*host;		/* -H: server to connect to */
	const char	*port;		/* -p */
	int		 quiet;		/* -q: no messages but errors */
};

void	server_opts_parse(struct server_opts *opts, int argc, char *argv[]);
void	client_opts_parse(struct client_opts *opts, int argc, char *argv[]);

#endif
