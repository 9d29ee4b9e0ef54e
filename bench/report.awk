# bench/report.awk: turn the measurements of bench/bench.sh into tables, JSON and chart data.
#
#	awk -v out=table|summary|details|notes|json|idle|rss -f bench/report.awk RAW
#
# RAW, written by bench.sh, has three kinds of lines, key=value separated by spaces, the
# last key of a line taking the rest of it (it may hold spaces):
#	row idx=0 label=03-select lab=03-select program=03-select/server kind=lab
#	workload idx=0 name=pp1 mode=echo conns=1 idle=0 size=64 metric=rate title=ping-pong...
#	cell row=0 workload=pp1 rep=1 status=ok msgs= bytes= secs= p50= p99= cpu_us= rss_kb=
#	    rss0_kb= threads= procs= settle_ms= held= refused= conn_per_s= listen_overflows=
#	    listen_drops= lost= errors= mismatches= note=...
# status is ok, na (the cell does not apply: note says why), failed (note says what went
# wrong; the numbers, when there are some, are still shown) or skip (a repetition left out:
# the cell had used its time budget).
#
# A cell's value is the median of its repetitions, with their min and max; a cell is n/a if
# any repetition was, failed if any failed. The ratio next to a value is to the best row of
# its column (the highest rate, the lowest latency, CPU or memory), among the cells that did
# not fail; a failed cell's numbers are shown without a ratio, marked ✗. A workload's metric
# (rate: msg/s, mbs: MB/s, cpm: CPU us per message, rpc: RSS per connection) is the one its
# column shows in the summary; the hold workload's table also shows cps (connections
# answered per second, higher is better) and lov (the kernel's listen overflows meanwhile). out=table prints the markdown
# tables and the notes (out=summary, details, notes: one part of them), out=json the cells as
# a JSON array, and out=idle and out=rss the data of the two charts (see bench/charts.gp).
#
# Runs under any POSIX awk (mawk included), in the C locale: widths are counted in bytes,
# and a UTF-8 character's continuation bytes are left out of them.

function kv(line, key,    i, rest) {
	i = index(" " line, " " key "=")
	if (i == 0)
		return ""
	rest = substr(line, i + length(key) + 1)
	if (key == "note" || key == "title")
		return rest
	sub(/ .*/, "", rest)
	return rest
}

# Append v to the list in array a under key k (space-separated numbers).
function push(a, k, v) {
	a[k] = (k in a && a[k] != "") ? a[k] " " v : v
}

# The median, min and max of a list of numbers, into MED, MIN, MAX; false if it is empty.
function stats(list,    n, x, i, j, t) {
	n = split(list, x, " ")
	if (n == 0)
		return 0
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && x[j - 1] + 0 > x[j] + 0; j--) {
			t = x[j]; x[j] = x[j - 1]; x[j - 1] = t
		}
	MIN = x[1] + 0
	MAX = x[n] + 0
	MED = n % 2 ? x[(n + 1) / 2] + 0 : (x[n / 2] + x[n / 2 + 1]) / 2
	return 1
}

function num(v) {
	if (v >= 100000) return sprintf("%.0fk", v / 1000)
	if (v >= 10000) return sprintf("%.1fk", v / 1000)
	if (v >= 100) return sprintf("%.0f", v)
	if (v >= 10) return sprintf("%.1f", v)
	return sprintf("%.2f", v)
}

# Display width of s: bytes, less UTF-8 continuation bytes.
function width(s,    t) {
	t = s
	gsub(/[\200-\277]/, "", t)
	return length(t)
}

function json_str(s) {
	gsub(/\\/, "\\\\", s)
	gsub(/"/, "\\\"", s)
	gsub(/\t/, " ", s)
	return "\"" s "\""
}

$1 == "row" {
	r = kv($0, "idx")
	nrows = r + 1 > nrows ? r + 1 : nrows
	LABEL[r] = kv($0, "label"); LAB[r] = kv($0, "lab")
	PROG[r] = kv($0, "program"); KIND[r] = kv($0, "kind")
}
$1 == "workload" {
	w = kv($0, "name")
	WORDER[nwork++] = w
	WMODE[w] = kv($0, "mode"); WCONNS[w] = kv($0, "conns"); WIDLE[w] = kv($0, "idle")
	WSIZE[w] = kv($0, "size"); WMETRIC[w] = kv($0, "metric"); WTITLE[w] = kv($0, "title")
}
$1 == "cell" {
	r = kv($0, "row"); w = kv($0, "workload"); k = r SUBSEP w
	st = kv($0, "status"); note = kv($0, "note")
	SEEN[k] = 1
	if (st == "skip") {
		if (index(" | " ONOTE[k] " | ", " | " note " | ") == 0)
			ONOTE[k] = ONOTE[k] == "" ? note : ONOTE[k] " | " note
		next
	}
	if (st == "na") {
		NA[k] = 1
		if (!(k in NANOTE)) NANOTE[k] = note
		next
	}
	if (st == "failed") {
		FAILED[k] = 1
		if (index(" | " FNOTE[k] " | ", " | " note " | ") == 0)
			FNOTE[k] = FNOTE[k] == "" ? note : FNOTE[k] " | " note
	} else if (note != "" && index(" | " ONOTE[k] " | ", " | " note " | ") == 0) {
		ONOTE[k] = ONOTE[k] == "" ? note : ONOTE[k] " | " note
	}
	REPS[k]++
	ERR[k] += kv($0, "errors"); MIS[k] += kv($0, "mismatches")
	if (kv($0, "lost") != "") LOST[k] += kv($0, "lost")
	# A failed measurement's numbers are kept apart (key suffix "f"): they are shown
	# only when no measurement of the cell succeeded.
	f = (st == "failed") ? SUBSEP "f" : ""
	# Numbers come out of kv() as strings: +0 makes them numbers, so that they compare
	# as numbers ("1016" < "10000" is false as strings).
	msgs = kv($0, "msgs") + 0; bytes = kv($0, "bytes") + 0; secs = kv($0, "secs") + 0
	cpu = kv($0, "cpu_us"); rss = kv($0, "rss_kb"); rss0 = kv($0, "rss0_kb") + 0
	held = kv($0, "held"); refused = kv($0, "refused") + 0
	if (kv($0, "threads") != "") { THR[k] = kv($0, "threads"); PRC[k] = kv($0, "procs") }
	if (held != "") HELD[k] = held + 0
	if (WMODE[w] == "hold") {
		if (held + 0 > 0 && rss != "") {
			push(V, k SUBSEP "rpc" f, (rss - rss0) / held)
			push(V, k SUBSEP "cpm" f, cpu / (held + refused))
			push(V, k SUBSEP "rss" f, rss + 0)
		}
		if (kv($0, "conn_per_s") != "") push(V, k SUBSEP "cps" f, kv($0, "conn_per_s") + 0)
		# "unknown" where /proc/net/netstat is missing: no number, none pushed.
		if (kv($0, "listen_overflows") ~ /^[0-9]+$/) {
			push(V, k SUBSEP "lov" f, kv($0, "listen_overflows") + 0)
			push(V, k SUBSEP "ldr" f, kv($0, "listen_drops") + 0)
		}
		next
	}
	if (secs <= 0)
		next
	if (WMODE[w] == "stream") {
		push(V, k SUBSEP "mbs" f, bytes / secs / 1e6)
		n = bytes / WSIZE[w]
	} else {
		push(V, k SUBSEP "rate" f, msgs / secs)
		push(V, k SUBSEP "mbs" f, bytes / secs / 1e6)
		push(V, k SUBSEP "p50" f, kv($0, "p50"))
		push(V, k SUBSEP "p99" f, kv($0, "p99"))
		n = msgs
	}
	if (n > 0 && cpu != "") push(V, k SUBSEP "cpm" f, cpu / n)
	if (rss != "") push(V, k SUBSEP "rss" f, rss + 0)
}

# Fill MEDV/MINV/MAXV for every cell and metric, and BEST per workload and metric.
function summarise(    r, wi, w, k, m, mi, metrics, nm, list) {
	nm = split("rate mbs p50 p99 cpm rss rpc cps lov ldr", metrics, " ")
	for (r = 0; r < nrows; r++)
		for (wi = 0; wi < nwork; wi++) {
			w = WORDER[wi]; k = r SUBSEP w
			for (mi = 1; mi <= nm; mi++) {
				m = metrics[mi]
				if ((k SUBSEP m) in V)
					list = V[k SUBSEP m]
				else if ((k SUBSEP m SUBSEP "f") in V)
					list = V[k SUBSEP m SUBSEP "f"]
				else
					continue
				if (!stats(list))
					continue
				MEDV[k, m] = MED; MINV[k, m] = MIN; MAXV[k, m] = MAX
				if (k in FAILED || k in NA)
					continue
				if (!((w SUBSEP m) in BEST))
					BEST[w, m] = MED
				else if ((m == "rate" || m == "mbs" || m == "cps") ? MED > BEST[w, m] : MED < BEST[w, m])
					BEST[w, m] = MED
			}
		}
}

# A cell of the detail tables: median (min–max) and the ratio to the best.
function show(k, w, m, range,    s) {
	if (!((k SUBSEP m) in MEDV))
		return "—"
	s = num(MEDV[k, m])
	if (range && MINV[k, m] != MAXV[k, m])
		s = s " (" num(MINV[k, m]) "–" num(MAXV[k, m]) ")"
	if ((w SUBSEP m) in BEST && BEST[w, m] > 0 && !(k in FAILED))
		s = s " " rat(MEDV[k, m], BEST[w, m])
	return s
}

function rat(v, best,    r) {
	r = v / best
	if (r >= 100) return sprintf("×%.0f", r)
	if (r >= 10) return sprintf("×%.1f", r)
	return sprintf("×%.2f", r)
}

# Tables are gathered cell by cell (T[row, col]) and printed with padded columns.
function tput(row, col, s) {
	T[row, col] = s
	if (width(s) > TW[col]) TW[col] = width(s)
	if (col + 1 > TNC) TNC = col + 1
	if (row + 1 > TNR) TNR = row + 1
}

function spaces(n,    s) {
	s = ""
	while (n-- > 0) s = s " "
	return s
}

# Row 1 is the separator line; the first column is aligned left, the others right.
function tflush(    i, j, line, s, d) {
	for (i = 0; i < TNR; i++) {
		line = "|"
		for (j = 0; j < TNC; j++) {
			s = (i SUBSEP j) in T ? T[i, j] : ""
			if (i == 1) {
				d = spaces(TW[j])
				gsub(/ /, "-", d)
				if (j > 0) sub(/-$/, ":", d)
				line = line " " d " |"
			} else if (j == 0) {
				line = line " " s spaces(TW[j] - width(s)) " |"
			} else {
				line = line " " spaces(TW[j] - width(s)) s " |"
			}
		}
		print line
	}
	delete T; delete TW
	TNC = TNR = 0
}

function cell_status(k) {
	if (k in NA) return "n/a"
	if (k in FAILED) return "failed"
	if (!(k in SEEN)) return ""
	return "ok"
}

function summary_table(    r, wi, w, k, c, m, s) {
	tput(0, 0, "lab")
	c = 1
	for (wi = 0; wi < nwork; wi++) {
		w = WORDER[wi]; m = WMETRIC[w]
		if (m == "rate")
			s = "msg/s, " WCONNS[w] " conn" (WCONNS[w] > 1 ? "s" : "")
		else if (m == "mbs")
			s = "stream, MB/s"
		else if (m == "cpm")
			s = "µs/msg, " WIDLE[w] " idle"
		else
			s = "KiB/conn, " (WCONNS[w] >= 10000 ? WCONNS[w] / 1000 "k" : WCONNS[w]) " idle"
		tput(0, c++, s)
	}
	for (r = 0; r < nrows; r++) {
		tput(r + 2, 0, LABEL[r])
		c = 1
		for (wi = 0; wi < nwork; wi++) {
			w = WORDER[wi]; k = r SUBSEP w
			if (k in NA)
				s = "n/a"
			else if (!(k in SEEN))
				s = ""
			else
				s = show(k, w, WMETRIC[w], 0)
			if (k in FAILED)
				s = s " ✗"
			if (WMODE[w] == "hold" && (k in HELD) && HELD[k] < WCONNS[w] + 0 && !(k in NA))
				s = s " (" HELD[k] " held)"
			tput(r + 2, c++, s)
		}
	}
	tflush()
}

function detail_table(w,    r, k, c, tr, hold, stream) {
	hold = WMODE[w] == "hold"; stream = WMODE[w] == "stream"
	c = 0
	tput(0, c++, "lab")
	if (hold) {
		tput(0, c++, "held")
		tput(0, c++, "conn/s")
		tput(0, c++, "listen overflows")
		tput(0, c++, "RSS KiB/conn")
		tput(0, c++, "RSS KiB")
		tput(0, c++, "CPU µs/conn")
	} else {
		tput(0, c++, stream ? "MB/s" : "msg/s")
		if (!stream) {
			tput(0, c++, "p50 µs")
			tput(0, c++, "p99 µs")
		}
		tput(0, c++, stream ? "CPU µs/64 KiB" : "CPU µs/msg")
		tput(0, c++, "RSS KiB")
	}
	tput(0, c++, "threads/procs")
	if (hold)
		tput(0, c++, "lost")
	tput(0, c++, "errors")
	tput(0, c++, "mismatches")
	tr = 2
	for (r = 0; r < nrows; r++) {
		k = r SUBSEP w
		if (!(k in SEEN))
			continue
		c = 0
		tput(tr, c++, LABEL[r] ((k in FAILED) ? " ✗" : ""))
		if (k in NA) {
			tput(tr++, c++, "n/a")
			continue
		}
		if (hold) {
			tput(tr, c++, (k in HELD) ? HELD[k] : "—")
			tput(tr, c++, show(k, w, "cps", 1))
			tput(tr, c++, show(k, w, "lov", 1))
			tput(tr, c++, show(k, w, "rpc", 1))
			tput(tr, c++, show(k, w, "rss", 0))
			tput(tr, c++, show(k, w, "cpm", 0))
		} else {
			tput(tr, c++, show(k, w, stream ? "mbs" : "rate", 1))
			if (!stream) {
				tput(tr, c++, show(k, w, "p50", 0))
				tput(tr, c++, show(k, w, "p99", 0))
			}
			tput(tr, c++, show(k, w, "cpm", 1))
			tput(tr, c++, show(k, w, "rss", 0))
		}
		tput(tr, c++, (k in THR) ? THR[k] "/" PRC[k] : "—")
		if (hold)
			tput(tr, c++, (k in LOST) ? LOST[k] : "—")
		tput(tr, c++, ERR[k] + 0)
		tput(tr++, c++, MIS[k] + 0)
	}
	tflush()
}

# The notes under the tables: failures and remarks, one line each, then why cells are n/a,
# one line per row and reason.
function notes(    r, wi, w, k, any, reason, list, nr, i, seen) {
	for (r = 0; r < nrows; r++)
		for (wi = 0; wi < nwork; wi++) {
			w = WORDER[wi]; k = r SUBSEP w
			if (k in FAILED) {
				print "- ✗ " LABEL[r] ", " WTITLE[w] ": " FNOTE[k]
				any = 1
			} else if (k in ONOTE) {
				print "- " LABEL[r] ", " WTITLE[w] ": " ONOTE[k]
				any = 1
			}
		}
	for (r = 0; r < nrows; r++) {
		nr = 0
		for (wi = 0; wi < nwork; wi++) {
			k = r SUBSEP WORDER[wi]
			if (!(k in NA))
				continue
			for (i = 1; i <= nr && reason[i] != NANOTE[k]; i++)
				continue
			if (i > nr) {
				reason[++nr] = NANOTE[k]
				list[i] = ""
			}
			list[i] = list[i] (list[i] == "" ? "" : "; ") WTITLE[WORDER[wi]]
		}
		for (i = 1; i <= nr; i++) {
			print "- n/a: " LABEL[r] ", " list[i] ": " reason[i]
			any = 1
		}
	}
	return any
}

function json(    r, wi, w, k, first, m, line, hold) {
	print "["
	first = 1
	for (r = 0; r < nrows; r++)
		for (wi = 0; wi < nwork; wi++) {
			w = WORDER[wi]; k = r SUBSEP w
			if (!(k in SEEN))
				continue
			hold = WMODE[w] == "hold"
			line = "{\"lab\": " json_str(LAB[r]) ", \"program\": " json_str(PROG[r]) \
			    ", \"row\": " json_str(LABEL[r]) ", \"kind\": " json_str(KIND[r]) \
			    ", \"workload\": " json_str(w) ", \"mode\": " json_str(WMODE[w]) \
			    ", \"conns\": " WCONNS[w] ", \"idle\": " WIDLE[w] \
			    ", \"msg_size\": " WSIZE[w] ", \"reps\": " REPS[k] + 0 \
			    ", \"status\": " json_str(cell_status(k)) \
			    ", \"note\": " json_str((k in NA) ? NANOTE[k] : (k in FAILED) ? FNOTE[k] : ONOTE[k])
			line = line jm(k, "rate", "msgs_per_s", "%.0f") jm(k, "mbs", "mb_per_s", "%.3f") \
			    jm(k, "p50", "lat_p50_us", "%.0f") jm(k, "p99", "lat_p99_us", "%.0f") \
			    jm(k, "cpm", "server_cpu_us_per_msg", "%.3f") \
			    jm(k, "rss", "server_rss_kb", "%.0f") jm(k, "rpc", "rss_per_conn_kb", "%.3f") \
			    jm(k, "cps", "conn_per_s", "%.0f") jm(k, "lov", "listen_overflows", "%.0f") \
			    jm(k, "ldr", "listen_drops", "%.0f")
			line = line ", \"held\": " ((k in HELD) ? HELD[k] + 0 : "null") \
			    ", \"threads\": " ((k in THR) ? THR[k] + 0 : "null") \
			    ", \"procs\": " ((k in PRC) ? PRC[k] + 0 : "null")
			if (k in NA)
				line = line ", \"lost\": null, \"errors\": null, \"mismatches\": null}"
			else
				line = line ", \"lost\": " ((k in LOST) ? LOST[k] + 0 : "null") \
				    ", \"errors\": " ERR[k] + 0 ", \"mismatches\": " MIS[k] + 0 "}"
			printf "%s%s", first ? "" : ",\n", line
			first = 0
		}
	print (first ? "" : "\n") "]"
}

# A metric in JSON: the median, and its min and max over the repetitions.
function jm(k, m, name, fmt,    has) {
	has = (k SUBSEP m) in MEDV
	return ", \"" name "\": " (has ? sprintf(fmt, MEDV[k, m]) : "null") \
	    ", \"" name "_min\": " (has ? sprintf(fmt, MINV[k, m]) : "null") \
	    ", \"" name "_max\": " (has ? sprintf(fmt, MAXV[k, m]) : "null")
}

END {
	summarise()
	if (out == "json") {
		json()
	} else if (out == "idle") {
		# One block per row: "idle cpu_us_per_msg" lines, titled by the row, for every
		# row with at least two idle points.
		for (r = 0; r < nrows; r++) {
			n = 0; block = ""
			for (wi = 0; wi < nwork; wi++) {
				w = WORDER[wi]; k = r SUBSEP w
				if (WMETRIC[w] != "cpm")
					continue
				if ((k SUBSEP "cpm") in MEDV && !(k in NA) && !(k in FAILED)) {
					block = block sprintf("%d %.3f\n", WIDLE[w], MEDV[k, "cpm"])
					n++
				}
			}
			if (n >= 2)
				printf "\"%s\"\n%s\n\n", LABEL[r], block
		}
	} else if (out == "rss") {
		for (r = 0; r < nrows; r++)
			for (wi = 0; wi < nwork; wi++) {
				w = WORDER[wi]; k = r SUBSEP w
				if (WMODE[w] == "hold" && (k SUBSEP "rpc") in MEDV && !(k in NA))
					printf "\"%s\" %.3f %d\n", LABEL[r], MEDV[k, "rpc"], HELD[k]
			}
	} else {
		if (out == "table" || out == "summary") {
			print "Summary (median of the repetitions; ×N.NN: the ratio to the best row of the column; ✗: failed, see the notes):"
			print ""
			summary_table()
		}
		if (out == "table" || out == "details")
			for (wi = 0; wi < nwork; wi++) {
				w = WORDER[wi]
				print ""
				print "### " WTITLE[w]
				print ""
				detail_table(w)
			}
		if (out == "table" || out == "notes") {
			if (out == "table")
				print ""
			print "Notes:"
			print ""
			if (!notes())
				print "- none: every cell ran without an error or a mismatch."
		}
	}
}
