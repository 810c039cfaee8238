#!/usr/bin/env bash
# The docker-compose runbook's manual rollback (seeds/rollback-playbook-
# docker-compose.md, "Full Manual Rollback", steps 5 and 7), scripted
# faithfully for the ziggie stack as plain processes: what bench/recover.sh
# measures lastgood against.
#
#   runbook.sh HOST setup           take the backup copies of v1 (backups/v1)
#   runbook.sh HOST break           stop, put the broken v2 in, start; returns
#                                   once ziggie-api answers 503
#   runbook.sh HOST rollback        stop, restore the backup copies, start,
#                                   sleep $RUNBOOK_SLEEP (30), curl each /health
#   runbook.sh HOST rollback-poll   the same, polling /health every 50 ms
#   runbook.sh HOST stop
#
# HOST holds bin/NAME, etc/NAME.env and lastgood.yml (for the ports) as
# bench/recover.sh lays it out. Services are started detached, their pids
# in HOST/run/NAME.pid, as `docker compose up -d` would.
set -euo pipefail

host=$1
services=(ziggie-api mcp-gateway sim-studio)
cd "$host"

port_of() { sed -n "/^  $1:/,/^  [a-z]/s/.*--port, \"\([0-9]*\)\".*/\1/p" lastgood.yml | head -n 1; }

# A stopped service stays a zombie until whoever inherited it reaps it,
# which can take seconds: exited is enough.
running() {
	local state
	state=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) || return 1
	[ "$state" != Z ]
}

stop_all() {   # docker compose down
	local s pid
	for s in "${services[@]}"; do
		[ -f "run/$s.pid" ] || continue
		pid=$(cat "run/$s.pid")
		kill -TERM "$pid" 2>/dev/null || true
		while running "$pid"; do sleep 0.01; done
		rm -f "run/$s.pid"
	done
}

start_all() {   # docker compose up -d
	local s
	mkdir -p run
	for s in "${services[@]}"; do
		setsid "bin/$s" --name "$s" --port "$(port_of "$s")" --config "etc/$s.env" \
			>>"run/$s.log" 2>&1 </dev/null &
		echo $! >"run/$s.pid"
	done
}

health() { curl -s --max-time 2 "http://127.0.0.1:$(port_of "$1")/health"; }

check_all() {   # STEP 7: curl each /health; all must say healthy
	local s
	for s in "${services[@]}"; do
		health "$s" | grep -q '"status":"healthy"' || return 1
	done
}

case $2 in
setup)
	mkdir -p backups/v1/bin backups/v1/etc
	cp -a bin/. backups/v1/bin/
	cp -a etc/. backups/v1/etc/
	start_all
	until check_all; do sleep 0.05; done
	;;
break)
	stop_all
	n=$(($(cat run/count 2>/dev/null || echo 0) + 1))
	echo "$n" >run/count
	printf 'VERSION=2.%d\nMODE=unhealthy\nSTART_DELAY_MS=200\n' "$n" >etc/ziggie-api.env
	printf 'VERSION=2.%d\nMODE=healthy\nSTART_DELAY_MS=200\n' "$n" >etc/mcp-gateway.env
	start_all
	until health ziggie-api | grep -q '"status":"unhealthy"'; do sleep 0.05; done
	;;
rollback | rollback-poll)
	RESTORE_FROM=backups/v1
	stop_all
	cp "$RESTORE_FROM"/bin/* bin/
	cp "$RESTORE_FROM"/etc/* etc/
	start_all
	if [ "$2" = rollback ]; then
		sleep "${RUNBOOK_SLEEP:-30}"
		check_all
	else
		until check_all; do sleep 0.05; done
	fi
	;;
stop)
	stop_all
	;;
*)
	echo "usage: runbook.sh HOST setup|break|rollback|rollback-poll|stop" >&2
	exit 2
	;;
esac
