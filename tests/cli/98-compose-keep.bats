#!/usr/bin/env bats
# Images kept from pruning, on a private Docker daemon: each image a
# release records is held by a created, never-started container of
# lastgood's, so that `docker image prune -a -f` leaves it; gc removes that
# container with the last release recording the image (and no container
# of anyone else); fsck reports an image removed by hand and creates a
# keep container that was pruned again.

load helpers
load helpers-services   # take_port; its setup_file is replaced below
load ../lib/docker

setup_file() {
	docker_setup_file || return 1
}

teardown_file() {
	docker_stop "$DOCKER_DIR"
}

# Each test builds its own api:1 and api:2 (a marker file makes their IDs
# its own), since a test prunes what it no longer keeps.
setup() {
	docker_stack_setup lgkeep || return 1
	local v
	for v in 1 2; do
		mkdir -p "$BATS_TEST_TMPDIR/conf$v"
		printf 'MODE=healthy\nVERSION=%s\n' "$v" >"$BATS_TEST_TMPDIR/conf$v/app.conf"
		echo "$BATS_TEST_NUMBER $v $RANDOM" >"$BATS_TEST_TMPDIR/conf$v/marker"
		docker_image "api:$v" "$BATS_TEST_TMPDIR/ctx$v" "$BATS_TEST_TMPDIR/conf$v/app.conf" \
			"$BATS_TEST_TMPDIR/conf$v/marker" >"$BATS_TEST_TMPDIR/id$v" || return 1
	done
	ID1=$(cat "$BATS_TEST_TMPDIR/id1")
	ID2=$(cat "$BATS_TEST_TMPDIR/id2")
}

teardown() {
	docker_stack_teardown
}

# api_compose TAG: a compose file of service api on api:TAG.
api_compose() {
	cat <<YML
services:
  api:
    image: api:$1
    network_mode: host
    command: [/demo-service, --port, "$API_PORT", --config, /app.conf, --name, api]
YML
}

# two_releases: api on api:1 recorded as release 1, then deployed on api:2
# as release 2.
two_releases() {
	take_port API_PORT
	api_compose 1 >docker-compose.yml
	cat >lastgood.yml <<YML
services:
  api:
    manager: compose
    files: [docker-compose.yml]
    health:
      - http: http://127.0.0.1:$API_PORT/health
YML
	docker_compose up -d >/dev/null 2>&1
	lg_ok snapshot --label v1
	mkdir src
	api_compose 2 >src/docker-compose.yml
	lg_ok deploy src --label v2
	# This stack's label, from the container holding its own new image.
	IDENTITY=$(docker ps -a --filter "label=lastgood.image=$ID2" \
		--format '{{.Label "lastgood.keep"}}')
}

# keep_containers: "NAME IMAGE" of every container labelled as this
# stack's keep containers.
keep_containers() {
	docker ps -a --filter "label=lastgood.keep=$IDENTITY" \
		--format '{{.Names}} {{.Label "lastgood.image"}}' | sort
}

# keep_name ID: the name this stack's keep container of image ID has.
keep_name() { echo "lastgood-keep-${IDENTITY:0:12}-$(short "$1")"; }

short() { local id=${1#sha256:}; echo "${id:0:12}"; }

image_present() { docker image inspect "$1" >/dev/null 2>&1; }

@test "an image a release recorded survives losing its tag and docker image prune -a" {
	two_releases
	expect_equal "$(keep_containers)" "$(printf '%s %s\n%s %s' "$(keep_name "$ID1")" "$ID1" \
		"$(keep_name "$ID2")" "$ID2" | sort)"
	# Its one tag cannot even be removed while a container holds it.
	run docker rmi api:1
	[ "$status" -ne 0 ]
	# A rebuild moves the tag: ID1 has none left, and no running container.
	docker tag api:2 api:1
	docker image prune -a -f >/dev/null
	image_present "$ID1"
	# Recording the same images again adds no container.
	lg_ok snapshot --label v2b
	expect_equal "$(keep_containers | wc -l)" 2
}

@test "gc removes the keep container with the last release recording the image" {
	two_releases
	lg_ok --json gc --keep 0
	expect_equal "$(jq -c '.releases_removed' <<<"$output")" "[1]"
	expect_equal "$(jq -c '.images_released' <<<"$output")" "[\"$ID1\"]"
	expect_equal "$(keep_containers)" "$(keep_name "$ID2") $ID2"
	docker image prune -a -f >/dev/null
	if image_present "$ID1"; then
		echo "image $ID1 survived prune after gc dropped its release" >&2
		return 1
	fi
	image_present "$ID2"
}

@test "gc without docker drops the releases, keeps the containers and says so" {
	two_releases
	DOCKER_HOST=unix://$BATS_TEST_TMPDIR/nothing.sock lg_ok gc --keep 0
	expect_match "$output" "^removed release 1 "
	expect_match "$stderr" "keep containers of images no release records were not all removed"
	expect_equal "$(keep_containers | wc -l)" 2
	lg_ok fsck
	expect_match "$output" "^keep container '$(keep_name "$ID1")' holds image $(short "$ID1") that no release records"
	lg_ok gc
	expect_match "$output" "the keep container of image $(short "$ID1")"
	expect_equal "$(keep_containers)" "$(keep_name "$ID2") $ID2"
}

@test "gc never removes a container lastgood did not create" {
	two_releases
	docker container inspect "$(keep_name "$ID1")" >/dev/null
	# Named like ours but with no label; labelled like ours under another name.
	docker create --name "lastgood-keep-000000000000-$(short "$ID1")" --network none \
		"$ID1" x >/dev/null
	docker create --name "$(keep_name "$ID1")-copy" --network none \
		--label "lastgood.keep=$IDENTITY" --label "lastgood.image=$ID1" "$ID1" x >/dev/null
	lg_ok gc --keep 0
	docker container inspect "lastgood-keep-000000000000-$(short "$ID1")" >/dev/null
	docker container inspect "$(keep_name "$ID1")-copy" >/dev/null
	run docker container inspect "$(keep_name "$ID1")"
	[ "$status" -ne 0 ]
}

@test "fsck reports a recorded image removed by hand" {
	two_releases
	lg_ok fsck
	docker rm -f "$(keep_name "$ID1")" >/dev/null
	docker rmi -f "$ID1" >/dev/null
	lg_status 1 fsck
	expect_match "$output" "^image $ID1 of service 'api' \(release 1\) is gone from docker"
	lg_status 1 --json fsck
	expect_equal "$(jq -c '[.images.problems[] | [.problem, .id, .service, .releases]]' <<<"$output")" \
		"[[\"gone\",\"$ID1\",\"api\",[1]]]"
}

@test "fsck creates again the keep containers docker container prune removed" {
	two_releases
	docker container prune -f >/dev/null
	expect_equal "$(keep_containers)" ""
	lg_status 1 fsck
	expect_match "$output" "^image $ID1 of service 'api' \(release 1\) was not protected from pruning: no keep container held it$"
	expect_match "$output" "^  created again: '$(keep_name "$ID1")'$"
	expect_equal "$(keep_containers | wc -l)" 2
	lg_ok fsck
}

@test "fsck without docker says images were not checked" {
	two_releases
	DOCKER_HOST=unix://$BATS_TEST_TMPDIR/nothing.sock lg_ok fsck
	expect_match "$stderr" "^lastgood: images were not checked: "
}
