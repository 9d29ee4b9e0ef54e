#!/usr/bin/env bash
# conformance.sh [TESTDIR] - hold every lab's test file to the conformance cases.
#
# The cases are the functions whose names start with conf_ in TESTDIR/helpers/*.bash
# (TESTDIR: tests/ by default), so a case added there is held from the start. Each lab's file
# (TESTDIR/NN-*.bats) calls every case from an @test of its own, or says in its header why
# it does not, one line per case (a long reason goes on in the comment lines below it):
#
#	# conformance: skip conf_idle_memory -- a thread's stack costs more by design
#
# A file that tests two servers names them in its tests ("$LAB server: ...", "$LAB
# server-posixaio: ...", as 07-aio does) and is held once for each server that calls a case;
# a skip line that names one applies to it alone:
#
#	# conformance server-posixaio: skip conf_client_trickle -- a client case
#
# Every problem is one line naming the file (and line): a case neither called nor skipped,
# a case skipped and called, a skip or a call naming no case, a skip with no reason, a case
# called outside an @test (bats lists a test by its name, and a case should be listed).
# Exit status: 0 when every lab file holds, 1 otherwise, 2 when there is no case at all.
# tests/suite.bats runs it.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$top/tests}

cases=$(sed -n 's/^\(conf_[a-z0-9_]*\)() *{.*/\1/p' "$dir"/helpers/*.bash | sort -u)
[[ -n $cases ]] || { echo "conformance: no conf_* function in $dir/helpers/" >&2; exit 2; }

# check FILE: say what is wrong with one lab file; fail if anything is. A test's SERVER is
# what its name says between "$LAB" and the colon: empty in most files.
check() {
	awk -v cases="$cases" -v file="${1##*/}" '
	function problem(line, msg) { printf "%s:%s%s\n", file, line ? line ":" : "", msg; bad = 1 }
	BEGIN {
		ncases = split(cases, c, "\n")
		for (k = 1; k <= ncases; k++)
			iscase[c[k]] = 1
	}
	/^# conformance( [a-z0-9-]+)?:/ {
		if ($0 !~ /^# conformance( [a-z0-9-]+)?: skip conf_[a-z0-9_]+ -- [^ ]/) {
			problem(NR, " not \"# conformance [SERVER]: skip conf_NAME -- why\"")
			next
		}
		s = $0
		sub(/^# conformance ?/, "", s)
		server = substr(s, 1, index(s, ":") - 1)
		name = s
		sub(/^[^:]*: skip /, "", name)
		sub(/ .*/, "", name)
		if (!(name in iscase))
			problem(NR, " " name " is no case in helpers/")
		skipped[server, name] = NR
		if (server != "")
			skipserver[server] = NR
		next
	}
	/^[ \t]*#/ { next }
	/^@test / {
		server = $0
		sub(/^@test "/, "", server)
		server = substr(server, 1, index(server, ":") - 1)
		sub(/^(\$LAB|\$\{LAB\}|[0-9][0-9]-[a-z-]+) ?/, "", server)
		intest = 1
	}
	/^[A-Za-z_][A-Za-z0-9_]*\(\)/ { intest = 0 }
	{
		line = $0
		while (match(line, /(^|[^A-Za-z0-9_$])conf_[a-z0-9_]+/)) {
			name = substr(line, RSTART, RLENGTH)
			sub(/^[^c]*/, "", name)
			line = substr(line, RSTART + RLENGTH)
			if (!intest)
				problem(NR, " " name " called outside an @test")
			else if (!(name in iscase))
				problem(NR, " " name " is no case in helpers/")
			else {
				servers[server] = 1
				if (!((server, name) in called))
					called[server, name] = NR
			}
		}
	}
	/^}/ || (/^@test / && /}[ \t]*$/) { intest = 0 }
	END {
		# Held once per server that calls a case; a file that calls none is held as one.
		n = 0
		for (s in servers)
			n++
		if (n == 0)
			servers[""] = 1
		for (s in skipserver)
			if (!(s in servers))
				problem(skipserver[s], " no test of " s " calls a case")
		for (s in servers)
			for (k = 1; k <= ncases; k++) {
				i = c[k]
				what = i (s == "" ? "" : " (" s ")")
				line = ((s, i) in skipped) ? skipped[s, i] : skipped["", i]
				if ((s, i) in called && line)
					problem(line, " " what " is skipped, and called on line " \
						called[s, i])
				else if (!((s, i) in called) && !line)
					problem(0, " " what " is neither called nor skipped" \
						" (# conformance" (s == "" ? "" : " " s) ": skip " i " -- why)")
			}
		exit bad
	}
	' "$1"
}

status=0
for file in "$dir"/[0-9][0-9]-*.bats; do
	check "$file" || status=1
done
exit "$status"
