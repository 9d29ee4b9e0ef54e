#!/usr/bin/env bats
# The top-level Makefile does what README.md says: one lab by full name, short name, number
# or NN-name/ (and ./server, ./client follow it), a helpful answer to a wrong name or a
# directory that is not a target, a build inside a lab directory (of any NAME.c there), build
# and clean lines that name their lab, make help, make trace by any lab name, the normal build
# back after make sanitize, and a clear message when bats is missing. Each test works in a copy
# of the tree, so the checkout's own ./server and ./client are left alone; a test that changes
# sources or Makefiles works in a copy of its own (own_tree).

bats_require_minimum_version 1.5.0
load helpers/iomodels

setup_file() {
	export TREE=$BATS_FILE_TMPDIR/tree
	mkdir -p "$TREE"
	(cd "$ROOT" && git ls-files -co --exclude-standard 2>/dev/null || find . -type f) |
		grep -v '^\.git/' | (cd "$ROOT" && tar -cf - -T -) | tar -C "$TREE" -xf -
}

setup() { not_the_labs; }

mk() { (unset MAKEFLAGS MAKELEVEL MFLAGS SANITIZE; make -j2 -C "$TREE" --no-print-directory "$@"); }

# The labs of the copy, as the Makefile finds them.
labs() { (cd "$TREE" && for m in [0-9][0-9]-*/Makefile; do echo "${m%/Makefile}"; done); }

# own_tree: this test's own copy of the tree, for a test that changes sources or Makefiles.
own_tree() {
	TREE=$BATS_TEST_TMPDIR/tree
	cp -a "$BATS_FILE_TMPDIR/tree" "$TREE"
}

# has_asan FILE: FILE was built with AddressSanitizer.
has_asan() { grep -q __asan_init "$1"; }

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
	local labs
	labs=$(cd "$TREE" && printf '%s\n' [0-9][0-9]-*/Makefile | sed 's,/Makefile,,' | paste -sd ' ')
	run mk selcet
	[[ $status -ne 0 ]]
	[[ $output == *"Labs: $labs"* ]] || { echo "want Labs: $labs" >&2; echo "$output" >&2; return 1; }
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
	# The whole line read at once, whatever the size of the lab's buffer.
	local read_line='(^|'$'\n'')read\([0-9]+, "hello\\nworld\\n", [0-9]+\) += 12'$'\n'
	[[ $output =~ $read_line ]]
	[[ $output == *'write('*', "hello\nworld\n", 12) '*'= 12'* ]]
	run mk -s trace LAB=01-blocking
	[[ $status -eq 0 ]]
	[[ $output == *"accept("* && $output =~ $read_line ]]
	[[ $output != *"pselect6("* ]]
	run mk -s trace
	[[ $status -ne 0 && $output == *"usage: make trace LAB="* ]]
}

@test "make: make NN-name/ (as tab completion leaves it) works like make NN-name" {
	local lab
	for lab in $(labs); do
		run mk "$lab/"
		[[ $status -eq 0 ]] || { echo "$output" >&2; return 1; }
		[[ $(readlink "$TREE/server") == "$lab/server" ]]
		[[ $(readlink "$TREE/client") == "$lab/client" ]]
	done
}

# tests/, docs/, bench/ are directories: without a rule of their own, make would call them "up
# to date" and exit 0.
@test "make: make tests, make docs, make bench do not pass as up to date" {
	local name
	for name in tests docs tests/ docs/ common tools; do
		run mk "$name"
		[[ $status -ne 0 && $output != *"up to date"* && $output == *"Labs: "* ]] ||
			{ echo "make $name: $output" >&2; return 1; }
	done
	run mk tests
	[[ $output == *"Did you mean: make test"* ]]
	# make bench runs bench/bench.sh; asked for a lab that does not exist, it says so and
	# measures nothing.
	run mk bench LABS=nosuch
	[[ $status -ne 0 && $output != *"up to date"* && $output == *"no lab named 'nosuch'"* ]]
}

@test "make: make help lists the targets and every lab, and exits 0" {
	run mk help
	[[ $status -eq 0 ]]
	local target lab
	for target in "make test" "make sanitize" "make trace LAB=" "make clean"; do
		[[ $output == *"$target"* ]] || { echo "# no $target in: $output" >&2; return 1; }
	done
	for lab in $(labs); do
		[[ $output == *"$lab"*"${lab#*-}"*"${lab%%-*}"* ]] ||
			{ echo "# no $lab in: $output" >&2; return 1; }
	done
}

@test "make: each lab's build lines come under one line naming the lab; -s prints nothing" {
	mk -s clean
	run mk
	[[ $status -eq 0 ]]
	local lab pairs
	for lab in $(labs) bench; do
		[[ $(grep -c "^building $lab\$" <<<"$output") -eq 1 ]] ||
			{ echo "# 'building $lab' is not there once: $output" >&2; return 1; }
	done
	# The program each compile line makes, after the last lab named above it.
	pairs=$(awk '/^building / { lab = $2; next }
		{ for (i = 1; i < NF; i++) if ($i == "-o") print lab ":" $(i + 1) }' <<<"$output")
	[[ $pairs != *$'\n:'* && $pairs != :* ]]
	for lab in $(labs); do
		[[ $pairs == *"$lab:server"* && $pairs == *"$lab:client"* ]]
	done
	[[ $pairs == *"bench:loadgen"* ]]
	# The whole compiler command stays in sight.
	[[ $output == *" -I../common "*" -o server server.c "* ]]
	mk -s clean
	run mk -s
	[[ $status -eq 0 && -z $output ]]
}

@test "make: make clean says what it removes, once per lab" {
	mk -s
	mk -s 03-select
	run mk clean
	[[ $status -eq 0 ]]
	[[ -z $(sort <<<"$output" | uniq -d) ]] || { echo "# repeated lines: $output" >&2; return 1; }
	local lab line
	for lab in $(labs); do
		# Every program of the lab on its one line (07-aio has a third, server-posixaio).
		line=" $(grep "^cleaning $lab: " <<<"$output" | sed 's/^[^:]*://') "
		[[ $line == *" server "* && $line == *" client "* && ! -e $TREE/$lab/server ]] ||
			{ echo "# $lab: '$line'" >&2; return 1; }
	done
	[[ $output == *"bench: loadgen"* ]]
	run mk clean
	[[ $status -eq 0 && $output != *"cleaning"* ]]
}

@test "make: make clean cleans tests/tools too when it has a Makefile" {
	own_tree
	mkdir -p "$TREE/tests/tools"
	printf 'clean:\n\trm -f fixture\n' >"$TREE/tests/tools/Makefile"
	touch "$TREE/tests/tools/fixture"
	run mk clean
	[[ $status -eq 0 && ! -e $TREE/tests/tools/fixture ]]
	rm -r "$TREE/tests/tools"
	run mk clean
	[[ $status -eq 0 ]]
}

@test "make: make trace LAB= takes short names and numbers, and builds the lab first" {
	command -v strace >/dev/null || skip "strace is not installed (.ci/run installs it)"
	mk -s clean
	run mk -s trace LAB=select
	[[ $status -eq 0 ]] || { echo "$output" >&2; return 1; }
	[[ $output == *"== 03-select/server under strace"* && $output == *'"hello\nworld\n"'* ]]
	# Only the lab traced was built.
	[[ -x $TREE/03-select/server && ! -e $TREE/01-blocking/server ]]
	run mk -s trace LAB=03
	[[ $status -eq 0 && $output == *"== 03-select/server under strace"* ]]
	run mk -s trace LAB=01-blocking/
	[[ $status -eq 0 && $output == *"== 01-blocking/server under strace"* ]]
	run mk -s trace LAB=selcet
	[[ $status -ne 0 && $output == *"Labs: "*"Did you mean: make 03-select"* ]]
}

# BATS stands in for bats: a fake one records what the suite would have run on, and returns
# the verdict asked of it.
@test "make: make sanitize runs the suite on the sanitizer build, then rebuilds the normal one" {
	own_tree
	local fake=$BATS_TEST_TMPDIR/fake-bats record=$BATS_TEST_TMPDIR/record lab
	cat >"$fake" <<-'FAKE'
	#!/usr/bin/env bash
	# What tests/helpers/iomodels.bash's build_all does, then: is this the sanitizer build?
	(unset MAKEFLAGS MAKELEVEL MFLAGS; make -s -C "$PWD" SANITIZE="${SANITIZE:-0}" all) || exit 99
	for f in [0-9][0-9]-*/server bench/loadgen; do
		grep -q __asan_init "$f" && echo "asan $f" || echo "plain $f"
	done >"$RECORD"
	exit "$VERDICT"
	FAKE
	chmod +x "$fake"
	mk -s
	export RECORD=$record VERDICT
	for VERDICT in 0 1; do
		rm -f "$record"
		run mk sanitize BATS="$fake"
		if ((VERDICT == 0)); then
			[[ $status -eq 0 ]] || { echo "$output" >&2; return 1; }
		else
			[[ $status -ne 0 ]]
		fi
		[[ $output == *"rebuilding the normal build"* ]]
		# The suite ran on the sanitizer build, every lab of it...
		[[ $(grep -c '^asan ' "$record") -eq $(($(labs | wc -l) + 1)) ]] ||
			{ cat "$record" >&2; return 1; }
		# ...and the normal build is back.
		for lab in $(labs); do
			! has_asan "$TREE/$lab/server"
			! has_asan "$TREE/$lab/client"
		done
		! has_asan "$TREE/bench/loadgen"
	done
	# Without bats, nothing is built with the sanitizers.
	run mk sanitize BATS=/nonexistent/bats
	[[ $status -ne 0 && $output == *"apt-get install bats"* ]]
	! has_asan "$TREE/03-select/server"
}

@test "make: make NAME builds any NAME.c of a lab like its own programs, and make clean removes it" {
	own_tree
	cp "$TREE/01-blocking/client.c" "$TREE/01-blocking/client-naive.c"
	run env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make -C "$TREE/01-blocking" client-naive
	[[ $status -eq 0 ]] || { echo "$output" >&2; return 1; }
	[[ $output == *" -I../common "*" -o client-naive client-naive.c "* ]]
	run "$TREE/01-blocking/client-naive" -h
	[[ $status -eq 0 && $output == *"usage"* ]]
	# A lab's Makefile may list more programs: make builds them all, make clean removes them.
	cp "$TREE/03-select/server.c" "$TREE/03-select/server-extra.c"
	sed -i 's/^PROGRAMS.*=.*/& server-extra/' "$TREE/03-select/Makefile"
	run mk
	[[ $status -eq 0 && -x $TREE/03-select/server-extra ]]
	run mk clean
	[[ $status -eq 0 ]]
	[[ ! -e $TREE/01-blocking/client-naive && -f $TREE/01-blocking/client-naive.c ]]
	[[ ! -e $TREE/03-select/server-extra && -f $TREE/03-select/server-extra.c ]]
}

# What a lab builds stays out of git; its sources do not, whatever their name.
@test "make: .gitignore ignores the programs built in a lab, not its sources" {
	git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1 || skip "not a git checkout"
	local path
	for path in 01-blocking/server 03-select/client 07-aio/server-posixaio \
		01-blocking/client-naive 03-select/.build-flags server client bench/loadgen; do
		git -C "$ROOT" check-ignore -q --no-index "$path" ||
			{ echo "# $path is not ignored" >&2; return 1; }
	done
	for path in 01-blocking/client-naive.c 07-aio/server-posixaio.c 03-select/Makefile \
		03-select/server.c 07-aio/ring.h; do
		! git -C "$ROOT" check-ignore -q --no-index "$path" ||
			{ echo "# $path is ignored" >&2; return 1; }
	done
}
