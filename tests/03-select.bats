#!/usr/bin/env bats
# 03-select: the select() event loop. It passes every conformance case, and the tests that
# show what select is known for: FD_SETSIZE, sleeping in the kernel, and staying calm when
# descriptors run out.

LAB=03-select
load helpers/conformance

setup_file() { conformance_setup_file; }
teardown() { conformance_teardown; }

@test "$LAB: a line and binary bytes echo through bash /dev/tcp" { conf_devtcp_echo; }
@test "$LAB: client is byte-exact for 10 MiB from a regular file" { conf_client_file; }
@test "$LAB: client is byte-exact for 10 MiB through a pipe" { conf_client_pipe; }
@test "$LAB: client handles empty input and a typed line" { conf_client_small; }
@test "$LAB: 50 concurrent clients each get their own bytes" { conf_concurrent_clients; }
@test "$LAB: clients leaving with FIN leave no fd behind" { conf_fin_cleanup; }
@test "$LAB: clients resetting mid-echo leave no fd behind" { conf_reset_cleanup; }
@test "$LAB: half-close: all bytes come back, then the server closes" { conf_half_close; }
@test "$LAB: slow reader: memory stays bounded, others served, all 8 MiB come back" {
	conf_slow_reader
}
@test "$LAB: past -m, a new connection is closed at once with a log line" { conf_max_conns; }
@test "$LAB: bad arguments exit 2 with usage; -h exits 0" { conf_bad_arguments; }
@test "$LAB: port in use exits 1 naming host, port and reason" { conf_port_in_use; }
@test "$LAB: SIGTERM or SIGINT lets the client go, exits 0, prints the summary" { conf_sigterm; }
@test "$LAB: client reports refusal and a server that left, exit 1" { conf_client_errors; }
@test "$LAB: -v logs every read and write; -q only errors" { conf_verbosity; }

# pselect's system call number, for /proc/PID/syscall.
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

# With nobody ready the server is not "polling all sockets": it sleeps inside pselect(), and
# the kernel wakes it. The first argument is the highest descriptor + 1: select's scan.
@test "$LAB: idle, it sleeps inside pselect() watching fds up to the highest + 1" {
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
	local lg=$BATS_TEST_TMPDIR/hold.out a b line i free emfile retries
	SERVER_NOFILE=16 start_server "$LAB" -v
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
	# Each round trip takes the loop through pselect() again; a spinning loop would retry
	# accept() (and log it) on every pass. This one retries only when its one-second
	# pause runs out (pselect returns 0 ready), so every retry after the first is explained
	# by such a timeout.
	for i in 1 2 3 4 5; do
		printf 'a%s\n' "$i" >&"$a"
		IFS= read -r -t "$WAIT" line <&"$a"
		[[ $line == "a$i" ]]
	done
	emfile=$(grep -c 'accept: Too many open files' "$SERVER_ERR")
	retries=$(grep -c 'pselect: 0 ready' "$SERVER_ERR" || true)
	echo "# $emfile EMFILE line(s), $retries timed retries" >&3
	((emfile >= 1 && emfile <= 1 + retries)) || return 1
	# A client leaves: its descriptor is free, the queued client is accepted and served.
	exec {a}>&-
	IFS= read -r -t "$WAIT" line <&"$b"
	[[ $line == late ]]
	exec {b}>&-
	kill -USR1 "$BG_PID"
	wait "$BG_PID"
	assert_baseline
}
