#!/usr/bin/env bats
# The test fixtures do what they claim, so that a test built on them fails for the lab's
# fault, not the fixture's:
# - tests/tools/shortio.so, the LD_PRELOAD shim: short writes and invented EAGAINs on stream
#   sockets only, never an EAGAIN on a blocking socket, counts that prove it acted;
# - tests/tools/trickle, the awkward echo server: byte-exact in small late pieces, and each
#   misbehaviour (-c -r -x -X -a -n -e -P) as documented;
# - bench/loadgen: one outcome per connection, refusals counted as such, the exit status, a
#   server dying mid-run, and abort mode, which kills a server that does not ignore SIGPIPE.
# Each test fails if its fixture stops doing what it claims.

bats_require_minimum_version 1.5.0
load helpers/iomodels

TOOLS=$ROOT/tests/tools
SHIM=$TOOLS/shortio.so
PROBE=$TOOLS/shortio-probe

setup_file() {
	build_all
	(unset MAKEFLAGS MAKELEVEL MFLAGS; make -s -C "$TOOLS") ||
		{ echo "# tests/tools build failed" >&2; return 1; }
	export RANDOM_1M=$BATS_FILE_TMPDIR/random-1m
	random_file "$RANDOM_1M" $((1024 * 1024))
	# A sanitizer build (make sanitize) refuses to start with the shim ahead of its runtime
	# unless told not to check (shortio.c's header); harmless for other programs.
	export ASAN_OPTIONS=verify_asan_link_order=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}
}

setup() { not_the_labs; }

teardown() {
	stop_all
}

# start_trickle [ARGS...]: start trickle on a free port (prefixed by the command in the array
# TRICKLE_WRAP, if set) and wait until it listens. Sets TRICKLE_PID, PORT, TRICKLE_ERR, and
# WRAP_PID (the wrapper's PID, or trickle's).
TRICKLE_WRAP=()
start_trickle() {
	local n=${#BG_PIDS[@]} out pid
	out=$BATS_TEST_TMPDIR/trickle$n.out
	TRICKLE_ERR=$BATS_TEST_TMPDIR/trickle$n.err
	(
		close_fds
		exec ${TRICKLE_WRAP[@]+"${TRICKLE_WRAP[@]}"} "$TOOLS/trickle" -p 0 "$@"
	) >"$out" 2>"$TRICKLE_ERR" </dev/null &
	pid=$!
	BG_PIDS+=("$pid")
	wait_for "$WAIT" listening_or_dead "$pid" "$out" || return 1
	PORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$out")
	[[ -n $PORT ]] || { cat "$out" "$TRICKLE_ERR" >&2; return 1; }
	TRICKLE_PID=$pid
	WRAP_PID=$pid
	if [[ -n ${TRICKLE_WRAP[*]:-} ]]; then
		# The wrapper's child is trickle; stop it first (strace -o blocks SIGTERM).
		TRICKLE_PID=$(cat /proc/"$pid"/task/*/children)
		BG_PIDS=("$TRICKLE_PID" "${BG_PIDS[@]}")
	fi
}

# field NAME LINE: the value of NAME=... in a line of key=value words.
field() {
	sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"
}

# count_is N FILE PATTERN: FILE has N lines matching PATTERN.
count_is() {
	[[ $(grep -c -- "$3" "$2") -eq $1 ]]
}

# shim_line LOG PID: the shim's line for process PID in LOG.
shim_line() {
	grep "^shortio pid=$2 " "$1"
}

# Every connection is counted once: ok + refused + errors + mismatches = conns.
counts_add_up() {
	local line=$1
	(($(field ok "$line") + $(field refused "$line") + $(field errors "$line") +
		$(field mismatches "$line") == $(field conns "$line")))
}

# Every connection that is not ok has exactly one "loadgen: conn N: " line on stderr (and
# the counts add up).
lines_match_counts() {
	local line=$1 err=$2 n
	counts_add_up "$line" || { echo "# counts do not add up: $line" >&2; return 1; }
	n=$(grep -c '^loadgen: conn [0-9]*: ' <<<"$err" || true)
	((n == $(field conns "$line") - $(field ok "$line"))) ||
		{ echo "# $n conn lines for: $line" >&2; return 1; }
}

# --- shortio.so ------------------------------------------------------------------------

@test "shortio: 03-select's server and client and loadgen stay byte-exact under the shim" {
	local slog=$BATS_TEST_TMPDIR/server.log llog=$BATS_TEST_TMPDIR/loadgen.log
	local clog=$BATS_TEST_TMPDIR/client.log line key
	SHORTIO_LOG=$slog LD_PRELOAD=$SHIM start_server 03-select -q
	run --separate-stderr env SHORTIO_LOG="$llog" LD_PRELOAD="$SHIM" \
		"$LOADGEN" -q -p "$PORT" -t "$WAIT" -c 3 -b 32K stream
	[[ $status -eq 0 ]] || { echo "$output $stderr" >&2; return 1; }
	[[ $(field ok "$output") -eq 3 && $(field bytes "$output") -eq 98304 ]]
	head -c 65536 "$RANDOM_1M" >"$BATS_TEST_TMPDIR/in"
	SHORTIO_LOG=$clog SHORTIO_READ_MAX=100 LD_PRELOAD=$SHIM "$ROOT/03-select/client" -q \
		-p "$PORT" <"$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/out"
	cmp "$BATS_TEST_TMPDIR/in" "$BATS_TEST_TMPDIR/out"
	stop_server
	[[ $SERVER_STATUS -eq 0 ]]

	# Each process wrote its line at exit, and every kind of fault happened in each.
	line=$(shim_line "$slog" "$SERVER_PID")
	echo "# server: $line" >&3
	echo "# loadgen: $(cat "$llog")" >&3
	echo "# client: $(cat "$clog")" >&3
	for key in short_writes eagain_writes eagain_reads; do
		(($(field $key "$line") > 0))
		(($(field $key "$(cat "$llog")") > 0))
		(($(field $key "$(cat "$clog")") > 0))
	done
	(($(field short_reads "$(cat "$clog")") > 0))
	[[ $(field short_reads "$line") -eq 0 ]]	# no SHORTIO_READ_MAX there
	[[ $(wc -l <"$llog") -eq 1 && $(wc -l <"$clog") -eq 1 ]]
}

@test "shortio: pipes, files, datagram sockets and eventfds are left alone" {
	local log=$BATS_TEST_TMPDIR/shim.log
	run env SHORTIO_LOG="$log" SHORTIO_MAX=1 SHORTIO_EAGAIN_PCT=100 LD_PRELOAD="$SHIM" \
		"$PROBE" files "$BATS_TEST_TMPDIR"
	[[ $status -eq 0 && $output == "files ok" ]] || { echo "$output" >&2; return 1; }
	# Not one stream-socket call, so no line at all.
	[[ ! -e $log ]]
	# A pipeline of ordinary tools under the shim is untouched too.
	LD_PRELOAD=$SHIM SHORTIO_MAX=1 SHORTIO_LOG=$log cat "$RANDOM_1M" | cmp - "$RANDOM_1M"
	[[ ! -e $log ]]
}

@test "shortio: a blocking socket gets short writes but never EAGAIN, and the shim counts them" {
	local log=$BATS_TEST_TMPDIR/shim.log
	run env SHORTIO_LOG="$log" SHORTIO_EAGAIN_PCT=100 LD_PRELOAD="$SHIM" \
		"$PROBE" blocking 100000
	[[ $status -eq 0 ]] || { echo "$output" >&2; return 1; }
	echo "# $output; $(cat "$log")" >&3
	[[ $(field eagain "$output") -eq 0 ]]
	(($(field short "$output") > 1000))
	# The shim's count is what the program saw.
	[[ $(field short_writes "$(cat "$log")") -eq $(field short "$output") ]]
	[[ $(field eagain_writes "$(cat "$log")") -eq 0 ]]
	[[ $(field eagain_reads "$(cat "$log")") -eq 0 ]]
	# Without the shim the same program sees no short write at all.
	run "$PROBE" blocking 100000
	[[ $status -eq 0 && $(field short "$output") -eq 0 ]]
}

@test "shortio: a non-blocking socket gets EAGAIN right after poll() said ready, both ways" {
	local log=$BATS_TEST_TMPDIR/shim.log
	run env SHORTIO_LOG="$log" LD_PRELOAD="$SHIM" "$PROBE" nonblocking 100000
	[[ $status -eq 0 ]] || { echo "$output" >&2; return 1; }
	echo "# $output; $(cat "$log")" >&3
	(($(field eagain_writes "$output") > 0 && $(field eagain_reads "$output") > 0))
	[[ $(field eagain_writes "$(cat "$log")") -eq $(field eagain_writes "$output") ]]
	[[ $(field eagain_reads "$(cat "$log")") -eq $(field eagain_reads "$output") ]]
	# SHORTIO_EAGAIN_PCT=0 turns it off.
	run env SHORTIO_EAGAIN_PCT=0 LD_PRELOAD="$SHIM" "$PROBE" nonblocking 20000
	[[ $status -eq 0 && $(field eagain_writes "$output") -eq 0 ]]
	[[ $(field eagain_reads "$output") -eq 0 ]]
}

@test "shortio: after an EPOLLET registration it invents no EAGAIN (no edge would follow)" {
	run env LD_PRELOAD="$SHIM" SHORTIO_EAGAIN_PCT=50 "$PROBE" edge 50000
	[[ $status -eq 0 ]] || { echo "$output" >&2; return 1; }
	[[ $(field eagain_writes "$output") -eq 0 && $(field eagain_reads "$output") -eq 0 ]]
	(($(field short "$output") > 0))
}

@test "shortio: SHORTIO_MAX bounds every write, the seed decides, SHORTIO_READ_MAX cuts reads" {
	local a b c d log=$BATS_TEST_TMPDIR/shim.log n
	a=$(LD_PRELOAD=$SHIM "$PROBE" sizes)
	b=$(LD_PRELOAD=$SHIM "$PROBE" sizes)
	c=$(LD_PRELOAD=$SHIM SHORTIO_SEED=12345 "$PROBE" sizes)
	d=$(LD_PRELOAD=$SHIM SHORTIO_MAX=3 "$PROBE" sizes)
	echo "# $a / $c / $d" >&3
	[[ $a == "$b" && $a != "$c" ]]
	for n in $(tr , ' ' <<<"${a#sizes=} ${d#sizes=}"); do
		((n >= 1 && n <= 7))
	done
	for n in $(tr , ' ' <<<"${d#sizes=}"); do
		((n >= 1 && n <= 3))
	done
	run env SHORTIO_LOG="$log" SHORTIO_READ_MAX=5 LD_PRELOAD="$SHIM" "$PROBE" blocking 20000
	[[ $status -eq 0 ]]
	(($(field short_reads "$(cat "$log")") > 0))
	# A bad value stops the program before it starts, with one clear line.
	run --separate-stderr env SHORTIO_MAX=0 LD_PRELOAD="$SHIM" "$PROBE" sizes
	[[ $status -eq 125 && $stderr == "shortio: SHORTIO_MAX is not a number"* && -z $output ]]
}

@test "shortio: a forked child starts its own counts; threads share the process's line" {
	local log=$BATS_TEST_TMPDIR/shim.log parent child
	run env SHORTIO_LOG="$log" LD_PRELOAD="$SHIM" "$PROBE" fork 8000
	[[ $status -eq 0 ]] || { echo "$output" >&2; return 1; }
	parent=$(field parent "$output")
	child=$(field child "$output")
	sed "s/^/# /" "$log" >&3
	[[ $(wc -l <"$log") -eq 2 ]]
	# The parent cut 8000 bytes into more than 1000 writes; the child moved 10 bytes, so
	# it counts at most 9 short writes of its own: nothing inherited.
	(($(field short_writes "$(shim_line "$log" "$parent")") > 1000))
	(($(field short_writes "$(shim_line "$log" "$child")") <= 9))

	rm -f "$log"
	run env SHORTIO_LOG="$log" LD_PRELOAD="$SHIM" "$PROBE" threads 20000
	[[ $status -eq 0 && $output == "threads ok" ]]
	[[ $(wc -l <"$log") -eq 1 ]]
	(($(field short_writes "$(cat "$log")") > 4 * 2000))
}

@test "shortio: works preloaded into an AddressSanitizer build" {
	local asan=$BATS_TEST_TMPDIR/probe-asan log=$BATS_TEST_TMPDIR/shim.log
	cc -std=c11 -D_GNU_SOURCE -g -fsanitize=address -o "$asan" "$TOOLS/shortio-probe.c" \
		-pthread 2>/dev/null || skip "cc cannot build with -fsanitize=address"
	run env SHORTIO_LOG="$log" LD_PRELOAD="$SHIM" "$asan" nonblocking 50000
	[[ $status -eq 0 ]] || { echo "$output" >&2; return 1; }
	(($(field eagain_writes "$output") > 0 && $(field short "$output") > 0))
	run env SHORTIO_LOG="$log" LD_PRELOAD="$SHIM" "$asan" threads 5000
	[[ $status -eq 0 && $output == "threads ok" ]]
	[[ $(wc -l <"$log") -eq 2 ]]
	# With the runtime as a shared library (gcc), ASan checks that it comes first; that
	# check is what verify_asan_link_order=0 turns off.
	if ldd "$asan" | grep -q libasan; then
		run env -u ASAN_OPTIONS LD_PRELOAD="$SHIM" "$asan" sizes
		[[ $status -ne 0 && $output == *"does not come first"* ]]
	fi
}

# --- trickle ---------------------------------------------------------------------------

@test "trickle: 1 MiB of random bytes comes back byte-exact through a client and loadgen" {
	start_trickle -k 1000 -u 100
	"$ROOT/03-select/client" -q -p "$PORT" <"$RANDOM_1M" >"$BATS_TEST_TMPDIR/out"
	cmp "$RANDOM_1M" "$BATS_TEST_TMPDIR/out"
	run --separate-stderr loadgen stream -b 1M
	[[ $status -eq 0 && $(field bytes "$output") -eq 1048576 ]] ||
		{ echo "$stderr" >&2; return 1; }
	run --separate-stderr loadgen echo -c 5 -n 20 -s 1000
	[[ $status -eq 0 && $(field ok "$output") -eq 5 && $(field messages "$output") -eq 100 ]]
	run --separate-stderr loadgen halfclose -b 256K
	[[ $status -eq 0 && $(field bytes "$output") -eq 262144 ]]
	kill -0 "$TRICKLE_PID"
	grep -q 'peer closed after echoing 1048576 bytes' "$TRICKLE_ERR"
}

@test "trickle: the echo goes out in pieces of at most -k bytes, each its own write" {
	local trace=$BATS_TEST_TMPDIR/trace n sum max
	command -v strace >/dev/null || skip "no strace"
	TRICKLE_WRAP=(strace -f -qq -o "$trace" -e trace=sendto)
	start_trickle -k 100 -u 200
	TRICKLE_WRAP=()
	run --separate-stderr loadgen stream -b 20000
	[[ $status -eq 0 ]]
	stop_server "$TRICKLE_PID"
	wait "$WRAP_PID"
	# Every send() of echo: at most 100 bytes, all of them together the 20000.
	run awk '/sendto\(/ { n++; sum += $NF; if ($NF > max) max = $NF }
		END { print n, sum, max }' "$trace"
	echo "# sends, bytes, largest: $output" >&3
	read -r n sum max <<<"$output"
	((n >= 200 && sum == 20000 && max <= 100 && max > 1))
}

@test "trickle: -c N closes with FIN after exactly N bytes: loadgen and a client notice" {
	start_trickle -c 1000 -k 300 -u 0
	run --separate-stderr loadgen stream -b 64K
	[[ $status -eq 1 && $(field errors "$output") -eq 1 ]]
	[[ $(field bytes "$output") -eq 1000 ]]
	[[ $stderr == *"conn 0: server closed the connection after 1000 of "*" bytes echoed"* ]]
	lines_match_counts "$output" "$stderr"
	# The lab's client: exactly the first 1000 bytes, then exit 1 with a clear line.
	run --separate-stderr bash -c \
		"'$ROOT/03-select/client' -q -p $PORT <'$RANDOM_1M' >'$BATS_TEST_TMPDIR/out'"
	[[ $status -eq 1 && $stderr == *"server closed the connection"* ]]
	[[ $(stat -c %s "$BATS_TEST_TMPDIR/out") -eq 1000 ]]
	cmp -n 1000 "$RANDOM_1M" "$BATS_TEST_TMPDIR/out"
	wait_for "$WAIT" grep -q 'closed (-c) after echoing 1000 bytes' "$TRICKLE_ERR"
	! grep -q reset "$TRICKLE_ERR"
}

@test "trickle: -r N resets after at most N bytes" {
	local got
	start_trickle -r 1000 -k 300 -u 0
	# One message of 2000 bytes, read whole: nothing is left unread when trickle closes,
	# so only SO_LINGER 0 makes this a reset (a plain close() would send FIN).
	run --separate-stderr loadgen echo -n 1 -s 2000
	[[ $status -eq 1 && $(field errors "$output") -eq 1 ]]
	[[ $stderr == *"conn 0: connection reset by peer after "* ]] ||
		{ echo "$stderr" >&2; return 1; }
	got=$(field bytes "$output")
	((got <= 1000))
	lines_match_counts "$output" "$stderr"
	wait_for "$WAIT" grep -q 'reset (-r) after echoing 1000 bytes' "$TRICKLE_ERR"
}

@test "trickle: -x N flips byte N of each echo; loadgen counts mismatches and says where" {
	local got expect l
	start_trickle -x 5000 -k 1000 -u 0
	run --separate-stderr loadgen stream -c 2 -b 64K
	[[ $status -eq 1 && $(field mismatches "$output") -eq 2 && $(field ok "$output") -eq 0 ]]
	lines_match_counts "$output" "$stderr"
	[[ $(grep -c 'mismatch at byte 5000: got 0x.., expected 0x..$' <<<"$stderr") -eq 2 ]]
	while IFS= read -r l; do
		got=$(sed -n 's/.*got 0x\(..\),.*/\1/p' <<<"$l")
		expect=$(sed -n 's/.*expected 0x\(..\)$/\1/p' <<<"$l")
		(((16#$got ^ 16#$expect) == 255))
	done < <(grep mismatch <<<"$stderr")
	# Through a client, cmp finds the one byte (cmp counts from 1).
	"$ROOT/03-select/client" -q -p "$PORT" <"$RANDOM_1M" >"$BATS_TEST_TMPDIR/out"
	run cmp -l "$RANDOM_1M" "$BATS_TEST_TMPDIR/out"
	[[ $status -eq 1 && $(wc -l <<<"$output") -eq 1 && $output == *" 5001 "* ]]
}

@test "trickle: -X N exits 3 mid-run; loadgen reports every connection, exits 1, no hang" {
	local st=0
	start_trickle -X 100000 -k 16384 -u 0
	run --separate-stderr loadgen stream -c 4 -b 1M
	wait "$TRICKLE_PID" || st=$?
	[[ $st -eq 3 ]]
	echo "# $output" >&3
	[[ $status -eq 1 && $(field ok "$output") -eq 0 && $(field errors "$output") -eq 4 ]]
	lines_match_counts "$output" "$stderr"
	[[ $stderr != *"timed out"* ]]
	grep -q 'echoed 100000 bytes: exiting (-X)' "$TRICKLE_ERR"
}

@test "trickle: -a resets every connection at once: refusals in hold, errors in echo" {
	local lg=$BATS_TEST_TMPDIR/hold.out
	start_trickle -a
	bg "$LOADGEN" -q -p "$PORT" -t "$WAIT" -c 3 hold >"$lg"
	wait_for "$WAIT" grep -q '^hold ' "$lg"
	grep -q '^hold held=0 refused=3$' "$lg"
	kill -USR1 "$BG_PID"
	wait "$BG_PID"
	run --separate-stderr loadgen echo -c 3
	[[ $status -eq 1 && $(field errors "$output") -eq 3 ]]
	lines_match_counts "$output" "$stderr"
	# Reset before or after loadgen saw the handshake end: either way a reset, not a FIN.
	[[ $(grep -ci 'connection reset by peer' <<<"$stderr") -eq 3 ]]
	wait_for "$WAIT" count_is 6 "$TRICKLE_ERR" 'reset at once (-a)'
}

@test "trickle: -n resets a connection once its bytes have arrived, with none echoed" {
	local fd
	start_trickle -n
	exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
	printf 'never read\n' >&"$fd"
	run deadline head -c 1 <&"$fd"
	exec {fd}>&-
	[[ $status -eq 1 && $output == *"Connection reset by peer"* ]] ||
		{ echo "# exit $status, '$output'" >&2; return 1; }
	wait_for "$WAIT" grep -q 'reset with its bytes unread (-n) after echoing 0 bytes' \
		"$TRICKLE_ERR"
}

@test "trickle: -e N sends N bytes unasked, then the echo" {
	local fd got want
	start_trickle -e 1000 -k 16384 -u 0
	exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
	printf 'hi\n' >&"$fd"
	got=$(deadline head -c 1003 <&"$fd" | od -An -v -tx1 | tr -d ' \n')
	exec {fd}>&-
	want=$(printf 'a55a%.0s' {1..500})68690a
	[[ $got == "$want" ]] || { echo "# got $got" >&2; return 1; }
	wait_for "$WAIT" grep -q 'sent 1000 bytes unasked (-e)' "$TRICKLE_ERR"
	wait_for "$WAIT" grep -q 'peer closed after echoing 3 bytes' "$TRICKLE_ERR"
}

@test "trickle: bad arguments exit 2, -h exits 0, SIGTERM and SIGINT exit 0, memory stays put" {
	local args rss_before rss_paused lg=$BATS_TEST_TMPDIR/slow.out
	for args in "-k 0" "-k lots" "-p 70000" "-u -1" "-x" "-z" "extra"; do
		# shellcheck disable=SC2086
		run --separate-stderr "$TOOLS/trickle" $args
		[[ $status -eq 2 && $stderr == *"usage: trickle"* ]] ||
			{ echo "# $args: exit $status" >&2; return 1; }
	done
	run --separate-stderr "$TOOLS/trickle" -h
	[[ $status -eq 0 && $output == "usage: trickle"* && -z $stderr ]]

	# A client that sends 8 MiB and reads nothing costs trickle its fixed buffer, no more.
	start_trickle -k 16384 -u 0
	tcp_echo "$PORT" warm-up
	rss_before=$(rss_kb "$TRICKLE_PID")
	bg "$LOADGEN" -q -p "$PORT" -t "$WAIT" -b 8M slow >"$lg"
	wait_for "$WAIT" grep -q '^slow paused' "$lg"
	rss_paused=$(rss_kb "$TRICKLE_PID")
	((rss_paused - rss_before < 2048)) ||
		{ echo "# RSS $rss_before -> $rss_paused kB" >&2; return 1; }
	kill -USR1 "$BG_PID"
	wait "$BG_PID"
	stop_server "$TRICKLE_PID"
	[[ $SERVER_STATUS -eq 0 ]]
	start_trickle
	stop_server "$TRICKLE_PID" INT
	[[ $SERVER_STATUS -eq 0 ]]
}

# --- loadgen ---------------------------------------------------------------------------

@test "loadgen: a refused connect counts as refused in every mode, one line each" {
	local mode port lg=$BATS_TEST_TMPDIR/hold.out
	start_trickle
	port=$PORT
	stop_server "$TRICKLE_PID"
	PORT=$port
	for mode in echo stream reset halfclose slow abort; do
		run --separate-stderr loadgen "$mode" -c 3
		[[ $status -eq 1 ]] || { echo "# $mode: exit $status" >&2; return 1; }
		[[ $(field refused "$output") -eq 3 && $(field errors "$output") -eq 0 ]]
		[[ $(grep -c '^loadgen: conn [0-2]: connect: Connection refused$' \
			<<<"$stderr") -eq 3 ]]
		lines_match_counts "$output" "$stderr"
	done
	# In hold a refusal is an answer, not a failure: reported on the hold line, exit 0.
	bg "$LOADGEN" -q -p "$PORT" -t "$WAIT" -c 3 hold >"$lg"
	wait_for "$WAIT" grep -q '^hold ' "$lg"
	grep -q '^hold held=0 refused=3$' "$lg"
	kill -USR1 "$BG_PID"
	wait "$BG_PID"
	grep -q '^result mode=hold conns=3 ok=0 refused=3 errors=0 ' "$lg"
}

@test "loadgen: the -t limit counts unfinished connections as errors and exits 1" {
	# One byte of echo every 0 to 1 s: 100 bytes cannot come back within 1 s.
	start_trickle -k 1 -u 1000000
	run --separate-stderr "$LOADGEN" -q -p "$PORT" -t 1 -c 2 -n 1 -s 100 echo
	[[ $status -eq 1 && $(field errors "$output") -eq 2 && $(field ok "$output") -eq 0 ]]
	lines_match_counts "$output" "$stderr"
	[[ $(grep -c 'unfinished: ' <<<"$stderr") -eq 2 ]]
	[[ $stderr == *"loadgen: timed out after 1 s"* ]]
}

# abort_run: run loadgen abort against PORT, wait for its line, reset on SIGUSR1. Sets
# ABORT_LINE and LG_STATUS.
abort_run() {
	local lg=$BATS_TEST_TMPDIR/abort.out
	bg "$LOADGEN" -p "$PORT" -t "$WAIT" "$@" abort >"$lg" 2>"$lg.err"
	wait_for "$WAIT" grep -q '^abort shut sent=' "$lg" || { cat "$lg.err" >&2; return 1; }
	ABORT_LINE=$(grep '^abort ' "$lg")
	echo "# $ABORT_LINE; $(grep -v 'time limit' "$lg.err")" >&3
	kill -USR1 "$BG_PID"
	LG_STATUS=0
	wait "$BG_PID" || LG_STATUS=$?
	grep -q '^result mode=abort .* refused=0 errors=0 mismatches=0 ' "$lg" ||
		{ cat "$lg" "$lg.err" >&2; return 1; }
}

@test "loadgen abort: a server with echo pending gets EPIPE; without SIGPIPE ignored it dies" {
	local st=0
	# Ignores SIGPIPE: survives, and its write failed with EPIPE, not ECONNRESET.
	start_trickle -k 16384 -u 0
	abort_run
	[[ $LG_STATUS -eq 0 ]]
	# It stopped reading before loadgen's 8 MiB were sent: it had echo pending.
	(($(field sent "$ABORT_LINE") < 8388608))
	wait_for "$WAIT" grep -q 'write: Broken pipe after echoing' "$TRICKLE_ERR"
	kill -0 "$TRICKLE_PID"

	# Does not ignore SIGPIPE: the same reset kills it (128 + 13).
	start_trickle -k 16384 -u 0 -P
	abort_run -c 2
	[[ $LG_STATUS -eq 0 ]]
	wait_for "$WAIT" is_gone "$TRICKLE_PID"
	wait "$TRICKLE_PID" || st=$?
	[[ $st -eq 141 ]]
}

@test "loadgen abort: 03-select gets EPIPE on both reset connections and serves on" {
	start_server 03-select
	snapshot
	abort_run -c 2
	[[ $LG_STATUS -eq 0 ]]
	wait_for "$WAIT" count_is 2 "$SERVER_ERR" 'closed .*: Broken pipe$'
	tcp_echo "$PORT" "still serving"
	assert_baseline
}

@test "loadgen abort: with a small -b the server echoes it all and has nothing to write" {
	# What the header comment warns about: sent=1024 reaches the server whole, its echo
	# fits in the kernel buffers, and a server that dies of SIGPIPE lives on.
	start_trickle -k 16384 -u 0 -P
	bg "$LOADGEN" -q -p "$PORT" -t "$WAIT" -b 1K abort >"$BATS_TEST_TMPDIR/abort.out"
	wait_for "$WAIT" grep -q '^abort shut sent=1024$' "$BATS_TEST_TMPDIR/abort.out"
	wait_for "$WAIT" grep -q 'peer closed after echoing 1024 bytes' "$TRICKLE_ERR"
	kill -USR1 "$BG_PID"
	wait "$BG_PID"
	kill -0 "$TRICKLE_PID"
}
