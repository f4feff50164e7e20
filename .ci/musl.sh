#!/usr/bin/env bash
# The deployable binaries without Nix: a static musl release build of auth and task (Debian's
# musl-gcc compiles the C inside SQLite, aws-lc and ring), checked for what a scratch image needs:
#   0. musl-memcpy's tests on the musl target (its memcpy is the one the link takes);
#   1. statically linked and stripped, within the size budget (32 MiB each, 12 MiB gzip -9);
#   2. each runs as uid 65534, chrooted into a directory holding only its image's files
#      (flake.nix: the binary, fakeNss's passwd/group/nsswitch.conf and /var/empty,
#      caCertificates' bundle, /data, /tmp): healthy, `healthcheck` exits 0 (and 1 against a
#      dead port), auth registers and logs in a user (SQLite in /data, bcrypt, JWT), task
#      accepts that token (auth's keys fetched over AUTH_SERVICE_URL) and creates a task with
#      it, both exit 0 on SIGTERM;
#   3. with no bundle in the root and no SSL_CERT_FILE, auth stops with an error naming the CA
#      roots. (SSL_CERT_FILE missing, empty or valid: tests/it/image_smoke.rs.)
# Run as root (chroot). SKIP_BUILD=1 BIN_DIR=<dir> checks binaries built elsewhere, e.g. by
# `nix build .#auth .#task`. The build honours CARGO_TARGET_DIR. TARGET names another musl
# target's binaries; EMULATOR=<static qemu-user binary> runs them on a host of another
# architecture: it is copied into each root as /emulator, the one file the image lacks
# (.ci/arm64.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=${TARGET:-x86_64-unknown-linux-musl}
BIN_DIR=${BIN_DIR:-${CARGO_TARGET_DIR:-$PWD/target}/$TARGET/release}
HOST_CA=/etc/ssl/certs/ca-certificates.crt
fail() { echo "FAIL: $*" >&2; exit 1; }
# shellcheck source=.ci/user-flow.sh
source .ci/user-flow.sh
[ "$(id -u)" = 0 ] || fail "run as root: the smoke test uses chroot"

missing=()
for pair in musl-gcc:musl-tools file:file curl:curl jq:jq; do
  command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
[ -f "$HOST_CA" ] || missing+=(ca-certificates)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET"

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  start=$(date +%s)
  CC_x86_64_unknown_linux_musl=musl-gcc cargo build --release --locked --target "$TARGET" -p auth -p task
  echo "release build: $(($(date +%s) - start)) s"
  # The static binaries take memcpy/memmove from musl-memcpy, not musl: its tests on this target
  # check every size, alignment and overlap, and that the link resolved libc's names to it.
  CC_x86_64_unknown_linux_musl=musl-gcc cargo test --release --locked --target "$TARGET" -p musl-memcpy
fi

echo "== 1. static, stripped, size budget"
for name in auth task; do
  desc=$(file -b "$BIN_DIR/$name") || fail "$BIN_DIR/$name was not built"
  [[ $desc == *static*linked* ]] || fail "$name is not statically linked: $desc"
  [[ $desc == *", stripped"* ]] || fail "$name is not stripped: $desc"
  bytes=$(stat -c %s "$BIN_DIR/$name")
  gz=$(gzip -9 -c "$BIN_DIR/$name" | wc -c)
  awk -v n="$name" -v b="$bytes" -v g="$gz" \
    'BEGIN { printf "%s: %.2f MiB, gzip -9 %.2f MiB (budget 32 / 12)\n", n, b / 1048576, g / 1048576 }'
  if [ "$bytes" -gt $((32 << 20)) ] || [ "$gz" -gt $((12 << 20)) ]; then fail "$name is over budget"; fi
done

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  umount "$WORK/task/data" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
CHROOT=$(command -v chroot)
port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# image_root NAME [no-ca]: the files of NAME's image and nothing else; prints the directory.
image_root() {
  local root=$WORK/$1${2:+-$2}
  mkdir -p "$root"/{bin,etc/ssl/certs,etc/pki/tls/certs,var/empty,data,tmp}
  install -m 0755 "$BIN_DIR/$1" "$root/bin/$1"
  [ -z "${EMULATOR:-}" ] || install -m 0755 "$EMULATOR" "$root/emulator"
  printf 'root:x:0:0:root user:/var/empty:/bin/sh\nnobody:x:65534:65534:nobody:/var/empty:/bin/sh\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\n' >"$root/etc/group"
  echo 'hosts: files dns' >"$root/etc/nsswitch.conf"
  if [ "${2:-}" != no-ca ]; then
    for f in etc/ssl/certs/ca-bundle.crt etc/ssl/certs/ca-certificates.crt etc/pki/tls/certs/ca-bundle.crt; do
      cp "$HOST_CA" "$root/$f"
    done
  fi
  chown 65534:65534 "$root/data" && chmod 0750 "$root/data" && chmod 1777 "$root/tmp"
  echo "$root"
}

# in_root ROOT NAME [VAR=value...] [-- ARGS]: execs NAME as uid 65534 in ROOT with only the
# given environment, as the image config runs it (so `in_root ... &` leaves its PID in $!);
# call it in ( ) or $( ) in the foreground. LIMIT=<seconds> bounds its run time.
in_root() {
  local root=$1 name=$2 vars=()
  shift 2
  while [ $# -gt 0 ] && [ "$1" != -- ]; do vars+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  # shellcheck disable=SC2086 # LIMIT, when set, expands to two words
  exec ${LIMIT:+timeout $LIMIT} env -i "${vars[@]}" "$CHROOT" --userspec=65534:65534 "$root" \
    ${EMULATOR:+/emulator} "/bin/$name" "$@"
}

IMAGE_ENV=(SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt APP_ENV=development LOG_FORMAT=json)
AUTH_PORT=$(port)
TASK_PORT=$(port)
start() { # start NAME PORT [VAR=value...]: in its image root, waits for /<prefix>/health
  local name=$1 port=$2 health
  shift 2
  health=$([ "$name" = auth ] && echo /auth/health || echo /tasks/health)
  in_root "$(image_root "$name")" "$name" "${IMAGE_ENV[@]}" "PORT=$port" "$@" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 60); do
    curl -sf -o /dev/null "http://127.0.0.1:$port$health" && return 0
    kill -0 "${PIDS[-1]}" 2>/dev/null || { cat "$WORK/$name.log" >&2; fail "$name exited"; }
    sleep 0.5
  done
  fail "$name not healthy in 30 s"
}

echo "== 2. scratch roots, uid 65534"
start auth "$AUTH_PORT"
# The two services share one database (task reads who exists and which tokens are revoked):
# task's /data is auth's, as both tasks would mount one volume or reach one PostgreSQL.
image_root task >/dev/null
mount --bind "$WORK/auth/data" "$WORK/task/data"
start task "$TASK_PORT" "AUTH_SERVICE_URL=http://127.0.0.1:$AUTH_PORT"
for pair in "auth:$AUTH_PORT" "task:$TASK_PORT"; do
  (LIMIT=15 in_root "$WORK/${pair%%:*}" "${pair%%:*}" "PORT=${pair#*:}" -- healthcheck) || fail "${pair%%:*} healthcheck"
done
if (LIMIT=15 in_root "$WORK/auth" auth "PORT=$(port)" -- healthcheck 2>/dev/null); then fail "healthcheck of a dead port exited 0"; fi
echo "both healthy; healthcheck exits 0, and non-zero against a dead port"

user_flow "http://127.0.0.1:$AUTH_PORT" "http://127.0.0.1:$TASK_PORT"
db=$WORK/auth/data/task-management.db
[ "$(stat -c %u:%g "$db")" = 65534:65534 ] || fail "$db is not owned by 65534"
echo "register, login, task accepts the token: a task created and listed (401 without); SQLite in /data owned by 65534"

for pid in "${PIDS[@]}"; do kill -TERM "$pid"; done
for pid in "${PIDS[@]}"; do
  timeout 15 tail --pid="$pid" -f /dev/null || fail "still running 15 s after SIGTERM"
  rc=0
  wait "$pid" || rc=$?
  [ "$rc" = 0 ] || fail "exit status $rc after SIGTERM"
done
PIDS=()
if grep -l panicked "$WORK"/*.log; then fail "a panic in the logs above"; fi
echo "both exit 0 on SIGTERM, no panic"

echo "== 3. no CA bundle, no SSL_CERT_FILE"
rc=0
out=$(LIMIT=30 in_root "$(image_root auth no-ca)" auth APP_ENV=development "PORT=$(port)" \
  JWT_SIGNING_KEY_SECRET=key AWS_REGION=us-east-1 AWS_ENDPOINT_URL=https://127.0.0.1:9 \
  AWS_ACCESS_KEY_ID=smoke AWS_SECRET_ACCESS_KEY=smoke AWS_EC2_METADATA_DISABLED=true 2>&1) || rc=$?
echo "$out" | tail -n 3
if [ "$rc" = 0 ] || [ "$rc" -ge 124 ]; then fail "auth exited $rc (0, a timeout or a signal) without CA roots"; fi
[[ $out != *panicked* ]] || fail "auth panicked without CA roots"
grep -Eqi 'certificate|CA bundle|SSL_CERT_FILE' <<<"$out" || fail "auth's error does not name the CA roots"
echo "auth exits $rc with an error naming the CA roots"
echo "== musl build, size budget and scratch smoke test passed"
