#!/usr/bin/env bash
# bench/bench.sh: the script behind `make bench`. It runs every lab's server (and the two
# Python servers of the source articles, as reference rows) under bench/loadgen on the same
# workloads, one fresh server per measurement, and prints one table: a row per server, the
# ratio to the best on each column.
#
#	bench/bench.sh [-q] [-o FILE] [-l "LABS"] [-w "WORKLOADS"] [-r REPS] [-d SECONDS]
#		       [-s NAME=COMMAND]... [-n] [-h]
#
#	-q		quick: one short run per cell (-r 1 -d 0.5), and a server gets 30 s,
#			not 120, to take the idle connections
#	-o FILE		write the tables to FILE and the cells as JSON to FILE.json
#	-l LABS		only these rows: lab numbers or names (03, select, 03-select), py-select,
#			py-selectors, or py for both
#	-w WORKLOADS	only these workloads: pp1 pp100 pp1000 (ping-pong on 1, 100, 1000
#			connections), stream, idle0 idle1000 idle5000 (10 ping-pong clients
#			among that many idle connections), hold10k (10,000 held)
#	-r REPS		repetitions of each cell (default 4); the tables show the median,
#			min and max
#	-d SECONDS	the measured window of each ping-pong and stream run (default 1)
#	-s NAME=COMMAND	measure this server too, started as COMMAND (split on spaces), which
#			must print "listening on HOST:PORT" (tests/tools/trickle, say);
#			without -l, only the -s servers are measured
#	-n		no Python reference rows
#
# Without -q, -o, -l, -w, -r, -d and -s (the full run, `make bench`), it also writes
# docs/results.md (the machine, the date, the method, the tables), bench/results.json and,
# when gnuplot is installed, the two charts in docs/. Any other run leaves them untouched.
# Progress goes to stderr, a line per cell. Exit status: 0 when every cell ran cleanly or
# does not apply (n/a), 1 when a cell of a lab (or of a -s row) failed (errors, mismatches,
# a server that died or hung; a Python row's failures are reported, they do not fail the
# run), 2 for bad usage.
#
# A cell is one workload on one server, measured REPS times, each time thus:
#   1. start the server fresh, on -p 0 with -q and -m N, N being what the cell needs (its
#      connections + FD_MARGIN: -m must not be what limits a cell, and a server that sizes a
#      table from -m should not be charged for a million), its descriptor limit (ulimit -n)
#      raised to N if lower, in a session of its own; wait for its "listening on" line;
#   2. if the cell has idle connections, open them with `loadgen hold` and wait for its
#      "hold held=H refused=R" line: a server that cannot hold them all makes the cell n/a,
#      with what it held; one that loses some (connected, not a byte taken: a handshake its
#      listen queue dropped) fails it. The 10,000-idle cell is that hold alone, with -P:
#      how fast the server answered them (conn/s), the kernel's listen overflows meanwhile
#      (any listener's: /proc/net/netstat is per network namespace), and the server's CPU
#      time, memory, threads and processes once it has settled (loadgen waits until they
#      stay the same over 3 samples 200 ms apart, 20 s at most: POSIX AIO starts a thread
#      per pending read seconds after the last echo);
#   3. run the active load: `loadgen -d SECONDS -P PID`, which measures in a window that
#      opens once echo has come back on every connection, and reads the CPU time of the
#      server's whole process tree (from /proc) at both ends of it, and its memory, threads
#      and processes at its end, while loaded;
#   4. release the idle connections, stop the server with SIGTERM (SIGKILL to its process
#      group if it has not exited within STOP_WAIT seconds, which is a failure), check its
#      exit status and, for a lab, its summary line.
# A known limit makes a cell n/a without running it: 01-blocking serves one client at a
# time, and the Python select server dies past FD_SETSIZE. Every other limit comes from
# what the server does (03-select refuses descriptors past FD_SETSIZE: its hold says so).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOADGEN=$ROOT/bench/loadgen
REPORT=$ROOT/bench/report.awk

# The standard workloads: name, loadgen mode, active connections, idle connections held
# meanwhile, message size, the metric the summary shows (see report.awk), and a title.
WORKLOADS=(
	"pp1	echo	1	0	64	rate	ping-pong 64 B, 1 connection"
	"pp100	echo	100	0	64	rate	ping-pong 64 B, 100 connections"
	"pp1000	echo	1000	0	64	rate	ping-pong 64 B, 1000 connections"
	"stream	stream	1	0	65536	mbs	one connection streaming 64 KiB writes"
	"idle0	echo	10	0	64	cpm	10 ping-pong clients, no idle connections"
	"idle1000	echo	10	1000	64	cpm	10 ping-pong clients among 1000 idle connections"
	"idle5000	echo	10	5000	64	cpm	10 ping-pong clients among 5000 idle connections"
	"hold10k	hold	10000	0	64	rpc	10,000 idle connections held"
)

FD_MARGIN=64		# descriptors a server needs beyond its connections
LISTEN_WAIT=10		# seconds for a server's "listening on" line
HOLD_WAIT=120		# seconds for a hold line (10,000 forks on a busy machine)
STOP_WAIT=20		# seconds for a server to exit after SIGTERM
CELL_BUDGET=20		# seconds a cell may take over all its repetitions

usage() {
	sed -n '/^#	bench/,/^#	-n/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

die_usage() {
	echo "bench: $1" >&2
	echo "bench: bench/bench.sh -h lists the options" >&2
	exit 2
}

quick=0 out='' only_labs='' only_work='' reps='' window='' python=1 full=1
extra=()
while getopts "qo:l:w:r:d:s:nh" o; do
	case $o in
	q) quick=1 full=0 ;;
	o) out=$OPTARG full=0 ;;
	l) only_labs=$OPTARG full=0 ;;
	w) only_work=$OPTARG full=0 ;;
	r) reps=$OPTARG full=0 ;;
	d) window=$OPTARG full=0 ;;
	s) extra+=("$OPTARG") full=0 ;;
	n) python=0 ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
(($# == 0)) || die_usage "unexpected argument '$1'"
[[ -z $reps ]] && reps=$((quick ? 1 : 4))
((quick)) && HOLD_WAIT=30
quick_window=0.5
[[ -z $window ]] && window=$( ((quick)) && echo "$quick_window" || echo 1)
[[ $reps =~ ^[1-9][0-9]*$ ]] || die_usage "-r: '$reps' is not a positive number"
[[ $window =~ ^[0-9]+(\.[0-9]{1,3})?$ ]] || die_usage "-d: '$window' is not a number of seconds"
[[ -x $LOADGEN ]] || { echo "bench: $LOADGEN is not built: run make first" >&2; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/iomodels-bench.XXXXXX") || exit 1
RAW=$TMP/raw
SPID='' HPID=''

# Whatever happens (the end, an error, Ctrl-C), stop what this script started, by PID.
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
	[[ -n $HPID ]] && kill -TERM "$HPID" 2>/dev/null
	[[ -n $SPID ]] && kill -KILL -- "-$SPID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'echo "bench: interrupted" >&2; exit 130' INT TERM

# ---- rows: the servers to measure -------------------------------------------------------

# Every candidate row (label, lab, program, kind, command), then those -l selects.
C_LABEL=() C_LAB=() C_PROG=() C_KIND=() C_CMD=()
candidate() {
	C_LABEL+=("$1") C_LAB+=("$2") C_PROG+=("$3") C_KIND+=("$4") C_CMD+=("$5")
}
for dir in "$ROOT"/[0-9][0-9]-*/; do
	lab=$(basename "$dir")
	[[ -f $dir/Makefile ]] || continue
	for prog in "$dir"server "$dir"server-*; do
		[[ -f $prog && $prog != *.c ]] || continue
		name=$(basename "$prog")
		label=$lab
		[[ $name == server-* ]] && label=$lab-${name#server-}
		candidate "$label" "$lab" "$lab/$name" lab "$prog -p 0 -q"
	done
done
for py in py-select py-selectors; do
	candidate "$py" "$py" "bench/$py.py" python "python3 $ROOT/bench/$py.py -p 0 -q"
done

# matches WORD LAB LABEL: whether a -l word names this row: 03, select, 03-select, the
# label (07-aio-posixaio), py-select, or py for both Python rows.
matches() {
	case $1 in
	"$2" | "$3") return 0 ;;
	py) [[ $2 == py-* ]] ;;
	*) [[ $2 =~ ^[0-9][0-9]- && ($1 == "${2%%-*}" || $1 == "${2#*-}") ]] ;;
	esac
}

for w in $only_labs; do
	found=0
	for c in "${!C_LABEL[@]}"; do
		matches "$w" "${C_LAB[c]}" "${C_LABEL[c]}" && found=1
	done
	((found)) || die_usage "-l: no lab named '$w' (here: ${C_LABEL[*]})"
done

ROW_LABEL=() ROW_LAB=() ROW_PROG=() ROW_KIND=() ROW_CMD=() ROW_DEAD=()
no_python=0
for c in "${!C_LABEL[@]}"; do
	[[ ${#extra[@]} -gt 0 && -z $only_labs ]] && break
	if [[ -n $only_labs ]]; then
		found=0
		for w in $only_labs; do
			matches "$w" "${C_LAB[c]}" "${C_LABEL[c]}" && found=1
		done
		((found)) || continue
	fi
	if [[ ${C_KIND[c]} == python ]]; then
		((python)) || continue
		if ! command -v python3 >/dev/null 2>&1; then
			no_python=1
			continue
		fi
	elif [[ ! -x $ROOT/${C_PROG[c]} ]]; then
		echo "bench: ${C_PROG[c]} is not executable: skipped (make ${C_LAB[c]})" >&2
		continue
	fi
	ROW_LABEL+=("${C_LABEL[c]}") ROW_LAB+=("${C_LAB[c]}") ROW_PROG+=("${C_PROG[c]}")
	ROW_KIND+=("${C_KIND[c]}") ROW_CMD+=("${C_CMD[c]}") ROW_DEAD+=("")
done
((no_python)) && echo "bench: python3 is not installed: the Python reference rows are skipped" >&2
for s in ${extra[@]+"${extra[@]}"}; do
	[[ $s == *=* && ${s%%=*} =~ ^[A-Za-z0-9._:+-]+$ ]] ||
		die_usage "-s: '$s' is not NAME=COMMAND (NAME: letters, digits, . _ : + -)"
	ROW_LABEL+=("${s%%=*}") ROW_LAB+=("${s%%=*}") ROW_PROG+=("${s#*=}")
	ROW_KIND+=(custom) ROW_CMD+=("${s#*=}") ROW_DEAD+=("")
done
((${#ROW_LABEL[@]} > 0)) || { echo "bench: no server to measure" >&2; exit 1; }

# ---- workloads --------------------------------------------------------------------------

W_NAME=() W_MODE=() W_CONNS=() W_IDLE=() W_SIZE=() W_TITLE=()
for line in "${WORKLOADS[@]}"; do
	IFS=$'\t' read -r name mode conns idle size metric title <<<"$line"
	if [[ -n $only_work && " $only_work " != *" $name "* ]]; then
		continue
	fi
	W_NAME+=("$name") W_MODE+=("$mode") W_CONNS+=("$conns") W_IDLE+=("$idle")
	W_SIZE+=("$size") W_TITLE+=("$title")
	echo "workload idx=$((${#W_NAME[@]} - 1)) name=$name mode=$mode conns=$conns idle=$idle size=$size metric=$metric title=$title" >>"$RAW"
done
((${#W_NAME[@]} > 0)) || die_usage "-w: no such workload in '$only_work' (workloads: $(printf '%s\n' "${WORKLOADS[@]}" | cut -f1 | tr '\n' ' '))"
for r in "${!ROW_LABEL[@]}"; do
	echo "row idx=$r label=${ROW_LABEL[r]} lab=${ROW_LAB[r]} program=${ROW_PROG[r]} kind=${ROW_KIND[r]}" >>"$RAW"
done

HARD=$(ulimit -Hn)
[[ $HARD == unlimited ]] && HARD=1048576

# known_na ROW WORKLOAD: print why the cell cannot apply, from what the model is known to
# do; fail if nothing is known against it.
known_na() {
	local r=$1 w=$2 need=$((W_CONNS[$2] + W_IDLE[$2]))
	case ${ROW_LAB[r]} in
	01-*)
		((need > 1)) && echo "serves one client at a time: the others would wait in the listen backlog for the whole cell" && return 0 ;;
	py-select)
		((need > 1000)) && echo "select.select() raises ValueError for a descriptor past FD_SETSIZE (1024): the server would die" && return 0 ;;
	esac
	((need + FD_MARGIN > HARD)) && echo "needs $((need + FD_MARGIN)) descriptors; the hard limit (ulimit -Hn) is $HARD" && return 0
	return 1
}

# ---- one measurement --------------------------------------------------------------------

# kv KEY LINE: the value of KEY=... in LINE.
kv() {
	[[ " $2 " =~ \ $1=([^ ]*)\  ]] && echo "${BASH_REMATCH[1]}"
}

# proc_state PID: the state letter of PID in /proc (R, S, Z...), nothing if it is gone.
proc_state() {
	local line
	read -r line 2>/dev/null <"/proc/$1/stat" || return 0
	line=${line##*) }
	echo "${line%% *}"
}

# alive PID: PID exists and has not exited (a zombie is waiting for us to reap it).
alive() {
	local st
	st=$(proc_state "$1")
	[[ -n $st && $st != Z ]]
}

# wait_line FILE REGEX SECONDS PID: wait until FILE has a line matching REGEX, while PID is
# alive; fail after SECONDS.
wait_line() {
	local deadline=$((SECONDS + $3))
	until grep -q -- "$2" "$1" 2>/dev/null; do
		alive "$4" || { grep -q -- "$2" "$1" 2>/dev/null; return; }
		((SECONDS < deadline)) || return 1
		sleep 0.02
	done
}

# first_line FILE: its first line that says something, for a note.
first_line() {
	grep -m1 -v '^[[:space:]]*$' "$1" 2>/dev/null | cut -c1-200
}

# Cell results, reset before every measurement and written as one raw line.
declare -A F
emit() {
	local k line="cell row=$1 workload=${W_NAME[$2]} rep=$3"
	for k in status msgs bytes secs p50 p99 cpu_us rss_kb rss0_kb threads procs settle_ms held refused \
	    conn_per_s listen_overflows listen_drops lost errors mismatches; do
		[[ -n ${F[$k]:-} ]] && line+=" $k=${F[$k]}"
	done
	echo "$line note=${F[note]:-}" >>"$RAW"
}

fail() {	# fail NOTE: the measurement failed; NOTE says why (notes accumulate)
	F[status]=failed
	F[note]=${F[note]:+${F[note]}; }$1
}

# server_start ROW NOFILE: start the row's server fresh with that descriptor limit (and,
# for a lab, -m NOFILE); set SPID and PORT. On failure, set F and fail.
server_start() {
	local r=$1 nofile=$2 cmd
	read -ra cmd <<<"${ROW_CMD[r]}"
	[[ ${ROW_KIND[r]} == lab ]] && cmd+=(-m "$nofile")
	: >"$TMP/server.out"
	: >"$TMP/server.err"
	# setsid(1) execs in place (this subshell is not a group leader): SPID is the server,
	# leader of its own process group, so a hung server is killed with its children.
	(
		soft=$(ulimit -Sn)
		((nofile > soft)) && ulimit -Sn "$nofile"
		exec setsid "${cmd[@]}"
	) </dev/null >"$TMP/server.out" 2>"$TMP/server.err" 3>&- &
	SPID=$!
	if ! wait_line "$TMP/server.out" '^listening on ' "$LISTEN_WAIT" "$SPID"; then
		if alive "$SPID"; then
			fail "no 'listening on' line within $LISTEN_WAIT s"
			server_stop "$r"
		else
			wait "$SPID"
			local st=$? why
			SPID=
			why=$(first_line "$TMP/server.err")
			# A server that cannot run here (07-aio without io_uring) is n/a for every
			# cell, with its own reason.
			F[status]=na
			F[note]="the server exited at start (status $st)${why:+: $why}"
			ROW_DEAD[r]=${F[note]}
		fi
		return 1
	fi
	PORT=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$TMP/server.out" | head -1)
	return 0
}

# server_stop ROW: SIGTERM, wait, SIGKILL the group if it hangs; check how it ended.
server_stop() {
	local r=$1 deadline=$((SECONDS + STOP_WAIT)) st
	[[ -n $SPID ]] || return 0
	if alive "$SPID"; then
		kill -TERM "$SPID" 2>/dev/null
		while alive "$SPID" && ((SECONDS < deadline)); do
			sleep 0.02
		done
		if alive "$SPID"; then
			kill -KILL -- "-$SPID" 2>/dev/null
			fail "the server did not exit within $STOP_WAIT s of SIGTERM: killed"
		fi
	else
		F[died]=1
	fi
	wait "$SPID" 2>/dev/null
	st=$?
	SPID=
	if [[ -n ${F[died]:-} ]]; then
		fail "the server died during the cell (exit status $st)$(why=$(first_line "$TMP/server.err"); [[ -n $why ]] && echo ": $why")"
	elif ((st != 0)) && [[ ${F[status]} != failed ]]; then
		fail "the server exited with status $st after SIGTERM"
	elif [[ ${ROW_KIND[r]} == lab ]] && ! grep -q '^summary: ' "$TMP/server.out"; then
		fail "no summary line after SIGTERM"
	fi
}

# holder_start N [-P]: open N idle connections with loadgen hold; set HPID, F[held]. Fails
# (returns 1) when the hold line does not come.
holder_start() {
	local n=$1
	shift
	: >"$TMP/hold.out"
	"$LOADGEN" -p "$PORT" -c "$n" -s 64 -q -t $((HOLD_WAIT + 600)) "$@" hold \
	    >"$TMP/hold.out" 2>"$TMP/hold.err" 3>&- &
	HPID=$!
	local line
	if ! wait_line "$TMP/hold.out" '^hold held=' "$HOLD_WAIT" "$HPID"; then
		# Too slow to accept them all: what it did hold is in loadgen's result line.
		kill -TERM "$HPID" 2>/dev/null
		wait "$HPID" 2>/dev/null
		HPID=
		line=$(grep -m1 '^result ' "$TMP/hold.out")
		F[status]=na
		F[note]="held only $(kv ok "$line") of $n connections within $HOLD_WAIT s ($(kv refused "$line") refused)"
		lost_check "$(kv lost "$line")"
		return 1
	fi
	line=$(grep -m1 '^hold held=' "$TMP/hold.out")
	F[held]=$(kv held "$line")
	F[refused]=$(kv refused "$line")
	line=$(grep -m1 '^accept ' "$TMP/hold.out")
	F[conn_per_s]=$(kv conn_per_s "$line")
	F[listen_overflows]=$(kv listen_overflows "$line")
	F[listen_drops]=$(kv listen_drops "$line")
	lost_check "$(kv lost "$line")"
}

# lost_check N: N connections were lost (connected, not a byte taken): none may be.
lost_check() {
	F[lost]=$1
	[[ -n $1 ]] && (($1 > 0)) &&
		fail "$1 connection(s) lost: connected, but the server's kernel never acknowledged a byte (a dropped handshake): $(grep -m1 'lost: ' "$TMP/hold.err" | cut -c1-160)"
	return 0
}

holder_stop() {
	[[ -n $HPID ]] || return 0
	kill -USR1 "$HPID" 2>/dev/null
	wait "$HPID" 2>/dev/null
	HPID=
}

# server_line FILE: put loadgen's "server ..." line into F.
server_fields() {
	local line
	line=$(grep -m1 '^server ' "$1")
	if [[ -z $line ]]; then
		fail "no server line from loadgen$(why=$(first_line "${1%.out}.err"); [[ -n $why ]] && echo ": $why")"
	elif [[ $line == "server exited" ]]; then
		F[died]=1
	else
		F[cpu_us]=$(kv cpu_us "$line") F[rss_kb]=$(kv rss_kb "$line")
		F[rss0_kb]=$(kv rss0_kb "$line") F[threads]=$(kv threads "$line")
		F[procs]=$(kv procs "$line") F[settle_ms]=$(kv settle_ms "$line")
	fi
}

# measure ROW WORKLOAD REP: one measurement of a cell, on a fresh server; one raw line.
measure() {
	local r=$1 w=$2 rep=$3 reason conns=${W_CONNS[$2]} idle=${W_IDLE[$2]} mode=${W_MODE[$2]}
	local line
	F=([status]=ok)
	if [[ -n ${ROW_DEAD[r]} ]]; then
		F=([status]=na [note]=${ROW_DEAD[r]})
	elif reason=$(known_na "$r" "$w"); then
		F=([status]=na [note]=$reason)
	elif server_start "$r" $((conns + idle + FD_MARGIN)); then
		if [[ $mode == hold ]]; then
			if holder_start "$conns" -P "$SPID"; then
				wait_line "$TMP/hold.out" '^server ' 60 "$HPID"
				server_fields "$TMP/hold.out"
				((F[held] == 0)) && fail "held no connection"
				((F[held] < conns)) && F[note]="held ${F[held]} of $conns (${F[refused]} refused)"
			fi
			holder_stop
		else
			if ((idle == 0)) || holder_start "$idle"; then
				if ((idle > 0 && F[held] < idle)); then
					# Lost connections failed the cell: that stands.
					[[ ${F[status]} == failed ]] || F[status]=na
					F[note]="${F[note]:+${F[note]}; }held only ${F[held]} of $idle idle connections (${F[refused]} refused)"
				else
					run_active "$r" "$w"
				fi
			fi
			holder_stop
		fi
		server_stop "$r"
		[[ ${F[status]} == na ]] && F=([status]=na [note]=${F[note]})
	fi
	emit "$r" "$w" "$rep"
}

# run_active ROW WORKLOAD: the measured load, in loadgen's window, with -P.
run_active() {
	local w=$2 line limit
	limit=$((${window%.*} + 60))
	"$LOADGEN" -p "$PORT" -c "${W_CONNS[w]}" -s "${W_SIZE[w]}" -d "$window" -P "$SPID" -q \
	    -t "$limit" "${W_MODE[w]}" >"$TMP/active.out" 2>"$TMP/active.err" 3>&-
	server_fields "$TMP/active.out"
	line=$(grep -m1 '^result ' "$TMP/active.out")
	if [[ -z $line ]]; then
		fail "no result line from loadgen$(why=$(first_line "$TMP/active.err"); [[ -n $why ]] && echo ": $why")"
		return
	fi
	F[msgs]=$(kv messages "$line") F[bytes]=$(kv bytes "$line") F[secs]=$(kv seconds "$line")
	F[p50]=$(kv p50_us "$line") F[p99]=$(kv p99_us "$line")
	F[errors]=$(($(kv errors "$line") + $(kv refused "$line")))
	F[mismatches]=$(kv mismatches "$line")
	if ((F[mismatches] > 0)); then
		fail "${F[mismatches]} connection(s) got a byte back that was not sent: $(grep -m1 'mismatch' "$TMP/active.err" | cut -c1-160)"
	fi
	if ((F[errors] > 0)); then
		fail "${F[errors]} connection(s) failed: $(first_line "$TMP/active.err")"
	fi
}

# ---- the run ----------------------------------------------------------------------------

nrows=${#ROW_LABEL[@]}
nwork=${#W_NAME[@]}
total=$((nrows * nwork * reps))
cell_no=0
start=$SECONDS
echo "bench: $nrows server(s) × $nwork workload(s) × $reps repetition(s), ${window} s windows; load generator and servers share $(nproc) core(s)" >&2

# summary_of: the one-line result of the last measurement, for the progress line.
summary_of() {
	local s=${F[status]}
	if [[ $s == na ]]; then
		echo "n/a: ${F[note]}"
		return
	fi
	if [[ -n ${F[held]:-} && ${W_MODE[$1]} == hold && -n ${F[rss_kb]:-} ]] && ((F[held] > 0)); then
		s="held ${F[held]}, $(awk -v a="${F[rss_kb]}" -v b="${F[rss0_kb]}" -v n="${F[held]}" 'BEGIN { printf "%.2f KiB/conn", (a - b) / n }'), ${F[threads]} threads, ${F[conn_per_s]:-?} conn/s, ${F[listen_overflows]:-?} listen overflows"
	elif [[ -n ${F[secs]:-} && -n ${F[cpu_us]:-} ]]; then
		s=$(awk -v m="${F[msgs]}" -v b="${F[bytes]}" -v t="${F[secs]}" -v c="${F[cpu_us]}" \
		    -v size="${W_SIZE[$1]}" -v mode="${W_MODE[$1]}" 'BEGIN {
			if (mode == "stream") { n = b / size; printf "%.1f MB/s", b / t / 1e6 }
			else { n = m; printf "%.0f msg/s", m / t }
			if (n > 0) printf ", %.1f µs CPU/msg", c / n }')
	fi
	[[ ${F[status]} == failed ]] && s="FAILED: ${F[note]}${s:+ ($s)}"
	echo "$s"
}

# Per cell: the seconds spent on it, the last measurement's, and whether it is n/a.
CELL_SPENT=() CELL_LAST=() CELL_NA=()
for ((rep = 1; rep <= reps; rep++)); do
	for ((r = 0; r < nrows; r++)); do
		for ((w = 0; w < nwork; w++)); do
			c=$((r * nwork + w))
			cell_no=$((cell_no + 1))
			el=$((SECONDS - start))
			printf 'bench: [%d/%d] %s: %s (rep %d/%d, cell %d/%d, %d:%02d)' \
			    $((r + 1)) "$nrows" "${ROW_LABEL[r]}" "${W_TITLE[w]}" "$rep" "$reps" \
			    "$cell_no" "$total" $((el / 60)) $((el % 60)) >&2
			# n/a once is n/a: not measured again. A cell whose measurements are slow
			# (a server that accepts 10,000 connections one busy pass at a time) is
			# repeated only while it stays within its time budget.
			if [[ -n ${CELL_NA[c]:-} ]]; then
				echo " → n/a (as in rep 1)" >&2
				continue
			fi
			if ((rep > 1 && CELL_SPENT[c] + CELL_LAST[c] > CELL_BUDGET)); then
				echo "cell row=$r workload=${W_NAME[w]} rep=$rep status=skip note=measured $((rep - 1)) of $reps times: one measurement takes about ${CELL_LAST[c]} s, and a cell gets $CELL_BUDGET s" >>"$RAW"
				echo " → skipped: over the cell's $CELL_BUDGET s budget" >&2
				continue
			fi
			t0=$SECONDS
			measure "$r" "$w" "$rep"
			CELL_LAST[c]=$((SECONDS - t0))
			CELL_SPENT[c]=$((${CELL_SPENT[c]:-0} + CELL_LAST[c]))
			[[ ${F[status]} == na ]] && CELL_NA[c]=1
			echo " → $(summary_of "$w")" >&2
		done
	done
done
elapsed=$((SECONDS - start))
echo "bench: done in $((elapsed / 60)) min $((elapsed % 60)) s" >&2

# ---- the report -------------------------------------------------------------------------

report() {	# report OUT: run report.awk on the measurements
	LC_ALL=C awk -v out="$1" -f "$REPORT" "$RAW"
}

# results_md: docs/results.md, from the measurements of this run.
results_md() {
	cat <<EOF
# Measured results

Written by \`make bench\` (bench/bench.sh) on $(date -u '+%Y-%m-%d at %H:%M UTC'); do not edit
by hand, run it again. The whole run took $((elapsed / 60)) min $((elapsed % 60)) s: ${nrows} servers,
${nwork} workloads, ${reps} repetitions of each cell, ${window} s measured per ping-pong and stream run.
\`make bench QUICK=1 OUT=FILE\` is the short version (one ${quick_window} s run per cell, tables in FILE,
JSON in FILE.json, docs/ untouched); \`make bench LABS="03 05"\` measures some labs only.

**Machine:** ${machine}.

**Honest on this machine:** ${honest}

$(report summary)

![Server CPU per echoed message against idle connections, one line per server](bench-idle-cpu.svg)

![Server memory per idle connection, 10,000 connections held](bench-rss-per-conn.svg)

## Method

Every cell is measured on a fresh server, ${reps} times; the tables show the median, with the
min–max of the repetitions when they differ. The repetitions are interleaved (the first of
every cell, then the second...), so that a busy moment on this shared machine does not fall on
one server alone. A cell whose measurements are slow (a server that takes most of a minute
to accept 10,000 connections) is repeated only while it stays within ${CELL_BUDGET} s, and the
notes say so; a cell that is n/a once is not measured again.

- **The server** is started as \`LAB/server -p 0 -q -m N\`: a free port, no logging, and a
  connection cap N of the cell's connections + ${FD_MARGIN}, so that the model, not -m, is what
  limits it (and a server that sizes a table from -m is not charged for more). Its
  descriptor limit (\`ulimit -n\`) is raised to N when it is lower; a cell that would need
  more than the hard limit (${HARD} here) is n/a. It is stopped with SIGTERM; one that does not exit within ${STOP_WAIT} s is
  killed, and that is a failure, as is a non-zero exit status or a missing summary line.
- **The load** is \`bench/loadgen\` (C, epoll, one process), which verifies every byte that
  comes back. A ping-pong or stream run is measured in a window of ${window} s (\`loadgen -d\`)
  that opens once every connection is connected, so that every cell lasts the same time
  whatever the server's speed and connection set-up stays out of the numbers; after the
  window each connection finishes its round trip, half-closes and reads the rest of its
  echo, still verified. Ping-pong: one 64 B message at a time per connection. Stream: one
  connection sending 64 KiB writes while reading the echo.
- **Idle connections** are opened first by \`loadgen hold\` (each echoes one message, then
  stays open and silent) and held while 10 active clients ping-pong. That is the experiment
  of Gammo et al. (Linux Symposium 2004): with select() and poll() each wait hands the
  kernel every descriptor, so the idle ones cost CPU on every message; epoll's does not. A
  server that cannot hold them all is n/a for that cell, with the count it held.
- **10,000 idle** is that hold alone, with no active client. **conn/s** is how fast the
  server answered: connections held (or refused past its limit) per second, from before the
  first connect until the last one's echo came back (\`loadgen hold\`'s accept line).
  **Listen overflows** is how much the kernel's ListenOverflows counter grew meanwhile
  (TcpExt in /proc/net/netstat: a handshake dropped because the listener's accept queue was
  full; the client tries again later or, connected on its side, waits): it counts every
  listener of the machine's network namespace, not the server's alone, so another program's
  connect storm at the same moment lands in it too. None may be **lost**: a connection
  that loadgen saw connected but whose bytes the server's kernel never acknowledged, reset
  or silent (what a dropped handshake leaves), fails the cell. Memory, threads and CPU are
  read once the server has settled: loadgen samples it every 200 ms until 3 samples in a
  row agree (threads, processes, and memory within 1%), 20 s at most, because a server may
  go on working after the last echo (glibc's POSIX AIO starts a thread per pending read
  seconds later).
- **CPU µs per message** is the server's CPU time over the window divided by the messages
  echoed in it: utime + stime from /proc/PID/stat, which covers every thread, plus every
  child process it started (alive: its own /proc entry; reaped: the parent's cutime +
  cstime). The kernel counts it in clock ticks of $((1000 / $(getconf CLK_TCK))) ms, so a reading is exact to a tick.
  Stream: per 64 KiB write. 10,000 idle: per connection the server accepted (held, or
  refused past its limit), from before the first connect until all were held and the
  server had settled.
- **RSS** is the server's resident memory at the end of the window, while loaded (VmRSS);
  for a server with child processes, the sum of their proportional set sizes (Pss, from
  /proc/PID/smaps_rollup), which counts a page shared by n processes 1/n in each, so that
  forked copies of the same page are counted once. **KiB/conn** (10,000 idle) is what
  holding them added: (RSS once settled − RSS before the first connect) / connections
  held. It is the server's own memory only: the kernel's socket buffers are not in it.
- **Latency** p50/p99 is per round trip, on the load generator's clock, so it includes
  its own queueing: with 1000 connections in flight, p50 is about 1000 / (msg/s).
- **One connection** is one round trip at a time, and on this virtual machine its speed
  depends on where the scheduler puts the server and the load generator: on the same core
  a round trip takes about 20 µs; on two cores, each message wakes an idle core through the
  hypervisor, which takes about 70 µs and costs the server two to three times the CPU.
  Its repetitions therefore spread widely (see the min–max): read the 1-connection column
  for the order of magnitude, and the 100-connection and idle columns to compare servers.
- **n/a** cells do not apply, and say why. 01-blocking serves one client at a time: with
  100 clients, 99 would wait in the listen backlog for the whole window and the number
  would measure one client, so its multi-client cells are n/a (its 1-connection and
  stream cells apply). The Python select server dies past FD_SETSIZE (Python's
  select.select() raises ValueError). Every other limit is what the server did: 03-select
  refuses descriptors past FD_SETSIZE (1024), and its hold says how many it kept.
- **Reference rows** py-select and py-selectors are the source articles' own Python echo
  servers (bench/py-select.py: select(), from the first article; bench/py-selectors.py:
  selectors.DefaultSelector, which is epoll, from the second), run with python3 as the
  articles show them, fixed only where they crash (their headers list every change). They
  are there so that a student sees the C labs against the Python they started from. What
  their code gets wrong shows too: py-select closes a connection as soon as recv() returns
  EOF, dropping the echo still queued for it, so a client that half-closes (the stream
  cell) may lose the tail of its echo; the bench reports that as the failure it is (a
  Python row's failure does not fail the run).
- **The ratio** (×N.NN) is to the best row of the column: the highest msg/s or MB/s, the
  lowest latency, CPU or memory, among the cells that did not fail.

## Per workload

$(report details)

$(report notes)

The same cells, one JSON object each: [bench/results.json](../bench/results.json).
EOF
}

cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
machine="${cpu_model:-unknown CPU}, $(nproc) cores, Linux $(uname -r), RLIMIT_NOFILE $(ulimit -Sn) soft / $(ulimit -Hn) hard, $(awk '/^MemTotal/ { printf "%.0f GiB RAM", $2 / 1048576 }' /proc/meminfo)"
honest="Load generator and server share this machine's $(nproc) cores, so msg/s is capped by loadgen as much as by the server: read CPU µs per message (the server's CPU time, all its threads and processes, per echoed message) to compare servers."
report table >"$TMP/table"
{
	echo
	echo "$machine; $(date -u '+%Y-%m-%d %H:%M UTC'); $reps × ${window} s per cell."
	echo "$honest"
	echo
	cat "$TMP/table"
} | tee "$TMP/stdout-table"

if [[ -n $out ]]; then
	cp "$TMP/stdout-table" "$out" && report json >"$out.json" &&
		echo "bench: wrote $out and $out.json" >&2
fi
if ((full)); then
	report json >"$ROOT/bench/results.json"
	results_md >"$ROOT/docs/results.md"
	echo "bench: wrote docs/results.md and bench/results.json" >&2
	# Each lab page's measured row is a checked copy of its rows in the summary.
	"$ROOT/tools/results-rows.sh" update >&2
	if command -v gnuplot >/dev/null 2>&1; then
		report idle >"$TMP/idle.dat"
		report rss >"$TMP/rss.dat"
		nidle=$(grep -c '^"' "$TMP/idle.dat")
		if ((nidle > 0)) && [[ -s $TMP/rss.dat ]]; then
			gnuplot -e "idle='$TMP/idle.dat'; nidle=$nidle; rss='$TMP/rss.dat'; outdir='$ROOT/docs'" \
			    "$ROOT/bench/charts.gp" &&
				echo "bench: wrote docs/bench-idle-cpu.svg and docs/bench-rss-per-conn.svg" >&2
		else
			echo "bench: no cell to chart: the charts in docs/ are not redrawn" >&2
		fi
	else
		echo "bench: gnuplot is not installed: the charts in docs/ are not redrawn (apt-get install gnuplot-nox)" >&2
	fi
elif [[ -z $out ]]; then
	echo "bench: docs/ and bench/results.json untouched (only the full run, make bench, writes them)" >&2
fi

# A failed cell fails the run, except on the Python rows: what the articles' code gets
# wrong is a finding, reported in the notes, not a fault of the bench or of a lab.
status=0 failed=0
while read -r line; do
	failed=$((failed + 1))
	[[ ${ROW_KIND[$(kv row "$line")]} == python ]] || status=1
done < <(grep '^cell .* status=failed' "$RAW")
((failed == 0)) || echo "bench: $failed measurement(s) failed: see the notes under the tables" >&2
exit "$status"
