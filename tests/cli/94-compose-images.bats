#!/usr/bin/env bats
# The image each compose service ran, recorded with the release, on a
# private Docker daemon: snapshot and deploy record the image IDs of the
# running containers; status, releases --json and diff show them; a
# service whose container is stopped records nothing and says so.

load helpers
load helpers-services   # take_port; its setup_file is replaced below
load ../lib/docker

# One daemon for the file, and two images of the demo service that differ
# only in their /app.conf (VERSION 1 and 2).
setup_file() {
	docker_setup_file || return 1
	local v
	for v in 1 2; do
		docker_app_image "api:$v" "$DOCKER_DIR/image$v" healthy "$v" >"$DOCKER_DIR/id$v"
	done
}

teardown_file() {
	docker_stop "$DOCKER_DIR"
}

setup() {
	# Each test its own project: every host folder is named host.
	docker_stack_setup lgimages || return 1
	ID1=$(cat "$DOCKER_DIR/id1")
	ID2=$(cat "$DOCKER_DIR/id2")
}

teardown() {
	docker_stack_teardown
}

# compose_file API_TAG WEB_TAG: a compose file of services api and web,
# each the demo service on its loopback port, on the host's network.
compose_file() {
	cat <<YML
services:
  api:
    image: api:$1
    network_mode: host
    command: [/demo-service, --port, "$API_PORT", --config, /app.conf, --name, api]
  web:
    image: api:$2
    network_mode: host
    command: [/demo-service, --port, "$WEB_PORT", --config, /app.conf, --name, web]
YML
}

# compose_stack: lastgood services api (holding docker-compose.yml) and
# web, both of manager compose, both on api:1 and running.
compose_stack() {
	take_port API_PORT
	take_port WEB_PORT
	compose_file 1 1 >docker-compose.yml
	cat >lastgood.yml <<YML
services:
  api:
    manager: compose
    files: [docker-compose.yml]
    health:
      - http: http://127.0.0.1:$API_PORT/health
  web:
    manager: compose
    health:
      - http: http://127.0.0.1:$WEB_PORT/health
YML
	docker_compose up -d >/dev/null 2>&1
	lg_ok verify
}

# release_image REL SERVICE: the image ID releases --json has for it.
release_image() {
	lg --json releases --all | jq -r --argjson rel "$1" --arg svc "$2" \
		'.[] | select(.id == $rel) | .images[] | select(.service == $svc) | .id'
}

short() { docker_short "$1"; }

@test "snapshot records the image ID each compose service's container runs" {
	compose_stack
	lg_ok snapshot --label v1
	expect_equal "$(release_image 1 api)" "$ID1"
	expect_equal "$(release_image 1 web)" "$ID1"
	expect_equal "$(lg --json releases | jq -r '.[0].images[0] | "\(.service) \(.compose_service) \(.name)"')" \
		"api api api:1"
	lg_ok status
	expect_match "$output" "^ +image $(short "$ID1") api:1$"
	lg_ok --json status
	expect_equal "$(jq -r '.services[] | "\(.name) \(.image.id) \(.image.name)"' <<<"$output")" \
		"api $ID1 api:1
web $ID1 api:1"
}

@test "deploy records the images of the release it verified, and diff shows what changed" {
	compose_stack
	lg_ok snapshot --label v1
	mkdir src
	compose_file 2 1 >src/docker-compose.yml
	lg_ok deploy src --label v2
	expect_equal "$(docker inspect --format '{{.Image}}' "$(docker_compose ps -q api)")" "$ID2"
	expect_equal "$(release_image 2 api)" "$ID2"
	expect_equal "$(release_image 2 web)" "$ID1"
	lg_ok status
	expect_match "$output" "^ +image $(short "$ID2") api:2$"
	lg_ok diff 1 2
	expect_match "$output" "^I api: $(short "$ID1") api:1 -> $(short "$ID2") api:2$"
	if grep -q '^I web' <<<"$output"; then
		echo "web's image did not change: $output" >&2
		return 1
	fi
	lg_ok --json diff v1 v2
	expect_equal "$(jq -c '.images' <<<"$output")" \
		"[{\"service\":\"api\",\"from\":{\"id\":\"$ID1\",\"name\":\"api:1\"},\"to\":{\"id\":\"$ID2\",\"name\":\"api:2\"}}]"
}

@test "a service whose container is stopped records no image and says so" {
	compose_stack
	docker_compose stop -t 1 web >/dev/null 2>&1
	lg_ok snapshot --label v1
	expect_match "$stderr" "no image recorded for service 'web' with release 1: no running container of compose service 'web'"
	expect_equal "$(release_image 1 api)" "$ID1"
	expect_equal "$(lg --json releases | jq -r '[.[0].images[].service] | join(",")')" "api"
	docker_compose start web >/dev/null 2>&1
	lg_ok --json snapshot --label v1b
	expect_equal "$(jq -c '.imageless' <<<"$output")" "[]"
	expect_equal "$(release_image 1 web)" ""
	expect_equal "$(release_image 2 web)" "$ID1"
	lg_ok status
	expect_match "$output" "^ +image $(short "$ID1") api:1$"
}
