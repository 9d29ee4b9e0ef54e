/*
 * options.c - getopt(3) parsing with every number checked, never atoi(3): "-p 80x",
 * "-p 70000" and "-m 0" are usage errors, not silently port 80, 4464 or 0.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "options.h"

#define MAX_CONNS_LIMIT	1000000L
/* The longest DNS name is 253 characters; an IPv6 address with a zone is far shorter. */
#define MAX_HOST_LEN	255

/* strtol(3) alone would also take " 5", "+5" and "-0": only digits are a number here. */
int
opt_number(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (*s == '\0' || strspn(s, "0123456789") != strlen(s))
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/*
 * -H: a name or an address, "[::1]" accepted for "::1" (the form the programs print, so a
 * printed address can be pasted back). Returns the host to use, or NULL if it is not one.
 */
static const char *
parse_host(char *s)
{
	size_t len = strlen(s);

	if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
		s[len - 1] = '\0';	/* optarg points into argv, which is ours to change */
		s++;
		len -= 2;
	}
	if (len == 0 || len > MAX_HOST_LEN)
		return NULL;
	return s;
}

static void
server_usage(const struct server_opts *o, FILE *f)
{
	(void)fprintf(f,
	    "usage: server [-H host] [-p port] [-m max_conns]%s%s [-q | -v] [-h]\n"
	    "%s echo server: every byte a client sends comes back unchanged.\n",
	    o->lab_usage != NULL ? " " : "", o->lab_usage != NULL ? o->lab_usage : "", o->lab);
	if (o->note != NULL)
		(void)fprintf(f, "%s\n", o->note);
	(void)fprintf(f,
	    "  -H host       address to listen on (default %s)\n"
	    "  -p port       port to listen on, 0 picks a free one (default %s)\n"
	    "  -m max_conns  connections served at once; past it a new one is closed (default %ld)\n",
	    o->host, o->port, o->max_conns);
	if (o->lab_help != NULL)
		(void)fprintf(f, "%s\n", o->lab_help);
	(void)fprintf(f,
	    "  -q            log errors only\n"
	    "  -v            also log every event and every read and write\n"
	    "  -h            show this help\n"
	    "Prints \"listening on HOST:PORT\" when ready; SIGINT or SIGTERM stops it.\n");
}

static void
client_usage(const struct client_opts *o, FILE *f)
{
	(void)fprintf(f,
	    "usage: client [-H host] [-p port] [-q] [-h]\n"
	    "%s echo client: copies stdin to the server and the echo to stdout.\n"
	    "  -H host       server address (default %s)\n"
	    "  -p port       server port (default %s)\n"
	    "  -q            print nothing but errors\n"
	    "  -h            show this help\n",
	    o->lab, o->host, o->port);
}

/* A server may ask for port 0 (the kernel picks one); a client needs a real port. */
static int
port_ok(const char *s, long min)
{
	long v;

	return opt_number(s, min, 65535, &v) == 0;
}

/*
 * The options every program has: -H, -p, and what getopt reports as a missing value (':') or
 * an unknown option ('?'). Returns 0 when ch was handled, -1 when it is a usage error.
 */
static int
shared_option(int ch, const char *lab, const char **host, const char **port, long min_port)
{
	switch (ch) {
	case 'H':
		if ((*host = parse_host(optarg)) == NULL) {
			(void)fprintf(stderr, "%s: bad host '%.100s%s': want a name or an address "
			    "of 1..%d characters\n", lab, optarg, strlen(optarg) > 100 ? "..." : "",
			    MAX_HOST_LEN);
			return -1;
		}
		return 0;
	case 'p':
		if (!port_ok(optarg, min_port)) {
			(void)fprintf(stderr, "%s: bad port '%.20s': want %ld..65535\n",
			    lab, optarg, min_port);
			return -1;
		}
		*port = optarg;
		return 0;
	case ':':
		(void)fprintf(stderr, "%s: option -%c needs a value\n", lab, optopt);
		return -1;
	default:
		(void)fprintf(stderr, "%s: unknown option -%c\n", lab, optopt);
		return -1;
	}
}

/* Neither program takes operands. */
static int
no_operands(const char *lab, int argc, char *argv[])
{
	if (optind == argc)
		return 0;
	(void)fprintf(stderr, "%s: unexpected argument '%.100s'\n", lab, argv[optind]);
	return -1;
}

void
server_opts_parse(struct server_opts *o, int argc, char *argv[])
{
	bool quiet = false, verbose = false;
	char optstring[64];
	int ch;

	(void)snprintf(optstring, sizeof(optstring), ":H:p:m:qvh%s",
	    o->lab_opts != NULL ? o->lab_opts : "");
	while ((ch = getopt(argc, argv, optstring)) != -1) {
		if (o->lab_opts != NULL && ch != ':' && strchr(o->lab_opts, ch) != NULL) {
			if (o->lab_option(ch, optarg) == -1)
				goto bad;
			continue;
		}
		switch (ch) {
		case 'm':
			if (opt_number(optarg, 1, MAX_CONNS_LIMIT, &o->max_conns) == -1) {
				(void)fprintf(stderr, "%s: bad max_conns '%.20s': want 1..%ld\n",
				    o->lab, optarg, MAX_CONNS_LIMIT);
				goto bad;
			}
			break;
		case 'q':
			quiet = true;
			o->verbosity = VERBOSITY_QUIET;
			break;
		case 'v':
			verbose = true;
			o->verbosity = VERBOSITY_VERBOSE;
			break;
		case 'h':
			server_usage(o, stdout);
			exit(0);
		default:
			if (shared_option(ch, o->lab, &o->host, &o->port, 0) == -1)
				goto bad;
		}
	}
	if (quiet && verbose) {
		(void)fprintf(stderr, "%s: -q and -v contradict each other: pick one\n", o->lab);
		goto bad;
	}
	if (no_operands(o->lab, argc, argv) == 0)
		return;
bad:
	server_usage(o, stderr);
	exit(2);
}

void
client_opts_parse(struct client_opts *o, int argc, char *argv[])
{
	int ch;

	while ((ch = getopt(argc, argv, ":H:p:qh")) != -1) {
		switch (ch) {
		case 'q':
			o->quiet = 1;
			break;
		case 'h':
			client_usage(o, stdout);
			exit(0);
		default:
			if (shared_option(ch, o->lab, &o->host, &o->port, 1) == -1)
				goto bad;
		}
	}
	if (no_operands(o->lab, argc, argv) == 0)
		return;
bad:
	client_usage(o, stderr);
	exit(2);
}
