#!/usr/bin/env bats
# tests/bench.bats: make bench's script, bench/bench.sh, on its shortest settings (one run of
# 0.1 s per cell, no Python rows): the shape of its table and of its JSON, and that it
# reports what goes wrong instead of hiding it or hanging on it: a server that corrupts a
# byte (tests/tools/trickle -x), a server that dies mid-cell (trickle -X). Numbers are never
# checked against each other: they are timings.

bats_require_minimum_version 1.5.0
load helpers/iomodels

BENCH=$ROOT/bench/bench.sh
# The keys every cell of bench/results.json has, in this order (report.awk writes them).
KEYS=(lab program row kind workload mode conns idle msg_size reps status note msgs_per_s mb_per_s
	lat_p50_us lat_p99_us server_cpu_us_per_msg server_rss_kb rss_per_conn_kb held threads
	procs errors mismatches)

setup_file() {
	build_all
}

setup() { not_the_labs; }

# bench ARGS...: bench.sh on the shortest settings, its output in $OUT and $OUT.json.
bench() {
	OUT=$BATS_TEST_TMPDIR/out
	run --separate-stderr timeout -k 5 120 "$BENCH" -n -r 1 -d 0.1 -o "$OUT" "$@"
}

# json_cell ROW WORKLOAD: the JSON object of that cell (one per line).
json_cell() {
	grep -F "\"row\": \"$1\"" "$OUT.json" | grep -F "\"workload\": \"$2\""
}

# json_field KEY OBJECT: the value of KEY in a one-line object (a number, null or a string
# without its quotes).
json_field() {
	sed -n "s/.*\"$1\": \(\"[^\"]*\"\|[^,}]*\).*/\1/p" <<<"$2" | tr -d '"'
}

@test "bench: two labs, every workload: a table row per lab, a JSON object per cell" {
	local docs_before line key n w
	docs_before=$(cat "$ROOT/docs/results.md" "$ROOT/bench/results.json" 2>/dev/null | cksum)
	bench -l "01 03"
	[[ $status -eq 0 ]] || { echo "$output" "$stderr" >&2; return 1; }

	# The summary: a header, a separator, one row per lab, with the ratio to the best.
	[[ $output == *"| lab "*" msg/s, 1 conn |"*" µs/msg, 5000 idle |"*" KiB/conn, 10k idle |"* ]]
	grep -q '^| 01-blocking *| *[0-9.k]* ×[0-9.]* |' <<<"$output"
	grep -q '^| 03-select *| *[0-9.k]* ×[0-9.]* |' <<<"$output"
	# One detail table per workload, and the machine the numbers come from.
	[[ $(grep -c '^### ' <<<"$output") -eq 8 ]]
	[[ $output == *"2 cores"*"RLIMIT_NOFILE"* ]]
	# 01 serves one client at a time: its many-client cells are n/a, and say why.
	grep -q '^- n/a: 01-blocking, .*: serves one client at a time' <<<"$output"
	# The table went to OUT as well; docs/ and bench/results.json were left alone.
	grep -q '^| 03-select ' "$OUT"
	[[ $(cat "$ROOT/docs/results.md" "$ROOT/bench/results.json" 2>/dev/null | cksum) == "$docs_before" ]]
	# Progress on stderr: which lab, which workload, how far.
	grep -q '^bench: \[2/2\] 03-select: ping-pong 64 B, 100 connections (rep 1/1, cell 10/16' <<<"$stderr"

	# JSON: an array, one object per line, 2 labs x 8 workloads, every key in every object.
	[[ $(head -1 "$OUT.json") == "[" && $(tail -1 "$OUT.json") == "]" ]]
	n=$(grep -c '^{"lab": ' "$OUT.json")
	[[ $n -eq 16 && $(wc -l <"$OUT.json") -eq 18 ]]
	while read -r line; do
		[[ $line == "{"*"}" || $line == "{"*"}," ]] || { echo "not an object: $line" >&2; return 1; }
		for key in "${KEYS[@]}"; do
			[[ $line == *"\"$key\": "* ]] || { echo "no $key in: $line" >&2; return 1; }
		done
	done < <(grep '^{' "$OUT.json")
	# Objects are separated by commas, the last one is not followed by one.
	[[ $(grep -c '},$' "$OUT.json") -eq 15 ]]
	# A cell that ran has numbers and no error; an n/a one has none, and a reason.
	for w in pp1 pp100 stream idle1000; do
		line=$(json_cell 03-select "$w")
		[[ $(json_field status "$line") == ok ]] || { echo "$line" >&2; return 1; }
		[[ $(json_field server_cpu_us_per_msg "$line") =~ ^[0-9]+\.[0-9]+$ ]]
		[[ $(json_field server_rss_kb "$line") =~ ^[0-9]+$ ]]
		[[ $(json_field errors "$line") == 0 && $(json_field mismatches "$line") == 0 ]]
	done
	line=$(json_cell 03-select pp1)
	[[ $(json_field msgs_per_s "$line") =~ ^[1-9][0-9]*$ ]]
	[[ $(json_field lat_p50_us "$line") =~ ^[0-9]+$ ]]
	[[ $(json_field threads "$line") == 1 && $(json_field procs "$line") == 1 ]]
	line=$(json_cell 03-select stream)
	[[ $(json_field mb_per_s "$line") =~ ^[0-9]+\.[0-9]+$ && $(json_field msgs_per_s "$line") == null ]]
	line=$(json_cell 01-blocking pp100)
	[[ $(json_field status "$line") == n/a && $(json_field msgs_per_s "$line") == null ]]
	[[ $(json_field note "$line") == "serves one client at a time"* ]]
	# 03-select cannot hold 10,000 connections (FD_SETSIZE): it says how many it held.
	line=$(json_cell 03-select hold10k)
	[[ $(json_field held "$line") =~ ^[0-9]+$ && $(json_field held "$line") -lt 10000 ]]
	[[ $(json_field rss_per_conn_kb "$line") =~ ^[0-9]+\.[0-9]+$ ]]
}

@test "bench: a server that corrupts a byte is reported as a mismatch, and fails the run" {
	local line
	bench -w "pp1 stream" -s "corrupt=$TOOLS/trickle -x 100 -k 16384 -u 0 -q"
	[[ $status -eq 1 ]] || { echo "$output" "$stderr" >&2; return 1; }
	grep -q '^- ✗ corrupt, ping-pong 64 B, 1 connection: 1 connection(s) got a byte back that was not sent: loadgen: conn 0: mismatch at byte 100' <<<"$output"
	grep -q '^| corrupt ✗ ' <<<"$output"
	line=$(json_cell corrupt pp1)
	[[ $(json_field status "$line") == failed && $(json_field mismatches "$line") == 1 ]]
	line=$(json_cell corrupt stream)
	[[ $(json_field status "$line") == failed && $(json_field mismatches "$line") == 1 ]]
	grep -q "measurement(s) failed" <<<"$stderr"
}

@test "bench: a server that dies mid-cell is reported as such, and the run goes on" {
	local line
	bench -w "pp1 stream" -s "dies=$TOOLS/trickle -X 100000 -k 16384 -u 0 -q"
	[[ $status -eq 1 ]] || { echo "$output" "$stderr" >&2; return 1; }
	line=$(json_cell dies stream)
	[[ $(json_field status "$line") == failed ]]
	[[ $(json_field note "$line") == *"the server died during the cell (exit status 3)"* ]]
	[[ $(json_field errors "$line") -ge 1 ]]
	grep -q '^- ✗ dies, one connection streaming 64 KiB writes: .*the server died during the cell (exit status 3)' <<<"$output"
	# Each cell had a fresh server: the stream one ran after the first one.
	[[ -n $(json_cell dies pp1) ]]
	grep -q '^bench: \[1/1\] dies: one connection streaming 64 KiB writes (rep 1/1, cell 2/2' <<<"$stderr"
}
