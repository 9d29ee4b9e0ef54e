# tests/helpers/conformance.bash - the cases every lab must pass (DESIGN.md, "Tests").
#
# A lab's test file sets LAB, loads this file and calls each case from an @test of its own,
# so `bats tests/03-select.bats` lists them by name. Every case starts its own server.

bats_require_minimum_version 1.5.0
load helpers/iomodels

conformance_setup_file() {
	build_all
	export RANDOM_10M=$BATS_FILE_TMPDIR/random-10m
	random_file "$RANDOM_10M" $((10 * 1024 * 1024))
}

conformance_teardown() {
	stop_all
}

# A line, and binary bytes (NUL, 0xff, a lone CR), through bash's /dev/tcp.
conf_devtcp_echo() {
	local fd got
	start_server "$LAB"
	tcp_echo "$PORT" "hello, iomodels"

	exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
	printf '\000\001\377\r\200x' >&"$fd"
	got=$(head -c 6 <&"$fd" | od -An -tx1 | tr -d ' \n')
	exec {fd}>&-
	[[ $got == 0001ff0d8078 ]] || { echo "# binary echo: got '$got'" >&2; return 1; }
}

# The lab's client: 10 MiB of random bytes from a regular file, byte-exact.
conf_client_file() {
	start_server "$LAB"
	"$ROOT/$LAB/client" -q -p "$PORT" <"$RANDOM_10M" >"$BATS_TEST_TMPDIR/out"
	cmp "$RANDOM_10M" "$BATS_TEST_TMPDIR/out"
}

# The same through a pipe, which delivers the input in pieces of any size. pipefail: the
# client's exit status counts as much as what it printed.
conf_client_pipe() {
	set -o pipefail
	start_server "$LAB"
	cat "$RANDOM_10M" | "$ROOT/$LAB/client" -q -p "$PORT" | cmp - "$RANDOM_10M"
}

# The client with no input at all, and a short line as a person would type it.
conf_client_small() {
	start_server "$LAB"
	run "$ROOT/$LAB/client" -q -p "$PORT" </dev/null
	[[ $status -eq 0 && -z $output ]]
	run bash -c "printf 'hi\\n' | '$ROOT/$LAB/client' -q -p $PORT"
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
		"$ROOT/$LAB/client" -q -p "$PORT" <"$BATS_TEST_TMPDIR/in$i" \
			>"$BATS_TEST_TMPDIR/out$i" 3>&- &
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
# client reads, all 8 MiB come back intact.
conf_slow_reader() {
	local serial=${1:-} rss_before rss_paused lg
	start_server "$LAB"
	snapshot
	tcp_echo "$PORT" warm-up
	rss_before=$(rss_kb "$SERVER_PID")
	lg=$BATS_TEST_TMPDIR/slow.out
	bg "$LOADGEN" -q -p "$PORT" -t "$WAIT" -b 8M slow >"$lg"
	wait_for "$WAIT" grep -q '^slow paused' "$lg"
	rss_paused=$(rss_kb "$SERVER_PID")
	echo "# RSS ${rss_before} kB before, ${rss_paused} kB with the slow reader stalled" >&3
	((rss_paused - rss_before < 2048)) ||
		{ echo "# RSS grew from $rss_before to $rss_paused kB" >&2; return 1; }
	[[ -n $serial ]] || tcp_echo "$PORT" "served meanwhile"
	kill -USR1 "$BG_PID"
	wait "$BG_PID" || { cat "$lg" >&2; return 1; }
	[[ $(result_field bytes "$(cat "$lg")") -eq 8388608 ]]
	assert_baseline
}

# Past -m connections, a new one is accepted and closed at once, with a log line.
conf_max_conns() {
	local lg=$BATS_TEST_TMPDIR/hold.out
	start_server "$LAB" -m 3
	snapshot
	bg "$LOADGEN" -q -p "$PORT" -t "$WAIT" -c 5 hold >"$lg"
	wait_for "$WAIT" grep -q '^hold ' "$lg"
	grep -q '^hold held=3 refused=2$' "$lg" || { cat "$lg" >&2; return 1; }
	[[ $(grep -c 'refused.*-m 3' "$SERVER_ERR") -eq 2 ]]
	kill -USR1 "$BG_PID"
	wait "$BG_PID"
	tcp_echo "$PORT" "room again"
	assert_baseline
}

# Bad arguments: exit 2 and the usage on stderr. -h: the usage on stdout, exit 0.
conf_bad_arguments() {
	local prog args
	for prog in server client; do
		for args in "-p notaport" "-p 70000" "-p -1" "-p 80x" "-x" "-p" "extra"; do
			# shellcheck disable=SC2086
			run --separate-stderr "$ROOT/$LAB/$prog" $args
			[[ $status -eq 2 ]] || { echo "# $prog $args: exit $status" >&2; return 1; }
			[[ $stderr == *"usage: $prog"* ]] || { echo "# $prog $args: $stderr" >&2; return 1; }
		done
		run --separate-stderr "$ROOT/$LAB/$prog" -h
		[[ $status -eq 0 && $output == "usage: $prog"* && -z $stderr ]]
	done
	for args in "-m 0" "-m lots" "-m 99999999999" "-q -v extra"; do
		# shellcheck disable=SC2086
		run --separate-stderr "$ROOT/$LAB/server" $args
		[[ $status -eq 2 ]] || { echo "# server $args: exit $status" >&2; return 1; }
	done
	run --separate-stderr "$ROOT/$LAB/client" -p 0
	[[ $status -eq 2 ]]
}

# A port in use: exit 1 with one line naming host, port and reason.
conf_port_in_use() {
	start_server "$LAB"
	run --separate-stderr "$ROOT/$LAB/server" -p "$PORT"
	[[ $status -eq 1 ]]
	[[ $stderr == *"127.0.0.1:$PORT"*"Address already in use"* ]]
	[[ $(wc -l <<<"$stderr") -eq 1 ]]
	run --separate-stderr "$ROOT/$LAB/server" -H 192.0.2.1 -p 0
	[[ $status -eq 1 && $stderr == *"192.0.2.1:0"*"Cannot assign requested address"* ]]
}

# SIGTERM with a client connected: the client is let go, exit 0, one summary line. SIGINT too.
conf_sigterm() {
	local fd rest
	start_server "$LAB"
	tcp_echo "$PORT" "one"
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
	grep -q '^summary: served 2 connections, echoed 8 bytes, peak [12] concurrent$' \
		"$SERVER_OUT" || { cat "$SERVER_OUT" >&2; return 1; }
	[[ $(grep -c '^summary:' "$SERVER_OUT") -eq 1 ]]

	# SIGINT (Ctrl-C) stops it the same way.
	start_server "$LAB"
	tcp_echo "$PORT" "three"
	wait_idle "$SERVER_PID"
	stop_server "$SERVER_PID" INT
	[[ $SERVER_STATUS -eq 0 ]]
	grep -q '^summary: served 1 connections, echoed 6 bytes, peak 1 concurrent$' "$SERVER_OUT"
}

# The client: a refused connection and a server that goes away are one clear line, exit 1.
conf_client_errors() {
	local port fifo=$BATS_TEST_TMPDIR/in w
	start_server "$LAB"
	port=$PORT
	stop_server
	run --separate-stderr "$ROOT/$LAB/client" -p "$port" </dev/null
	[[ $status -eq 1 && $stderr == *"127.0.0.1:$port"*"Connection refused"* ]]

	# Input arrives, is echoed, then the server stops before the input ends.
	start_server "$LAB"
	mkfifo "$fifo"
	# Not through bg(): the redirection from the fifo must happen in the child, where opening
	# it waits for a writer, not in this shell.
	"$ROOT/$LAB/client" -q -p "$PORT" <"$fifo" >"$BATS_TEST_TMPDIR/out" \
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

# -v logs every read and write with its byte count; -q logs nothing but errors.
conf_verbosity() {
	start_server "$LAB" -v
	tcp_echo "$PORT" "12345"
	wait_for "$WAIT" grep -q 'wrote 6 bytes' "$SERVER_ERR"
	grep -q 'read 6 bytes' "$SERVER_ERR"
	grep -q 'accepted 127.0.0.1:' "$SERVER_ERR"
	start_server "$LAB" -q
	tcp_echo "$PORT" "quiet"
	stop_server
	[[ ! -s $SERVER_ERR ]] || { cat "$SERVER_ERR" >&2; return 1; }
}
