# tests/helpers/conformance.bash - the cases every lab must pass (docs/README.md, "Where the
# tests are").
#
# A lab's test file sets LAB, loads this file and calls each case from an @test of its own,
# so `bats tests/03-select.bats` lists them by name, or says in its header why it does not
# (`# conformance: skip conf_NAME -- why`). Every function here named conf_* is a case, and
# tools/conformance.sh (run by tests/suite.bats) holds every lab file to each: name a helper
# otherwise. Every case starts its own server. Cases that take an argument say what it means
# for the lab ("serial": one client at a time).

bats_require_minimum_version 1.5.0
load helpers/iomodels

# What -v prints for one short message echoed, in order (conf_verbosity): the readiness or
# completion events that bring it, the read and the write. One extended regular expression a
# line; F stands for the connection's descriptor; other lines may come between. The contract
# says -v logs every readiness and completion event: in 01, 08 and 09 the read is the wait, and
# 02 has no wait at all, so for them the read and the write are the events. Keyed by the lab
# and its server's file name (07-aio has two); a server with no entry fails the case.
declare -gA CONF_VERBOSE_ECHO=(
	[01-blocking/server]='fd F: read 6 bytes
fd F: wrote 6 bytes'
	[02-nonblocking/server]='fd F: read 6 bytes
fd F: wrote 6 bytes'
	[03-select/server]='select: [0-9]+ ready
fd F: readable
fd F: read 6 bytes
fd F: wrote 6 bytes'
	[04-poll/server]='poll: [0-9]+ ready
fd F: readable
fd F: read 6 bytes
fd F: wrote 6 bytes'
	[05-epoll-lt/server]='epoll_wait: [0-9]+ ready
fd F: readable
fd F: read 6 bytes
fd F: wrote 6 bytes'
	[06-epoll-et/server]='epoll_wait: [0-9]+ ready
fd F: readable
fd F: read 6 bytes
fd F: wrote 6 bytes'
	[07-aio/server]='io_uring_enter: [0-9]+ completed
fd F: receive completed: read 6 bytes
io_uring_enter: [0-9]+ completed
fd F: send completed: wrote 6 bytes'
	[07-aio/server-posixaio]='fd F: aio_read of [0-9]+ bytes submitted
signal [0-9]+ .*: fd F: aio_read completed
fd F: read 6 bytes
fd F: aio_write of 6 bytes submitted
signal [0-9]+ .*: fd F: aio_write completed
fd F: wrote 6 bytes'
	[08-threaded/server]='fd F: read 6 bytes
fd F: wrote 6 bytes'
	[09-forking/server]='fd F: read 6 bytes
fd F: wrote 6 bytes'
)

# How far a server's memory may grow, in kB, while a client streams 8 MiB at it and reads
# slowly (conf_slow_reader): a fixed buffer of 64 KiB (two in an event loop: the loop's own and
# one for echo pending) grows it by about 120 kB, where 1.5 to 7 MiB showed with a 4 MiB one.
# 07's io_uring server fills a 1 MiB pool of receive buffers given to the kernel in advance:
# the completion model's cost (docs/07-aio.md). A sanitizer's runtime adds memory of its own
# (shadow memory, ASan's quarantine of freed buffers, TSan's access history; 08 under TSan
# grew 1.8 MB): under one, four times the bound.
declare -gA CONF_SLOW_READER_KB=([07-aio/server]=2048)
CONF_SLOW_READER_KB_DEFAULT=1024

# server_key: the lab and its server's file name (07-aio/server-posixaio), the key of the
# tables above.
server_key() {
	local server
	server=$(readlink -f "$ROOT/$LAB/server")
	echo "$LAB/${server##*/}"
}

conformance_setup_file() {
	build_all
	export RANDOM_10M=$BATS_FILE_TMPDIR/random-10m RANDOM_1M=$BATS_FILE_TMPDIR/random-1m
	random_file "$RANDOM_10M" $((10 * 1024 * 1024))
	head -c $((1024 * 1024)) "$RANDOM_10M" >"$RANDOM_1M"
}

conformance_teardown() {
	stop_all
}

client() { deadline "$ROOT/$LAB/client" "$@"; }

# --- echo ----------------------------------------------------------------------------------

# A line, and binary bytes (NUL, 0xff, a lone CR), through bash's /dev/tcp.
conf_devtcp_echo() {
	local fd got
	start_server "$LAB"
	tcp_echo "$PORT" "hello, iomodels"

	exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
	printf '\000\001\377\r\200x' >&"$fd"
	got=$(deadline head -c 6 <&"$fd" | od -An -tx1 | tr -d ' \n')
	exec {fd}>&-
	[[ $got == 0001ff0d8078 ]] || { echo "# binary echo: got '$got'" >&2; return 1; }
}

# The lab's client: 10 MiB of random bytes from a regular file, byte-exact; and the server's
# summary counts exactly those bytes, one connection, one at a time.
conf_client_file() {
	start_server "$LAB"
	client -q -p "$PORT" <"$RANDOM_10M" >"$BATS_TEST_TMPDIR/out"
	cmp "$RANDOM_10M" "$BATS_TEST_TMPDIR/out"
	stop_server
	[[ $SERVER_STATUS -eq 0 ]]
	assert_summary 1 10485760 1
}

# The same through a pipe, which delivers the input in pieces of any size. pipefail: the
# client's exit status counts as much as what it printed.
conf_client_pipe() {
	set -o pipefail
	start_server "$LAB"
	cat "$RANDOM_10M" | client -q -p "$PORT" | cmp - "$RANDOM_10M"
}

# The client with no input at all, and a short line as a person would type it.
conf_client_small() {
	start_server "$LAB"
	run client -q -p "$PORT" </dev/null
	[[ $status -eq 0 && -z $output ]]
	run bash -c "printf 'hi\\n' | timeout $WAIT '$ROOT/$LAB/client' -q -p $PORT"
	[[ $status -eq 0 && $output == hi ]]
}

# 50 of the lab's clients at once, each with its own 64 KiB: each gets its own bytes back.
conf_concurrent_clients() {
	local i pids=()
	start_server "$LAB"
	snapshot
	for i in $(seq 50); do
		random_file "$BATS_TEST_TMPDIR/in$i" 65536
	done
	for i in $(seq 50); do
		client -q -p "$PORT" <"$BATS_TEST_TMPDIR/in$i" >"$BATS_TEST_TMPDIR/out$i" 3>&- &
		pids+=($!)
	done
	for i in $(seq 50); do
		wait "${pids[i - 1]}" || { echo "# client $i failed" >&2; return 1; }
	done
	for i in $(seq 50); do
		cmp "$BATS_TEST_TMPDIR/in$i" "$BATS_TEST_TMPDIR/out$i"
	done
	[[ $(grep -c 'accepted' "$SERVER_ERR") -eq 50 ]]
	assert_baseline
}

# A connect storm, in small: K clients complete their handshakes while the server is stopped
# (SIGSTOP), so that all K wait in the accept queue, each with a message sent, when it
# resumes. A server that takes one client per pass needs K passes, each a wait or a sweep over
# every connection, while in a real storm the queue overflows and the kernel drops
# handshakes; one that accepts until the queue is empty, up to its budget, takes all K in a
# row. SEP names the calls that mark a pass, comma-separated (the lab's wait; read for a
# sweep; clone for a fork): strace counts those made between the first and the last accept.
# Then every client gets its echo. K (200) must not be more than the lab's budget.
conf_accept_storm() {
	local sep=$1 k=${2:-200} t=$BATS_TEST_TMPDIR/strace lg=$BATS_TEST_TMPDIR/hold.out between
	command -v strace >/dev/null || skip "strace is not installed"
	start_server "$LAB" -q
	strace_attach "$SERVER_PID" "$t" -e trace="accept,accept4,$sep"
	kill -STOP "$SERVER_PID"
	# Twice the usual deadline: strace stops the server (in 09 every child too) at every call.
	bg "$LOADGEN" -q -p "$PORT" -t $((WAIT * 2)) -c "$k" hold >"$lg"
	wait_for "$WAIT" accept_queue_is "$PORT" "$k"
	kill -CONT "$SERVER_PID"
	wait_for $((WAIT * 2)) grep -q '^hold ' "$lg"
	strace_detach
	grep -q "^hold held=$k refused=0$" "$lg" || { cat "$lg" >&2; return 1; }
	kill -USR1 "$BG_PID"
	wait "$BG_PID" || { cat "$lg" >&2; return 1; }
	between=$(calls_between_accepts "$t" "$sep")
	echo "# $k clients queued: accepted with $between calls of $sep between the first and the last" >&3
	((between <= 2)) || { echo "# $between calls of $sep between the accepts" >&2; return 1; }
}
accept_queue_is() { [[ $(accept_queue "$1") -eq $2 ]]; }

# --- clean-up ------------------------------------------------------------------------------

# Clients that leave politely (FIN): fds (threads, children) return to the baseline.
conf_fin_cleanup() {
	start_server "$LAB"
	snapshot
	run loadgen echo -c 20 -n 10 -s 100
	[[ $status -eq 0 ]] || { echo "$output" >&2; return 1; }
	[[ $(result_field ok "$output") -eq 20 ]]
	assert_baseline
	tcp_echo "$PORT" "still serving"
	assert_baseline
}

# Clients that reset (SO_LINGER 0) with echo in flight: cleaned up, logged, server serves on.
conf_reset_cleanup() {
	start_server "$LAB"
	snapshot
	run loadgen reset -c 20 -s 256K
	[[ $status -eq 0 ]] || { echo "$output" >&2; return 1; }
	[[ $(result_field ok "$output") -eq 20 ]]
	assert_baseline
	tcp_echo "$PORT" "still serving"
	assert_baseline
	kill -0 "$SERVER_PID"
	[[ $(grep -c 'closed' "$SERVER_ERR") -eq 21 ]]
}

# Half-close: 1 MiB sent, then shutdown(SHUT_WR) before reading anything: every byte comes
# back, then the server closes (loadgen checks both, and the bytes).
conf_half_close() {
	start_server "$LAB"
	snapshot
	run loadgen halfclose -b 1M
	[[ $status -eq 0 ]] || { echo "$output" >&2; return 1; }
	[[ $(result_field bytes "$output") -eq 1048576 ]]
	assert_baseline
}

# A client sends 8 MiB and does not read. The server's memory stays bounded (its buffer is
# fixed: a server that grew its buffer would hold megabytes here), other clients are still
# served (unless the lab serves one client at a time: pass "serial"), and once the slow
# client reads, all 8 MiB come back intact. The bound (CONF_SLOW_READER_KB) holds for the peak
# over the whole run: VmHWM of the server, and of the child serving the client if any, until
# the client is done. While the client stalls the reads are still small; a buffer too large
# fills only once it reads.
conf_slow_reader() {
	local serial=${1:-} lg=$BATS_TEST_TMPDIR/slow.out bound before
	bound=${CONF_SLOW_READER_KB[$(server_key)]:-$CONF_SLOW_READER_KB_DEFAULT}
	[[ ${SANITIZE:-0} == 0 ]] || bound=$((bound * 4))
	start_server "$LAB"
	snapshot
	tcp_echo "$PORT" warm-up
	before=$(rss_kb "$SERVER_PID")
	bg "$LOADGEN" -q -p "$PORT" -t "$WAIT" -b 8M slow >"$lg"
	wait_for "$WAIT" grep -q '^slow paused' "$lg"
	PEAK_KB=$(peak_rss_kb "$SERVER_PID")
	echo "# RSS $before kB before, a peak of $PEAK_KB kB with the slow reader stalled" >&3
	[[ -n $serial ]] || tcp_echo "$PORT" "served meanwhile"
	kill -USR1 "$BG_PID"
	wait_for "$WAIT" peak_until_gone "$BG_PID"
	wait "$BG_PID" || { cat "$lg" >&2; return 1; }
	echo "# a peak of $PEAK_KB kB over the run: $((PEAK_KB - before)) kB more" >&3
	((PEAK_KB - before < bound)) ||
		{ echo "# RSS grew from $before to $PEAK_KB kB, more than $bound kB" >&2; return 1; }
	[[ $(result_field bytes "$(cat "$lg")") -eq 8388608 ]]
	assert_baseline
}
# peak_until_gone PID: PID has exited; meanwhile PEAK_KB follows the server's peak RSS.
peak_until_gone() {
	local kb
	kb=$(peak_rss_kb "$SERVER_PID")
	((kb > PEAK_KB)) && PEAK_KB=$kb
	! kill -0 "$1" 2>/dev/null
}

# A client half-closes with echo still pending, then resets. The server's socket is in
# CLOSE_WAIT, so its next write fails with EPIPE: a server that did not ignore SIGPIPE dies
# of it (exit 141). This one logs the close and serves on.
conf_sigpipe() {
	local lg=$BATS_TEST_TMPDIR/abort.out
	start_server "$LAB"
	snapshot
	bg "$LOADGEN" -q -p "$PORT" -t "$WAIT" abort >"$lg"
	wait_for "$WAIT" grep -q '^abort shut' "$lg"
	wait_for "$WAIT" close_wait_with_echo_pending "$PORT"
	kill -USR1 "$BG_PID"
	wait "$BG_PID" || { cat "$lg" >&2; return 1; }
	wait_for "$WAIT" grep -q 'closed' "$SERVER_ERR"
	kill -0 "$SERVER_PID" || { echo "# the server died" >&2; return 1; }
	tcp_echo "$PORT" "still serving"
	assert_baseline
}

# --- the connection cap, arguments, errors ----------------------------------------------------

# Past -m connections, a new one is accepted and closed at once, with a log line; the lab's
# client turned away says so in one line and exits 1, whether it had input or not.
conf_max_conns() {
	local lg=$BATS_TEST_TMPDIR/hold.out
	start_server "$LAB" -m 3
	snapshot
	bg "$LOADGEN" -q -p "$PORT" -t "$WAIT" -c 5 hold >"$lg"
	wait_for "$WAIT" grep -q '^hold ' "$lg"
	grep -q '^hold held=3 refused=2$' "$lg" || { cat "$lg" >&2; return 1; }
	[[ $(grep -c 'refused.*-m 3' "$SERVER_ERR") -eq 2 ]]
	run --separate-stderr client -p "$PORT" </dev/null
	[[ $status -eq 1 && $stderr == *"closed the connection at once: it may be full (-m)"* ]] ||
		{ echo "# empty input, turned away: exit $status, '$stderr'" >&2; return 1; }
	run --separate-stderr client -p "$PORT" <"$RANDOM_1M"
	[[ $status -eq 1 && $stderr =~ $(turned_away_words) ]] ||
		{ echo "# 1 MiB input, turned away: exit $status, '$stderr'" >&2; return 1; }
	[[ $(grep -c 'refused.*-m 3' "$SERVER_ERR") -eq 4 ]]
	kill -USR1 "$BG_PID"
	wait "$BG_PID"
	# The server closes the three in its own time; only then is there room again.
	wait_for "$WAIT" closed_count_is 3
	tcp_echo "$PORT" "room again"
	assert_baseline
}
closed_count_is() { [[ $(grep -c 'closed' "$SERVER_ERR") -eq $1 ]]; }

# Bad arguments: exit 2 and the usage on stderr. -h: the usage on stdout, exit 0.
conf_bad_arguments() {
	local prog args long
	for prog in server client; do
		for args in "-p notaport" "-p 70000" "-p -1" "-p 80x" "-p +0" "-p -0" "-x" "-p" \
			"extra" "-H ''" "-H []"; do
			eval "run --separate-stderr deadline '$ROOT/$LAB/$prog' $args"
			[[ $status -eq 2 ]] || { echo "# $prog $args: exit $status" >&2; return 1; }
			[[ $stderr == *"usage: $prog"* ]] || { echo "# $prog $args: $stderr" >&2; return 1; }
		done
		run --separate-stderr deadline "$ROOT/$LAB/$prog" -p ' 0'
		[[ $status -eq 2 ]] || { echo "# $prog -p ' 0': exit $status" >&2; return 1; }
		# A huge -H is refused, and not copied whole into the message.
		long=$(printf 'h%.0s' $(seq 80000))
		run --separate-stderr deadline "$ROOT/$LAB/$prog" -H "$long"
		[[ $status -eq 2 && ${#stderr} -lt 2000 ]] ||
			{ echo "# $prog -H <80000 chars>: exit $status, ${#stderr} chars" >&2; return 1; }
		run --separate-stderr deadline "$ROOT/$LAB/$prog" -h
		[[ $status -eq 0 && $output == "usage: $prog"* && -z $stderr ]]
	done
	for args in "-m 0" "-m lots" "-m 99999999999" "-m +5" "-q -v" "-v -q" "-q -v extra"; do
		# shellcheck disable=SC2086
		run --separate-stderr deadline "$ROOT/$LAB/server" $args
		[[ $status -eq 2 ]] || { echo "# server $args: exit $status" >&2; return 1; }
	done
	run --separate-stderr deadline "$ROOT/$LAB/server" -m ' 5'
	[[ $status -eq 2 ]]
	run --separate-stderr deadline "$ROOT/$LAB/client" -p 0
	[[ $status -eq 2 ]]
}

# A port in use: exit 1 with one line naming host, port and reason; IPv6 addresses in
# brackets, the form -H takes back.
conf_port_in_use() {
	start_server "$LAB"
	run --separate-stderr deadline "$ROOT/$LAB/server" -p "$PORT"
	[[ $status -eq 1 ]]
	[[ $stderr == *"127.0.0.1:$PORT"*"Address already in use"* ]]
	[[ $(wc -l <<<"$stderr") -eq 1 ]]
	run --separate-stderr deadline "$ROOT/$LAB/server" -H 192.0.2.1 -p 0
	[[ $status -eq 1 && $stderr == *"192.0.2.1:0"*"Cannot assign requested address"* ]]
	run --separate-stderr deadline "$ROOT/$LAB/server" -H 2001:db8::1 -p 0
	[[ $status -eq 1 && $stderr == *"[2001:db8::1]:0"* ]] ||
		{ echo "# IPv6 message: '$stderr'" >&2; return 1; }
}

# The address a server prints can be given back to -H: "[::1]" as well as "::1".
conf_ipv6() {
	ipv6_loopback || skip "no IPv6 loopback here"
	start_server "$LAB" -H '[::1]'
	grep -q '^listening on \[::1\]:' "$SERVER_OUT"
	run bash -c "printf 'six\\n' | timeout $WAIT '$ROOT/$LAB/client' -q -H '[::1]' -p $PORT"
	[[ $status -eq 0 && $output == six ]] || { echo "# '$output' exit $status" >&2; return 1; }
	grep -q 'accepted \[::1\]:' "$SERVER_ERR"
}
ipv6_loopback() { [[ $(cat /proc/sys/net/ipv6/conf/lo/disable_ipv6 2>/dev/null) == 0 ]]; }

# The client: a refused connection and a server that goes away are one clear line, exit 1.
conf_client_errors() {
	local port fifo=$BATS_TEST_TMPDIR/in w
	start_server "$LAB"
	port=$PORT
	stop_server
	run --separate-stderr client -p "$port" </dev/null
	[[ $status -eq 1 && $stderr == *"127.0.0.1:$port"*"Connection refused"* ]]

	# Input arrives, is echoed, then the server stops before the input ends.
	start_server "$LAB"
	mkfifo "$fifo"
	# Not through bg(): the redirection from the fifo must happen in the child, where opening
	# it waits for a writer, not in this shell.
	deadline "$ROOT/$LAB/client" -q -p "$PORT" <"$fifo" >"$BATS_TEST_TMPDIR/out" \
		2>"$BATS_TEST_TMPDIR/err" 3>&- &
	BG_PID=$!
	BG_PIDS+=("$BG_PID")
	# Opened read-write (a write never fails for want of a reader), and only now, so the
	# client does not inherit a writer of its own stdin.
	exec {w}<>"$fifo"
	printf 'a\n' >&"$w"
	wait_for "$WAIT" grep -q a "$BATS_TEST_TMPDIR/out"
	wait_idle "$SERVER_PID"
	stop_server
	printf 'b\n' >&"$w"
	exec {w}>&-
	local st=0
	wait "$BG_PID" || st=$?
	[[ $st -eq 1 ]] || { echo "# client exit $st" >&2; return 1; }
	grep -q 'server closed the connection' "$BATS_TEST_TMPDIR/err" ||
		{ cat "$BATS_TEST_TMPDIR/err" >&2; return 1; }
}

# -v logs every readiness or completion event and every read and write with its byte count
# (CONF_VERBOSE_ECHO at the top says what that is for each lab); -q logs nothing but errors.
conf_verbosity() {
	local key fd
	key=$(server_key)
	[[ -n ${CONF_VERBOSE_ECHO[$key]:-} ]] ||
		{ echo "# CONF_VERBOSE_ECHO has no $key: what does its -v print?" >&2; return 1; }
	start_server "$LAB" -v
	tcp_echo "$PORT" "12345"
	wait_for "$WAIT" grep -q 'wrote 6 bytes' "$SERVER_ERR"
	fd=$(sed -n 's/.*accepted 127\.0\.0\.1:[0-9]* on fd \([0-9]*\)$/\1/p' "$SERVER_ERR")
	[[ -n $fd ]] || { cat "$SERVER_ERR" >&2; return 1; }
	log_in_order "$SERVER_ERR" "accepted 127[.]0[.]0[.]1:[0-9]+ on fd $fd\$" \
		"${CONF_VERBOSE_ECHO[$key]//fd F:/fd $fd:}"
	start_server "$LAB" -q
	tcp_echo "$PORT" "quiet"
	stop_server
	[[ ! -s $SERVER_ERR ]] || { cat "$SERVER_ERR" >&2; return 1; }
}

# log_in_order FILE PATTERNS...: FILE has a line matching each pattern (extended regular
# expressions, one a line in each argument), in that order, other lines between them allowed.
log_in_order() {
	local file=$1
	shift
	PATTERNS=$(printf '%s\n' "$@") awk '
	BEGIN { n = split(ENVIRON["PATTERNS"], p, "\n"); k = 1 }
	k <= n && $0 ~ p[k] { k++ }
	END {
		if (k <= n) {
			printf "# -v did not log /%s/ after /%s/:\n", p[k], p[k - 1] > "/dev/stderr"
			exit 1
		}
	}' "$file" || { cat "$file" >&2; return 1; }
}

# Started with descriptors 0, 1 or 2 closed, no program puts a socket there: the server's
# log would go to a client, the client would echo the server its own log or read its socket
# as input.
conf_std_fds_closed() {
	local fd line
	start_server_with "$LAB" '<&- 2>&-'
	[[ $(readlink /proc/"$SERVER_PID"/fd/0) == /dev/null ]] ||
		{ ls -l /proc/"$SERVER_PID"/fd >&2; return 1; }
	exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
	printf 'zero\n' >&"$fd"
	IFS= read -r -t "$WAIT" line <&"$fd"
	[[ $line == zero ]]
	[[ $(readlink /proc/"$SERVER_PID"/fd/2) == /dev/null ]] ||
		{ ls -l /proc/"$SERVER_PID"/fd >&2; return 1; }
	exec {fd}>&-

	# The client, each of the three closed in turn.
	run bash -c "printf 'two\\n' | timeout $WAIT '$ROOT/$LAB/client' -p $PORT 2>&-"
	[[ $status -eq 0 && $output == two ]] || { echo "# 2>&-: '$output' $status" >&2; return 1; }
	run bash -c "timeout $WAIT '$ROOT/$LAB/client' -q -p $PORT <&-"
	[[ $status -eq 0 && -z $output ]] || { echo "# <&-: '$output' $status" >&2; return 1; }
	run bash -c "timeout $WAIT '$ROOT/$LAB/client' -q -p $PORT <'$RANDOM_1M' >&-"
	[[ $status -eq 0 ]] || { echo "# >&-: exit $status" >&2; return 1; }
	stop_server
	[[ $SERVER_STATUS -eq 0 ]]
	# The >&- client's 1 MiB came back to it once, not looped through the server again.
	grep -Eq "echoed 104[0-9]{4} bytes" "$SERVER_OUT" || { cat "$SERVER_OUT" >&2; return 1; }
}

# "listening on" is a promise: a client that connects the moment it appears is accepted. So
# the line comes after listen(), in the system call order strace records.
conf_listen_before_announce() {
	local t=$BATS_TEST_TMPDIR/trace listen_line announce_line pid
	command -v strace >/dev/null || skip "strace is not installed"
	(close_fds; exec strace -f -o "$t" -e trace=listen,write "$ROOT/$LAB/server" -p 0 -q) \
		>"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" </dev/null &
	BG_PIDS+=($!)
	wait_for "$WAIT" grep -q '^listening on ' "$BATS_TEST_TMPDIR/out"
	pid=$(cat /proc/"${BG_PIDS[-1]}"/task/*/children)
	kill -TERM "$pid"
	# Not its exit status: LeakSanitizer, in the sanitizer build, refuses to run under ptrace.
	wait "${BG_PIDS[-1]}" || true
	listen_line=$(grep -n 'listen(' "$t" | head -1 | cut -d: -f1)
	announce_line=$(grep -n 'write(1, "listening on' "$t" | head -1 | cut -d: -f1)
	[[ -n $listen_line && -n $announce_line ]] || { cat "$t" >&2; return 1; }
	((listen_line < announce_line)) || { cat "$t" >&2; return 1; }
}

# --- stopping ------------------------------------------------------------------------------

# SIGTERM with a client connected: the client is let go, exit 0, one summary line. SIGINT too.
conf_sigterm() {
	local fd rest
	start_server "$LAB"
	tcp_echo "$PORT" "one"
	# The first connection is closed before the second opens: exactly one at a time.
	wait_for "$WAIT" grep -q 'closed' "$SERVER_ERR"
	exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
	printf 'two\n' >&"$fd"
	IFS= read -r -t "$WAIT" rest <&"$fd"
	[[ $rest == two ]]
	wait_idle "$SERVER_PID"
	stop_server
	[[ $SERVER_STATUS -eq 0 ]] || { cat "$SERVER_ERR" >&2; return 1; }
	# The connected client sees the server close it.
	run -1 read -r -t "$WAIT" rest <&"$fd"
	exec {fd}>&-
	assert_summary 2 8 1
	[[ $(grep -c '^summary:' "$SERVER_OUT") -eq 1 ]]

	# SIGINT (Ctrl-C) stops it the same way.
	start_server "$LAB"
	tcp_echo "$PORT" "three"
	wait_idle "$SERVER_PID"
	stop_server "$SERVER_PID" INT
	[[ $SERVER_STATUS -eq 0 ]]
	assert_summary 1 6 1
}

# One SIGTERM while 8 clients stream without pause: the server stops at once, busy or not.
# The load is the lab's own client copying /dev/zero: it keeps every socket busy in both
# directions, so a wait never finds nothing ready (which is when a signal blocked outside the
# wait gets delivered: 03-select's pselect() with a mask never stopped under this load). The
# clients would stream far longer than the wait, so a server that only notices the signal
# once traffic stops fails here. ("serial": the lab serves one of them at a time.)
conf_sigterm_streaming() {
	local serial=${1:-} i
	start_server "$LAB"
	for i in 1 2 3 4 5 6 7 8; do
		bg timeout -k 5 $((WAIT * 4)) "$ROOT/$LAB/client" -q -p "$PORT" </dev/zero >/dev/null
	done
	wait_for "$WAIT" accepted_at_least "$([[ -n $serial ]] && echo 1 || echo 8)"
	wait_for "$WAIT" received_at_least "$PORT" $((32 * 1024 * 1024))
	stop_server
	[[ $SERVER_STATUS -eq 0 ]] || { cat "$SERVER_ERR" >&2; return 1; }
	grep -Eq '^summary: served [0-9]+ connections?, echoed [1-9][0-9]* bytes' "$SERVER_OUT" ||
		{ cat "$SERVER_OUT" >&2; return 1; }
}
accepted_at_least() { (($(grep -c 'accepted' "$SERVER_ERR") >= $1)); }

# One SIGTERM while a client sends without reading: however the lab waits for that client
# (a blocked write, or a write interest), it stops and exits 0. The client outlives the wait
# for the stop by far: a server still stuck in its write when the client's own time limit
# ends it would otherwise be let go by the client, and pass.
conf_sigterm_stalled_writer() {
	local lg=$BATS_TEST_TMPDIR/slow.out
	start_server "$LAB"
	bg "$LOADGEN" -q -p "$PORT" -t $((WAIT * 4)) -b 8M slow >"$lg"
	wait_for "$WAIT" grep -q '^slow paused' "$lg"
	stop_server
	[[ $SERVER_STATUS -eq 0 ]] || { cat "$SERVER_ERR" >&2; return 1; }
	grep -q '^summary: ' "$SERVER_OUT"
}

# -v with stderr a pipe that nobody reads: the pipe fills (64 KiB), and a log write that waited
# for room would wait for ever, the echo and the stop with it. Every echo must still complete
# (loadgen: 2 clients x 4000 messages, hundreds of KiB of log lines), SIGTERM must still stop
# the server, and the summary must count the lines it dropped. The pipe is a FIFO whose only
# reader is a sleep that holds it open and never reads.
conf_log_unread() {
	local fifo=$BATS_TEST_TMPDIR/log.fifo want
	mkfifo "$fifo"
	bg sleep $((WAIT * 10)) <>"$fifo"
	start_server_with "$LAB" "2>$(printf %q "$fifo")" -v
	run loadgen echo -c 2 -n 4000 -s 64
	[[ $status -eq 0 && $(result_field ok "$output") -eq 2 ]] ||
		{ echo "# $output"$'\n'"# the server's tasks sleep in: $(sleeping_in)" >&2; return 1; }
	stop_server
	[[ $SERVER_STATUS -eq 0 ]] || { echo "# exit status $SERVER_STATUS" >&2; return 1; }
	want="^summary: served 2 connections, echoed $((2 * 4000 * 64)) bytes, peak [0-9]+ concurrent"
	want+=", [1-9][0-9]* log lines? dropped\$"
	grep -Eq "$want" "$SERVER_OUT" ||
		{ echo "# want /$want/, got:" >&2; cat "$SERVER_OUT" >&2; return 1; }
}

# sleeping_in: the kernel function each task of the server and of its children sleeps in
# (proc(5) wchan): "anon_pipe_write" or "pipe_write", by kernel version, is a log write waiting.
sleeping_in() {
	local pid w
	for pid in "$SERVER_PID" $(cat /proc/"$SERVER_PID"/task/*/children 2>/dev/null); do
		for w in /proc/"$pid"/task/*/wchan; do
			printf '%s ' "$(cat "$w" 2>/dev/null)"
		done
	done
}

# --- faults: short writes, spurious EAGAIN, awkward servers ----------------------------------

# The server with every socket write cut to a few bytes and now and then EAGAIN on a
# non-blocking read or write (tests/tools/shortio.so). Every byte still comes back, and the
# summary counts exactly the bytes written back, not those merely read. ("blocking": the lab's
# sockets are blocking, where EAGAIN cannot happen; only short writes are injected.)
conf_short_io_server() {
	local mode=${1:-} log=$BATS_TEST_TMPDIR/shortio.log
	SERVER_PRELOAD=$TOOLS/shortio.so SHORTIO_LOG=$log start_server "$LAB"
	tcp_echo "$PORT" "hello"
	run loadgen echo -c 10 -n 20 -s 1000
	[[ $status -eq 0 ]] || { echo "$output" >&2; return 1; }
	run loadgen halfclose -b 256K
	[[ $status -eq 0 ]] || { echo "$output" >&2; return 1; }
	client -q -p "$PORT" <"$RANDOM_1M" >"$BATS_TEST_TMPDIR/out"
	cmp "$RANDOM_1M" "$BATS_TEST_TMPDIR/out"
	stop_server
	[[ $SERVER_STATUS -eq 0 ]]
	assert_summary 13 $((6 + 10 * 20 * 1000 + 262144 + 1048576)) ''
	assert_faults "$log" "$mode"
}

# The lab's client with the same faults, against the lab's server: byte-exact.
conf_short_io_client() {
	local mode=${1:-} log=$BATS_TEST_TMPDIR/shortio.log
	start_server "$LAB"
	LD_PRELOAD=$TOOLS/shortio.so SHORTIO_LOG=$log ASAN_OPTIONS=$(asan_options) \
		client -q -p "$PORT" <"$RANDOM_1M" >"$BATS_TEST_TMPDIR/out"
	cmp "$RANDOM_1M" "$BATS_TEST_TMPDIR/out"
	assert_faults "$log" "$mode"
}

# The lab's client against tests/tools/trickle, which echoes in small pieces at its own pace:
# a client that expects the echo in the pieces it sent, or all at once, fails here.
conf_client_trickle() {
	local input=$BATS_TEST_TMPDIR/in
	head -c 200000 "$RANDOM_1M" >"$input"
	start_trickle -k 700 -u 300
	client -q -p "$PORT" <"$input" >"$BATS_TEST_TMPDIR/out"
	cmp "$input" "$BATS_TEST_TMPDIR/out"
	set -o pipefail
	cat "$input" | client -q -p "$PORT" | cmp - "$input"
	run bash -c "printf 'hi\\n' | timeout $WAIT '$ROOT/$LAB/client' -q -p $PORT"
	[[ $status -eq 0 && $output == hi ]]
}

# The reader of the client's output leaves early (`client <file | head -c 10`): the client
# ignores SIGPIPE, so its next write to stdout fails with EPIPE instead of killing it, and it
# says so on stderr and exits 1 (a client killed by SIGPIPE exits 141 without a word).
conf_client_reader_gone() {
	local err=$BATS_TEST_TMPDIR/client.err st
	start_server "$LAB"
	client -p "$PORT" <"$RANDOM_1M" 2>"$err" | head -c 10 >/dev/null
	st=${PIPESTATUS[0]}
	[[ $st -eq 1 && $(<"$err") == *"stdout"* ]] ||
		{ echo "# exit $st, '$(<"$err")'" >&2; return 1; }
}

# A server that echoes 100 bytes and closes: the client writes those 100 bytes out, then
# says what happened and exits 1.
conf_client_early_close() {
	start_trickle -c 100
	run --separate-stderr client -p "$PORT" <"$RANDOM_1M"
	[[ $status -eq 1 ]] || { echo "# exit $status" >&2; return 1; }
	[[ $output == "$(head -c 100 "$RANDOM_1M")" ]] ||
		{ echo "# wrote ${#output} bytes, not the 100 that came back" >&2; return 1; }
	[[ $stderr == *"server closed the connection"* || $stderr == *"server reset the connection"* ]] ||
		{ echo "# '$stderr'" >&2; return 1; }
}

# stdout read slowly: 300 kB through the client into a reader that takes 4 KiB at a time, one
# read every 2 ms or so. The echo comes faster than it is read, so when the server's EOF
# arrives the client still holds echo it has not written out: a client that stopped at that
# EOF would lose it (a planted bug that passed every other case). Byte-exact.
conf_client_slow_stdout() {
	local input=$BATS_TEST_TMPDIR/in out=$BATS_TEST_TMPDIR/out
	head -c 300000 "$RANDOM_1M" >"$input"
	start_server "$LAB"
	set -o pipefail
	client -q -p "$PORT" <"$input" | slow_reader "$out"
	cmp "$input" "$out"
}

# A server that reads nothing and resets once the client's first bytes have arrived
# (tests/tools/trickle -n; the attack's server waited 8 s): the client says that none of the
# bytes it sent came back, and counts them. "At once" would be wrong: bytes had gone out
# before the reset, which may have come a microsecond or a minute later. Exit 1.
conf_client_reset_unread() {
	local want='the server reset the connection \(.*\) without echoing any of the [1-9][0-9]* bytes sent'
	start_trickle -n
	run --separate-stderr client -p "$PORT" <"$RANDOM_1M"
	[[ $status -eq 1 && -z $output && $stderr =~ $want && $stderr != *"at once"* ]] ||
		{ echo "# exit $status, ${#output} bytes out, '$stderr'" >&2; return 1; }
}

# A server that sends 300,000 bytes nobody asked for, then echoes (trickle -e): the client
# writes out every byte that came, and says it got more than it sent, not that it "echoed
# 300019 of 19 bytes". Exit 1.
conf_client_more_than_echo() {
	local input=$BATS_TEST_TMPDIR/in out=$BATS_TEST_TMPDIR/out err=$BATS_TEST_TMPDIR/err st=0
	printf 'more than an echo?\n' >"$input"
	start_trickle -e 300000 -k 16384 -u 0
	client -p "$PORT" <"$input" >"$out" 2>"$err" || st=$?
	[[ $st -eq 1 && $(stat -c %s "$out") -eq 300019 &&
		$(<"$err") == *"after sending 300019 bytes for the 19 sent: more than an echo"* ]] ||
		{ echo "# exit $st, $(stat -c %s "$out") bytes out, '$(<"$err")'" >&2; return 1; }
}

# A server that turns every client away at once (a reset, as a full server does): one clear
# line and exit 1, whatever the client had to send. With nothing to send, the client says the
# server closed the connection at once; with 1 MiB, its first bytes may have gone out before
# the reset came, and then it says that none of them came back (turned_away_words). Then a
# server that closes at once with a FIN, as some do, while the user has typed nothing yet
# (stdin a FIFO held open, empty): the client learns that the connection ended before its
# input did, says it closed at once, and exits without waiting for input that no longer has
# anywhere to go. ("blocking": a client asleep in read() on stdin cannot learn it before the
# user types the next line; the line is typed, sent, and not echoed.)
conf_client_turned_away() {
	local blocking=${1:-} typing=$BATS_TEST_TMPDIR/typing
	local sent='closed the connection before the end of input, without echoing any of the 35 bytes'
	start_trickle -a
	run --separate-stderr client -p "$PORT" </dev/null
	[[ $status -eq 1 && $stderr == *"closed the connection at once: it may be full (-m)"* ]] ||
		{ echo "# empty input: exit $status, '$stderr'" >&2; return 1; }
	run --separate-stderr client -p "$PORT" <"$RANDOM_1M"
	[[ $status -eq 1 && $stderr =~ $(turned_away_words) ]] ||
		{ echo "# 1 MiB input: exit $status, '$stderr'" >&2; return 1; }
	start_trickle -c 0
	mkfifo "$typing"
	exec 5<>"$typing"
	if [[ -n $blocking ]]; then
		echo "a line typed after the server left" >&5
	fi
	run --separate-stderr client -p "$PORT" <"$typing"
	exec 5>&-
	if [[ -n $blocking ]]; then
		[[ $status -eq 1 && $stderr == *"$sent sent: it may be full (-m)"* ]]
	else
		[[ $status -eq 1 && $stderr == *"closed the connection at once: it may be full (-m)"* ]]
	fi || { echo "# input not ended, FIN at once: exit $status, '$stderr'" >&2; return 1; }
}

# turned_away_words: what a client turned away says, as a regular expression: the server
# closed at once (the reset came before the client sent anything), or reset the connection
# with none of the bytes sent echoed.
turned_away_words() {
	printf '%s' 'the server (closed the connection at once|reset the connection \(.*\) without '
	printf '%s' 'echoing any of the [1-9][0-9]* bytes sent): it may be full \(-m\)'
}

# --- what a readiness loop owes ----------------------------------------------------------------

# One small message echoed costs one wait, one read and one write: the echo is written in the
# same pass as its read. WAITCALL is the lab's wait (pselect6, poll, epoll_wait...), READS how
# many reads a message may cost (2 for a loop that reads until EAGAIN).
conf_one_wait_per_echo() {
	local waitcall=$1 reads=${2:-1} t=$BATS_TEST_TMPDIR/strace n=300 waits nread nwrite
	command -v strace >/dev/null || skip "strace is not installed"
	start_server "$LAB" -q
	strace_attach "$SERVER_PID" "$t"
	run loadgen echo -c 1 -n "$n" -s 64
	[[ $status -eq 0 ]] || { echo "$output" >&2; return 1; }
	strace_detach
	waits=$(syscall_count "$t" "$waitcall")
	nread=$(syscall_count "$t" read recvfrom recvmsg)
	nwrite=$(syscall_count "$t" write sendto sendmsg)
	echo "# $n messages: $waits $waitcall, $nread reads, $nwrite writes" >&3
	# A few more than n: the accept, the EOF, the last wait.
	((waits <= n + 5)) || { echo "# $waits waits for $n messages" >&2; return 1; }
	((nread <= reads * n + 5)) || { echo "# $nread reads for $n messages" >&2; return 1; }
	((nwrite <= n + 5)) || { echo "# $nwrite writes for $n messages" >&2; return 1; }
	((waits >= n && nread >= n && nwrite >= n)) || { cat "$t" >&2; return 1; }
}

# Every accepted connection has TCP_NODELAY: net_listen() sets it on the listening socket, and
# Linux copies it to each socket accepted from it. An echo then goes out whole, at once, not held
# back by Nagle's algorithm until the client acknowledges what went before (common/net.h:
# without it 05 and 06 streamed at a quarter to a third of the reference's rate). Asked of the
# server's own socket (tests/tools/nodelay), the one its log names, in the process that holds
# it: 09's child.
conf_nodelay() {
	local lg=$BATS_TEST_TMPDIR/nodelay.hold fd pid child
	start_server "$LAB"
	bg "$LOADGEN" -q -p "$PORT" -t $((WAIT * 2)) -c 1 hold >"$lg"
	wait_for "$WAIT" grep -q '^hold held=1 refused=0$' "$lg"
	fd=$(sed -n 's/.*: accepted .* on fd \([0-9][0-9]*\)$/\1/p' "$SERVER_ERR" | tail -n 1)
	[[ -n $fd ]] || { cat "$SERVER_ERR" >&2; return 1; }
	pid=$SERVER_PID
	for child in $(cat /proc/"$SERVER_PID"/task/*/children 2>/dev/null); do pid=$child; done
	run "$TOOLS/nodelay" "$pid" "$fd"
	echo "# fd $fd of process $pid: $output" >&3
	[[ $status -eq 0 && $output == nodelay=1 ]]
	kill -USR1 "$BG_PID"
	wait "$BG_PID"
}

# An idle connection costs a small struct: N idle connections add under 1 KiB of RSS each.
conf_idle_memory() {
	local n=${1:-2000} lg=$BATS_TEST_TMPDIR/hold.out before after
	SERVER_NOFILE=$((n + 64)) start_server "$LAB" -m $((n + 10))
	tcp_echo "$PORT" warm-up
	wait_for "$WAIT" grep -q 'closed' "$SERVER_ERR"
	before=$(rss_kb "$SERVER_PID")
	bg "$LOADGEN" -q -p "$PORT" -t $((WAIT * 2)) -c "$n" hold >"$lg"
	wait_for "$WAIT" grep -q '^hold ' "$lg"
	grep -q "^hold held=$n refused=0$" "$lg" || { cat "$lg" >&2; return 1; }
	after=$(rss_kb "$SERVER_PID")
	echo "# RSS $before kB, $after kB with $n idle connections:" \
		"$(((after - before) * 1024 / n)) bytes each" >&3
	(((after - before) * 1024 < n * 1024)) ||
		{ echo "# $(((after - before) * 1024 / n)) bytes per idle connection" >&2; return 1; }
	kill -USR1 "$BG_PID"
	wait "$BG_PID"
}

# --- helpers of these cases ---------------------------------------------------------------------

# assert_summary SERVED BYTES PEAK: the one summary line, exactly (PEAK '' for any).
assert_summary() {
	local want="^summary: served $1 connections?, echoed $2 bytes?, peak ${3:-[0-9]+} concurrent\$"
	grep -Eq "$want" "$SERVER_OUT" ||
		{ echo "# want /$want/, got:" >&2; cat "$SERVER_OUT" >&2; return 1; }
}

# assert_faults LOG [blocking]: the shim cut writes short, and (unless the sockets are
# blocking) injected EAGAIN too; otherwise the case proved nothing.
assert_faults() {
	local short eagain
	[[ -s $1 ]] || { echo "# no fault log: was the shim loaded?" >&2; return 1; }
	short=$(awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^short_writes=/) n += substr($i, 14) }
		END { print n + 0 }' "$1")
	eagain=$(awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^eagain_(writes|reads)=/)
		n += substr($i, index($i, "=") + 1) } END { print n + 0 }' "$1")
	echo "# injected $short short writes, $eagain EAGAIN" >&3
	((short > 0)) || return 1
	[[ $2 == blocking ]] || ((eagain > 0))
}

# start_trickle ARGS...: tests/tools/trickle on a free port; sets PORT.
start_trickle() {
	local out=$BATS_TEST_TMPDIR/trickle.out
	"$TOOLS/trickle" -q -p 0 "$@" >"$out" 2>"$BATS_TEST_TMPDIR/trickle.err" </dev/null 3>&- &
	BG_PIDS+=($!)
	wait_for "$WAIT" listening_or_dead "$!" "$out"
	PORT=$(sed -n 's/^listening on .*:\([0-9][0-9]*\)$/\1/p' "$out")
	[[ -n $PORT ]] || { cat "$out" "$BATS_TEST_TMPDIR/trickle.err" >&2; return 1; }
}

# slow_reader FILE: copy stdin to FILE 4 KiB at a time, with a pause of 2 ms or so (and a dd)
# after each read: a reader of the client's stdout far slower than the echo over loopback.
slow_reader() {
	local st
	: >"$1"
	while st=$(LC_ALL=C dd bs=4096 count=1 status=noxfer 2>&1 >>"$1") &&
		[[ $st != "0+0 records in"* ]]; do
		sleep 0.002
	done
}

# close_wait_with_echo_pending PORT: a connection to PORT that the client has half-closed
# (CLOSE_WAIT on the server's side) while the server still has bytes queued to send it.
close_wait_with_echo_pending() {
	ss -Htn state close-wait "( sport = :$1 )" | awk '$2 > 0 { found = 1 } END { exit !found }'
}

# received_at_least PORT BYTES: the server's connections on PORT have received that much
# (tcp_info's bytes_received, summed): traffic flows, whatever the lab's model.
received_at_least() { (($(bytes_received "$1") >= $2)); }
bytes_received() {
	ss -Htin "( sport = :$1 )" | grep -o 'bytes_received:[0-9]*' |
		awk -F: '{ n += $2 } END { print n + 0 }'
}
# A stream that stopped flowing will not reach the count: say so once it stood still.
progress_received_at_least() { echo "$(bytes_received "$1") bytes received"; }

# strace_attach PID FILE [OPTION...]: count PID's system calls (all threads) into FILE until
# strace_detach, or with OPTIONs (-e trace=...), trace them instead; returns once strace is
# attached.
strace_attach() {
	local pid=$1 file=$2
	shift 2
	(($#)) || set -- -c
	strace -f "$@" -o "$file" -p "$pid" 2>"$file.err" 3>&- &
	STRACE_PID=$!
	BG_PIDS+=("$STRACE_PID")
	wait_for "$WAIT" grep -q 'attached' "$file.err"
}
strace_detach() {
	kill -INT "$STRACE_PID"
	wait "$STRACE_PID" || true
}

# calls_between_accepts FILE NAMES: in an strace -f trace, the calls of NAMES (comma-separated)
# made between the first and the last accept that returned a descriptor.
calls_between_accepts() {
	awk -v names=",$2," '
		{
			resumed = $2 ~ /^<\.\.\./
			name = resumed ? $3 : $2
			sub(/\(.*/, "", name)
			finished = $0 !~ /<unfinished \.\.\.>$/
		}
		!resumed && index(names, "," name ",") { n++ }
		finished && (name == "accept" || name == "accept4") && / = [0-9]+$/ {
			if (!seen) { first = n; seen = 1 }
			last = n
		}
		END { print last - first }' "$1"
}

# syscall_count FILE NAME...: calls of those names in strace -c's table.
syscall_count() {
	local file=$1
	shift
	# Columns: % time, seconds, usecs/call, calls, [errors,] syscall.
	awk -v names=" $* " 'index(names, " " $NF " ") && $4 ~ /^[0-9]+$/ { n += $4 }
		END { print n + 0 }' "$file"
}
