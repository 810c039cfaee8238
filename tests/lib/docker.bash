# A private Docker daemon for the tests: `dockerd` (Debian's docker.io)
# with its own containerd, data, exec root, pid file and socket in one
# folder, no iptables, no bridge; images built locally from scratch, with
# no registry. Source it, then:
#
#   docker_require        in setup_file: skip when docker is not installed
#                         (fail under CI)
#   docker_setup_file     in setup_file: docker_require, then a daemon in a
#                         fresh folder under /tmp, exported as DOCKER_DIR
#   docker_stack_setup PREFIX / docker_stack_teardown
#                         in setup / teardown: the common test folder, a
#                         PORTS_FILE for take_port, and a compose project of
#                         the test's own (PREFIX and the test's number),
#                         taken down after it
#   docker_start DIR      start a daemon in DIR (made when missing; keep it
#                         short and under /tmp: socket paths are bounded);
#                         exports DOCKER_HOST
#   docker_image NAME[:TAG] DIR [FILE...]
#                         build an image FROM scratch holding busybox-static
#                         (/bin/busybox, sh, wget, cat), the ziggie demo
#                         service as /demo-service and FILEs at /; DIR is a
#                         scratch folder for its context; prints its ID
#   docker_app_image NAME[:TAG] DIR MODE VERSION
#                         docker_image with an /app.conf of that MODE and
#                         VERSION (the demo service's --config); prints its ID
#   docker_compose ARGS...
#                         the compose front-end there is, as lastgood picks
#                         it: `docker compose` (v2), else `docker-compose`
#   docker_short ID       the twelve hex digits docker shows an ID by
#   docker_stop DIR       stop its containers, the daemon and its containerd,
#                         unmount what they left, remove DIR (safe to call
#                         twice, or without a start)
#
# It never talks to a daemon the machine already has: DOCKER_HOST names the
# private socket, and containerd is started here with its own socket so that
# dockerd does not pick up a system one (/run/containerd/containerd.sock).
# Containers use `network_mode: host` on loopback ports, or `none`.

DOCKER__DEMO_SOURCE=$(cd "${BASH_SOURCE[0]%/*}/../../examples/ziggie" && pwd)/demo-service.c

# docker_require: for setup_file; skips the file when a program the
# daemon or its images need is missing, and fails under CI, where
# scripts/install-deps check installs them.
docker_require() {
	local tool
	for tool in dockerd containerd docker docker-compose busybox; do
		if ! command -v "$tool" >/dev/null; then
			[ "${CI:-}" = true ] && { echo "$tool is missing under CI" >&2; return 1; }
			skip "$tool not installed (scripts/install-deps check installs it)"
		fi
	done
}

docker_setup_file() {
	docker_require || return 1
	# Short: the daemon's sockets live in it.
	DOCKER_DIR=$(mktemp -d /tmp/lg-docker.XXXXXX)
	export DOCKER_DIR
	docker_start "$DOCKER_DIR"
}

docker_stack_setup() {
	common_setup || return 1
	PORTS_FILE=$BATS_TEST_TMPDIR/ports
	: >"$PORTS_FILE"
	export COMPOSE_PROJECT_NAME=$1$BATS_TEST_NUMBER
}

docker_stack_teardown() {
	docker_compose down -t 1 >/dev/null 2>&1
	common_teardown
}

docker_start() {
	local dir=$1 wait
	mkdir -p "$dir" || return 1
	dir=$(cd "$dir" && pwd)
	# Its own containerd config: the system one (/etc/containerd) points
	# at /var/lib/containerd.
	printf 'version = 2\nroot = "%s/ctd-root"\nstate = "%s/ctd-state"\n[grpc]\n  address = "%s/ctd.sock"\n' \
		"$dir" "$dir" "$dir" >"$dir/containerd.toml"
	containerd --config "$dir/containerd.toml" >"$dir/containerd.log" 2>&1 &
	echo $! >"$dir/containerd.pid"
	for wait in $(seq 1 200); do
		[ -S "$dir/ctd.sock" ] && break
		kill -0 "$(cat "$dir/containerd.pid")" 2>/dev/null || break
		sleep 0.05
	done
	if [ ! -S "$dir/ctd.sock" ]; then
		echo "docker_start: containerd did not come up; its log:" >&2
		cat "$dir/containerd.log" >&2
		docker_stop "$dir"
		return 1
	fi
	echo "{}" >"$dir/daemon.json"
	dockerd --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$dir/dockerd.pid" \
		-H "unix://$dir/docker.sock" --containerd "$dir/ctd.sock" \
		--iptables=false --ip-masq=false --bridge=none --config-file "$dir/daemon.json" \
		>"$dir/dockerd.log" 2>&1 &
	echo $! >"$dir/dockerd.bgpid"
	export DOCKER_HOST="unix://$dir/docker.sock"
	for wait in $(seq 1 400); do
		docker version >/dev/null 2>&1 && return 0
		kill -0 "$(cat "$dir/dockerd.bgpid")" 2>/dev/null || break
		sleep 0.05
	done
	echo "docker_start: dockerd did not answer on $DOCKER_HOST; its log:" >&2
	cat "$dir/dockerd.log" >&2
	docker_stop "$dir"
	return 1
}

# Stop the process whose pid FILE holds and wait for it (it is our child
# only in the shell that started it, so poll otherwise).
docker__kill() {
	local file=$1 pid wait
	[ -f "$file" ] || return 0
	pid=$(cat "$file")
	if kill "$pid" 2>/dev/null; then
		for wait in $(seq 1 400); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
		kill -KILL "$pid" 2>/dev/null
	fi
	rm -f "$file"
	return 0
}

docker_stop() {
	local dir=$1 ids mnt
	[ -d "$dir" ] || return 0
	dir=$(cd "$dir" && pwd)
	if [ -S "$dir/docker.sock" ]; then
		ids=$(DOCKER_HOST="unix://$dir/docker.sock" docker ps -aq 2>/dev/null)
		[ -z "$ids" ] || DOCKER_HOST="unix://$dir/docker.sock" docker rm -f $ids >/dev/null 2>&1
	fi
	docker__kill "$dir/dockerd.bgpid"
	docker__kill "$dir/containerd.pid"
	# Overlay and shm mounts a killed daemon left behind, deepest first.
	while read -r mnt; do
		umount -l "$mnt" 2>/dev/null
	done < <(awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r)
	rm -rf "$dir"
}

docker_image() {
	local name=$1 dir=$2 file
	shift 2
	mkdir -p "$dir/bin" || return 1
	cc -O2 -static -D_GNU_SOURCE -o "$dir/demo-service" "$DOCKER__DEMO_SOURCE" || return 1
	cp /bin/busybox "$dir/bin/busybox" || return 1
	ln -sf busybox "$dir/bin/sh"
	ln -sf busybox "$dir/bin/wget"
	ln -sf busybox "$dir/bin/cat"
	{
		echo "FROM scratch"
		echo "COPY bin /bin"
		echo "COPY demo-service /demo-service"
		for file in "$@"; do
			cp "$file" "$dir/" || return 1
			echo "COPY ${file##*/} /${file##*/}"
		done
	} >"$dir/Dockerfile"
	# The legacy builder: BuildKit needs the buildx plugin, and says so.
	if ! DOCKER_BUILDKIT=0 docker build -q -t "$name" "$dir" >"$dir/build.log" 2>&1; then
		cat "$dir/build.log" >&2
		return 1
	fi
	docker image inspect --format '{{.Id}}' "$name"
}

docker_app_image() {
	local name=$1 dir=$2
	mkdir -p "$dir" || return 1
	printf 'MODE=%s\nVERSION=%s\n' "$3" "$4" >"$dir/app.conf"
	docker_image "$name" "$dir/context" "$dir/app.conf"
}

docker_compose() {
	if docker compose version >/dev/null 2>&1; then
		docker compose "$@"
	else
		docker-compose "$@"
	fi
}

docker_short() { local id=${1#sha256:}; echo "${id:0:12}"; }
