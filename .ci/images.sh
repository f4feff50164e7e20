#!/usr/bin/env bash
# The scratch smoke test of .ci/musl.sh, run against the images themselves: the two images
# `nix build .#auth-image .#task-image` made, already loaded into Docker (`docker load <
# result`). Checks that each image runs as 65534:65534 and holds no shell, then starts both on
# one network with one volume for /data (as both tasks reach one database): healthy,
# `healthcheck` exits 0, auth registers and logs in a user, task accepts that token and
# creates a task with it (401 without), and both exit 0 on `docker stop` (SIGTERM), no panic.
# Needs a machine with Docker (the forge's runners; see .github/workflows/ci.yml).
# Usage: bash .ci/images.sh <auth image> <task image>   (as `docker load` names them)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=.ci/user-flow.sh
source .ci/user-flow.sh
[ $# = 2 ] || { echo "usage: $0 <auth image> <task image>" >&2; exit 2; }
AUTH_IMAGE=$1
TASK_IMAGE=$2
fail() { echo "FAIL: $*" >&2; exit 1; }
for tool in docker curl jq; do command -v "$tool" >/dev/null || fail "$tool is missing"; done

RUN=smoke-$$
NET=$RUN-net
VOL=$RUN-data
cleanup() {
  docker rm -f "$RUN-auth" "$RUN-task" >/dev/null 2>&1 || true
  docker network rm "$NET" >/dev/null 2>&1 || true
  docker volume rm "$VOL" >/dev/null 2>&1 || true
}
trap cleanup EXIT

echo "== 1. image config and contents"
for image in "$AUTH_IMAGE" "$TASK_IMAGE"; do
  user=$(docker image inspect -f '{{.Config.User}}' "$image")
  [ "$user" = 65534:65534 ] || fail "$image runs as '$user', not 65534:65534"
  files=$(docker create "$image")
  listing=$(docker export "$files" | tar -t)
  docker rm "$files" >/dev/null
  if grep -Eq '^(bin|usr/bin)/(sh|bash)$' <<<"$listing"; then fail "$image holds a shell"; fi
  grep -q '^etc/ssl/certs/ca-certificates.crt$' <<<"$listing" || fail "$image has no CA bundle"
  echo "$image: user 65534:65534, no shell, CA bundle, $(docker image inspect -f '{{.Size}}' "$image") bytes"
done

docker network create "$NET" >/dev/null
docker volume create "$VOL" >/dev/null
# start NAME IMAGE HEALTH [VAR=value...]: runs the image as its config says, waits for HEALTH.
start() {
  local name=$1 image=$2 health=$3 env=() port
  shift 3
  for var in "$@"; do env+=(-e "$var"); done
  docker run -d --name "$RUN-$name" --network "$NET" --network-alias "$name" -v "$VOL:/data" \
    -p 127.0.0.1::3000 -e APP_ENV=development -e LOG_FORMAT=json "${env[@]}" "$image" >/dev/null
  port=$(docker port "$RUN-$name" 3000/tcp | head -1)
  for _ in $(seq 60); do
    if curl -sf -o /dev/null "http://$port$health"; then
      echo "$port"
      return 0
    fi
    [ "$(docker inspect -f '{{.State.Running}}' "$RUN-$name")" = true ] ||
      { docker logs "$RUN-$name" >&2; fail "$name exited"; }
    sleep 0.5
  done
  docker logs "$RUN-$name" >&2
  fail "$name not healthy in 30 s"
}

echo "== 2. both images on one network and one /data volume"
auth=$(start auth "$AUTH_IMAGE" /auth/health)
task=$(start task "$TASK_IMAGE" /tasks/health AUTH_SERVICE_URL=http://auth:3000)
for pair in "auth:$AUTH_IMAGE" "task:$TASK_IMAGE"; do
  entrypoint=$(docker image inspect -f '{{index .Config.Entrypoint 0}}' "${pair#*:}")
  docker exec "$RUN-${pair%%:*}" "$entrypoint" healthcheck || fail "${pair%%:*} healthcheck"
done
echo "both healthy; healthcheck exits 0"

user_flow "http://$auth" "http://$task"
echo "register, login, a task created and listed with auth's token (401 without)"

for name in auth task; do
  docker stop -t 15 "$RUN-$name" >/dev/null
  rc=$(docker inspect -f '{{.State.ExitCode}}' "$RUN-$name")
  [ "$rc" = 0 ] || { docker logs "$RUN-$name" >&2; fail "$name exited $rc after SIGTERM"; }
  if docker logs "$RUN-$name" 2>&1 | grep -q panicked; then fail "a panic in $name's log"; fi
done
echo "both exit 0 on SIGTERM, no panic"
echo "== images: scratch smoke test passed"
