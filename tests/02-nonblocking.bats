#!/usr/bin/env bats
# 02-nonblocking: non-blocking sockets tried in turn, with no readiness call. It passes every
# conformance case, and the tests that show what the model is known for: it spins, idle or
# not, where an idle 03 or 04 sleeps; -i trades that CPU for latency; an echo is one read and
# one write among many reads that find nothing; and out of descriptors it stops trying
# accept() instead of failing it at every sweep.

# conformance: skip conf_one_wait_per_echo -- there is no wait call to count; "an echo is one
#   read and one write, among tries that find nothing" takes its place

LAB=02-nonblocking
load helpers/conformance

setup_file() { conformance_setup_file; }
teardown() { conformance_teardown; }

# The conformance cases wait, before a signal, for the server to be asleep in a system call
# (wait_idle), so that the signal cannot land between its test of the stop flag and a call
# that would sleep through it. This server never sleeps: with or without clients it tries
# accept() and every read without pause, so it is never in state S and that wait would fail.
# Nor does it have the window: it makes no call that waits and tests sig_stop before every
# sweep, so a signal at any moment is seen within one sweep. Here the wait only checks that
# the server is still there.
SERVER_NEVER_SLEEPS=1

@test "$LAB: a line and binary bytes echo through bash /dev/tcp" { conf_devtcp_echo; }
@test "$LAB: client is byte-exact for 10 MiB from a regular file; summary counts it" {
	conf_client_file
}
@test "$LAB: client is byte-exact for 10 MiB through a pipe" { conf_client_pipe; }
@test "$LAB: client handles empty input and a typed line" { conf_client_small; }
@test "$LAB: 50 concurrent clients each get their own bytes" { conf_concurrent_clients; }
@test "$LAB: 200 clients queued at once are accepted in one sweep, then echoed" {
	conf_accept_storm read
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
# conf_one_wait_per_echo does not apply: there is no wait call to count. The test "an echo
# is one read and one write among reads that find nothing" below takes its place.
@test "$LAB: an idle connection costs under 1 KiB of memory (2000 held)" {
	conf_idle_memory 2000
}

# The articles' "multiplexing uses a lot of CPU" belongs here, not to select or poll. With no
# client at all, this server uses CPU (utime + stime in /proc/PID/stat) and never once sleeps
# (voluntary_ctxt_switches in /proc/PID/status stands still), as it tries accept() again and
# again: on a quiet machine, a whole core. An idle 03-select and an idle 04-poll, asleep in
# their wait, use next to none over the same kind of window.
@test "$LAB: with no client at all it burns a CPU, where idle 03 and 04 sleep" {
	local busy
	start_server "$LAB" -q
	busy=$SERVER_PID
	spinning "$busy" 2
	[[ $(proc_state "$busy") != S ]] || { echo "# it sleeps: state S" >&2; return 1; }
	start_server 03-select -q
	SERVER_NEVER_SLEEPS= wait_idle "$SERVER_PID"
	not_spinning "$SERVER_PID" 2
	start_server 04-poll -q
	SERVER_NEVER_SLEEPS= wait_idle "$SERVER_PID"
	not_spinning "$SERVER_PID" 2
	# And it is not a matter of start-up: the first is still at it.
	spinning "$busy" 1
}

# -i 10000 sleeps 10 ms after every sweep. Asserted as a behaviour, not a number: where the
# -i 0 server never sleeps, this one uses under a quarter of a CPU (not_spinning); what it
# really uses is about 1% (a sweep takes microseconds, the sleep 10 ms), so a machine busy
# enough to blur the two would have to slow the sweep a hundredfold. It still serves, only
# later.
@test "$LAB: -i 10000 sleeps between sweeps: idle CPU drops, and it still echoes" {
	start_server "$LAB" -i 10000
	not_spinning "$SERVER_PID" 2
	tcp_echo "$PORT" "late but here"
	run loadgen echo -c 5 -n 20
	[[ $status -eq 0 ]] || { echo "$output" >&2; return 1; }
	not_spinning "$SERVER_PID" 1
	stop_server
	[[ $SERVER_STATUS -eq 0 ]]
	grep -q 'sleep of 10000 us between sweeps' "$SERVER_ERR"
}

# strace_errors FILE NAME: the calls of NAME that failed, in strace -c's table (the errors
# column, present when the row has six fields).
strace_errors() {
	awk -v name="$2" '$NF == name && NF == 6 { n += $5 } END { print n + 0 }' "$1"
}

# No wait call at all, so conf_one_wait_per_echo has nothing to count. What an echo costs
# instead: one read that finds the message and one write of the echo, as in the event loops,
# and around them an accept() at every sweep, at least one sweep per message, almost all of
# them failing with EAGAIN: the polling the event loops leave to the kernel. (Whether a read
# also finds nothing depends on who is faster; under strace the client often is, so only the
# accept() tries are held to it: all but the one that took the client find nobody.)
@test "$LAB: an echo is one read and one write, among tries that find nothing" {
	local t=$BATS_TEST_TMPDIR/strace n=300 reads errs ok writes werrs accepts aerrs waits
	command -v strace >/dev/null || skip "strace is not installed"
	start_server "$LAB" -q
	strace_attach "$SERVER_PID" "$t"
	run loadgen echo -c 1 -n "$n" -s 64
	[[ $status -eq 0 ]] || { echo "$output" >&2; return 1; }
	strace_detach
	reads=$(syscall_count "$t" read)
	errs=$(strace_errors "$t" read)
	ok=$((reads - errs))
	writes=$(syscall_count "$t" write)
	werrs=$(strace_errors "$t" write)
	accepts=$(syscall_count "$t" accept4)
	aerrs=$(strace_errors "$t" accept4)
	waits=$(syscall_count "$t" select pselect6 poll ppoll epoll_wait epoll_pwait epoll_pwait2)
	echo "# $n messages: $ok reads with data (+ $errs EAGAIN), $writes writes," \
		"$accepts accept4 ($aerrs EAGAIN), $waits waits" >&3
	((waits == 0)) || { cat "$t" >&2; return 1; }
	# One read per message, plus the EOF.
	((ok >= n && ok <= n + 2)) || { cat "$t" >&2; return 1; }
	((writes >= n && writes <= n + 2 && werrs == 0)) || { cat "$t" >&2; return 1; }
	((accepts >= n && aerrs >= accepts - 1)) || { cat "$t" >&2; return 1; }
}

# A sweep walks the table up to the highest open descriptor, so when clients leave, that
# bound comes down with them: after 3000 clients have come and gone, a sweep walks a handful
# of entries again, not 3000. The walk makes no system call (a free entry is skipped), so
# strace cannot count it; the pages it touches can be counted instead. /proc/PID/clear_refs
# forgets which pages the server touched, and /proc/PID/smaps then lists, per mapping, those
# touched since (Referenced); the private anonymous ones (the table, the heap) are the
# server's alone. Two echoes in between make sure that at least one whole sweep ran (the
# second client is accepted by a sweep that began after the first was served). With its
# 80-byte entries, a walk of 3000 touches some 230 kB of table; one of a handful, a page.
@test "$LAB: after 3000 clients leave, a sweep walks a few table entries again, not 3000" {
	local lg=$BATS_TEST_TMPDIR/hold.out before after
	SERVER_NOFILE=3100 start_server "$LAB" -q
	[[ -w /proc/$SERVER_PID/clear_refs ]] || skip "no /proc/PID/clear_refs in this kernel"
	snapshot
	before=$(kb_one_sweep_touches)
	bg "$LOADGEN" -q -p "$PORT" -t $((WAIT * 2)) -c 3000 hold >"$lg"
	wait_for "$WAIT" grep -q '^hold ' "$lg"
	grep -q '^hold held=3000 refused=0$' "$lg" || { cat "$lg" >&2; return 1; }
	kill -USR1 "$BG_PID"
	wait "$BG_PID"
	assert_baseline
	after=$(kb_one_sweep_touches)
	echo "# private memory a sweep touches: $before kB before the 3000 came," \
		"$after kB after they left" >&3
	((after < before + 64)) ||
		{ echo "# a sweep still walks the table of the 3000 gone: $after kB" >&2; return 1; }
}
# kb_one_sweep_touches: kB of private anonymous memory the server touches while it echoes
# two lines (at least one whole sweep), the largest of three tries.
kb_one_sweep_touches() {
	local i kb max=0
	for i in 1 2 3; do
		echo 1 >/proc/"$SERVER_PID"/clear_refs
		tcp_echo "$PORT" "first"
		tcp_echo "$PORT" "second"
		kb=$(awk '/^[0-9a-f]+-[0-9a-f]+ / { anon = NF == 5 || $6 == "[heap]" }
			anon && /^Referenced:/ { n += $2 } END { print n + 0 }' /proc/"$SERVER_PID"/smaps)
		((kb > max)) && max=$kb
	done
	echo "$max"
}

# Out of descriptors, accept() fails with EMFILE and leaves the client queued: tried again at
# the next sweep it would fail again, a few hundred thousand times a second, each with its
# log line. The server pauses accept instead (no accept() call while paused, one retry a
# second), serves its clients meanwhile, and accepts the queued one as soon as a connection
# closes. This server spins anyway, so not_spinning cannot tell; the failed accepts can be
# counted: one log line each.
@test "$LAB: out of fds (EMFILE), accept pauses instead of failing every sweep, and recovers" {
	local lg=$BATS_TEST_TMPDIR/hold.out a b line free t0 t1 n0 n1 secs
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
	# Two seconds (or however long they really take) with the client queued: at most one
	# failed accept a second, where a loop without the pause fails one every sweep.
	t0=$(date +%s%N)
	n0=$(grep -c 'accept: Too many open files' "$SERVER_ERR")
	sleep 2
	n1=$(grep -c 'accept: Too many open files' "$SERVER_ERR")
	t1=$(date +%s%N)
	secs=$(((t1 - t0 + 999999999) / 1000000000))
	echo "# $((n1 - n0)) failed accepts in $(((t1 - t0) / 1000000)) ms" >&3
	((n1 - n0 <= secs + 1)) || { echo "# $((n1 - n0)) failed accepts in ${secs}s" >&2; return 1; }
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
# default -m comes from the soft limit at start, 16 - 4, and would turn the queued client
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

# The default -m follows the soft descriptor limit: all of it but the server's own four
# (stdin, stdout, stderr, the listening socket; no signal pipe in this lab).
@test "$LAB: the default -m is the soft fd limit minus the server's own descriptors" {
	run --separate-stderr bash -c "ulimit -Sn 5000 && exec '$ROOT/$LAB/server' -h"
	[[ $status -eq 0 && $output == *"(default 4996)"* ]] || { echo "$output" >&2; return 1; }
	[[ $output == *"IT USES A WHOLE CPU CORE"* ]]
	start_server "$LAB"
	[[ $(fd_count "$SERVER_PID") -eq 4 ]] || { ls -l /proc/"$SERVER_PID"/fd >&2; return 1; }
}

# fd_nonblocking PID FD: O_NONBLOCK (04000) is set in the flags of PID's descriptor FD.
fd_nonblocking() {
	local flags
	flags=$(awk '/^flags:/ { print $2 }' /proc/"$1"/fdinfo/"$2")
	(((8#$flags & 8#4000) != 0))
}

# The client reads stdin without blocking, but never through the description it shares:
# O_NONBLOCK set there would stay set for the shell and the next program on the terminal,
# even after the client is gone. Here stdin is a FIFO this shell holds open too, through the
# same description: while the client runs (and spins, waiting for input), and after it was
# killed with SIGKILL (no exit path to restore anything), the shell's description is still
# blocking, and the client did read what came through it.
@test "$LAB: client: stdin's shared description never becomes non-blocking" {
	local fifo=$BATS_TEST_TMPDIR/fifo rw cl
	# -i 10000: the server naps between sweeps, so that it does not compete with the client
	# for the CPU that shows the client spinning.
	start_server "$LAB" -q -i 10000
	mkfifo "$fifo"
	exec {rw}<>"$fifo"
	fd_nonblocking "$BASHPID" "$rw" && { echo "# O_NONBLOCK before the test" >&2; return 1; }
	"$ROOT/$LAB/client" -q -p "$PORT" <&"$rw" >"$BATS_TEST_TMPDIR/out" 3>&- &
	cl=$!
	BG_PIDS+=("$cl")
	printf 'through the fifo\n' >&"$rw"
	wait_for "$WAIT" grep -q 'through the fifo' "$BATS_TEST_TMPDIR/out"
	# Waiting for input, the client polls: it burns CPU, it does not sleep.
	spinning "$cl" 1
	if fd_nonblocking "$BASHPID" "$rw"; then
		echo "# the client set O_NONBLOCK on the shared stdin" >&2
		return 1
	fi
	kill -KILL "$cl"
	wait "$cl" || true
	if fd_nonblocking "$BASHPID" "$rw"; then
		echo "# O_NONBLOCK stayed set after the client died" >&2
		return 1
	fi
	exec {rw}>&-
}
