/*
 * no-io-uring - run a command with io_uring forbidden, as the default seccomp profiles of
 * container runtimes commonly forbid it.
 *
 *	no-io-uring [-e EPERM|ENOSYS|N] command [args...]
 *
 * Installs a seccomp filter (seccomp(2), SECCOMP_SET_MODE_FILTER) under which the three
 * io_uring system calls, io_uring_setup(2), io_uring_enter(2) and io_uring_register(2), fail
 * with EPERM (or the errno given with -e) and every other call is allowed, then executes the
 * command. The filter is inherited by everything the command starts and cannot be lifted.
 * No privilege is needed: PR_SET_NO_NEW_PRIVS comes first, as seccomp(2) requires of an
 * unprivileged process.
 *
 * For tests/07-aio.bats: the io_uring server must say in one line why it cannot run, and what
 * to run instead, and exit 1. This is the honest way to forbid io_uring to one process on a
 * machine where it works: kernel.io_uring_disabled would forbid it to every process at once.
 *
 * Exit status: the command's, or 125 if the filter could not be installed or the arguments
 * are wrong, 127 if the command could not be executed.
 *
 * Deliberately standalone (libc and the kernel's headers only), like the other fixtures.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#if defined(__x86_64__)
#define AUDIT_ARCH_HERE	AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define AUDIT_ARCH_HERE	AUDIT_ARCH_AARCH64
#else
#error "no-io-uring: add this architecture's AUDIT_ARCH_* value"
#endif

static void
usage(void)
{
	(void)fprintf(stderr, "usage: no-io-uring [-e EPERM|ENOSYS|N] command [args...]\n");
	exit(125);
}

/* The errno the filter returns: a name the tests use, or a number. */
static int
parse_errno(const char *s)
{
	char *end;
	long v;

	if (strcmp(s, "EPERM") == 0)
		return EPERM;
	if (strcmp(s, "ENOSYS") == 0)
		return ENOSYS;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || v < 1 || v > 4095)
		usage();
	return (int)v;
}

int
main(int argc, char *argv[])
{
	int e = EPERM, ch;

	while ((ch = getopt(argc, argv, "+e:")) != -1) {
		if (ch != 'e')
			usage();
		e = parse_errno(optarg);
	}
	if (optind == argc)
		usage();

	/*
	 * The filter sees each system call's architecture and number (struct seccomp_data).
	 * A call of another architecture is let through untouched; the three io_uring calls
	 * return -1 with errno e; everything else is allowed.
	 */
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_HERE, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 3, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_enter, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_register, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned)e & SECCOMP_RET_DATA)),
	};
	struct sock_fprog prog = {
		.len = sizeof(filter) / sizeof(filter[0]),
		.filter = filter,
	};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) {
		perror("no-io-uring: prctl(PR_SET_NO_NEW_PRIVS)");
		return 125;
	}
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == -1) {
		perror("no-io-uring: prctl(PR_SET_SECCOMP)");
		return 125;
	}
	execvp(argv[optind], argv + optind);
	(void)fprintf(stderr, "no-io-uring: %s: %s\n", argv[optind], strerror(errno));
	return 127;
}
