# bench/charts.gp: the two charts of docs/results.md, drawn by bench/bench.sh after a full
# run (gnuplot 5):
#
#	gnuplot -e "idle='IDLE'; nidle=N; rss='RSS'; outdir='docs'" bench/charts.gp
#
# IDLE: N blocks, one per server, its name in quotes on the first line, then "idle cpu"
# lines (idle connections, server CPU us per echoed message); blocks separated by two blank
# lines. RSS: one line per server: "name" KiB-per-connection connections-held (a server
# that held fewer than 10,000 says how many on its bar). Neither may be empty.
# Writes OUTDIR/bench-idle-cpu.svg and OUTDIR/bench-rss-per-conn.svg.

set terminal svg size 820,480 dynamic font "sans,12" background "white"
set encoding utf8
set grid ytics lc rgb "#dddddd"
set border 3
set tics nomirror
set key outside right top Left reverse noautotitle

# 1. CPU per message against idle connections: flat for epoll, climbing for select and
# poll, which hand the kernel every descriptor at every wait (Gammo et al. 2004). A log
# scale, so that a server 50 times dearer and the flat ones both stay readable.
set output outdir."/bench-idle-cpu.svg"
set title "Server CPU per echoed message, 10 active clients among idle connections"
set xlabel "idle connections held"
set ylabel "server CPU µs per message (log scale)"
set xrange [-200:5200]
set xtics (0, 1000, 2000, 3000, 4000, 5000)
set logscale y
set ytics (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
# Eight colours (ColorBrewer's Dark2), then the same dashed, so that a dozen servers stay
# apart.
colours = "#1b9e77 #d95f02 #7570b3 #e7298a #66a61e #e6ab02 #a6761d #666666"
do for [i = 1:24] {
	dash = (i - 1) / 8 + 1
	set style line i lc rgb word(colours, (i - 1) % 8 + 1) dt dash lw 2 \
		pt ((i - 1) % 5 + 5) ps 0.8
}
plot for [i=0:nidle-1] idle index i using 1:2 with linespoints ls i + 1 title columnheader(1)

# 2. Memory per idle connection, on a log scale: the models differ by orders of magnitude.
set output outdir."/bench-rss-per-conn.svg"
set title "Server memory per idle connection, 10,000 held (RSS, or Pss for a process tree)"
set xlabel ""
set ylabel "KiB per connection (log scale)"
stats rss using 2 nooutput
set yrange [STATS_min / 4 : STATS_max * 4]
set ytics auto
set xrange [-0.6 : STATS_records - 0.4]
set key off
set bmargin 5
set xtics rotate by -30 left nomirror font "sans,11"
set style fill solid 0.7 border -1
set boxwidth 0.6
plot rss using 0:2:xtic(1) with boxes lc rgb "#4477aa", \
	rss using 0:2:(sprintf($3 < 10000 ? "%.2f (%d held)" : "%.2f", $2, $3)) \
	with labels offset 0,0.8 font "sans,10"
