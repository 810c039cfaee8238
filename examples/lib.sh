# Shared by the demos (examples/demo.sh, examples/ziggie/demo.sh) and the
# benchmarks that run the ziggie stack (bench/recover.sh): how a command is
# shown, and which processes a run started. Source it; it defines functions
# only, and reads $LG and $host when they are called.

if [ -t 1 ]; then bold=$(printf '\033[1m'); plain=$(printf '\033[0m'); else bold=; plain=; fi
say() { printf '\n%s# %s%s\n' "$bold" "$*" "$plain"; }

# lastgood ARGS...: run $LG on the scratch host $host, echoing the command
# line first (arguments with spaces quoted).
lastgood() {
	local arg line='$ lastgood'
	for arg; do
		case $arg in
		*[[:space:]]*) line+=" \"$arg\"" ;;
		*) line+=" $arg" ;;
		esac
	done
	printf '%s%s%s\n' "$bold" "$line" "$plain"
	"$LG" -C "$host" "$@"
}

# pids_under DIR: every process whose executable lies below DIR. Only the
# run's own services can match: /proc/PID/exe names the file even after a
# switch replaced it ("... (deleted)").
pids_under() {
	local exe pid
	for exe in /proc/[0-9]*/exe; do
		pid=${exe#/proc/}
		pid=${pid%/exe}
		case $(readlink "$exe" 2>/dev/null) in
		"$1"/*) echo "$pid" ;;
		esac
	done
}

# A port counts as taken when something accepts a connection on it.
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# pick_port FIRST CHOSEN...: FIRST if free, else a free random one; never
# one in CHOSEN. Fails after 200 tries.
pick_port() {
	local port=$1 tries=0
	shift
	while port_taken "$port" || [[ " $* " == *" $port "* ]]; do
		tries=$((tries + 1))
		if [ "$tries" -gt 200 ]; then
			echo "no free loopback port found" >&2
			return 1
		fi
		port=$((20000 + RANDOM % 40000))
	done
	echo "$port"
}
