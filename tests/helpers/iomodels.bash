# tests/helpers/iomodels.bash - what every test file loads: build, start and stop a lab's
# server, and look at it through /proc.
#
# Rules these helpers keep for every test:
# - servers listen on -p 0 (the kernel picks a free port) and are waited for by their
#   "listening on HOST:PORT" line, never by a sleep;
# - every wait polls a condition with a deadline (wait_for), so a broken server fails a test
#   instead of hanging the suite;
# - only the PIDs a test started are signalled, and teardown stops whatever is left;
# - background processes are started with 3>&- so bats does not wait on its fd 3.
#
# SANITIZE=1 in the environment (make sanitize) builds and tests the ASan+UBSan build.
#
# IOMODELS_WAIT=N (default 30) is the deadline, in seconds, of every wait: for a server to
# listen, for an echo, for a server to fall asleep or to exit. A correct lab meets each in a
# fraction of a second; the margin is for the sanitizer build on a busy machine. Lower it
# (IOMODELS_WAIT=5 bats tests/03-select.bats) to make a broken lab fail faster.
#
# IOMODELS_STALL=N (default 10): a wait whose progress can be measured (a stream's bytes, a
# stopping server's work) gives up when that stood still for N seconds, and a wait gives up
# at once when the server ended on its own; each says what it saw (wait_for).

ROOT=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
LOADGEN=$ROOT/bench/loadgen
TOOLS=$ROOT/tests/tools

# The sanitizer build starts and runs slower; give every wait the same generous deadline.
WAIT=${IOMODELS_WAIT:-30}
# A wait whose progress can be measured gives up when it stood still this long (wait_for).
STALL=${IOMODELS_STALL:-10}
# No test may hang the suite: bats fails a test that runs longer than this (bats-core 1.7+).
export BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-$((WAIT * 10))}

# Build everything once per test file; make does nothing when it is up to date. MAKEFLAGS from
# an outer `make test` would leak its jobserver and options into this make, so drop them. The
# test fixtures (tests/tools) are built without the sanitizers: they test, they are not tested.
build_all() {
	(unset MAKEFLAGS MAKELEVEL MFLAGS
		make -s -C "$ROOT" SANITIZE="${SANITIZE:-0}" all &&
		if [[ -f $TOOLS/Makefile ]]; then make -s -C "$TOOLS"; fi) ||
		{ echo "# build failed" >&2; return 1; }
}

# not_the_labs: for a test file that checks the build system or the test fixtures, not the
# labs' code (make.bats, tools.bats, bench.bats): under make sanitize, which is there to run the
# labs on the sanitizer build, its tests skip, saying that make test ran them. Call it in
# setup(); bats 1.8 cannot skip from setup_file().
not_the_labs() {
	if [[ ${SANITIZE:-0} == 1 ]]; then
		skip "checks the build or the test tools, not the labs: make test runs it"
	fi
}

# wait_for SECONDS COMMAND...: run COMMAND until it succeeds; fail after SECONDS. On failure,
# if a function why_not_COMMAND exists, it is called with the same arguments to say what was
# seen instead. Two things end the wait sooner, each saying what it saw, so that a broken lab
# fails in seconds, not at the deadline:
# - the server start_server started last has ended on its own (a crash, an exit), not through
#   stop_server: whatever COMMAND waits for, nothing more will come from it;
# - a function progress_COMMAND exists (same arguments) and what it prints, a measure of the
#   progress towards COMMAND (bytes received, work done), stayed the same for STALL seconds:
#   the stream or the process stalled.
wait_for() {
	local limit=$1 deadline last='' now moved=$SECONDS checked=$SECONDS
	shift
	deadline=$((SECONDS + limit))
	until "$@"; do
		# Once a second: the checks cost more than the condition.
		if ((SECONDS != checked)); then
			checked=$SECONDS
			if server_ended; then
				echo "# gave up waiting for: $*: $SERVER_ENDED" >&2
				return 1
			fi
			if declare -F "progress_$1" >/dev/null; then
				now=$("progress_$1" "${@:2}")
				if [[ $now != "$last" ]]; then
					last=$now
					moved=$SECONDS
				elif ((SECONDS - moved >= STALL)); then
					echo "# gave up waiting for: $*: no progress in ${STALL}s ($now)" >&2
					if declare -F "why_not_$1" >/dev/null; then
						"why_not_$1" "${@:2}" >&2
					fi
					return 1
				fi
			fi
		fi
		if ((SECONDS >= deadline)); then
			echo "# gave up after ${limit}s waiting for: $*" >&2
			if declare -F "why_not_$1" >/dev/null; then
				"why_not_$1" "${@:2}" >&2
			fi
			return 1
		fi
		sleep 0.02
	done
}

# server_ended: the server start_server started last is gone, and not stopped by stop_server
# (or by a test that set SERVER_STOPPED to its PID first). Sets SERVER_ENDED to how it ended.
server_ended() {
	local st=0
	[[ -n ${SERVER_PID:-} && $SERVER_PID != "${SERVER_STOPPED:-}" ]] || return 1
	is_gone "$SERVER_PID" || return 1
	SERVER_STOPPED=$SERVER_PID
	# Its status, if this shell started it (not in a subshell: run, $(...)).
	wait "$SERVER_PID" 2>/dev/null || st=$?
	if ((st == 127)); then
		SERVER_ENDED="the server ($SERVER_PID) has ended"
	elif ((st > 128)); then
		SERVER_ENDED="the server ($SERVER_PID) was killed by SIG$(kill -l $((st - 128)))"
	else
		SERVER_ENDED="the server ($SERVER_PID) exited, status $st"
	fi
	SERVER_ENDED+="; its log ends: $(tail -3 "${SERVER_ERR:-/dev/null}" 2>/dev/null | tr '\n' '|')"
}

# deadline COMMAND...: COMMAND with the suite's deadline, so a client that never ends (one
# that does not half-close, say) fails its test in WAIT seconds instead of hanging it.
deadline() {
	timeout -k 5 "$WAIT" "$@"
}

BG_PIDS=()

# start_server LAB [ARGS...]: start LAB's server on a free port and wait until it listens.
# Sets SERVER_PID, PORT, SERVER_OUT (its stdout) and SERVER_ERR (its log).
# With SERVER_NOFILE=N set, the server runs with its fd limit at N (the soft limit: the hard
# one stays, so a test may raise it again from outside with prlimit); with
# SERVER_PRELOAD=LIB, with LIB preloaded (LD_PRELOAD), for fault injection.
start_server() {
	start_server_with "$1" '' "${@:2}"
}

# start_server_with LAB REDIRECTIONS [ARGS...]: the same, with extra redirections applied to
# the server alone ('<&- 2>&-': started with stdin and stderr closed).
start_server_with() {
	local lab=$1 redirs=$2 n=${#BG_PIDS[@]}
	shift 2
	SERVER_OUT=$BATS_TEST_TMPDIR/server$n.out
	SERVER_ERR=$BATS_TEST_TMPDIR/server$n.err
	# The subshell becomes the server (exec), so $! is the server's PID. It starts with
	# only fds 0-2, as from a terminal: what bats has open is not the server's business, and
	# would shift the descriptor numbers the tests reason about.
	(
		close_fds
		if [[ -n ${SERVER_NOFILE:-} ]]; then
			ulimit -Sn "$SERVER_NOFILE" || exit 1
		fi
		if [[ -n ${SERVER_PRELOAD:-} ]]; then
			export LD_PRELOAD=$SERVER_PRELOAD ASAN_OPTIONS
			ASAN_OPTIONS=$(asan_options)
		fi
		eval "exec \"\$ROOT/\$lab/server\" -p 0 \"\$@\" $redirs"
	) >"$SERVER_OUT" 2>"$SERVER_ERR" </dev/null &
	SERVER_PID=$!
	BG_PIDS+=("$SERVER_PID")
	if ! wait_for "$WAIT" listening_or_dead "$SERVER_PID" "$SERVER_OUT"; then
		cat "$SERVER_ERR" >&2
		return 1
	fi
	PORT=$(sed -n 's/^listening on .*:\([0-9][0-9]*\)$/\1/p' "$SERVER_OUT")
	if [[ -z $PORT ]]; then
		echo "# server did not start:" >&2
		cat "$SERVER_OUT" "$SERVER_ERR" >&2
		return 1
	fi
}

# ASan insists on coming first among the preloaded libraries; a fault-injection shim
# preloaded into a sanitizer build must be allowed to come before it.
asan_options() {
	echo "${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
}

# Close every descriptor above 2 in this (sub)shell.
close_fds() {
	local f
	for f in /proc/"$BASHPID"/fd/*; do
		f=${f##*/}
		((f > 2)) && eval "exec $f>&-"
	done
	return 0
}

listening_or_dead() {
	grep -q '^listening on ' "$2" || ! kill -0 "$1" 2>/dev/null
}

# stop_server [PID [SIGNAL]]: SIGTERM (or SIGNAL), then wait for the exit; sets SERVER_STATUS.
stop_server() {
	local pid=${1:-$SERVER_PID} sig=${2:-TERM}
	SERVER_STOPPED=$pid
	kill -"$sig" "$pid"
	wait_for "$WAIT" is_gone "$pid" || return 1
	SERVER_STATUS=0
	wait "$pid" || SERVER_STATUS=$?
}

is_gone() {
	! kill -0 "$1" 2>/dev/null || [[ $(proc_state "$1") == Z ]]
}
# A process on its way out works at it: CPU time, or sleeps and wake-ups (a thread joined, a
# child reaped). One whose every thread sits still, with none of that, is stuck.
progress_is_gone() { activity "$1"; }
why_not_is_gone() {
	echo "# process $1 still running $(sleep_report "$1") after the signal;" \
		"signals pending: $(awk '/^(ShdPnd|SigPnd|SigBlk):/ { printf "%s ", $0 }' \
		/proc/"$1"/status 2>/dev/null)"
}

# bg COMMAND...: start COMMAND in the background, remembered for teardown; sets BG_PID.
# The explicit <&0 keeps the caller's stdin: without it bash gives a background command
# /dev/null.
bg() {
	"$@" <&0 3>&- &
	BG_PID=$!
	BG_PIDS+=("$BG_PID")
}

# Stop everything this test started that is still running: SIGTERM, then SIGKILL.
stop_all() {
	local pid
	for pid in "${BG_PIDS[@]}"; do
		kill -0 "$pid" 2>/dev/null || continue
		kill -TERM "$pid" 2>/dev/null
		wait_for 5 is_gone "$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null || true
	done
	BG_PIDS=()
}

# --- the server seen through /proc ---------------------------------------------------------

fd_count() { local fds=(/proc/"$1"/fd/*); echo "${#fds[@]}"; }
thread_count() { local t=(/proc/"$1"/task/*); echo "${#t[@]}"; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' /proc/"$1"/status; }
# peak_rss_kb PID: the highest resident set size (VmHWM, proc(5)) that PID or any of its
# children has reached, in kB: no peak between two samples is missed. A child is seen only
# while it lives: sample again and again over a run to follow a forking server's children.
# (A forked child starts with no more resident than its parent: the parent's RSS before the
# run is a fair base for both.)
peak_rss_kb() {
	local p kb max=0
	for p in "$1" $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		kb=$(awk '/^VmHWM:/ { print $2 }' /proc/"$p"/status 2>/dev/null) || continue
		((${kb:-0} > max)) && max=$kb
	done
	echo "$max"
}

# R running, S sleeping in a system call, Z zombie... (proc(5))
proc_state() { awk '{ print $3 }' /proc/"$1"/stat 2>/dev/null; }
children() { cat /proc/"$1"/task/*/children 2>/dev/null | wc -w; }
zombies() {
	local c n=0
	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		[[ $(proc_state "$c") == Z ]] && n=$((n + 1))
	done
	echo "$n"
}

# fds_below PID N: open descriptors numbered below N (those compete for the numbers < N).
fds_below() {
	local f n=0
	for f in /proc/"$1"/fd/*; do
		((${f##*/} < $2)) && n=$((n + 1))
	done
	echo "$n"
}
fd_count_is() { [[ $(fd_count "$1") -eq $2 ]]; }
is_sleeping() { [[ $(proc_state "$1") == S ]]; }

# CPU time (user + system) of PID and the threads it has, in clock ticks (proc(5)).
cpu_ticks() { awk '{ print $14 + $15 }' /proc/"$1"/stat; }
TICKS=$(getconf CLK_TCK)

# "in state R, 190 of the last 200 ticks on the CPU": what a process is doing, for messages.
sleep_report() {
	local t0 t1
	t0=$(cpu_ticks "$1" 2>/dev/null) || return 0
	sleep 1
	t1=$(cpu_ticks "$1" 2>/dev/null) || return 0
	echo "in state $(proc_state "$1"), using $((t1 - t0)) of $TICKS CPU ticks in the last second"
}
why_not_is_sleeping() {
	echo "# expected process $1 asleep in a system call (state S): it is $(sleep_report "$1")"
}

# wait_idle PID: the server is asleep in a system call (accept, read, select...), so a signal
# sent now interrupts that call and cannot land between its test of the stop flag and the call.
# A lab whose server never sleeps (02-nonblocking: it makes no call that waits, and tests its
# stop flag before every one) sets SERVER_NEVER_SLEEPS=1 in its test file: then it is enough
# that the server is alive.
wait_idle() {
	if [[ -n ${SERVER_NEVER_SLEEPS:-} ]]; then
		kill -0 "$1"
	else
		wait_for "$WAIT" is_sleeping "$1"
	fi
}

# not_spinning PID SECONDS: over SECONDS of wall time, PID used under a quarter of one CPU.
# A loop that spins (on EMFILE, on write interest it does not need) uses all of one; one that
# sleeps until the kernel wakes it uses next to none. This is a behaviour, not a speed: the
# margin is wide enough for a busy machine and the sanitizer build.
not_spinning() {
	local pid=$1 secs=$2 t0 t1 c0 c1 used elapsed
	t0=$(date +%s%N)
	c0=$(cpu_ticks "$pid")
	sleep "$secs"
	c1=$(cpu_ticks "$pid")
	t1=$(date +%s%N)
	used=$(((c1 - c0) * 1000 / TICKS))		# ms of CPU
	elapsed=$(((t1 - t0) / 1000000))		# ms of wall time
	echo "# process $pid used $used ms of CPU in $elapsed ms" >&3
	((used * 4 < elapsed)) ||
		{ echo "# process $pid is spinning: $used ms of CPU in $elapsed ms" >&2; return 1; }
}

# spinning PID SECONDS: the opposite of not_spinning. Over SECONDS of wall time, PID never
# gave up the CPU of its own accord (voluntary_ctxt_switches in /proc/PID/status did not move:
# it made no call that sleeps) and yet used CPU: a loop that never waits. This holds however
# busy the machine is: a crowded CPU gives the loop a smaller share, it does not make it sleep.
spinning() {
	local pid=$1 secs=$2 c0 c1 v0 v1
	c0=$(cpu_ticks "$pid")
	v0=$(voluntary_switches "$pid")
	sleep "$secs"
	c1=$(cpu_ticks "$pid")
	v1=$(voluntary_switches "$pid")
	echo "# process $pid: $(((c1 - c0) * 1000 / TICKS)) ms of CPU in $secs s," \
		"$((v1 - v0)) voluntary context switches" >&3
	((v1 - v0 <= 1 && c1 - c0 >= 2)) ||
		{ echo "# process $pid is not spinning: it slept $((v1 - v0)) times" \
			"and used $((c1 - c0)) ticks" >&2; return 1; }
}
voluntary_switches() { awk '/^voluntary_ctxt_switches:/ { print $2 }' /proc/"$1"/status; }

# activity PID: what changes while PID or one of its children works: the CPU time and the
# context switches of every thread, and how many threads and children there are. The same
# twice, seconds apart: it did nothing meanwhile. (Not for a process stopped by SIGSTOP.)
activity() {
	local p files=()
	for p in "$1" $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		files+=(/proc/"$p"/task/*/stat /proc/"$p"/task/*/status)
	done
	# stat: the command name, in parentheses, may hold spaces (08 names its threads "echo
	# fd N"); utime and stime are the 12th and 13th fields after it (proc(5)). cat, not awk,
	# reads the files: it goes on past a thread that ended meanwhile.
	cat "${files[@]}" 2>/dev/null |
		awk '/^[0-9]+ \(/ { sub(/.*\) /, ""); ticks += $12 + $13; tasks++ }
		/ctxt_switches:/ { switches += $2 }
		END { printf "%d tasks, %d ticks, %d switches\n", tasks, ticks, switches }'
}

# A lab's own per-test resource snapshot, compared after clients leave.
snapshot() {
	BASE_FDS=$(fd_count "$SERVER_PID")
	BASE_THREADS=$(thread_count "$SERVER_PID")
	BASE_CHILDREN=$(children "$SERVER_PID")
}

# Under ThreadSanitizer (SANITIZE=thread: make 08-threaded SANITIZE=thread), its runtime starts
# one background thread of its own at the first pthread_create(): one more thread than the
# baseline is the runtime's, not a leak.
back_to_baseline() {
	local threads
	threads=$(thread_count "$SERVER_PID")
	if [[ ${SANITIZE:-0} == thread ]] && ((threads == BASE_THREADS + 1)); then
		threads=$BASE_THREADS
	fi
	[[ $(fd_count "$SERVER_PID") -eq $BASE_FDS &&
		$threads -eq $BASE_THREADS &&
		$(children "$SERVER_PID") -eq $BASE_CHILDREN &&
		$(zombies "$SERVER_PID") -eq 0 ]]
}

# assert_baseline: wait until fds, threads and children are back where snapshot() saw them.
assert_baseline() {
	if ! wait_for "$WAIT" back_to_baseline; then
		echo "# fds $(fd_count "$SERVER_PID") (was $BASE_FDS)," \
			"threads $(thread_count "$SERVER_PID") (was $BASE_THREADS)," \
			"children $(children "$SERVER_PID") (was $BASE_CHILDREN)," \
			"zombies $(zombies "$SERVER_PID")" >&2
		ls -l /proc/"$SERVER_PID"/fd >&2
		return 1
	fi
}

# --- clients -------------------------------------------------------------------------------

# tcp_echo PORT TEXT: one line through bash's /dev/tcp (independent of our clients); the
# echoed line must equal TEXT.
tcp_echo() {
	local fd line
	exec {fd}<>"/dev/tcp/127.0.0.1/$1"
	printf '%s\n' "$2" >&"$fd"
	IFS= read -r -t "$WAIT" line <&"$fd" || { exec {fd}>&-; echo "# no echo" >&2; return 1; }
	exec {fd}>&-
	[[ $line == "$2" ]] || { echo "# sent '$2', got '$line'" >&2; return 1; }
}

# random_file PATH BYTES: reproducible-enough random content, NUL and high bytes included.
random_file() {
	head -c "$2" /dev/urandom >"$1"
}

# loadgen MODE ARGS...: run bench/loadgen against PORT; status and output as `run` gives.
loadgen() {
	local mode=$1
	shift
	"$LOADGEN" -q -p "$PORT" -t "$WAIT" "$@" "$mode"
}

# result_field NAME LINE: the value of NAME=... in loadgen's result line.
result_field() {
	sed -n "s/.*[ ]$1=\\([^ ]*\\).*/\\1/p" <<<"$2"
}

# accept_queue PORT: connections waiting in the accept queue of the listening socket on PORT
# (for a socket in LISTEN, /proc/net/tcp's rx_queue counts them).
accept_queue() {
	local hexport q
	hexport=$(printf '%04X' "$1")
	q=$(awk -v p=":$hexport" '$2 ~ p"$" && $4 == "0A" { split($5, q, ":"); print q[2] }' \
		/proc/net/tcp)
	echo $((16#${q:-0}))
}
