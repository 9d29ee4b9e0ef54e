#!/usr/bin/env bats
# The top-level Makefile does what README.md says: one lab by full name, short name or number
# (and ./server, ./client follow it), a helpful answer to a wrong name, a build inside a lab
# directory, and a clear message when bats is missing. Each test works in a copy of the tree,
# so the checkout's own ./server and ./client are left alone.

bats_require_minimum_version 1.5.0
load helpers/iomodels

setup_file() {
	export TREE=$BATS_FILE_TMPDIR/tree
	mkdir -p "$TREE"
	(cd "$ROOT" && git ls-files -co --exclude-standard 2>/dev/null || find . -type f) |
		grep -v '^\.git/' | (cd "$ROOT" && tar -cf - -T -) | tar -C "$TREE" -xf -
}

mk() { (unset MAKEFLAGS MAKELEVEL MFLAGS SANITIZE; make -C "$TREE" --no-print-directory "$@"); }

@test "make: make NN-name builds the lab and points ./server and ./client at it" {
	run mk 03-select
	[[ $status -eq 0 ]]
	[[ $(readlink "$TREE/server") == 03-select/server && $(readlink "$TREE/client") == 03-select/client ]]
	run "$TREE/server" -h
	[[ $status -eq 0 && $output == *"03-select echo server"* ]]
}

@test "make: short names and numbers work too" {
	run mk blocking
	[[ $status -eq 0 && $(readlink "$TREE/server") == 01-blocking/server ]]
	run mk 03
	[[ $status -eq 0 && $(readlink "$TREE/server") == 03-select/server ]]
	run mk 01
	[[ $status -eq 0 && $(readlink "$TREE/client") == 01-blocking/client ]]
}

@test "make: an unknown lab lists the labs and suggests the closest" {
	run mk selcet
	[[ $status -ne 0 ]]
	[[ $output == *"Labs: 01-blocking 03-select"* ]]
	[[ $output == *"Did you mean: make 03-select"* ]]
	run mk 03-selct
	[[ $status -ne 0 && $output == *"Did you mean: make 03-select"* ]]
	run mk frobnicate
	[[ $status -ne 0 && $output == *"Labs:"* && $output != *"Did you mean"* ]]
}

@test "make: inside a lab directory, make builds that lab" {
	mk clean
	run make -C "$TREE/03-select"
	[[ $status -eq 0 && -x $TREE/03-select/server && -x $TREE/03-select/client ]]
	[[ ! -e $TREE/01-blocking/server ]]
}

@test "make: changing the flags rebuilds (SANITIZE=1 and back)" {
	mk -s 01-blocking
	run mk 01-blocking SANITIZE=1
	[[ $output == *"-fsanitize=address"* ]]
	run mk 01-blocking
	[[ $output == *" -o server "* ]]
	[[ $output != *"-fsanitize"* ]]
}

@test "make: make test without bats says how to get it" {
	run mk test BATS=/nonexistent/bats
	[[ $status -ne 0 ]]
	[[ $output == *"bats"*"apt-get install bats"* ]]
}

@test "make: make clean removes what was built, and the links" {
	mk -s 03-select
	mk clean
	[[ ! -e $TREE/03-select/server && ! -e $TREE/bench/loadgen && ! -L $TREE/server ]]
}

# make trace: the server under strace while its client echoes; the calls that show the model.
@test "make: make trace shows each model's system calls" {
	command -v strace >/dev/null || skip "strace is not installed (.ci/run installs it)"
	run mk -s trace LAB=03-select
	[[ $status -eq 0 ]] || { echo "$output" >&2; return 1; }
	[[ $output == *"pselect6("* && $output == *"accept4("* ]]
	[[ $output == *'read('*', "hello\nworld\n", 16384)'*'= 12'* ]]
	[[ $output == *'write('*', "hello\nworld\n", 12) '*'= 12'* ]]
	run mk -s trace LAB=01-blocking
	[[ $status -eq 0 ]]
	[[ $output == *"accept("* && $output == *'read('*', "hello\nworld\n", 16384)'*'= 12'* ]]
	[[ $output != *"pselect6("* ]]
	run mk -s trace
	[[ $status -ne 0 && $output == *"usage: make trace LAB="* ]]
}
