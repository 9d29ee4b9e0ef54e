#!/usr/bin/env bash
# excerpts.sh - code excerpts in docs/ that must match the code they quote.
#
#	tools/excerpts.sh check [DOC...]	say where an excerpt differs from its source; exit 1
#	tools/excerpts.sh update [DOC...]	rewrite every excerpt from its source
#	tools/excerpts.sh show FILE NAME	print region NAME of FILE
#
# In the source, a region is the lines between two marker comments:
#	/* doc:serve */
#	...
#	/* end doc:serve */
# In a doc, an excerpt is a marker line naming the file (from the top of the repository) and
# the region, then a fenced code block holding exactly the region's lines:
#	<!-- excerpt: 03-select/server.c serve -->
#	```c
#	...
#	```
# DOC defaults to every docs/*.md. tests/docs.bats runs the check.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)

# Print region $2 of file $1; fail if the region is missing, unterminated or not unique.
show() {
	awk -v name="$2" -v file="$1" '
	{ line = $0; gsub(/^[ \t]+|[ \t]+$/, "", line) }
	line == "/* doc:" name " */" { if (seen++) { bad = "twice"; exit } inside = 1; next }
	line == "/* end doc:" name " */" { if (!inside) { bad = "end before start"; exit }
		inside = 0; done = 1; next }
	inside { print }
	END {
		if (bad == "" && !done) bad = inside ? "no end marker" : "not found"
		if (bad != "") { printf "%s: region %s: %s\n", file, name, bad > "/dev/stderr"; exit 1 }
	}' "$top/$1"
}

# For each excerpt in doc $1: "LINE FILE NAME" on one line, then the block, then a line "\0".
blocks() {
	awk '
	/^<!-- excerpt: [^ ]+ [^ ]+ -->$/ { print FNR, $3, $4; want_fence = 1; next }
	want_fence && /^```/ { want_fence = 0; inside = 1; next }
	want_fence { print "(no code block after the excerpt marker)"; print "\\0"; want_fence = 0 }
	inside && /^```$/ { inside = 0; print "\\0"; next }
	inside { print }
	' "$1"
}

check() {
	local doc lineno file name block status=0 got want
	for doc in "$@"; do
		if [ ! -f "$doc" ]; then
			echo "$doc: no such file"
			status=1
			continue
		fi
		while IFS=' ' read -r lineno file name; do
			block=
			while IFS= read -r got && [[ $got != '\0' ]]; do
				block+=$got$'\n'
			done
			if ! want=$(show "$file" "$name"); then
				echo "$doc:$lineno: excerpt names a region that does not exist"
				status=1
				continue
			fi
			if [[ $block != "$want"$'\n' ]]; then
				echo "$doc:$lineno: excerpt of $file ($name) no longer matches the code:"
				diff -u --label "in $doc" --label "in $file" \
					<(printf '%s' "$block") <(printf '%s\n' "$want") | sed 's/^/    /'
				echo "    (run tools/excerpts.sh update $doc)"
				status=1
			fi
		done < <(blocks "$doc")
	done
	return $status
}

update() {
	local doc tmp
	for doc in "$@"; do
		tmp=$(mktemp)
		awk -v tool="$0" '
		/^<!-- excerpt: [^ ]+ [^ ]+ -->$/ {
			print; file = $3; name = $4; getline
			if ($0 !~ /^```/) { print "```c"; print_region(); print "```"; print; next }
			print; print_region(); skip = 1; next
		}
		skip && /^```$/ { skip = 0; print; next }
		skip { next }
		{ print }
		function print_region(   cmd, l) {
			cmd = "\"" tool "\" show \"" file "\" \"" name "\""
			while ((cmd | getline l) > 0) print l
			close(cmd)
		}' "$doc" >"$tmp" && cat "$tmp" >"$doc"
		rm -f "$tmp"
	done
}

cmd=${1:-check}
shift || true
case $cmd in
show)	show "$@" ;;
check|update)
	if [ $# -eq 0 ]; then set -- "$top"/docs/*.md; fi
	"$cmd" "$@" ;;
*)	echo "usage: $0 check|update [DOC...] | show FILE NAME" >&2; exit 2 ;;
esac
