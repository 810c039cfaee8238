# A private Redis server for the tests: `redis-server` on 127.0.0.1 at a
# free port, its files in its own folder, nothing saved on its own, stopped
# at the end. Source it, then:
#
#   redis_start DIR    start a server whose dir is DIR (made when missing);
#                      exports LG_TEST_REDIS_PORT
#   redis_cli ARGS...  redis-cli against it
#   redis_stop DIR     stop it (safe to call twice, or without a start)
#
# DEBUG is enabled for local connections, so that a restore can load a
# dump.rdb into the running server (DEBUG RELOAD NOSAVE).

redis_cli() {
	redis-cli -h 127.0.0.1 -p "$LG_TEST_REDIS_PORT" "$@"
}

redis_start() {
	local dir=$1 port tries
	mkdir -p "$dir" || return 1
	# A free port: one nobody listens on; another process may take it
	# between the check and the start, so a failed start tries another.
	for tries in 1 2 3 4 5 6 7 8; do
		port=$((20000 + RANDOM % 40000))
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && continue
		redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save "" \
			--appendonly no --daemonize no --enable-debug-command local \
			>"$dir/server.log" 2>&1 &
		echo $! >"$dir/server.pid"
		LG_TEST_REDIS_PORT=$port
		local wait
		for wait in $(seq 1 200); do
			[ "$(redis_cli ping 2>/dev/null)" = PONG ] && { export LG_TEST_REDIS_PORT; return 0; }
			kill -0 "$(cat "$dir/server.pid")" 2>/dev/null || break
			sleep 0.05
		done
		redis__kill "$dir"
	done
	echo "redis_start: no server came up; its log:" >&2
	cat "$dir/server.log" >&2
	return 1
}

redis__kill() {
	local pid
	[ -f "$1/server.pid" ] || return 0
	pid=$(cat "$1/server.pid")
	kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -f "$1/server.pid"
	return 0
}

redis_stop() {
	redis__kill "$1"
}
