#!/usr/bin/env bats
# The suite's own machinery holds: every lab file runs every conformance case or says why
# not (tools/conformance.sh), the checks that do so fail when they should, and a wait on a
# server that ended or stalled gives up early, saying which (wait_for).

bats_require_minimum_version 1.5.0
load helpers/iomodels

setup() { not_the_labs; }

teardown() {
	stop_all
}

@test "suite: every lab file calls each conformance case, or skips it with a reason" {
	run "$ROOT/tools/conformance.sh"
	echo "$output"
	[[ $status -eq 0 && -z $output ]]
}

# The check run on a copy of tests/ with one fault planted at a time: each is named.
@test "suite: the conformance check names a case left out, skipped and called, or unknown" {
	local t=$BATS_TEST_TMPDIR/tests f
	mkdir -p "$t"
	cp -r "$ROOT/tests/helpers" "$ROOT"/tests/[0-9][0-9]-*.bats "$t"
	run "$ROOT/tools/conformance.sh" "$t"
	[[ $status -eq 0 ]] || { echo "$output" >&2; return 1; }

	# A case left out by accident.
	sed -i 's/{ conf_sigpipe; }/{ true; }/; /^[ \t]*conf_sigpipe$/d' "$t/03-select.bats"
	run "$ROOT/tools/conformance.sh" "$t"
	[[ $status -eq 1 &&
		$output == "03-select.bats: conf_sigpipe is neither called nor skipped"* ]] ||
		{ echo "$output" >&2; return 1; }
	cp "$ROOT/tests/03-select.bats" "$t"

	# A case skipped and called.
	sed -i '/^LAB=/i # conformance: skip conf_ipv6 -- no reason to' "$t/04-poll.bats"
	run "$ROOT/tools/conformance.sh" "$t"
	[[ $status -eq 1 && $output == "04-poll.bats:"*": conf_ipv6 is skipped, and called on"* ]] ||
		{ echo "$output" >&2; return 1; }
	cp "$ROOT/tests/04-poll.bats" "$t"

	# A skip, or a call, that names no case; a skip with no reason.
	sed -i '/^LAB=/i # conformance: skip conf_no_such_case -- a typo' "$t/05-epoll-lt.bats"
	sed -i 's/{ conf_fin_cleanup; }/{ conf_fin_clean_up; }/' "$t/06-epoll-et.bats"
	sed -i '/^LAB=/i # conformance: skip conf_ipv6' "$t/08-threaded.bats"
	run "$ROOT/tools/conformance.sh" "$t"
	[[ $status -eq 1 && $output == *"05-epoll-lt.bats:"*": conf_no_such_case is no case"* &&
		$output == *"06-epoll-et.bats:"*": conf_fin_clean_up is no case"* &&
		$output == *"08-threaded.bats:"*': not "# conformance [SERVER]: skip'* ]] ||
		{ echo "$output" >&2; return 1; }
	cp "$ROOT"/tests/0[568]-*.bats "$t"

	# 07-aio's second server is held on its own: a case its tests leave out is named with it.
	sed -i '/^# conformance server-posixaio: skip conf_idle_memory/d' "$t/07-aio.bats"
	run "$ROOT/tools/conformance.sh" "$t"
	[[ $status -eq 1 &&
		$output == "07-aio.bats: conf_idle_memory (server-posixaio) is neither"* ]] ||
		{ echo "$output" >&2; return 1; }
	cp "$ROOT/tests/07-aio.bats" "$t"

	# A case added to the helpers is held from the start, in every lab file.
	printf 'conf_brand_new() {\n\ttrue\n}\n' >>"$t/helpers/conformance.bash"
	run "$ROOT/tools/conformance.sh" "$t"
	[[ $status -eq 1 ]]
	for f in "$t"/[0-9][0-9]-*.bats; do
		grep -q "^${f##*/}: conf_brand_new.* is neither called nor skipped" <<<"$output" ||
			{ echo "# ${f##*/} not held to a new case: $output" >&2; return 1; }
	done
}

# A server that ends on its own (here SIGKILL) ends every wait on it at once, with how.
@test "suite: a wait on a server that ended gives up at once and says how it ended" {
	local err=$BATS_TEST_TMPDIR/err
	start_server 03-select
	kill -KILL "$SERVER_PID"
	if wait_for "$WAIT" grep -q 'never logged' "$SERVER_ERR" 2>"$err"; then
		echo "# the wait succeeded" >&2
		return 1
	fi
	cat "$err"
	grep -q "the server ($SERVER_PID) was killed by SIGKILL" "$err"
}

# A stopped server (SIGSTOP) neither exits on SIGTERM nor does anything else: stop_server
# gives up once its activity stood still for STALL seconds, not at the deadline.
@test "suite: a wait for a server that stands still gives up when it stalled, and says so" {
	local err=$BATS_TEST_TMPDIR/err
	start_server 03-select
	kill -STOP "$SERVER_PID"
	if STALL=2 WAIT=600 stop_server 2>"$err"; then
		echo "# the server stopped" >&2
		return 1
	fi
	kill -CONT "$SERVER_PID"
	cat "$err"
	grep -q '^# gave up waiting for: is_gone .*: no progress in 2s (1 tasks, ' "$err"
	grep -q 'still running in state T' "$err"
}
