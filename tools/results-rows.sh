#!/usr/bin/env bash
# tools/results-rows.sh check|update [PAGE...]: the measured row of each lab page is a copy of
# its lab's rows in the summary table of docs/results.md, which `make bench` writes. In a page,
# a line
#
#	<!-- results: 03-select -->
#
# is followed by a table: the summary's header line, its rule, and every summary row whose lab
# starts with that name (07-aio has two: io_uring and POSIX AIO). A line may name several labs
# (`<!-- results: 03-select 05-epoll-lt -->`, as docs/myths.md does). `update` rewrites those
# tables from docs/results.md; `check` fails, naming the page, when one differs, so a page
# cannot go on quoting numbers that the last `make bench` replaced. Without PAGE: every
# docs/*.md that has such a line. Exit status: 0 when all match (or were updated), 1 when a
# check failed, 2 for bad usage or no summary table.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RESULTS=${RESULTS:-$ROOT/docs/results.md}

usage() { echo "usage: tools/results-rows.sh check|update [PAGE...]" >&2; exit 2; }
(($# >= 1)) || usage
mode=$1
shift
[[ $mode == check || $mode == update ]] || usage
[[ -f $RESULTS ]] || { echo "results-rows: no $RESULTS (make bench writes it)" >&2; exit 2; }

# The summary table: the first table of the results page (header, rule, rows).
summary=$(awk '/^\|/ { print; seen = 1; next } seen { exit }' "$RESULTS")
[[ -n $summary ]] || { echo "results-rows: no table in $RESULTS" >&2; exit 2; }

if (($# == 0)); then
	mapfile -t pages < <(grep -l '^<!-- results: ' "$ROOT"/docs/*.md || true)
	set -- "${pages[@]}"
fi

status=0
for page in "$@"; do
	out=$(mktemp)
	awk -v summary="$summary" '
		# The header and rule, then the rows of each lab named, in the order of the summary.
		function rows(labs,   n, i, j, k, line, f, want) {
			k = split(labs, want, " ")
			n = split(summary, line, "\n")
			for (i = 1; i <= n; i++) {
				split(line[i], f, " ")
				for (j = 1; j <= k; j++)
					if (i <= 2 || index(f[2], want[j]) == 1) {
						print line[i]
						break
					}
			}
		}
		skipping && /^\|/ { next }
		{ skipping = 0 }
		/^<!-- results: [^>]+ -->$/ {
			print
			labs = $3
			for (i = 4; i < NF; i++)
				labs = labs " " $i
			rows(labs)
			skipping = 1
			next
		}
		{ print }
	' "$page" >"$out"
	if ! cmp -s "$page" "$out"; then
		if [[ $mode == update ]]; then
			cat "$out" >"$page"
			echo "results-rows: updated ${page#"$ROOT"/}"
		else
			echo "${page#"$ROOT"/}: its measured rows differ from docs/results.md:" >&2
			diff "$page" "$out" | sed 's/^/    /' >&2 || true
			echo "    (run tools/results-rows.sh update ${page#"$ROOT"/})" >&2
			status=1
		fi
	fi
	rm -f "$out"
done
exit "$status"
