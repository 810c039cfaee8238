# A private PostgreSQL server for the tests: initdb into a folder, started
# on 127.0.0.1 at a free port with its socket inside that folder, stopped
# at the end. Source it, then:
#
#   pg_start DIR          start a server in DIR (made when missing; its parent
#                         must be reachable by other users: /tmp); exports
#                         LG_TEST_PGURL, LG_TEST_PGURL_PASSWORD, LG_TEST_PG_PASSWORD
#   pg_new_db NAME        a fresh, empty database NAME; prints its URL
#   pg_stop DIR           stop it (safe to call twice, or without a start)
#
# LG_TEST_PGURL (postgresql://postgres@127.0.0.1:PORT/postgres) is a
# superuser let in without a password. LG_TEST_PGURL_PASSWORD names the role
# lg_password, which must give LG_TEST_PG_PASSWORD (scram-sha-256), so that
# tests can see what a wrong password does.
#
# initdb and postgres refuse to run as root: as root, the server runs as
# the `postgres` system user (Debian's package makes it), else `nobody`,
# and DIR is handed to that user.

LG_TEST_PG_PASSWORD=lg-test-password-7d1c

# The newest Debian PostgreSQL bin folder (/usr/lib/postgresql/N/bin).
pg__bindir() {
	local dir
	dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4,4n | tail -n 1)
	[ -n "$dir" ] || { echo "pg_start: no PostgreSQL server in /usr/lib/postgresql" >&2; return 1; }
	echo "$dir"
}

# Run a command as the server's user (as ourselves when not root).
pg__as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u "$PG__USER" -- "$@"
	else
		"$@"
	fi
}

# psql as the superuser over TCP, stopping at the first error.
pg__psql() {
	PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 \
		-d "$LG_TEST_PGURL" "$@"
}

pg__port_busy() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pg_start() {
	local dir=$1 bin port tries
	bin=$(pg__bindir) || return 1
	PG__USER=$(id -un)
	if [ "$(id -u)" -eq 0 ]; then
		PG__USER=postgres
		getent passwd postgres >/dev/null || PG__USER=nobody
	fi
	mkdir -p "$dir/sock" || return 1
	[ "$(id -u)" -ne 0 ] || chown -R "$PG__USER" "$dir" || return 1
	pg__as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-locale \
		>"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; return 1; }
	# The first matching line wins: lg_password must give its password
	# over TCP, everyone else is trusted (loopback only).
	pg__as_owner tee "$dir/data/pg_hba.conf" >/dev/null <<-EOF
		local all all trust
		host all lg_password 127.0.0.1/32 scram-sha-256
		host all all 127.0.0.1/32 trust
	EOF
	pg__as_owner tee -a "$dir/data/postgresql.conf" >/dev/null <<-EOF
		listen_addresses = '127.0.0.1'
		unix_socket_directories = '$dir/sock'
		fsync = off
		synchronous_commit = off
		full_page_writes = off
	EOF
	# A free port: one nobody listens on; another process may take it
	# between the check and the start, so a failed start tries another.
	for tries in 1 2 3 4 5 6 7 8; do
		port=$((20000 + RANDOM % 40000))
		pg__port_busy "$port" && continue
		if pg__as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
			-o "-p $port" start >/dev/null 2>&1; then
			export LG_TEST_PGURL="postgresql://postgres@127.0.0.1:$port/postgres"
			export LG_TEST_PGURL_PASSWORD="postgresql://lg_password@127.0.0.1:$port/postgres"
			export LG_TEST_PG_PASSWORD
			pg__psql -c "CREATE ROLE lg_password LOGIN PASSWORD '$LG_TEST_PG_PASSWORD'" ||
				{ pg_stop "$dir"; unset LG_TEST_PGURL LG_TEST_PGURL_PASSWORD; return 1; }
			return 0
		fi
	done
	echo "pg_start: the server did not start ($dir/server.log):" >&2
	cat "$dir/server.log" >&2
	return 1
}

pg_new_db() {
	local name=$1
	pg__psql -c "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" -c "CREATE DATABASE \"$name\"" ||
		return 1
	echo "${LG_TEST_PGURL%/*}/$name"
}

pg_stop() {
	local dir=$1 bin
	[ -f "$dir/data/postmaster.pid" ] || return 0
	bin=$(pg__bindir) || return 1
	PG__USER=$(stat -c %U "$dir/data") || return 1
	pg__as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
}
