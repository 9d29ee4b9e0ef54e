#!/usr/bin/env bats
# 04-poll: the poll() event loop. It passes every conformance case, and the tests that show
# what poll is known for: no FD_SETSIZE (thousands of connections), sleeping in the kernel
# with the whole array passed on every call, and staying calm when descriptors run out.

LAB=04-poll
load helpers/conformance

setup_file() { conformance_setup_file; }
teardown() { conformance_teardown; }

@test "$LAB: a line and binary bytes echo through bash /dev/tcp" { conf_devtcp_echo; }
@test "$LAB: client is byte-exact for 10 MiB from a regular file; summary counts it" {
	conf_client_file
}
@test "$LAB: client is byte-exact for 10 MiB through a pipe" { conf_client_pipe; }
@test "$LAB: client handles empty input and a typed line" { conf_client_small; }
@test "$LAB: 50 concurrent clients each get their own bytes" { conf_concurrent_clients; }
@test "$LAB: 200 clients queued at once are accepted after one poll, then echoed" {
	conf_accept_storm "$(poll_name)"
}
@test "$LAB: clients leaving with FIN leave no fd behind" { conf_fin_cleanup; }
@test "$LAB: clients resetting mid-echo leave no fd behind" { conf_reset_cleanup; }
@test "$LAB: half-close: all bytes come back, then the server closes" { conf_half_close; }
@test "$LAB: slow reader: memory stays bounded, others served, all 8 MiB come back" {
	conf_slow_reader
}
@test "$LAB: a reset after a half-close with echo pending does not kill it (SIGPIPE)" {
	conf_sigpipe
}
@test "$LAB: past -m, a new connection is refused at once; the client says so" {
	conf_max_conns
}
@test "$LAB: bad arguments exit 2 with usage; -h exits 0" { conf_bad_arguments; }
@test "$LAB: port in use exits 1 naming host, port and reason" { conf_port_in_use; }
@test "$LAB: -H [::1] listens on IPv6 loopback, the form it prints" { conf_ipv6; }
@test "$LAB: SIGTERM or SIGINT lets the client go, exits 0, prints the summary" { conf_sigterm; }
@test "$LAB: one SIGTERM stops it while 8 clients stream without pause" {
	conf_sigterm_streaming
}
@test "$LAB: one SIGTERM stops it while a client does not read its echo" {
	conf_sigterm_stalled_writer
}
@test "$LAB: client reports refusal and a server that left, exit 1" { conf_client_errors; }
@test "$LAB: -v logs every read and write; -q only errors" { conf_verbosity; }
@test "$LAB: -v logging to a pipe nobody reads: echo and stop go on, drops counted" {
	conf_log_unread
}
@test "$LAB: started with fds 0-2 closed, no socket takes their place" { conf_std_fds_closed; }
@test "$LAB: listening on is printed after listen()" { conf_listen_before_announce; }
@test "$LAB: every accepted connection has TCP_NODELAY (no echo waits on Nagle)" { conf_nodelay; }
@test "$LAB: short writes and spurious EAGAIN: every byte echoed, summary exact" {
	conf_short_io_server
}
@test "$LAB: client under short writes and spurious EAGAIN is byte-exact" {
	conf_short_io_client
}
@test "$LAB: client is byte-exact against a server echoing in small late pieces" {
	conf_client_trickle
}
@test "$LAB: client whose reader leaves says so and exits 1 (SIGPIPE ignored)" {
	conf_client_reader_gone
}
@test "$LAB: client writes out what came back before a server closed early" {
	conf_client_early_close
}
@test "$LAB: client read slowly (4 KiB every 2 ms) writes out every byte of the echo" {
	conf_client_slow_stdout
}
@test "$LAB: client says a server that reset with nothing echoed did so after bytes were sent" {
	conf_client_reset_unread
}
@test "$LAB: client says a server that sent more than it got is not an echo" {
	conf_client_more_than_echo
}
@test "$LAB: client turned away at once says the server may be full" {
	conf_client_turned_away
}
@test "$LAB: one echoed message costs one poll, one read, one write" {
	conf_one_wait_per_echo "$(poll_name)"
}
@test "$LAB: an idle connection costs under 1 KiB of memory (2000 held)" {
	conf_idle_memory 2000
}

# glibc's poll() is the poll system call where the architecture has one (x86-64: 7), and
# ppoll otherwise (aarch64 has no poll: 73). Checked on x86-64 with strace: poll(...).
# The name, for strace -c, and the number, for /proc/PID/syscall.
poll_name() {
	case $(uname -m) in
	aarch64) echo ppoll ;;
	*) echo poll ;;
	esac
}
poll_nr() {
	case $(uname -m) in
	x86_64) echo 7 ;;
	aarch64) echo 73 ;;
	*) return 1 ;;
	esac
}

# in_poll PID NFDS: asleep inside poll(), passed an array of NFDS entries. In
# /proc/PID/syscall the first argument is the array, the second its length.
in_poll() {
	local nr nfds
	is_sleeping "$1" || return 1
	read -r nr _ nfds _ <"/proc/$1/syscall" || return 1
	[[ $nr == "$(poll_nr)" && $((nfds)) -eq $2 ]]
}
why_not_in_poll() {
	echo "# expected $1 asleep in poll with nfds $2: /proc/$1/syscall is" \
		"'$(cut -d' ' -f1-3 /proc/"$1"/syscall 2>/dev/null)', state $(proc_state "$1")"
}

# With nobody ready the server is not "polling all sockets": it sleeps inside poll(), and
# the kernel wakes it. The array it passes runs from fd 0 to the highest descriptor, holes
# included (they are entries with fd -1, which poll skips): a client that leaves from the
# middle does not shorten it, one that leaves from the top does.
@test "$LAB: idle, it sleeps inside poll() passed every entry up to the highest fd" {
	local a b listen_fd fd_a fd_b
	poll_nr >/dev/null || skip "no poll number known for $(uname -m)"
	start_server "$LAB"
	listen_fd=$(find /proc/"$SERVER_PID"/fd -lname 'socket:*' -printf '%f\n' | sort -n | head -1)
	wait_for "$WAIT" in_poll "$SERVER_PID" $((listen_fd + 1))

	exec {a}<>"/dev/tcp/127.0.0.1/$PORT"
	printf 'a\n' >&"$a"
	IFS= read -r -t "$WAIT" _ <&"$a"
	exec {b}<>"/dev/tcp/127.0.0.1/$PORT"
	printf 'b\n' >&"$b"
	IFS= read -r -t "$WAIT" _ <&"$b"
	fd_a=$(sed -n 's/.*accepted .* on fd \([0-9]*\)$/\1/p' "$SERVER_ERR" | head -1)
	fd_b=$(sed -n 's/.*accepted .* on fd \([0-9]*\)$/\1/p' "$SERVER_ERR" | tail -1)
	((fd_a < fd_b))
	wait_for "$WAIT" in_poll "$SERVER_PID" $((fd_b + 1))
	# The lower one leaves: a hole, same array.
	exec {a}>&-
	wait_for "$WAIT" closed_count_is 1
	wait_for "$WAIT" in_poll "$SERVER_PID" $((fd_b + 1))
	# The top one leaves: back to the listening socket.
	exec {b}>&-
	wait_for "$WAIT" closed_count_is 2
	wait_for "$WAIT" in_poll "$SERVER_PID" $((listen_fd + 1))
}

# FD_SETSIZE is select's limit, not poll's. With the fd limit raised, 3000 clients are held
# at once, descriptors far past 1024, each with its echo (loadgen's hold echoes one message on
# every connection before it counts it held). Idle with all of them, the server sleeps in poll()
# over all 3000 and uses no CPU; one more client is served on top; afterwards it is back to its
# baseline. make sanitize runs this under ASan+UBSan, which would catch a table overrun.
@test "$LAB: 3000 connections at once, past FD_SETSIZE, each echoed, then back to baseline" {
	local lg=$BATS_TEST_TMPDIR/hold.out top
	SERVER_NOFILE=3100 start_server "$LAB"
	snapshot
	bg "$LOADGEN" -q -p "$PORT" -t $((WAIT * 2)) -c 3000 hold >"$lg"
	wait_for "$WAIT" grep -q '^hold ' "$lg"
	grep -q '^hold held=3000 refused=0$' "$lg" || { cat "$lg" >&2; return 1; }
	[[ $(fd_count "$SERVER_PID") -eq $((BASE_FDS + 3000)) ]]
	[[ $(grep -c 'accepted' "$SERVER_ERR") -eq 3000 ]]
	top=$(ls /proc/"$SERVER_PID"/fd | sort -n | tail -1)
	echo "# highest fd $top; server RSS $(rss_kb "$SERVER_PID") kB" >&3
	((top >= 3000))
	if poll_nr >/dev/null; then
		wait_for "$WAIT" in_poll "$SERVER_PID" $((top + 1))
	fi
	not_spinning "$SERVER_PID" 1
	tcp_echo "$PORT" "one more, on fd $((top + 1))"
	kill -USR1 "$BG_PID"
	wait "$BG_PID"
	assert_baseline
	tcp_echo "$PORT" "after the crowd"
	stop_server
	[[ $SERVER_STATUS -eq 0 ]]
	assert_summary 3002 '[0-9]+' 3001
}

# Out of descriptors, accept() fails with EMFILE and the client stays queued, so the
# listening socket stays readable: a loop that kept watching it would spin. The server logs
# it, stops watching the listening socket (retrying once a second), serves its clients
# meanwhile, and accepts the queued one as soon as a connection closes.
@test "$LAB: out of fds (EMFILE), it does not spin, and recovers when a client leaves" {
	local lg=$BATS_TEST_TMPDIR/hold.out a b line free
	SERVER_NOFILE=16 start_server "$LAB"
	snapshot
	free=$((16 - $(fds_below "$SERVER_PID" 16)))
	# Fill all descriptors but one with loadgen's clients, the last with ours. (Ours are
	# opened after loadgen starts, or loadgen would inherit them and keep them open.)
	bg "$LOADGEN" -q -p "$PORT" -t "$WAIT" -c $((free - 1)) hold >"$lg"
	wait_for "$WAIT" grep -q '^hold ' "$lg"
	grep -q "^hold held=$((free - 1)) refused=0$" "$lg"
	exec {a}<>"/dev/tcp/127.0.0.1/$PORT"
	printf 'a0\n' >&"$a"
	IFS= read -r -t "$WAIT" line <&"$a"
	[[ $line == a0 ]]
	# One more: connected by the kernel, but accept() has no descriptor for it.
	exec {b}<>"/dev/tcp/127.0.0.1/$PORT"
	printf 'late\n' >&"$b"
	wait_for "$WAIT" grep -q 'accept: Too many open files' "$SERVER_ERR"
	# Two seconds with the client queued and the listening socket ready: the loop sleeps,
	# retrying once a second, where a spinning one would use a whole CPU.
	not_spinning "$SERVER_PID" 2
	# Its clients are served meanwhile.
	printf 'a1\n' >&"$a"
	IFS= read -r -t "$WAIT" line <&"$a"
	[[ $line == a1 ]]
	# A client leaves: its descriptor is free, the queued client is accepted and served.
	exec {a}>&-
	IFS= read -r -t "$WAIT" line <&"$b"
	[[ $line == late ]]
	exec {b}>&-
	kill -USR1 "$BG_PID"
	wait "$BG_PID"
	assert_baseline
}

# The retry does not wait for a quiet moment. Here room appears without any of the server's
# own connections closing (its descriptor limit is raised from outside, as when ENFILE ends
# because another process closed files), while one client keeps it busy without a pause: the
# queued client is accepted within the second, while the traffic goes on. (-m 100: the
# default -m comes from the soft limit at start, 16 - 6, and would turn the queued client
# away once the limit is raised.)
@test "$LAB: out of fds, accept is retried every second even under steady traffic" {
	local lg=$BATS_TEST_TMPDIR/hold.out stop=$BATS_TEST_TMPDIR/stop a b line free pinger
	prlimit --pid $$ --nofile >/dev/null 2>&1 || skip "prlimit cannot be used here"
	SERVER_NOFILE=16 start_server "$LAB" -m 100
	free=$((16 - $(fds_below "$SERVER_PID" 16)))
	bg "$LOADGEN" -q -p "$PORT" -t $((WAIT * 2)) -c $((free - 1)) hold >"$lg"
	wait_for "$WAIT" grep -q '^hold ' "$lg"
	exec {a}<>"/dev/tcp/127.0.0.1/$PORT"
	exec {b}<>"/dev/tcp/127.0.0.1/$PORT"
	printf 'late\n' >&"$b"
	wait_for "$WAIT" grep -q 'accept: Too many open files' "$SERVER_ERR"
	# a ping-pongs without pause (bounded in count and time) until told to stop.
	(
		for ((i = 0; i < 1000000; i++)); do
			[[ -e $stop ]] && exit 0
			printf 'p\n' >&"$a"
			IFS= read -r -t "$WAIT" line <&"$a" || exit 1
		done
	) 3>&- &
	pinger=$!
	BG_PIDS+=("$pinger")
	prlimit --pid "$SERVER_PID" --nofile=64:
	IFS= read -r -t "$WAIT" line <&"$b"
	[[ $line == late ]] || { echo "# the queued client was not served" >&2; return 1; }
	kill -0 "$pinger" || { echo "# the traffic stopped before: this proves nothing" >&2; return 1; }
	touch "$stop"
	wait "$pinger"
	exec {a}>&- {b}>&-
}

# The default -m follows the soft descriptor limit: all of it but the server's own six
# (stdin, stdout, stderr, the signal pipe, the listening socket), so -m never turns a client
# away that a descriptor could serve, and poll has no FD_SETSIZE to cap it.
@test "$LAB: the default -m is the soft fd limit minus the server's own descriptors" {
	run --separate-stderr bash -c "ulimit -Sn 5000 && exec '$ROOT/$LAB/server' -h"
	[[ $status -eq 0 && $output == *"(default 4994)"* ]] || { echo "$output" >&2; return 1; }
	run --separate-stderr bash -c "ulimit -Sn 100 && exec '$ROOT/$LAB/server' -h"
	[[ $status -eq 0 && $output == *"(default 94)"* ]] || { echo "$output" >&2; return 1; }
	# And the server's own descriptors are six: at the limit, every other one is a client.
	start_server "$LAB"
	[[ $(fd_count "$SERVER_PID") -eq 6 ]] || { ls -l /proc/"$SERVER_PID"/fd >&2; return 1; }
}
