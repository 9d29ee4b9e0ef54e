#!/usr/bin/env bats
# tests/bench.bats: make bench's script, bench/bench.sh, on its shortest settings (one run of
# 0.1 s per cell, no Python rows): the shape of its table and of its JSON, and that it
# reports what goes wrong instead of hiding it or hanging on it: a server that corrupts a
# byte (tests/tools/trickle -x), a server that dies mid-cell (trickle -X). Then what loadgen
# hold measures for the 10,000-idle cell: the accept line, the server line once the server
# has settled, and the connections lost in a listen queue. Numbers are never checked
# against each other: they are timings.

bats_require_minimum_version 1.5.0
load helpers/iomodels

BENCH=$ROOT/bench/bench.sh
# The keys every cell of bench/results.json has, in this order (report.awk writes them).
KEYS=(lab program row kind workload mode conns idle msg_size reps status note msgs_per_s mb_per_s
	lat_p50_us lat_p99_us server_cpu_us_per_msg server_rss_kb rss_per_conn_kb conn_per_s
	listen_overflows listen_drops held threads procs lost errors mismatches)

setup_file() {
	build_all
}

setup() { not_the_labs; }
teardown() { stop_all; }

# bench ARGS...: bench.sh on the shortest settings, its output in $OUT and $OUT.json.
bench() {
	OUT=$BATS_TEST_TMPDIR/out
	run --separate-stderr timeout -k 5 120 "$BENCH" -n -r 1 -d 0.1 -o "$OUT" "$@"
}

# json_cell ROW WORKLOAD: the JSON object of that cell (one per line).
json_cell() {
	grep -F "\"row\": \"$1\"" "$OUT.json" | grep -F "\"workload\": \"$2\""
}

# json_field KEY OBJECT: the value of KEY in a one-line object (a number, null or a string
# without its quotes).
json_field() {
	sed -n "s/.*\"$1\": \(\"[^\"]*\"\|[^,}]*\).*/\1/p" <<<"$2" | tr -d '"'
}

@test "bench: two labs, every workload: a table row per lab, a JSON object per cell" {
	local docs_before line key n w
	docs_before=$(cat "$ROOT/docs/results.md" "$ROOT/bench/results.json" 2>/dev/null | cksum)
	bench -l "01 03"
	[[ $status -eq 0 ]] || { echo "$output" "$stderr" >&2; return 1; }

	# The summary: a header, a separator, one row per lab, with the ratio to the best.
	[[ $output == *"| lab "*" msg/s, 1 conn |"*" µs/msg, 5000 idle |"*" KiB/conn, 10k idle |"* ]]
	grep -q '^| 01-blocking *| *[0-9.k]* ×[0-9.]* |' <<<"$output"
	grep -q '^| 03-select *| *[0-9.k]* ×[0-9.]* |' <<<"$output"
	# One detail table per workload, and the machine the numbers come from.
	[[ $(grep -c '^### ' <<<"$output") -eq 8 ]]
	[[ $output == *"2 cores"*"RLIMIT_NOFILE"* ]]
	# 01 serves one client at a time: its many-client cells are n/a, and say why.
	grep -q '^- n/a: 01-blocking, .*: serves one client at a time' <<<"$output"
	# The table went to OUT as well; docs/ and bench/results.json were left alone.
	grep -q '^| 03-select ' "$OUT"
	[[ $(cat "$ROOT/docs/results.md" "$ROOT/bench/results.json" 2>/dev/null | cksum) == "$docs_before" ]]
	# Progress on stderr: which lab, which workload, how far.
	grep -q '^bench: \[2/2\] 03-select: ping-pong 64 B, 100 connections (rep 1/1, cell 10/16' <<<"$stderr"

	# JSON: an array, one object per line, 2 labs x 8 workloads, every key in every object.
	[[ $(head -1 "$OUT.json") == "[" && $(tail -1 "$OUT.json") == "]" ]]
	n=$(grep -c '^{"lab": ' "$OUT.json")
	[[ $n -eq 16 && $(wc -l <"$OUT.json") -eq 18 ]]
	while read -r line; do
		[[ $line == "{"*"}" || $line == "{"*"}," ]] || { echo "not an object: $line" >&2; return 1; }
		for key in "${KEYS[@]}"; do
			[[ $line == *"\"$key\": "* ]] || { echo "no $key in: $line" >&2; return 1; }
		done
	done < <(grep '^{' "$OUT.json")
	# Objects are separated by commas, the last one is not followed by one.
	[[ $(grep -c '},$' "$OUT.json") -eq 15 ]]
	# A cell that ran has numbers and no error; an n/a one has none, and a reason.
	for w in pp1 pp100 stream idle1000; do
		line=$(json_cell 03-select "$w")
		[[ $(json_field status "$line") == ok ]] || { echo "$line" >&2; return 1; }
		[[ $(json_field server_cpu_us_per_msg "$line") =~ ^[0-9]+\.[0-9]+$ ]]
		[[ $(json_field server_rss_kb "$line") =~ ^[0-9]+$ ]]
		[[ $(json_field errors "$line") == 0 && $(json_field mismatches "$line") == 0 ]]
	done
	line=$(json_cell 03-select pp1)
	[[ $(json_field msgs_per_s "$line") =~ ^[1-9][0-9]*$ ]]
	[[ $(json_field lat_p50_us "$line") =~ ^[0-9]+$ ]]
	[[ $(json_field threads "$line") == 1 && $(json_field procs "$line") == 1 ]]
	line=$(json_cell 03-select stream)
	[[ $(json_field mb_per_s "$line") =~ ^[0-9]+\.[0-9]+$ && $(json_field msgs_per_s "$line") == null ]]
	line=$(json_cell 01-blocking pp100)
	[[ $(json_field status "$line") == n/a && $(json_field msgs_per_s "$line") == null ]]
	[[ $(json_field note "$line") == "serves one client at a time"* ]]
	# 03-select cannot hold 10,000 connections (FD_SETSIZE): it says how many it held.
	line=$(json_cell 03-select hold10k)
	[[ $(json_field held "$line") =~ ^[0-9]+$ && $(json_field held "$line") -lt 10000 ]]
	[[ $(json_field rss_per_conn_kb "$line") =~ ^[0-9]+\.[0-9]+$ ]]
	# How fast it answered them, what the listen queues dropped meanwhile, none lost.
	[[ $(json_field conn_per_s "$line") =~ ^[1-9][0-9]*$ ]]
	[[ $(json_field listen_overflows "$line") =~ ^[0-9]+$ ]]
	[[ $(json_field lost "$line") == 0 ]]
	grep -q '^| lab  *| *held | *conn/s | *listen overflows | .* lost | errors |' <<<"$output"
}

@test "bench: a server that corrupts a byte is reported as a mismatch, and fails the run" {
	local line
	bench -w "pp1 stream" -s "corrupt=$TOOLS/trickle -x 100 -k 16384 -u 0 -q"
	[[ $status -eq 1 ]] || { echo "$output" "$stderr" >&2; return 1; }
	grep -q '^- ✗ corrupt, ping-pong 64 B, 1 connection: 1 connection(s) got a byte back that was not sent: loadgen: conn 0: mismatch at byte 100' <<<"$output"
	grep -q '^| corrupt ✗ ' <<<"$output"
	line=$(json_cell corrupt pp1)
	[[ $(json_field status "$line") == failed && $(json_field mismatches "$line") == 1 ]]
	line=$(json_cell corrupt stream)
	[[ $(json_field status "$line") == failed && $(json_field mismatches "$line") == 1 ]]
	grep -q "measurement(s) failed" <<<"$stderr"
}

@test "bench: a server that dies mid-cell is reported as such, and the run goes on" {
	local line
	bench -w "pp1 stream" -s "dies=$TOOLS/trickle -X 100000 -k 16384 -u 0 -q"
	[[ $status -eq 1 ]] || { echo "$output" "$stderr" >&2; return 1; }
	line=$(json_cell dies stream)
	[[ $(json_field status "$line") == failed ]]
	[[ $(json_field note "$line") == *"the server died during the cell (exit status 3)"* ]]
	[[ $(json_field errors "$line") -ge 1 ]]
	grep -q '^- ✗ dies, one connection streaming 64 KiB writes: .*the server died during the cell (exit status 3)' <<<"$output"
	# Each cell had a fresh server: the stream one ran after the first one.
	[[ -n $(json_cell dies pp1) ]]
	grep -q '^bench: \[1/1\] dies: one connection streaming 64 KiB writes (rep 1/1, cell 2/2' <<<"$stderr"
}

# --- loadgen hold: what the 10,000-idle cell reads -----------------------------------------

# hold_run N [ARGS...]: loadgen hold with N connections to PORT in the background; wait for
# the hold line (and, with -P, the server line). Sets HOLD_OUT and HOLD_ERR.
hold_run() {
	local n=$1
	shift
	HOLD_OUT=$BATS_TEST_TMPDIR/hold.out HOLD_ERR=$BATS_TEST_TMPDIR/hold.err
	bg "$LOADGEN" -p "$PORT" -t $((WAIT * 2)) -c "$n" "$@" hold >"$HOLD_OUT" 2>"$HOLD_ERR"
	wait_for "$WAIT" grep -q '^hold ' "$HOLD_OUT" || { cat "$HOLD_ERR" >&2; return 1; }
	if [[ " $* " == *" -P "* ]]; then
		wait_for "$WAIT" grep -q '^server ' "$HOLD_OUT" || { cat "$HOLD_ERR" >&2; return 1; }
	fi
}

# hold_end: release the held connections; loadgen's result line in RESULT, its status in
# HOLD_STATUS.
hold_end() {
	kill -USR1 "$BG_PID"
	HOLD_STATUS=0
	wait "$BG_PID" || HOLD_STATUS=$?
	RESULT=$(grep '^result ' "$HOLD_OUT")
}

@test "loadgen hold: an accept line says how fast the server answered and what the listen queues dropped" {
	local line
	start_server 05-epoll-lt -q
	hold_run 50
	# The hold line stays as the tests read it; the accept line comes with it.
	grep -q '^hold held=50 refused=0$' "$HOLD_OUT"
	line=$(grep '^accept ' "$HOLD_OUT")
	[[ $line =~ ^accept\ conn_per_s=[0-9]+\ seconds=[0-9]+\.[0-9]{3}\ listen_overflows=[0-9]+\ listen_drops=[0-9]+\ lost=0$ ]] ||
		{ echo "# $line" >&2; return 1; }
	(($(result_field conn_per_s " $line") > 0))
	hold_end
	[[ $HOLD_STATUS -eq 0 && $RESULT == *" ok=50 refused=0 errors=0 "*" lost=0" ]]
}

@test "loadgen hold -P: the server line waits until the server has settled (POSIX AIO's thread per read)" {
	local line n=300
	# server-posixaio asks glibc for a thread per connection (-m): each idle connection's
	# pending read has one, but glibc starts most of them after the last echo came back.
	# Sampled at that moment (the bug this test was written against) it showed 6 threads.
	mkdir -p "$BATS_TEST_TMPDIR/px/07-aio"
	ln -s "$ROOT/07-aio/server-posixaio" "$BATS_TEST_TMPDIR/px/07-aio/server"
	ROOT=$BATS_TEST_TMPDIR/px start_server 07-aio -q -m "$n"
	hold_run "$n" -P "$SERVER_PID"
	grep -q "^hold held=$n refused=0$" "$HOLD_OUT"
	line=$(grep '^server ' "$HOLD_OUT")
	[[ $(result_field threads " $line") -eq $((n + 1)) &&
		$(result_field settle_ms " $line") =~ ^[0-9]+$ ]] || { echo "# $line" >&2; return 1; }
	[[ $(thread_count "$SERVER_PID") -eq $((n + 1)) ]]
	hold_end
	[[ $HOLD_STATUS -eq 0 ]]
}

# deaf_listener: a listener whose kernel takes SYNs and nothing else (a socket filter drops
# every other segment), as if its accept queue had been full when each handshake's last ACK
# came: the client is connected, the server has no socket for it. SIGUSR1 closes it: what
# the clients send again is then answered with a reset. Sets PORT and DEAF_PID.
deaf_listener() {
	command -v python3 >/dev/null || skip "python3 is not installed"
	local out=$BATS_TEST_TMPDIR/deaf.out
	bg python3 -c '
import ctypes, signal, socket, struct
# Classic BPF (socket(7) SO_ATTACH_FILTER) sees a segment from its TCP header: byte 13
# holds the flags, 0x02 is SYN.
prog = [(0x30, 0, 0, 13), (0x45, 0, 1, 0x02), (0x06, 0, 0, 0xffff), (0x06, 0, 0, 0)]
code = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *i) for i in prog))
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, 26, struct.pack("HL", len(prog), ctypes.addressof(code)))
s.bind(("127.0.0.1", 0))
s.listen(64)
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1, signal.SIGTERM})
print("listening on 127.0.0.1:%d" % s.getsockname()[1], flush=True)
signal.sigwait([signal.SIGUSR1])
s.close()
signal.sigwait([signal.SIGTERM])
' >"$out"
	DEAF_PID=$BG_PID
	wait_for "$WAIT" listening_or_dead "$DEAF_PID" "$out"
	PORT=$(sed -n 's/^listening on .*:\([0-9][0-9]*\)$/\1/p' "$out")
	[[ -n $PORT ]]
}

# unacked N: N connections to PORT are established with our 64 bytes not acknowledged.
unacked() {
	[[ $(ss -tnH state established "( dport = :$PORT )" | awk '$2 == 64' | wc -l) -eq $1 ]]
}

@test "loadgen: a connection its listener never took is lost, whether it stays silent or is reset" {
	deaf_listener
	# Silent until the -t limit: errors, each one lost, not "unfinished".
	run --separate-stderr "$LOADGEN" -q -p "$PORT" -t 2 -c 3 hold
	[[ $status -eq 1 && $output == *" ok=0 refused=0 errors=3 "*" lost=3" ]] ||
		{ echo "$output" "$stderr" >&2; return 1; }
	[[ $(grep -c "^loadgen: conn [0-2]: lost: connected, but the server's kernel never acknowledged a byte" <<<"$stderr") -eq 3 ]]
	# Reset when the listener goes: lost, not refused; the hold line comes, and says so.
	HOLD_OUT=$BATS_TEST_TMPDIR/hold.out HOLD_ERR=$BATS_TEST_TMPDIR/hold.err
	bg "$LOADGEN" -q -p "$PORT" -t $((WAIT * 2)) -c 3 hold >"$HOLD_OUT" 2>"$HOLD_ERR"
	wait_for "$WAIT" unacked 3
	kill -USR1 "$DEAF_PID"
	wait_for "$WAIT" grep -q '^accept ' "$HOLD_OUT"
	grep -q '^hold held=0 refused=0$' "$HOLD_OUT"
	grep -q '^accept .* lost=3$' "$HOLD_OUT"
	[[ $(grep -c "lost: recv: Connection reset by peer, and the server's kernel never acknowledged a byte" "$HOLD_ERR") -eq 3 ]]
	hold_end
	[[ $HOLD_STATUS -eq 1 && $RESULT == *" errors=3 "*" lost=3" ]]
}
