# bench/charts.gp: the two charts of docs/results.md, drawn by bench/bench.sh after a full
# run (gnuplot 5):
#
#	gnuplot -e "idle='IDLE'; rss='RSS'; outdir='docs'" bench/charts.gp
#
# IDLE: one block per server, its name in quotes on the first line, then "idle cpu" lines
# (idle connections, server CPU us per echoed message); blocks separated by two blank lines.
# RSS: one line per server: "name" KiB-per-connection connections-held.
# Writes OUTDIR/bench-idle-cpu.svg and OUTDIR/bench-rss-per-conn.svg.

set terminal svg size 820,480 dynamic font "sans,12" background "white"
set encoding utf8
set grid ytics lc rgb "#dddddd"
set border 3
set tics nomirror
set key outside right top Left reverse noautotitle

# 1. CPU per message against idle connections: flat for epoll, climbing for select and
# poll, which hand the kernel every descriptor at every wait (Gammo et al. 2004).
set output outdir."/bench-idle-cpu.svg"
set title "Server CPU per echoed message, 10 active clients among idle connections"
set xlabel "idle connections held"
set ylabel "server CPU µs per message"
set xrange [-200:5200]
set xtics (0, 1000, 2000, 3000, 4000, 5000)
set yrange [0:*]
stats idle nooutput
plot for [i=0:STATS_blocks-1] idle index i using 1:2 with linespoints lw 2 pt 7 ps 0.8 \
	title columnheader(1)

# 2. Memory per idle connection, on a log scale: the models differ by orders of magnitude.
set output outdir."/bench-rss-per-conn.svg"
set title "Server memory per idle connection (10,000 held; RSS, or Pss for a process tree)"
set xlabel ""
set ylabel "KiB per connection (log scale)"
set logscale y
set yrange [0.01:*]
set xrange [-0.6:*]
set xtics rotate by -30 left
set style fill solid 0.7 border -1
set boxwidth 0.6
set key off
unset xtics
set xtics rotate by -30 left nomirror
plot rss using 0:2:xtic(1) with boxes lc rgb "#4477aa", \
	rss using 0:2:(sprintf("%.2f", $2)) with labels offset 0,0.8 font "sans,10"
