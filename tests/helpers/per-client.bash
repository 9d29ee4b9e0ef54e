# tests/helpers/per-client.bash: what the tests of the labs that give every client a task of
# its own (08-threaded, 09-forking) share: holding idle clients, streaming clients, the bytes the
# summary counts, and running the server as nobody with a lowered RLIMIT_NPROC. Loaded after
# helpers/conformance.

# hold N: N connections held open by loadgen, each after one echo (its thread or process runs);
# sets HOLD_LOG. release: let them go and wait for loadgen.
hold() {
	HOLD_LOG=$BATS_TEST_TMPDIR/hold.out
	bg "$LOADGEN" -q -p "$PORT" -t $((WAIT * 2)) -c "$1" -s "${2:-64}" hold >"$HOLD_LOG"
	wait_for "$WAIT" grep -q '^hold ' "$HOLD_LOG"
}

release() {
	kill -USR1 "$BG_PID"
	wait "$BG_PID"
}

# streaming_clients N: N of the lab's clients copying /dev/zero through the server, each
# counting what came back into $BATS_TEST_TMPDIR/got.I.
streaming_clients() {
	local i
	for ((i = 1; i <= $1; i++)); do
		bg bash -c "timeout -k 5 $((WAIT * 4)) '$ROOT/$LAB/client' -q -p $PORT </dev/zero \
			2>/dev/null | wc -c >'$BATS_TEST_TMPDIR/got.$i'"
	done
}

# summary_bytes: the bytes the server's summary line says it echoed.
summary_bytes() { sed -n 's/^summary: .* echoed \([0-9]*\) bytes\{0,1\},.*/\1/p' "$SERVER_OUT"; }

# RLIMIT_NPROC caps the tasks (processes and threads) of a user, all of them together; root,
# or any process with CAP_SYS_RESOURCE or CAP_SYS_ADMIN, is exempt. So the server runs as
# nobody (setpriv), and once it runs, its limit is set (prlimit --pid, as nobody too: changing
# another user's limits takes CAP_SYS_RESOURCE) to the tasks nobody has then, the server's own
# included, plus room for K connection threads or children.
nproc_skip_reason() {
	[[ $(id -u) -eq 0 ]] || { echo "needs root, to run the server as nobody"; return; }
	command -v setpriv >/dev/null || { echo "setpriv (util-linux) is not installed"; return; }
	command -v prlimit >/dev/null || { echo "prlimit (util-linux) is not installed"; return; }
	as_nobody "$ROOT/$LAB/server" -h >/dev/null 2>&1 ||
		echo "nobody cannot run $ROOT/$LAB/server (a directory on the way is private?)"
}

as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"; }

# Tasks whose real user is nobody: they count against the same limit.
nobody_tasks() { ps -L -U nobody -o lwp= | wc -l; }

# start_as_nobody ARGS...: start_server, with the server running as nobody.
start_as_nobody() {
	local n=${#BG_PIDS[@]}
	SERVER_OUT=$BATS_TEST_TMPDIR/server$n.out
	SERVER_ERR=$BATS_TEST_TMPDIR/server$n.err
	(
		close_fds
		exec setpriv --reuid=nobody --regid=nogroup --clear-groups -- \
			"$ROOT/$LAB/server" -p 0 "$@"
	) >"$SERVER_OUT" 2>"$SERVER_ERR" </dev/null &
	SERVER_PID=$!
	BG_PIDS+=("$SERVER_PID")
	wait_for "$WAIT" listening_or_dead "$SERVER_PID" "$SERVER_OUT"
	PORT=$(sed -n 's/^listening on .*:\([0-9][0-9]*\)$/\1/p' "$SERVER_OUT")
	[[ -n $PORT ]] || { cat "$SERVER_OUT" "$SERVER_ERR" >&2; return 1; }
}
