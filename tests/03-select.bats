#!/usr/bin/env bats
# 03-select: the select() event loop. It passes every conformance case, and the tests that
# show what select is known for: FD_SETSIZE, sleeping in the kernel, and staying calm when
# descriptors run out.

LAB=03-select
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
@test "$LAB: 200 clients queued at once are accepted after one select, then echoed" {
	conf_accept_storm pselect6
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
@test "$LAB: one echoed message costs one select, one read, one write" {
	conf_one_wait_per_echo pselect6
}
@test "$LAB: an idle connection costs under 1 KiB of memory (1000 held)" {
	conf_idle_memory 1000
}

# The system call behind glibc's select() on Linux today is pselect6 (select(2), NOTES); its
# number, for /proc/PID/syscall.
pselect_nr() {
	case $(uname -m) in
	x86_64) echo 270 ;;
	aarch64) echo 72 ;;
	*) return 1 ;;
	esac
}

# in_pselect PID NFDS: asleep inside pselect6, watching descriptors 0..NFDS-1.
in_pselect() {
	local nr nfds
	is_sleeping "$1" || return 1
	read -r nr nfds _ <"/proc/$1/syscall" || return 1
	[[ $nr == "$(pselect_nr)" && $((nfds)) -eq $2 ]]
}

# With nobody ready the server is not "polling all sockets": it sleeps inside select(), and
# the kernel wakes it. The first argument is the highest descriptor + 1: select's scan.
@test "$LAB: idle, it sleeps inside select() watching fds up to the highest + 1" {
	local fd listen_fd conn_fd
	pselect_nr >/dev/null || skip "no pselect6 number known for $(uname -m)"
	start_server "$LAB"
	listen_fd=$(find /proc/"$SERVER_PID"/fd -lname 'socket:*' -printf '%f\n' | sort -n | head -1)
	wait_for "$WAIT" in_pselect "$SERVER_PID" $((listen_fd + 1))

	exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
	printf 'wake up\n' >&"$fd"
	IFS= read -r -t "$WAIT" _ <&"$fd"
	conn_fd=$(sed -n 's/.*accepted .* on fd \([0-9]*\)$/\1/p' "$SERVER_ERR")
	wait_for "$WAIT" in_pselect "$SERVER_PID" $((conn_fd + 1))
	exec {fd}>&-
}

# FD_SETSIZE is 1024: select() cannot watch fd 1024 or above (FD_SET there is undefined
# behaviour). With the fd limit raised and -m out of the way, 1100 clients: every fd below
# 1024 serves one, every client past that is refused with a log line, nothing crashes, and
# afterwards the server is back to its baseline and serving. make sanitize runs this under
# ASan+UBSan, which would catch an out-of-bounds FD_SET.
@test "$LAB: past FD_SETSIZE, clients are refused cleanly and the rest are served" {
	local lg=$BATS_TEST_TMPDIR/hold.out held refused free
	SERVER_NOFILE=2048 start_server "$LAB" -m 5000
	snapshot
	free=$((1024 - $(fds_below "$SERVER_PID" 1024)))
	bg "$LOADGEN" -q -p "$PORT" -t "$WAIT" -c 1100 hold >"$lg"
	wait_for "$WAIT" grep -q '^hold ' "$lg"
	held=$(sed -n 's/^hold held=\([0-9]*\) .*/\1/p' "$lg")
	refused=$(sed -n 's/^hold .*refused=\([0-9]*\)$/\1/p' "$lg")
	echo "# held $held, refused $refused; server RSS $(rss_kb "$SERVER_PID") kB" >&3
	[[ $held -eq $free && $refused -eq $((1100 - free)) ]]
	[[ $(grep -c 'refused .*past FD_SETSIZE (1024)' "$SERVER_ERR") -eq $refused ]]
	[[ $(fds_below "$SERVER_PID" 1024) -eq 1024 ]]
	kill -USR1 "$BG_PID"
	wait "$BG_PID"
	assert_baseline
	tcp_echo "$PORT" "after the storm"
	stop_server
	[[ $SERVER_STATUS -eq 0 ]]
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
# queued client is accepted within the second, while the traffic goes on.
@test "$LAB: out of fds, accept is retried every second even under steady traffic" {
	local lg=$BATS_TEST_TMPDIR/hold.out stop=$BATS_TEST_TMPDIR/stop a b line free pinger
	prlimit --pid $$ --nofile >/dev/null 2>&1 || skip "prlimit cannot be used here"
	SERVER_NOFILE=16 start_server "$LAB"
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
