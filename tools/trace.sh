#!/usr/bin/env bash
# trace.sh NN-name - what `make trace LAB=03-select` runs, once make has resolved a short name
# and built the lab: the lab's server under strace(1) while the lab's client echoes a few
# lines, then the system calls that show the model, from the server's first call to its exit.
set -u
lab=${1:?usage: tools/trace.sh NN-name}
top=$(cd "$(dirname "$0")/.." && pwd)
server=$top/$lab/server
client=$top/$lab/client

command -v strace >/dev/null 2>&1 || {
	echo "trace: strace is not installed (Debian/Ubuntu: sudo apt-get install strace)" >&2
	exit 127
}
[ -x "$server" ] || { echo "trace: no $lab/server; make trace LAB=$lab builds it" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
calls='pipe2|socket|bind|listen|accept4?|read|write|recvfrom|sendto|shutdown|close(_range)?'
calls+='|p?select6?|p?poll|epoll_create1?|epoll_ctl|epoll_p?wait|io_uring_setup|io_uring_enter'
calls+='|clone3?|fork|vfork|wait4|fcntl|rt_sigreturn|exit_group'

strace -f -qq -o "$tmp/trace" -e trace="/^($calls)\$" -e signal=SIGTERM \
	"$server" -p 0 -q >"$tmp/out" 2>"$tmp/err" </dev/null 3>&- &
strace_pid=$!
for _ in $(seq 500); do
	grep -q '^listening on ' "$tmp/out" && break
	kill -0 "$strace_pid" 2>/dev/null || break
	sleep 0.02
done
port=$(sed -n 's/^listening on .*:\([0-9][0-9]*\)$/\1/p' "$tmp/out")
[ -n "$port" ] || { echo "trace: the server did not start" >&2; cat "$tmp/err" >&2; exit 1; }
server_pid=$(cat /proc/"$strace_pid"/task/*/children)

printf 'hello\nworld\n' | "$client" -q -p "$port" >/dev/null

# Signal the server once it is back asleep in its wait (state S), so the trace ends the same
# way every time.
for _ in $(seq 250); do
	[ "$(awk '{ print $3 }' /proc/"$server_pid"/stat 2>/dev/null)" = S ] && break
	sleep 0.02
done
kill -TERM "$server_pid"
wait "$strace_pid"

printf '== %s/server under strace, while %s echoed "hello\\nworld\\n", then SIGTERM ==\n' \
	"$lab" "'$lab/client'"
# From the lab's first call of its own on (the self-pipe of sig_setup(), the listening socket, or
# a ring): what ld.so and libc do at start-up is not the model.
awk '/(pipe2|socket|io_uring_setup)\(/ { on = 1 } on' "$tmp/trace" |
	if [ "$(awk '{ print $1 }' "$tmp/trace" | sort -u | wc -l)" -eq 1 ]; then
		cut -d' ' -f2- | sed 's/^ *//'	# one process: drop the pid column
	else
		cat
	fi |
	# A lab that never sleeps (02-nonblocking) makes one failed call hundreds of thousands of
	# times while it waits: print a run of identical lines once, with its length.
	awk '$0 == prev { n++; next }
		{ if (n > 1) printf "    (%d times in all)\n", n; prev = $0; n = 1; print }
		END { if (n > 1) printf "    (%d times in all)\n", n }'
