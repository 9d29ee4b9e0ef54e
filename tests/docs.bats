#!/usr/bin/env bats
# The docs say what the code does: every excerpt matches its marked region in the source,
# every lab has its page, and the course lists every lab.

bats_require_minimum_version 1.5.0
load helpers/iomodels

labs() { (cd "$ROOT" && ls -d [0-9][0-9]-*/ | tr -d /); }

@test "docs: every code excerpt matches the source it quotes" {
	run "$ROOT/tools/excerpts.sh" check
	echo "$output"
	[[ $status -eq 0 ]]
}

@test "docs: every lab has its page, and docs/README.md and README.md list it" {
	local lab
	for lab in $(labs); do
		[[ -f $ROOT/docs/$lab.md ]] || { echo "# no docs/$lab.md" >&2; return 1; }
		grep -q "$lab" "$ROOT/docs/README.md" || { echo "# docs/README.md: no $lab" >&2; return 1; }
		grep -q "$lab" "$ROOT/README.md" || { echo "# README.md: no $lab" >&2; return 1; }
	done
}

@test "docs: every page quotes its lab's code through checked excerpts" {
	local lab
	for lab in $(labs); do
		grep -q "^<!-- excerpt: $lab/server.c " "$ROOT/docs/$lab.md"
		grep -q "^<!-- excerpt: $lab/client.c " "$ROOT/docs/$lab.md"
	done
}

@test "docs: no page cites line numbers (they go stale; excerpts do not)" {
	run grep -nE '(\.c|\.h):[0-9]+|\blines? [0-9]+' "$ROOT"/docs/*.md
	echo "$output"
	[[ $status -eq 1 ]]
}

# The check itself must catch a stale excerpt, or the first test proves nothing.
@test "docs: the excerpt check fails when the code changes under an excerpt" {
	local doc=$BATS_TEST_TMPDIR/page.md
	printf '%s\n' '# page' '<!-- excerpt: 03-select/server.c conn -->' '```c' '```' >"$doc"
	"$ROOT/tools/excerpts.sh" update "$doc"
	run "$ROOT/tools/excerpts.sh" check "$doc"
	[[ $status -eq 0 ]]
	sed -i 's/this slot is free/this slot is empty/' "$doc"
	run "$ROOT/tools/excerpts.sh" check "$doc"
	[[ $status -eq 1 && $output == *"no longer matches"* ]]
	printf '%s\n' '<!-- excerpt: 03-select/server.c no-such-region -->' '```c' '```' >>"$doc"
	run "$ROOT/tools/excerpts.sh" check "$doc"
	[[ $status -eq 1 && $output == *"does not exist"* ]]
}

# The measured rows of the lab pages come from the last make bench (docs/results.md).
@test "docs: every lab page shows its measured rows as docs/results.md has them" {
	local lab
	for lab in $(labs); do
		grep -q "^<!-- results: $lab -->$" "$ROOT/docs/$lab.md" ||
			{ echo "# docs/$lab.md: no <!-- results: $lab --> line" >&2; return 1; }
	done
	run "$ROOT/tools/results-rows.sh" check
	echo "$output"
	[[ $status -eq 0 ]]
}

@test "docs: the measured-row check fails when a page's row is not the bench's" {
	local doc=$BATS_TEST_TMPDIR/page.md
	printf '%s\n' '# page' '<!-- results: 03-select -->' '| stale |' '' 'after' >"$doc"
	run "$ROOT/tools/results-rows.sh" check "$doc"
	[[ $status -eq 1 && $output == *"differ from docs/results.md"* ]]
	"$ROOT/tools/results-rows.sh" update "$doc"
	run "$ROOT/tools/results-rows.sh" check "$doc"
	[[ $status -eq 0 ]]
	grep -q '^| 03-select ' "$doc" && grep -q '^after$' "$doc"
}

# A page with a placeholder where a measurement or an output should be is not finished.
@test "docs: no page has a placeholder left (MEASURED_..., TODO)" {
	run grep -nE 'MEASURED_[A-Z_]+|READING_[0-9]|\bTODO\b|\bTBD\b' "$ROOT"/docs/*.md "$ROOT"/README.md
	echo "$output"
	[[ $status -eq 1 ]]
}
