#!/usr/bin/env bats
# 06-epoll-et: the edge-triggered epoll event loop. It passes every conformance case, the
# tests of what epoll is known for (as 05-epoll-lt: thousands of connections, sleeping in
# epoll_wait, out of descriptors, a client that copes with regular files), and the tests of
# what edge-triggered demands: registered once and never changed, read until EAGAIN (a burst
# longer than one read, bytes and FIN together), reading again after a flush, accepting until
# EAGAIN in batches (a connect storm) and again unasked after running out of descriptors, and a
# read budget per turn.

# conformance: skip conf_one_wait_per_echo -- a loop that reads until EAGAIN may echo without
#   waiting; et_one_wait_per_echo holds it to the rest

LAB=06-epoll-et
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
# The shim invents no EAGAIN for a program that registers with EPOLLET (no edge would follow
# it: tests/tools/shortio.c); as for blocking sockets ("blocking"), it injects short writes
# only, and those are what an edge-triggered loop must write on through.
@test "$LAB: short writes: every byte echoed, summary exact" {
	conf_short_io_server blocking
}
@test "$LAB: client under short writes is byte-exact" {
	conf_short_io_client blocking
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
@test "$LAB: one echoed message costs at most one epoll_wait, two reads, one write" {
	et_one_wait_per_echo
}

# conf_one_wait_per_echo counts the calls of 300 ping-pong messages, and expects at least one
# wait per message. A loop that reads until EAGAIN does not owe one: under strace the server is
# slow enough that its second read usually finds the client's next message already there, and
# echoes it without waiting (12 to 22 epoll_wait calls for 300 messages), so the counts could
# not tell one wait per message from two. Here each message is sent only once the server
# sleeps in epoll_wait again: none can be found waiting, and each must cost exactly one wait
# (the one it woke), two reads (the message, then EAGAIN) and one write, give or take the wait
# under way when strace attached and the one it leaves.
et_one_wait_per_echo() {
	local t=$BATS_TEST_TMPDIR/strace n=100 i fd line waits nread nwrite
	command -v strace >/dev/null || skip "strace is not installed"
	epoll_wait_nr >/dev/null || skip "no epoll_wait number known for $(uname -m)"
	start_server "$LAB" -q
	exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
	printf 'accepted\n' >&"$fd"
	IFS= read -r -t "$WAIT" line <&"$fd"
	strace_attach "$SERVER_PID" "$t"
	for ((i = 0; i < n; i++)); do
		wait_for "$WAIT" in_epoll_wait "$SERVER_PID"
		printf 'message %d\n' "$i" >&"$fd"
		IFS= read -r -t "$WAIT" line <&"$fd"
		[[ $line == "message $i" ]] || { echo "# sent message $i, got '$line'" >&2; return 1; }
	done
	wait_for "$WAIT" in_epoll_wait "$SERVER_PID"
	strace_detach
	exec {fd}>&-
	waits=$(syscall_count "$t" epoll_wait epoll_pwait)
	nread=$(syscall_count "$t" read recvfrom recvmsg)
	nwrite=$(syscall_count "$t" write sendto sendmsg)
	echo "# $n messages: $waits epoll_wait, $nread reads, $nwrite writes" >&3
	((waits >= n && waits <= n + 2)) || { echo "# $waits waits for $n messages" >&2; return 1; }
	((nread >= 2 * n && nread <= 2 * n + 2)) ||
		{ echo "# $nread reads for $n messages" >&2; return 1; }
	((nwrite == n)) || { echo "# $nwrite writes for $n messages" >&2; return 1; }
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

# epoll_ctl calls made by PID, from the strace output in FILE: "ADD IN|OUT|ET", "MOD OUT"...
# one line each.
epoll_ctl_ops() {
	sed -n 's/.*epoll_ctl([0-9]*, EPOLL_CTL_\([A-Z]*\), [0-9]*, {events=\([A-Z|]*\).*/\1 \2/p' "$1" |
		sed 's/EPOLL//g'
}

# Edge-triggered, a connection is registered once, for reading and writing, and never
# changed: not for 300 ping-pong messages, and not when its echo backs up and drains again
# (a slow reader), where 05-epoll-lt moves its interest to EPOLLOUT and back.
@test "$LAB: interest registered once per connection, for in and out, never changed" {
	local t=$BATS_TEST_TMPDIR/strace ops lg=$BATS_TEST_TMPDIR/slow.out
	command -v strace >/dev/null || skip "strace is not installed"
	start_server "$LAB"
	strace -f -o "$t" -e trace=epoll_ctl -p "$SERVER_PID" 2>"$t.err" 3>&- &
	STRACE_PID=$!
	BG_PIDS+=("$STRACE_PID")
	wait_for "$WAIT" grep -q 'attached' "$t.err"
	run loadgen echo -c 1 -n 300 -s 64
	[[ $status -eq 0 ]] || { echo "$output" >&2; return 1; }
	bg "$LOADGEN" -q -p "$PORT" -t "$WAIT" -b 8M slow >"$lg"
	wait_for "$WAIT" grep -q '^slow paused' "$lg"
	kill -USR1 "$BG_PID"
	wait "$BG_PID" || { cat "$lg" >&2; return 1; }
	wait_for "$WAIT" closed_count_is 2
	strace_detach
	# ("slow paused": the slow reader's sends stalled, so the server had stopped reading: its
	# echo was backed up, and drained again once the reader read.)
	ops=$(epoll_ctl_ops "$t" | tr '\n' ' ')
	[[ $ops == 'ADD IN|OUT|ET ADD IN|OUT|ET ' ]] || { echo "# '$ops'" >&2; cat "$t" >&2; return 1; }
}

# --- what edge-triggered demands ---------------------------------------------------------------

# unread PORT: the bytes the server's connections on PORT have received and not read (Recv-Q).
unread() {
	ss -Htn state established "( sport = :$1 )" | awk '{ n += $1 } END { print n + 0 }'
}

unread_is() { (($(unread "$1") == $2)); }

# read_all_or_stalled PORT: the server has read every byte sent to it on PORT, or it sleeps in
# epoll_wait with bytes left unread. A loop that reads until EAGAIN never does that (it does
# not sleep while it owes a read): it has stalled, for no edge will come for those bytes.
read_all_or_stalled() {
	(($(unread "$1") == 0)) || { in_epoll_wait "$SERVER_PID" && (($(unread "$1") > 0)); }
}

# A burst longer than one read (80 KiB, a read takes 64), on three connections, all in the
# server's sockets before it looks: the server is stopped (SIGSTOP) while they are sent.
# Edge-triggered, epoll reports that bytes arrived, once, not how many are left: a loop that
# read once per edge would read 64 KiB of each and leave the rest, with no edge to come. (Sent
# while the server runs, a burst arrives in pieces, each bringing an edge, and such a loop
# passed 4 times in 5.) 80 KiB fits in a receive buffer that nobody reads (120 KiB on
# loopback); the readers run meanwhile, so the echo never backs up.
@test "$LAB: a burst longer than one read, all there before the server looks, comes back whole" {
	local burst=$((80 * 1024)) n=3 i fd in=$BATS_TEST_TMPDIR/in fds=() readers=()
	head -c "$burst" "$RANDOM_1M" >"$in"
	start_server "$LAB"
	snapshot
	for ((i = 0; i < n; i++)); do
		exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
		fds+=("$fd")
	done
	wait_for "$WAIT" accepted_at_least "$n"
	wait_idle "$SERVER_PID"
	kill -STOP "$SERVER_PID"
	for ((i = 0; i < n; i++)); do
		bg cat "$in" >&"${fds[i]}"
		deadline head -c "$burst" <&"${fds[i]}" >"$BATS_TEST_TMPDIR/out$i" 3>&- &
		readers+=($!)
		BG_PIDS+=($!)
	done
	wait_for "$WAIT" unread_is "$PORT" $((n * burst)) ||
		{ echo "# $(unread "$PORT") bytes arrived: this proves nothing" >&2; return 1; }
	kill -CONT "$SERVER_PID"
	wait_for "$WAIT" read_all_or_stalled "$PORT"
	(($(unread "$PORT") == 0)) ||
		{ echo "# asleep with $(unread "$PORT") bytes unread: no edge will come" >&2; return 1; }
	for ((i = 0; i < n; i++)); do
		wait "${readers[i]}"
		cmp "$in" "$BATS_TEST_TMPDIR/out$i"
		fd=${fds[i]}
		exec {fd}>&-
	done
	assert_baseline
}

# server_backed_up PORT: the server's side of the one connection on PORT has bytes it has not
# read (Recv-Q) while its own echo waits to be sent (Send-Q): it has stopped reading.
server_backed_up() {
	ss -Htn state established "( sport = :$1 )" | awk '$1 > 0 && $2 > 0 { found = 1 }
		END { exit !found }'
}

# nothing_more_comes PORT WRITER: no byte can reach the server on PORT before it reads again.
# The client's side of the connection has nothing in flight (ss -i shows no "unacked"), and
# either still has bytes to send (Send-Q), so the server's receive window is closed, or has
# sent everything and WRITER, the process that fed it, is done.
nothing_more_comes() {
	local info sendq
	info=$(ss -Htni state established "( dport = :$1 )")
	[[ -n $info && $info != *unacked:* ]] || return 1
	read -r _ sendq _ <<<"$info"
	((sendq > 0)) || is_gone "$2"
}

# stopped_reading PORT WRITER: the server sleeps in epoll_wait with bytes unread on PORT while
# its own echo waits to be sent (it has stopped reading: backed up), and nothing more comes.
stopped_reading() {
	in_epoll_wait "$SERVER_PID" && server_backed_up "$1" && nothing_more_comes "$1" "$2"
}
why_not_stopped_reading() {
	echo "# $(ss -Htni "( port = :$1 )" | tr -s '\n\t' ' '); writer $(proc_state "$2");" \
		"server $(sleep_report "$SERVER_PID")"
}

# A client sends 8 MiB without reading, more than the kernel's buffers let the server echo, so
# the echo backs up and the server stops reading with bytes still in its socket. The client
# reads only once the server sleeps, backed up, and no byte can reach it (its receive window
# closed, or everything sent): none can arrive before it reads again, and bring an edge. When
# the client reads, the server flushes its pending echo on the EPOLLOUT edges, and must then
# read on by itself: the bytes waiting in its socket brought their edge long ago. (How much
# the buffers take varies: on a loaded machine they did not take all 8 MiB, and the case
# waited for the writer to finish in vain. It need not finish.)
@test "$LAB: a client that reads only after the echo backed up gets every byte" {
	local fd in=$BATS_TEST_TMPDIR/in out=$BATS_TEST_TMPDIR/out writer
	head -c 8M "$RANDOM_10M" >"$in"
	start_server "$LAB"
	snapshot
	exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
	# The writer: all 8 MiB, then nothing; the socket stays open in this shell.
	cat "$in" >&"$fd" 3>&- &
	writer=$!
	BG_PIDS+=("$writer")
	wait_for "$WAIT" stopped_reading "$PORT" "$writer"
	deadline head -c 8M <&"$fd" >"$out"
	wait "$writer"
	cmp "$in" "$out"
	exec {fd}>&-
	assert_baseline
}

# in_close_wait_with PORT BYTES: the server's side of a connection on PORT has received the
# client's FIN with BYTES unread before it (Recv-Q counts the FIN too: BYTES + 1).
in_close_wait_with() {
	ss -Htn state close-wait "( sport = :$1 )" | awk -v n="$2" '$1 > n { found = 1 }
		END { exit !found }'
}

# Bytes and the FIN that arrive together bring one edge. The server is stopped (SIGSTOP) while
# its client sends a line and half-closes, so both are in the socket before the server looks.
# Reading until EAGAIN, it reads the line, then the EOF: echoes and closes. A loop that took a
# read shorter than asked to mean "empty" would leave the EOF unread, the client waiting for
# ever, unless it also asked for EPOLLRDHUP (docs/06-epoll-et.md weighs that choice).
@test "$LAB: bytes and FIN that arrive together: echoed, then the connection closed" {
	local fifo=$BATS_TEST_TMPDIR/in w client_pid st=0
	start_server "$LAB"
	snapshot
	mkfifo "$fifo"
	deadline "$ROOT/$LAB/client" -q -p "$PORT" <"$fifo" >"$BATS_TEST_TMPDIR/out" 3>&- &
	client_pid=$!
	BG_PIDS+=("$client_pid")
	exec {w}<>"$fifo"
	wait_for "$WAIT" grep -q 'accepted' "$SERVER_ERR"
	wait_idle "$SERVER_PID"
	kill -STOP "$SERVER_PID"
	printf 'together\n' >&"$w"
	exec {w}>&-
	wait_for "$WAIT" in_close_wait_with "$PORT" 9
	kill -CONT "$SERVER_PID"
	wait "$client_pid" || st=$?
	[[ $st -eq 0 && $(cat "$BATS_TEST_TMPDIR/out") == together ]] ||
		{ echo "# client exit $st" >&2; return 1; }
	assert_baseline
}

# turns_cut_at_least N: the -v log shows N turns that the read budget cut short.
turns_cut_at_least() { (($(grep -c 'still readable' "$SERVER_ERR") >= $1)); }

# longest_turn LOG: the most reads one connection got in one turn, from the -v log (a turn
# starts at "fd N: readable" or "fd N: still readable").
longest_turn() {
	awk '/: (still )?readable$/ { split($0, a, "fd "); run[a[2] + 0] = 0; next }
		/: read [0-9]+ bytes$/ { split($0, a, "fd "); fd = a[2] + 0
			if (++run[fd] > max) max = run[fd] }
		END { print max + 0 }' "$1"
}

# A client that sends as fast as the loop reads would keep a loop that reads until EAGAIN on
# its connection as long as it likes, every other client and a stop signal waiting. The
# server reads a connection READ_BUDGET times per turn at most, then serves the others and
# comes back to it unasked ("still readable"): no edge would come for the bytes waiting. Two
# clients stream without pause, the lab's client from /dev/zero and loadgen, which checks
# every byte of 256 MiB (a turn taken out of order would show): turns are cut at the budget,
# none is longer, and a third client is served meanwhile.
@test "$LAB: a connection is read at most READ_BUDGET times per turn, then again unasked" {
	local budget streamer longest
	budget=$(sed -n 's/^#define READ_BUDGET[[:space:]]*\([0-9]*\).*/\1/p' "$ROOT/$LAB/server.c")
	[[ -n $budget ]]
	start_server "$LAB" -v
	bg timeout -k 5 $((WAIT * 4)) "$ROOT/$LAB/client" -q -p "$PORT" </dev/zero >/dev/null
	streamer=$BG_PID
	run loadgen stream -c 1 -b 256M
	[[ $status -eq 0 ]] || { echo "$output" >&2; return 1; }
	wait_for "$WAIT" turns_cut_at_least 20
	tcp_echo "$PORT" "served meanwhile"
	kill "$streamer"
	longest=$(longest_turn "$SERVER_ERR")
	echo "# $(grep -c 'still readable' "$SERVER_ERR") turns cut at the budget ($budget reads);" \
		"longest turn $longest reads" >&3
	((longest <= budget))
}

accept_queue_is() { (($(accept_queue "$1") == $2)); }

# longest_accept_run FILE: the most accept4 calls in a row in strace's output FILE (of
# accept4 and epoll_wait), with no epoll_wait between them.
longest_accept_run() {
	awk '/accept4\(/ { if (++run > max) max = run; next } /epoll_wait\(/ { run = 0 }
		END { print max + 0 }' "$1"
}

# One edge of the listening socket can announce a whole connect storm, and edge-triggered the
# loop must accept until EAGAIN, but not in one go: the storm refills the queue as fast as it
# is emptied, and the connected clients would wait as long as it lasts. 600 clients queue
# while the server is stopped; it accepts them ACCEPT_BUDGET (512) at a time, with a wait (and
# the connected clients' turn) between, and holds every one.
@test "$LAB: a connect storm is accepted ACCEPT_BUDGET at a time, each batch after a wait" {
	local t=$BATS_TEST_TMPDIR/strace lg=$BATS_TEST_TMPDIR/hold.out n=600 budget longest
	command -v strace >/dev/null || skip "strace is not installed"
	budget=$(sed -n 's/^#define ACCEPT_BUDGET[[:space:]]*\([0-9]*\).*/\1/p' "$ROOT/$LAB/server.c")
	[[ -n $budget ]] && ((budget < n))
	start_server "$LAB" -q
	snapshot
	strace -o "$t" -e trace=accept4,epoll_wait -p "$SERVER_PID" 2>"$t.err" 3>&- &
	STRACE_PID=$!
	BG_PIDS+=("$STRACE_PID")
	wait_for "$WAIT" grep -q 'attached' "$t.err"
	kill -STOP "$SERVER_PID"
	bg "$LOADGEN" -q -p "$PORT" -t $((WAIT * 2)) -c "$n" hold >"$lg"
	wait_for "$WAIT" accept_queue_is "$PORT" "$n"
	kill -CONT "$SERVER_PID"
	wait_for "$WAIT" grep -q '^hold ' "$lg"
	grep -q "^hold held=$n refused=0$" "$lg" || { cat "$lg" >&2; return 1; }
	strace_detach
	longest=$(longest_accept_run "$t")
	echo "# $n queued: $(grep -c 'accept4(' "$t") accept4 calls, at most $longest in a row" \
		"(ACCEPT_BUDGET $budget)" >&3
	((longest <= budget)) || { echo "# $longest accepts without a wait" >&2; return 1; }
	kill -USR1 "$BG_PID"
	wait "$BG_PID"
	assert_baseline
}

# Out of descriptors, accept() fails with EMFILE and the client stays queued, so the
# listening socket stays readable. Edge-triggered, epoll does not report it again: there is no
# spin to fear, but the opposite. The edge is spent, so when a connection closes no edge says
# that the queued client can now be accepted: the server must accept again unasked. It logs
# the failure once, serves its clients meanwhile, and accepts the queued one as soon as a
# connection closes.
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
# queued client, whose edge came and went long ago, is accepted within the second, while the
# traffic goes on.
@test "$LAB: out of fds, accept is retried every second even under steady traffic" {
	local lg=$BATS_TEST_TMPDIR/hold.out stop=$BATS_TEST_TMPDIR/stop a b line free pinger
	prlimit --pid $$ --nofile >/dev/null 2>&1 || skip "prlimit cannot be used here"
	# -m 100: the default cap follows the descriptor limit the server started with (16).
	SERVER_NOFILE=16 start_server "$LAB" -m 100
	free=$((16 - $(fds_below "$SERVER_PID" 16)))
	bg "$LOADGEN" -q -p "$PORT" -t $((WAIT * 2)) -c $((free - 1)) hold >"$lg"
	wait_for "$WAIT" grep -q '^hold ' "$lg"
	# a takes the last descriptor; the next accept() fails at once, EMFILE coming before the
	# queue is even looked at, and accept pauses. Then b is queued, and the retry at the end
	# of the pause fails for it too: whatever announced b has been used up.
	exec {a}<>"/dev/tcp/127.0.0.1/$PORT"
	printf 'a0\n' >&"$a"
	IFS= read -r -t "$WAIT" line <&"$a"
	[[ $line == a0 ]]
	wait_for "$WAIT" emfile_logged 1
	exec {b}<>"/dev/tcp/127.0.0.1/$PORT"
	printf 'late\n' >&"$b"
	wait_for "$WAIT" emfile_logged 2
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
