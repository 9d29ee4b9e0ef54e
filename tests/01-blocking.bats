#!/usr/bin/env bats
# 01-blocking: the iterative server. It passes every conformance case, one client at a time,
# and the test that shows what blocking costs: the second client waits for the first.

# conformance: skip conf_max_conns -- it holds one connection at a time and the rest wait in
#   the accept queue, unaccepted: -m has nobody to refuse
# conformance: skip conf_idle_memory -- idle clients wait in the accept queue, not in the
#   server: the bound would hold without testing anything
# conformance: skip conf_accept_storm -- it accepts a client only once the last has left: the
#   queue is its waiting room, by design (the second-client test shows it)

LAB=01-blocking
load helpers/conformance

setup_file() { conformance_setup_file; }
teardown() { conformance_teardown; }

@test "$LAB: a line and binary bytes echo through bash /dev/tcp" { conf_devtcp_echo; }
@test "$LAB: client is byte-exact for 10 MiB from a regular file; summary counts it" {
	conf_client_file
}
@test "$LAB: client is byte-exact for 10 MiB through a pipe" { conf_client_pipe; }
@test "$LAB: client handles empty input and a typed line" { conf_client_small; }
@test "$LAB: 50 concurrent clients each get their own bytes (one after another)" {
	conf_concurrent_clients
}
@test "$LAB: clients leaving with FIN leave no fd behind" { conf_fin_cleanup; }
@test "$LAB: clients resetting mid-echo leave no fd behind" { conf_reset_cleanup; }
@test "$LAB: half-close: all bytes come back, then the server closes" { conf_half_close; }
@test "$LAB: slow reader: memory stays bounded, all 8 MiB come back" {
	conf_slow_reader serial
}
@test "$LAB: a reset after a half-close with echo pending does not kill it (SIGPIPE)" {
	conf_sigpipe
}
@test "$LAB: bad arguments exit 2 with usage; -h exits 0" { conf_bad_arguments; }
@test "$LAB: port in use exits 1 naming host, port and reason" { conf_port_in_use; }
@test "$LAB: -H [::1] listens on IPv6 loopback, the form it prints" { conf_ipv6; }
@test "$LAB: SIGTERM or SIGINT lets the client go, exits 0, prints the summary" { conf_sigterm; }
@test "$LAB: one SIGTERM stops it while clients stream without pause" {
	conf_sigterm_streaming serial
}
@test "$LAB: one SIGTERM stops it while its client does not read its echo" {
	conf_sigterm_stalled_writer
}
@test "$LAB: client reports refusal and a server that left, exit 1" { conf_client_errors; }
@test "$LAB: -v logs every read and write; -q only errors" { conf_verbosity; }
@test "$LAB: -v logging to a pipe nobody reads: echo and stop go on, drops counted" {
	conf_log_unread
}
@test "$LAB: started with fds 0-2 closed, no socket takes their place" { conf_std_fds_closed; }
@test "$LAB: listening on is printed after listen()" { conf_listen_before_announce; }
@test "$LAB: every accepted connection has TCP_NODELAY (no echo waits on Nagle)" { conf_nodelay; }
# No wait apart from the read, as in 08 and 09: one message, one read (the wait), one write.
@test "$LAB: one echoed message costs one read (the wait) and one write" {
	conf_one_wait_per_echo read
}
@test "$LAB: short writes: every byte echoed, summary exact" {
	conf_short_io_server blocking
}
@test "$LAB: client under short writes is byte-exact" { conf_short_io_client blocking; }
@test "$LAB: client is byte-exact against a server echoing in small late pieces" {
	conf_client_trickle
}
@test "$LAB: client whose reader leaves says so and exits 1 (SIGPIPE ignored)" {
	conf_client_reader_gone
}
@test "$LAB: client writes out what came back before a server closed early" {
	conf_client_early_close
}
@test "$LAB: client read slowly (4 KiB every 2 ms) writes out every byte of the echo" {
	conf_client_slow_stdout
}
@test "$LAB: client says a server that reset with nothing echoed did so after bytes were sent" {
	conf_client_reset_unread
}
@test "$LAB: client says a server that sent more than it got is not an echo" {
	conf_client_more_than_echo
}
@test "$LAB: client turned away at once says the server may be full" {
	conf_client_turned_away blocking
}

# The model's own behaviour: while the server is busy with one client, a second one is
# connected (the kernel completed its handshake and holds it in the accept queue) but nobody
# reads what it sends, until the first client leaves.
@test "$LAB: the second client gets nothing until the first leaves" {
	local a b line
	start_server "$LAB"
	exec {a}<>"/dev/tcp/127.0.0.1/$PORT"
	printf 'first\n' >&"$a"
	IFS= read -r -t "$WAIT" line <&"$a"
	[[ $line == first ]]

	exec {b}<>"/dev/tcp/127.0.0.1/$PORT"
	printf 'second\n' >&"$b"
	# A round trip with the first client: the server is in its read loop with it...
	printf 'again\n' >&"$a"
	IFS= read -r -t "$WAIT" line <&"$a"
	[[ $line == again ]]
	# ...the second one waits in the accept queue, nothing came back to it...
	[[ $(accept_queue "$PORT") -eq 1 ]]
	# (Not `! read ...`: bash's errexit ignores a negated command, so it could never fail.)
	if read -r -t 0 <&"$b"; then
		echo "# the second client already has bytes to read" >&2
		return 1
	fi
	[[ $(grep -c accepted "$SERVER_ERR") -eq 1 ]]

	# ...until the first leaves: then it is accepted and served.
	exec {a}>&-
	IFS= read -r -t "$WAIT" line <&"$b"
	[[ $line == second ]]
	exec {b}>&-
	[[ $(accept_queue "$PORT") -eq 0 ]]
	run awk '{ print $2 }' "$SERVER_ERR"
	[[ ${lines[*]:0:3} == "accepted closed accepted" ]]
}
