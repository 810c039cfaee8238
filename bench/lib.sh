# Shared by the benchmarks under bench/ (sourced, not run).
#
# Each benchmark script writes one section of docs/BENCHMARKS.md to
# $BENCH_RESULTS/NAME.md: prose, the command that produced each table, and
# the table. Timings come from hyperfine (median and min-max of its runs) or
# from lastgood's own record of an operation; memory from /usr/bin/time -v.
#
# Environment (bench/run sets all of it):
#   LASTGOOD       the binary measured
#   LASTGOOD_BEFORE  the binary before issue 5's changes, when built (rows "before")
#   BENCH_SCALE    1 for the sizes the issue names; 0.1 for a tenth of each
#   BENCH_WORK     scratch folder for generated data (never the checkout)
#   BENCH_BIN      the benchmarks' tools built there: gentree, demo-service
#   BENCH_RESULTS  where sections go
#   BENCH_DIR      bench/ itself

set -euo pipefail

: "${BENCH_SCALE:=1}"
GENTREE=$BENCH_BIN/gentree

# scaled N [MIN]: N times BENCH_SCALE, at least MIN (default 1), an integer.
scaled() {
	awk -v n="$1" -v s="$BENCH_SCALE" -v m="${2:-1}" 'BEGIN { v = int(n * s); if (v < m) v = m; print v }'
}

# human N: 10000 -> 10,000
human() { printf "%'d" "$1" 2>/dev/null || echo "$1"; }

# bytes_h N: 1073741824 -> 1.0 GiB
bytes_h() {
	awk -v b="$1" 'BEGIN { split("B KiB MiB GiB TiB", u); i = 1; while (b >= 1024 && i < 5) { b /= 1024; i++ }
		printf (i == 1 ? "%d %s" : "%.1f %s"), b, u[i] }'
}

say() { printf 'bench: %s\n' "$*" >&2; }

# section NAME: start $BENCH_RESULTS/NAME.md; everything printed to fd 3 goes there.
section() {
	exec 3>"$BENCH_RESULTS/$1.md"
}

out() { printf '%s\n' "$@" >&3; }

# ms SECONDS: "12.3 ms" / "1.23 s"
ms() {
	awk -v t="$1" 'BEGIN { if (t < 1) printf "%.1f ms", t * 1000; else printf "%.2f s", t }'
}

# hf_table JSON [NAME=LABEL...]: a markdown table of a hyperfine export:
# command, median, min-max, runs; a label replaces a command's text.
hf_table() {
	local json=$1
	shift
	out "| command | median | range (min - max) | runs |" "| --- | ---: | ---: | ---: |"
	jq -r '.results[] | [.command, (.median|tostring), (.min|tostring), (.max|tostring),
		((.times|length)|tostring)] | @tsv' "$json" |
	while IFS=$'\t' read -r cmd median min max runs; do
		out "| \`$cmd\` | $(ms "$median") | $(ms "$min") - $(ms "$max") | $runs |"
	done
}

# hf_median JSON INDEX: the median (seconds) of the INDEX-th command.
hf_median() { jq -r ".results[$2].median" "$1"; }

# hf_line ARGS...: hyperfine's command line with ARGS, quoted for a shell.
hf_line() {
	local line='hyperfine' arg
	for arg in "$@"; do
		case $arg in
		*[[:space:]\'\"\$]*) line+=" '${arg//\'/\'\\\'\'}'" ;;
		*) line+=" $arg" ;;
		esac
	done
	printf '%s\n' "$line"
}

# hyperfine_run JSON ARGS...: hyperfine, quiet, its export in JSON; the
# command line is printed to the section as it was run.
hyperfine_run() {
	local json=$1
	shift
	out '```sh' "$(hf_line "$@")" '```'
	hyperfine --style none --export-json "$json" "$@" >&2
}

# The median of an array of numbers, in jq.
HF_MEDIAN='def median: sort | if length % 2 == 1 then .[length / 2 | floor]
	else (.[length / 2 - 1] + .[length / 2]) / 2 end;'

# hyperfine_rounds JSON ROUNDS ARGS...: hyperfine ROUNDS times with
# --runs 1, so that each round runs every command once, one after the
# other. hyperfine alone runs all of one command's runs before the next
# command's, and on a machine whose speed drifts from minute to minute
# (this one's did by up to six times) that compares two moments as much
# as two commands. The rounds are merged into one export like
# hyperfine_run's: a command's times, in round order, and their median,
# min and max.
hyperfine_rounds() {
	local json=$1 rounds=$2 r files=()
	shift 2
	out '```sh' "for round in \$(seq $rounds); do" "  $(hf_line --runs 1 "$@")" "done" '```'
	for ((r = 1; r <= rounds; r++)); do
		files+=("$json.$r")
		hyperfine --style none --runs 1 --export-json "$json.$r" "$@" >&2
	done
	jq -s "$HF_MEDIAN"'
		{results: [range(0; .[0].results | length) as $i | [.[].results[$i]] as $c |
			{command: $c[0].command, times: [$c[].times[0]]} |
			.median = (.times | median) | .min = (.times | min) | .max = (.times | max)]}' \
		"${files[@]}" >"$json"
	rm -f "${files[@]}"
}

# hf_round_ratios JSON A B: each round's time of command A over command B's
# in a hyperfine_rounds export, in round order, one a line.
hf_round_ratios() {
	jq -r ".results[$2].times as \$a | .results[$3].times as \$b |
		range(0; \$a | length) | \$a[.] / \$b[.]" "$1"
}

# median_of: the median of the numbers on standard input, one a line.
median_of() { jq -s "$HF_MEDIAN median"; }

# peak_rss_kib CMD...: run CMD under /usr/bin/time -v, print its peak RSS in KiB.
peak_rss_kib() {
	local log
	log=$(mktemp "$BENCH_WORK/time.XXXXXX")
	/usr/bin/time -v -o "$log" "$@" >/dev/null 2>&1
	sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): //p' "$log"
	rm -f "$log"
}

# ratio A B: A/B with two digits.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

# verdict OK: "met" or "**missed**".
verdict() { if [ "$1" = 1 ]; then echo "met"; else echo "**missed**"; fi; }

# lt A B: 1 when A < B (numbers).
lt() { awk -v a="$1" -v b="$2" 'BEGIN { print (a < b) ? 1 : 0 }'; }

# drop_state DIR: remove a state folder whose objects are read-only.
drop_state() { [ ! -e "$1" ] || { chmod -R u+w "$1" && rm -rf "$1"; }; }
