#!/usr/bin/env bats
# Rolling a compose stack back by image ID, on a private Docker daemon:
# the names the compose file uses are tagged to the IDs the target release
# recorded (never built, never pulled), journaled so that a failure or a
# kill -9 puts them back, and an image gone from docker's store refuses the
# rollback before anything changes.

load helpers
load helpers-services   # take_port; its setup_file is replaced below
load ../lib/docker

# One daemon for the file and three images of the demo service: VERSION 1
# and 2 (healthy), and 3 (unhealthy).
setup_file() {
	docker_setup_file || return 1
	docker_app_image img:1 "$DOCKER_DIR/image1" healthy 1 >"$DOCKER_DIR/id1"
	docker_app_image img:2 "$DOCKER_DIR/image2" healthy 2 >"$DOCKER_DIR/id2"
	docker_app_image img:3 "$DOCKER_DIR/image3" unhealthy 3 >"$DOCKER_DIR/id3"
}

teardown_file() {
	docker_stop "$DOCKER_DIR"
}

setup() {
	docker_stack_setup lgswitch || return 1
	ID1=$(cat "$DOCKER_DIR/id1")
	ID2=$(cat "$DOCKER_DIR/id2")
	ID3=$(cat "$DOCKER_DIR/id3")
	# each test its own names, on the images it starts from
	API=api$BATS_TEST_NUMBER
	WEB=web$BATS_TEST_NUMBER
	docker tag "$ID1" "$API:1"
	docker tag "$ID1" "$WEB:1"
}

teardown() {
	docker_stack_teardown
}

# compose_file API_IMAGE WEB_IMAGE: services api and web, each the demo
# service on its loopback port.
compose_file() {
	cat <<YML
services:
  api:
    image: $1
    network_mode: host
    command: [/demo-service, --port, "$API_PORT", --config, /app.conf, --name, api]
  web:
    image: $2
    network_mode: host
    command: [/demo-service, --port, "$WEB_PORT", --config, /app.conf, --name, web]
YML
}

# compose_stack: lastgood services api (holding docker-compose.yml) and
# web, on $API:1 and $WEB:1, running and recorded as release v1.
compose_stack() {
	take_port API_PORT
	take_port WEB_PORT
	compose_file "$API:1" "$WEB:1" >docker-compose.yml
	cat >lastgood.yml <<YML
policy: $FAST_POLICY
services:
  api:
    manager: compose
    files: [docker-compose.yml]
    health:
      - http: http://127.0.0.1:$API_PORT/health
  web:
    manager: compose
    after: [api]
    health:
      - http: http://127.0.0.1:$WEB_PORT/health
YML
	docker_compose up -d >/dev/null 2>&1
	lg_ok snapshot --label v1
}

# running SERVICE: the image ID its container runs.
running() { docker inspect --format '{{.Image}}' "$(docker_compose ps -q "$1")"; }
# points NAME: the image ID a name stands for.
points() { docker image inspect --format '{{.Id}}' "$1"; }
short() { docker_short "$1"; }
# release_image REL SERVICE: the image ID releases --json has for it.
release_image() {
	lg --json releases --all | jq -r --argjson rel "$1" --arg svc "$2" \
		'.[] | select(.id == $rel) | .images[] | select(.service == $svc) | .id'
}

# deploy_v2: release v2 runs api on ID2 and web on ID2 under names $API:2
# and $WEB:2; then the names of v1 are tagged by hand to ID3 (a rebuild
# that reused them).
deploy_v2() {
	docker tag "$ID2" "$API:2"
	docker tag "$ID2" "$WEB:2"
	mkdir -p src
	compose_file "$API:2" "$WEB:2" >src/docker-compose.yml
	lg_ok deploy src --label v2
	docker tag "$ID3" "$API:1"
	docker tag "$ID3" "$WEB:1"
}

@test "a deploy whose second service's image fails is rolled back by itself, both on their old IDs" {
	compose_stack
	docker tag "$ID2" "$API:2"
	docker tag "$ID3" "$WEB:2"
	mkdir src
	compose_file "$API:2" "$WEB:2" >src/docker-compose.yml
	lg_status 3 deploy src --label broken
	expect_equal "$(running api)" "$ID1"
	expect_equal "$(running web)" "$ID1"
	expect_equal "$(lg --json status | jq -r .live_release)" 1
}

@test "rollback tags the names back to the recorded IDs, and show lists each tag" {
	compose_stack
	deploy_v2
	lg_ok rollback --dry-run v1
	expect_match "$output" "check image api$"
	expect_match "$output" "^ +$(short "$ID1") \(release 1\)$"
	expect_match "$output" "tag web$"
	expect_match "$output" "^ +$WEB:1 to $(short "$ID1")$"
	lg_ok rollback v1
	expect_equal "$(running api)" "$ID1"
	expect_equal "$(running web)" "$ID1"
	expect_equal "$(points "$API:1")" "$ID1"
	expect_equal "$(points "$WEB:1")" "$ID1"
	lg_ok show 3
	expect_match "$output" "ok +tag +api: $API:1 $(short "$ID3") -> $(short "$ID1")$"
	expect_match "$output" "ok +tag +web: $WEB:1 $(short "$ID3") -> $(short "$ID1")$"
}

@test "rollback with the build context gone and no registry re-tags the image it recorded" {
	# the compose file names $API:latest, rebuilt in place from build/
	compose_stack
	local id5
	id5=$(docker_app_image "$API:latest" build healthy 5)
	compose_file "$API:latest" "$WEB:1" >docker-compose.yml
	docker_compose up -d api >/dev/null 2>&1
	lg_ok snapshot --label v2
	docker_app_image "$API:latest" build healthy 6 >/dev/null
	docker_compose up -d api >/dev/null 2>&1
	lg_ok snapshot --label v3
	expect_equal "$(release_image 3 api)" "$(points "$API:latest")"
	# no context to build from, no registry to pull from
	rm -rf build
	lg_ok rollback v2
	expect_equal "$(running api)" "$id5"
	expect_equal "$(points "$API:latest")" "$id5"
	expect_equal "$(lg --json status | jq -r .live_release)" 2
}

@test "a recorded image deleted by hand refuses the rollback before anything changes" {
	compose_stack
	# an image of its own, that this test may delete
	ID4=$(docker_app_image "$API:4" "$BATS_TEST_TMPDIR/image4" healthy 4)
	docker tag "$ID2" "$WEB:2"
	mkdir src
	compose_file "$API:4" "$WEB:2" >src/docker-compose.yml
	lg_ok deploy src --label v2
	compose_file "$API:1" "$WEB:1" >src/docker-compose.yml
	lg_ok deploy src --label v3
	docker rmi -f "$ID4" >/dev/null
	local api_container web_container
	api_container=$(docker_compose ps -q api)
	web_container=$(docker_compose ps -q web)
	cp docker-compose.yml before.yml
	lg_status 1 rollback v2
	expect_match "$stderr" "service 'api': image $ID4 of release 2 is not in docker's local store"
	cmp docker-compose.yml before.yml
	expect_equal "$(docker_compose ps -q api)" "$api_container"
	expect_equal "$(docker_compose ps -q web)" "$web_container"
	expect_equal "$(points "$WEB:2")" "$ID2"
	expect_equal "$(lg --json status | jq -r .live_release)" 3
}

@test "a daemon that does not answer is not taken for an image gone: docker's own error, nothing changed" {
	compose_stack
	deploy_v2
	cp docker-compose.yml before.yml
	run --separate-stderr env DOCKER_HOST=unix://$BATS_TEST_TMPDIR/none.sock "$LG" rollback v1
	expect_equal "$status" 1
	expect_match "$stderr" "'docker image inspect .*$ID1' exited with status 1: Cannot connect to the Docker daemon"
	expect_no_match "$stderr" "local store"
	cmp docker-compose.yml before.yml
	expect_equal "$(running api)" "$ID2"
}

# kill_at_tag N AFTER: a docker in PATH that kills lastgood (its parent)
# at the Nth `docker tag`, before it runs (AFTER=0) or after (AFTER=1).
kill_at_tag() {
	local real
	real=$(command -v docker)
	mkdir -p "$BATS_TEST_TMPDIR/fake"
	cat >"$BATS_TEST_TMPDIR/fake/docker" <<SH
#!/bin/bash
if [ "\$1" = tag ]; then
	n=\$(( \$(cat "$BATS_TEST_TMPDIR/tags" 2>/dev/null || echo 0) + 1 ))
	echo "\$n" >"$BATS_TEST_TMPDIR/tags"
	if [ "\$n" = $1 ]; then
		[ $2 = 1 ] && "$real" "\$@"
		kill -KILL \$PPID
		exit 1
	fi
fi
exec "$real" "\$@"
SH
	chmod +x "$BATS_TEST_TMPDIR/fake/docker"
}

# After a kill at a tag and recover, every service is on one release:
# the one live, its names where they were before.
@test "kill -9 during the tag steps, then recover: every service on one release" {
	local at after
	for at in 1 2; do
		for after in 0 1; do
			docker_compose down -t 1 >/dev/null 2>&1 || true
			rm -rf ./* .lastgood "$BATS_TEST_TMPDIR/tags"
			docker tag "$ID1" "$API:1"
			docker tag "$ID1" "$WEB:1"
			compose_stack
			deploy_v2
			kill_at_tag "$at" "$after"
			run --separate-stderr env PATH="$BATS_TEST_TMPDIR/fake:$PATH" "$LG" rollback v1
			[ "$status" -eq 137 ] || { echo "at $at/$after: exit $status: $stderr" >&2; return 1; }
			lg_ok recover
			expect_equal "$(lg --json status | jq -r .live_release)" 2
			expect_equal "$(running api)" "$ID2"
			expect_equal "$(running web)" "$ID2"
			expect_equal "$(points "$API:1")" "$ID3"
			expect_equal "$(points "$WEB:1")" "$ID3"
			# and the rollback then goes through
			lg_ok rollback v1
			expect_equal "$(running api)" "$ID1"
			expect_equal "$(running web)" "$ID1"
		done
	done
}
