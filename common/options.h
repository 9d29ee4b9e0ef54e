/*
 * options.h - the command lines every lab shares (docs/README.md, "The command-line contract").
 *
 *	./server [-H host] [-p port] [-m max_conns] [-q | -v] [-h]
 *	./client [-H host] [-p port] [-q] [-h]
 *
 * A lab may add options of its own (02-nonblocking's -i usec): it names them in lab_opts and
 * parses them itself, in lab_option(), with opt_number() for a number.
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
	const char	*note;		/* non-NULL: a line about the lab for the usage */
	/*
	 * The lab's own options, if any: their getopt(3) letters ("i:"), their part of the usage
	 * line ("[-i usec]") and their help lines, and the lab's function that takes each one
	 * (ch, optarg) and returns 0, or -1 after saying on stderr what is wrong.
	 */
	const char	*lab_opts;
	const char	*lab_usage;
	const char	*lab_help;
	int		(*lab_option)(int ch, const char *arg);
};

struct client_opts {
	const char	*lab;
	const char	*host;		/* -H: server to connect to */
	const char	*port;		/* -p */
	int		 quiet;		/* -q: no messages but errors */
};

/*
 * A whole decimal number in [min, max] into *out: 0, or -1 if s is anything else ("80x",
 * " 5", "+5", out of range).
 */
int	opt_number(const char *s, long min, long max, long *out);

void	server_opts_parse(struct server_opts *opts, int argc, char *argv[]);
void	client_opts_parse(struct client_opts *opts, int argc, char *argv[]);

#endif
