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

ROOT=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
LOADGEN=$ROOT/bench/loadgen

# Build everything once per test file; make does nothing when it is up to date. MAKEFLAGS from
# an outer `make test` would leak its jobserver and options into this make, so drop them.
build_all() {
	(unset MAKEFLAGS MAKELEVEL MFLAGS; make -s -C "$ROOT" SANITIZE="${SANITIZE:-0}" all) ||
		{ echo "# build failed" >&2; return 1; }
}

# wait_for SECONDS COMMAND...: run COMMAND until it succeeds; fail after SECONDS.
wait_for() {
	local limit=$1 deadline
	shift
	deadline=$((SECONDS + limit))
	until "$@"; do
		if ((SECONDS >= deadline)); then
			echo "# gave up after ${limit}s waiting for: $*" >&2
			return 1
		fi
		sleep 0.02
	done
}

# The sanitizer build starts and runs slower; give every wait the same generous deadline.
WAIT=${IOMODELS_WAIT:-30}

BG_PIDS=()

# start_server LAB [ARGS...]: start LAB's server on a free port and wait until it listens.
# Sets SERVER_PID, PORT, SERVER_OUT (its stdout) and SERVER_ERR (its log).
# With SERVER_NOFILE=N set, the server runs with its fd limit (ulimit -n) at N.
start_server() {
	local lab=$1 n=${#BG_PIDS[@]}
	shift
	SERVER_OUT=$BATS_TEST_TMPDIR/server$n.out
	SERVER_ERR=$BATS_TEST_TMPDIR/server$n.err
	# The subshell becomes the server (exec), so $! is the server's PID. It starts with
	# only fds 0-2, as from a terminal: what bats has open is not the server's business, and
	# would shift the descriptor numbers the tests reason about.
	(
		close_fds
		if [[ -n ${SERVER_NOFILE:-} ]]; then
			ulimit -n "$SERVER_NOFILE" || exit 1
		fi
		exec "$ROOT/$lab/server" -p 0 "$@"
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
	kill -"$sig" "$pid"
	wait_for "$WAIT" is_gone "$pid" || return 1
	SERVER_STATUS=0
	wait "$pid" || SERVER_STATUS=$?
}

is_gone() {
	! kill -0 "$1" 2>/dev/null || [[ $(proc_state "$1") == Z ]]
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

# wait_idle PID: the server is asleep in a system call (accept, read, select...), so a signal
# sent now interrupts that call and cannot land between its test of the stop flag and the call.
wait_idle() { wait_for "$WAIT" is_sleeping "$1"; }

# A lab's own per-test resource snapshot, compared after clients leave.
snapshot() {
	BASE_FDS=$(fd_count "$SERVER_PID")
	BASE_THREADS=$(thread_count "$SERVER_PID")
	BASE_CHILDREN=$(children "$SERVER_PID")
}

back_to_baseline() {
	[[ $(fd_count "$SERVER_PID") -eq $BASE_FDS &&
		$(thread_count "$SERVER_PID") -eq $BASE_THREADS &&
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
