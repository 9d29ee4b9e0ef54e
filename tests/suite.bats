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
	local f
	CHECKED=$BATS_TEST_TMPDIR/tests
	mkdir -p "$CHECKED"
	cp -r "$ROOT/tests/helpers" "$ROOT"/tests/[0-9][0-9]-*.bats "$CHECKED"
	run "$ROOT/tools/conformance.sh" "$CHECKED"
	[[ $status -eq 0 ]] || { echo "$output" >&2; return 1; }

	# A case left out by accident.
	plant 03-select 's/{ conf_sigpipe; }/{ true; }/; /^[ \t]*conf_sigpipe$/d'
	check_says "03-select.bats: conf_sigpipe is neither called nor skipped"
	# A case skipped and called.
	plant 04-poll '/^LAB=/i # conformance: skip conf_ipv6 -- no reason to'
	check_says "04-poll.bats:*: conf_ipv6 is skipped, and called on line "
	# A skip, or a call, that names no case; a skip with no reason.
	plant 05-epoll-lt '/^LAB=/i # conformance: skip conf_no_such_case -- a typo'
	check_says "05-epoll-lt.bats:*: conf_no_such_case is no case in helpers/"
	plant 06-epoll-et 's/{ conf_fin_cleanup; }/{ conf_fin_clean_up; }/'
	check_says "06-epoll-et.bats:*: conf_fin_clean_up is no case in helpers/"
	plant 08-threaded '/^LAB=/i # conformance: skip conf_ipv6'
	check_says '08-threaded.bats:*: not "# conformance \[SERVER\]: skip conf_NAME -- why"'
	# 07-aio's second server is held on its own: a case its tests leave out is named with it.
	plant 07-aio '/^# conformance server-posixaio: skip conf_idle_memory/d'
	check_says "07-aio.bats: conf_idle_memory (server-posixaio) is neither called nor skipped"

	# A case added to the helpers is held from the start, in every lab file.
	printf 'conf_brand_new() {\n\ttrue\n}\n' >>"$CHECKED/helpers/conformance.bash"
	run "$ROOT/tools/conformance.sh" "$CHECKED"
	[[ $status -eq 1 ]]
	for f in "$CHECKED"/[0-9][0-9]-*.bats; do
		grep -q "^${f##*/}: conf_brand_new.* is neither called nor skipped" <<<"$output" ||
			{ echo "# ${f##*/} not held to a new case: $output" >&2; return 1; }
	done
}
# plant LAB SED-SCRIPT: edit the copy of LAB's test file (in CHECKED) with sed.
plant() {
	PLANTED=$1
	sed -i "$2" "$CHECKED/$1.bats"
}
# check_says LINE: the check fails on the copy, one of its lines starting as LINE (a glob); then
# the planted file is put back.
check_says() {
	run "$ROOT/tools/conformance.sh" "$CHECKED"
	cp "$ROOT/tests/$PLANTED.bats" "$CHECKED"
	[[ $status -eq 1 ]] || { echo "# exit $status: $output" >&2; return 1; }
	local line
	for line in "${lines[@]}"; do
		# shellcheck disable=SC2053
		[[ $line == $1* ]] && return 0
	done
	echo "# no line like '$1' in: $output" >&2
	return 1
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
