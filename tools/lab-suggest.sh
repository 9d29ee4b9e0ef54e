#!/usr/bin/env bash
# lab-suggest.sh NAME LAB... - what `make NAME` says when NAME is not a lab or a target: the
# labs there are, and the lab or target closest to NAME (edit distance to a lab's full or short
# name, or to a target), so `make selcet` suggests 03-select and `make tests` suggests test.
set -u
# Tab completion leaves a slash after a directory's name (make tests/).
name=${1%/}
shift
targets='test sanitize trace clean help'
echo "make: no lab or target '$name'."
echo "Labs: $*"
best=$( (
	for lab in "$@"; do
		printf '%s %s\n' "$lab" "${lab#*-}"
	done
	for target in $targets; do
		printf '%s %s\n' "$target" "$target"
	done
	) | awk -v want="$name" '
	function dist(a, b,    i, j, la, lb, d, cost, x) {
		la = length(a); lb = length(b)
		for (i = 0; i <= la; i++) d[i, 0] = i
		for (j = 0; j <= lb; j++) d[0, j] = j
		for (i = 1; i <= la; i++)
			for (j = 1; j <= lb; j++) {
				cost = substr(a, i, 1) != substr(b, j, 1)
				x = d[i-1, j] + 1
				if (d[i, j-1] + 1 < x) x = d[i, j-1] + 1
				if (d[i-1, j-1] + cost < x) x = d[i-1, j-1] + cost
				d[i, j] = x
			}
		return d[la, lb]
	}
	{
		full = dist(want, $1); short = dist(want, $2)
		score = full < short ? full : short
		if (best == "" || score < bestscore) { best = $1; bestscore = score }
	}
	END {
		# Suggest only what is plausibly a typo: at most half the name changed.
		if (best != "" && bestscore <= length(want) / 2) print best
	}'
)
if [ -n "$best" ]; then
	echo "Did you mean: make $best"
fi
echo "Also: make (all), make test, make sanitize, make trace LAB=NN-name, make clean, make help"
