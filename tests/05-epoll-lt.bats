#!/usr/bin/env bats
# 05-epoll-lt: the level-triggered epoll event loop. It passes every conformance case, and the
# tests that show what epoll is known for: thousands of connections past FD_SETSIZE, sleeping
# in epoll_wait, many ready clients served by one wait, an interest list the kernel keeps
# (registered once, changed only when the echo backs up), staying calm when descriptors run
# out, and a client that copes with what epoll refuses (regular files, /dev/null).

LAB=05-epoll-lt
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
@test "$LAB: 200 clients queued at once are accepted after one epoll_wait, then echoed" {
	conf_accept_storm epoll_wait
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
@test "$LAB: one echoed message costs one epoll_wait, one read, one write" {
	conf_one_wait_per_echo epoll_wait
}
@test "$LAB: an idle connection costs under 1 KiB of memory (2000 held)" {
	conf_idle_memory 2000
}

# --- what epoll is known for ---------------------------------------------------------------

# The system call behind glibc's epoll_wait(): epoll_wait itself where the architecture has
# it, epoll_pwait where it has only that (aarch64); its number, for /proc/PID/syscall.
epoll_wait_nr() {
	case $(uname -m) in
	x86_64) echo 232 ;;
	aarch64) echo 22 ;;
	*) return 1 ;;
	esac
}

# in_epoll_wait PID: asleep inside epoll_wait, on an epoll instance (its first argument).
in_epoll_wait() {
	local nr epfd
	is_sleeping "$1" || return 1
	read -r nr epfd _ <"/proc/$1/syscall" || return 1
	[[ $nr == "$(epoll_wait_nr)" ]] &&
		[[ $(readlink "/proc/$1/fd/$((epfd))") == 'anon_inode:[eventpoll]' ]]
}
why_not_in_epoll_wait() {
	echo "# /proc/$1/syscall: $(cat "/proc/$1/syscall" 2>/dev/null); $(sleep_report "$1")"
}

# With nobody ready the server is not "polling all sockets": it sleeps inside epoll_wait(),
# idle or with clients connected, and the kernel wakes it.
@test "$LAB: idle, it sleeps inside epoll_wait(), with and without clients" {
	local fd
	epoll_wait_nr >/dev/null || skip "no epoll_wait number known for $(uname -m)"
	start_server "$LAB"
	wait_for "$WAIT" in_epoll_wait "$SERVER_PID"

	exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
	printf 'wake up\n' >&"$fd"
	IFS= read -r -t "$WAIT" _ <&"$fd"
	wait_for "$WAIT" in_epoll_wait "$SERVER_PID"
	not_spinning "$SERVER_PID" 1
	exec {fd}>&-
}

# No FD_SETSIZE: with its descriptor limit raised, the server holds 3000 connections at once,
# most of them on descriptors past 1024, and echoes on each. Once they leave, it is back to
# its baseline and serving. make sanitize runs it under ASan+UBSan.
@test "$LAB: 3000 connections at once, past FD_SETSIZE, each echoed; then back to baseline" {
	local lg=$BATS_TEST_TMPDIR/hold.out n=3000 high
	(($(ulimit -Hn) >= n + 100)) || skip "the hard fd limit ($(ulimit -Hn)) is below $((n + 100))"
	SERVER_NOFILE=$((n + 100)) start_server "$LAB" -q
	snapshot
	bg "$LOADGEN" -q -p "$PORT" -t $((WAIT * 2)) -c "$n" hold >"$lg"
	wait_for "$WAIT" grep -q '^hold ' "$lg"
	grep -q "^hold held=$n refused=0$" "$lg" || { cat "$lg" >&2; return 1; }
	[[ $(fd_count "$SERVER_PID") -eq $((BASE_FDS + n)) ]]
	high=$(find /proc/"$SERVER_PID"/fd -lname 'socket:*' -printf '%f\n' | sort -n | tail -1)
	echo "# $n held, highest fd $high; server RSS $(rss_kb "$SERVER_PID") kB" >&3
	((high >= n))
	# One more, on top of them: served like the first.
	tcp_echo "$PORT" "three thousand and one"
	kill -USR1 "$BG_PID"
	wait "$BG_PID"
	assert_baseline
	tcp_echo "$PORT" "after the crowd"
	stop_server
	[[ $SERVER_STATUS -eq 0 ]]
}

# unread_on_each PORT N: N connections of the server on PORT have bytes it has not read.
unread_on_each() {
	(($(ss -Htn state established "( sport = :$1 )" | awk '$1 > 0' | wc -l) == $2))
}

# One epoll_wait hands back up to MAX_EVENTS ready descriptors: a pass serves them all, and
# 200 clients ready at once cost a handful of calls, not one each. The server is stopped while
# 200 connected clients each send a line, so all are ready when it looks; strace counts its
# epoll_wait calls from then until every echo is back. Counting the calls, not timing them,
# catches a loop that takes one descriptor per call (MAX_EVENTS 1): its behaviour is right,
# its cost is not.
@test "$LAB: 200 clients ready at once are served by a handful of epoll_wait calls" {
	local t=$BATS_TEST_TMPDIR/strace n=200 i fd line fds=() waits nread nwrite
	command -v strace >/dev/null || skip "strace is not installed"
	(($(ulimit -n) >= n + 50)) || skip "the fd limit ($(ulimit -n)) is below $((n + 50))"
	start_server "$LAB" -q
	for ((i = 0; i < n; i++)); do
		exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
		fds+=("$fd")
	done
	# Accepted, each echoed once: from here on, a client's line is all a pass has to do.
	for fd in "${fds[@]}"; do
		printf 'hello\n' >&"$fd"
		IFS= read -r -t "$WAIT" line <&"$fd"
	done
	wait_idle "$SERVER_PID"
	strace_attach "$SERVER_PID" "$t"
	kill -STOP "$SERVER_PID"
	for ((i = 0; i < n; i++)); do
		printf 'line %d\n' "$i" >&"${fds[i]}"
	done
	wait_for "$WAIT" unread_on_each "$PORT" "$n"
	kill -CONT "$SERVER_PID"
	for ((i = 0; i < n; i++)); do
		IFS= read -r -t "$WAIT" line <&"${fds[i]}"
		[[ $line == "line $i" ]] || { echo "# sent 'line $i', got '$line'" >&2; return 1; }
	done
	strace_detach
	for fd in "${fds[@]}"; do
		exec {fd}>&-
	done
	waits=$(syscall_count "$t" epoll_wait epoll_pwait)
	nread=$(syscall_count "$t" read recvfrom recvmsg)
	nwrite=$(syscall_count "$t" write sendto sendmsg)
	echo "# $n clients ready at once: $waits epoll_wait, $nread reads, $nwrite writes" >&3
	((waits >= 1 && nread >= n && nwrite >= n)) || { cat "$t" >&2; return 1; }
	((waits <= 10)) || { echo "# $waits epoll_wait calls for $n ready clients" >&2; return 1; }
}

# epoll_ctl calls made by PID, from the strace output in FILE: "ADD IN", "MOD OUT"... one line
# each.
epoll_ctl_ops() {
	sed -n 's/.*epoll_ctl([0-9]*, EPOLL_CTL_\([A-Z]*\), [0-9]*, {events=EPOLL\([A-Z]*\).*/\1 \2/p' "$1"
}

# The kernel keeps the interest list. A connection is registered once when accepted (ADD, for
# reading) and its interest changed only when its echo backs up (MOD to EPOLLOUT) or has gone
# out (MOD back to EPOLLIN): 300 ping-pong messages make no epoll_ctl call at all, where a loop
# that re-registered its interest every pass (as select and poll must) would make 300.
@test "$LAB: interest registered once per connection, changed only when the echo backs up" {
	local t=$BATS_TEST_TMPDIR/strace ops lg=$BATS_TEST_TMPDIR/slow.out
	command -v strace >/dev/null || skip "strace is not installed"
	start_server "$LAB"
	# -A: strace appends, so the file can be emptied between the two parts while it writes.
	strace -A -f -o "$t" -e trace=epoll_ctl -p "$SERVER_PID" 2>"$t.err" 3>&- &
	STRACE_PID=$!
	BG_PIDS+=("$STRACE_PID")
	wait_for "$WAIT" grep -q 'attached' "$t.err"
	run loadgen echo -c 1 -n 300 -s 64
	[[ $status -eq 0 ]] || { echo "$output" >&2; return 1; }
	wait_for "$WAIT" grep -q 'closed' "$SERVER_ERR"
	ops=$(epoll_ctl_ops "$t")
	[[ $ops == 'ADD IN' ]] || { echo "# 300 messages: '$ops'" >&2; cat "$t" >&2; return 1; }

	# A client that does not read: the echo backs up, and the interest moves to EPOLLOUT; when
	# the client reads again, back to EPOLLIN, and so on, one MOD per change.
	: >"$t"
	bg "$LOADGEN" -q -p "$PORT" -t "$WAIT" -b 8M slow >"$lg"
	wait_for "$WAIT" grep -q '^slow paused' "$lg"
	kill -USR1 "$BG_PID"
	wait "$BG_PID" || { cat "$lg" >&2; return 1; }
	strace_detach
	ops=$(epoll_ctl_ops "$t" | uniq -c | awk '{ print $2, $3 }' | tr '\n' ' ')
	echo "# slow reader: $(epoll_ctl_ops "$t" | wc -l) epoll_ctl calls: ${ops:0:60}..." >&3
	[[ $ops == 'ADD IN MOD OUT MOD IN '* ]] || { cat "$t" >&2; return 1; }
	# Never the same interest twice in a row: each MOD is a change.
	[[ -z $(epoll_ctl_ops "$t" | grep MOD | uniq -d) ]] || { cat "$t" >&2; return 1; }
}

# Out of descriptors, accept() fails with EMFILE and the client stays queued, so the
# listening socket stays readable, and level-triggered epoll reports it at every call: a loop
# that kept watching it would spin. The server logs it, takes the listening socket's interest
# away (retrying once a second), serves its clients meanwhile, and accepts the queued one as
# soon as a connection closes.
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

emfile_logged() { (($(grep -c 'accept: Too many open files' "$SERVER_ERR") >= $1)); }

# The retry does not wait for a quiet moment. Here room appears without any of the server's
# own connections closing (its descriptor limit is raised from outside, as when ENFILE ends
# because another process closed files), while one client keeps it busy without a pause: the
# queued client is accepted within the second, while the traffic goes on.
@test "$LAB: out of fds, accept is retried every second even under steady traffic" {
	local lg=$BATS_TEST_TMPDIR/hold.out stop=$BATS_TEST_TMPDIR/stop a b line free pinger
	prlimit --pid $$ --nofile >/dev/null 2>&1 || skip "prlimit cannot be used here"
	# -m 100: the default cap follows the descriptor limit the server started with (16).
	SERVER_NOFILE=16 start_server "$LAB" -m 100
	free=$((16 - $(fds_below "$SERVER_PID" 16)))
	bg "$LOADGEN" -q -p "$PORT" -t $((WAIT * 2)) -c $((free - 1)) hold >"$lg"
	wait_for "$WAIT" grep -q '^hold ' "$lg"
	# a takes the last descriptor, b is left queued: accept() fails for it.
	exec {a}<>"/dev/tcp/127.0.0.1/$PORT"
	printf 'a0\n' >&"$a"
	IFS= read -r -t "$WAIT" line <&"$a"
	[[ $line == a0 ]]
	exec {b}<>"/dev/tcp/127.0.0.1/$PORT"
	printf 'late\n' >&"$b"
	wait_for "$WAIT" emfile_logged 1
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

# --- the client: what epoll refuses ---------------------------------------------------------

# epoll_ctl() refuses a regular file and /dev/null with EPERM; the client treats them as
# always ready. stdin and stdout each from and to a regular file, a pipe and /dev/null.
@test "$LAB: client works with stdin and stdout on a file, a pipe or /dev/null" {
	local in=$BATS_TEST_TMPDIR/in out=$BATS_TEST_TMPDIR/out
	set -o pipefail
	start_server "$LAB"
	head -c 300000 "$RANDOM_1M" >"$in"
	# file -> file
	client -q -p "$PORT" <"$in" >"$out"
	cmp "$in" "$out"
	# pipe -> file, file -> pipe, pipe -> pipe
	cat "$in" | client -q -p "$PORT" >"$out"
	cmp "$in" "$out"
	client -q -p "$PORT" <"$in" | cmp - "$in"
	cat "$in" | client -q -p "$PORT" | cat | cmp - "$in"
	# /dev/null in: nothing sent, nothing back, exit 0; /dev/null out: everything sent.
	run --separate-stderr client -p "$PORT" </dev/null
	[[ $status -eq 0 && -z $output && $stderr == *"done: sent 0 bytes, received 0 bytes"* ]] ||
		{ echo "# </dev/null: exit $status, '$stderr'" >&2; return 1; }
	run --separate-stderr client -p "$PORT" <"$in" >/dev/null
	[[ $status -eq 0 && $stderr == *"done: sent 300000 bytes, received 300000 bytes"* ]] ||
		{ echo "# >/dev/null: exit $status, '$stderr'" >&2; return 1; }
}

# A terminal: stdin and stdout on a pseudo-terminal (script(1) makes one), a line typed and
# Ctrl-D. The terminal echoes the line once, the server once more, and the client counts it.
@test "$LAB: client works on a terminal" {
	command -v script >/dev/null || skip "script(1) is not installed"
	start_server "$LAB"
	run bash -c "printf 'hello tty\\n\\004' | timeout $WAIT script -qefc \
		'test -t 0 && test -t 1 && exec $ROOT/$LAB/client -p $PORT' /dev/null"
	[[ $status -eq 0 ]] || { echo "# exit $status: $output" >&2; return 1; }
	[[ $output == *"done: sent 10 bytes, received 10 bytes"* ]] ||
		{ echo "# $output" >&2; return 1; }
}
