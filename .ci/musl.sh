#!/usr/bin/env bash
# Static musl release build of auth and task, the size budget, and the scratch smoke test:
# each binary runs as uid 65534 in an empty root that holds only what its image holds
# (flake.nix, mkImage): the binary, the CA bundle, /etc/passwd and /etc/group, /data and /tmp.
#
# Needs root (chroot, bind mounts). Installs what it needs. Environment knobs:
#   SKIP_BUILD=1      reuse target/x86_64-unknown-linux-musl/release/{auth,task}
#   BIN_DIR=dir       with SKIP_BUILD=1: test the auth and task binaries in dir instead, e.g.
#                     the ones `nix build .#auth .#task` made (on a machine with Nix)
#   KEEP_SMOKE_DIR=1  keep the roots and logs under $SMOKE_DIR after the run
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$PWD
TARGET=x86_64-unknown-linux-musl
BIN_DIR=${BIN_DIR:-$REPO/target/$TARGET/release}
# The path the image puts the bundle at, and the SSL_CERT_FILE it sets (flake.nix, mkImage).
CA_IN_IMAGE=etc/ssl/certs/ca-certificates.crt
HOST_CA=/etc/ssl/certs/ca-certificates.crt
MAX_BYTES=$((20 * 1024 * 1024))
MAX_GZIP_BYTES=$((9 * 1024 * 1024))
NOBODY=65534

say() { printf '\n== %s\n' "$*"; }
fail() {
  printf 'FAIL: %s\n' "$*" >&2
  exit 1
}

[ "$(id -u)" = 0 ] || fail "run as root: the smoke test uses chroot and bind mounts"

# --- tools -------------------------------------------------------------------------------------
say "tools"
missing=()
command -v musl-gcc >/dev/null || missing+=(musl-tools)
command -v file >/dev/null || missing+=(file)
command -v curl >/dev/null || missing+=(curl)
command -v jq >/dev/null || missing+=(jq)
command -v unshare >/dev/null || missing+=(util-linux)
[ -f "$HOST_CA" ] || missing+=(ca-certificates)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if ! rustup target list --installed | grep -qx "$TARGET"; then
  rustup target add "$TARGET"
fi
rustc --version
CHROOT=$(command -v chroot)
UNSHARE=$(command -v unshare)
MOUNT=$(command -v mount)

# --- build -------------------------------------------------------------------------------------
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  say "cargo build --release --target $TARGET -p auth -p task"
  # C dependencies (bundled SQLite, aws-lc-sys, ring) compile against musl's headers; rustc links
  # with its self-contained musl CRT and libc.
  export CC_x86_64_unknown_linux_musl=musl-gcc
  start=$(date +%s)
  timeout 3600 cargo build --release --locked --target "$TARGET" -p auth -p task
  echo "build took $(($(date +%s) - start)) s"
fi

# --- static, stripped, within budget ------------------------------------------------------------
say "static linking and size budget"
status=0
for name in auth task; do
  bin=$BIN_DIR/$name
  [ -x "$bin" ] || fail "$bin was not built"
  desc=$(file -b "$bin")
  echo "$name: $desc"
  case "$desc" in
    *"statically linked"* | *"static-pie linked"*) ;;
    *) fail "$name is not statically linked" ;;
  esac
  case "$desc" in
    *", stripped"*) ;;
    *) fail "$name is not stripped (profile.release.strip)" ;;
  esac
  bytes=$(stat -c %s "$bin")
  gz=$(gzip -9 -c "$bin" | wc -c)
  awk -v n="$name" -v b="$bytes" -v g="$gz" 'BEGIN {
    printf "%s: %d bytes (%.2f MiB), gzip -9 %d bytes (%.2f MiB); budget 20 MiB / 9 MiB\n",
      n, b, b / 1048576, g, g / 1048576 }'
  if [ "$bytes" -gt "$MAX_BYTES" ]; then
    echo "FAIL: $name is over 20 MiB" >&2
    status=1
  fi
  if [ "$gz" -gt "$MAX_GZIP_BYTES" ]; then
    echo "FAIL: $name compresses to over 9 MiB" >&2
    status=1
  fi
done
[ "$status" = 0 ] || fail "size budget"

# --- scratch smoke test --------------------------------------------------------------------------
SMOKE_DIR=$(mktemp -d /tmp/scratch-smoke.XXXXXX)
chmod 0755 "$SMOKE_DIR"
PGIDS=()

cleanup() {
  local rc=$?
  for pg in "${PGIDS[@]}"; do
    kill -TERM -- "-$pg" 2>/dev/null || true
  done
  sleep 1
  for pg in "${PGIDS[@]}"; do
    kill -KILL -- "-$pg" 2>/dev/null || true
  done
  if [ "$rc" != 0 ]; then
    for log in "$SMOKE_DIR"/*.log; do
      [ -f "$log" ] || continue
      echo "--- last lines of $log" >&2
      tail -n 30 "$log" >&2
    done
  fi
  if [ "${KEEP_SMOKE_DIR:-0}" = 1 ]; then
    echo "kept $SMOKE_DIR"
  else
    rm -rf "$SMOKE_DIR"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# make_root DIR BINARY [ca|no-ca]: the image's filesystem, nothing more.
make_root() {
  local root=$1 bin=$2 ca=${3:-ca}
  mkdir -p "$root/bin" "$root/etc" "$root/data" "$root/tmp"
  install -m 0755 "$bin" "$root/bin/$(basename "$bin")"
  if [ "$ca" = ca ]; then
    mkdir -p "$root/$(dirname "$CA_IN_IMAGE")"
    install -m 0444 "$HOST_CA" "$root/$CA_IN_IMAGE"
  fi
  printf 'root:x:0:0:root:/:/sbin/nologin\nnobody:x:%d:%d:nobody:/data:/sbin/nologin\n' $NOBODY $NOBODY >"$root/etc/passwd"
  printf 'root:x:0:\nnobody:x:%d:\n' $NOBODY >"$root/etc/group"
  chown "$NOBODY:$NOBODY" "$root/data"
  chmod 0750 "$root/data"
  chmod 1777 "$root/tmp"
}

# start NAME ROOT DATA_DIR [ENV=VALUE...]: run /bin/NAME as nobody in ROOT with only the given
# environment, in a private mount namespace where DATA_DIR is bind-mounted on ROOT/data (the
# volume a `docker run -v` would give). Sets STARTED_PGID.
start() {
  local name=$1 root=$2 data=$3
  shift 3
  # shellcheck disable=SC2016 # $1..$5 expand in the inner sh, on purpose
  setsid env -i "$@" "$UNSHARE" --mount --propagation private --fork -- \
    /bin/sh -c '"$4" --bind "$1" "$2/data" && exec "$5" --userspec=65534:65534 "$2" "/bin/$3"' \
    sh "$data" "$root" "$name" "$MOUNT" "$CHROOT" >"$SMOKE_DIR/$name-${root##*/}.log" 2>&1 &
  STARTED_PGID=$!
  PGIDS+=("$STARTED_PGID")
}

# alive PGID: the process is running; an exited child not yet reaped (a zombie) is not.
alive() {
  local state
  state=$(ps -o stat= -p "$1" 2>/dev/null || true)
  [ -n "$state" ] && [ "${state:0:1}" != Z ]
}

# wait_healthy URL PGID: the service answers 200 within 30 s (and is still running).
wait_healthy() {
  local url=$1 pg=$2 code=none
  for _ in $(seq 1 60); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" || true)
    [ "$code" = 200 ] && return 0
    alive "$pg" || fail "service behind $url exited before answering"
    sleep 0.5
  done
  fail "$url did not answer 200 within 30 s (last status $code)"
}

no_panic() {
  if grep -n 'panicked' "$1"; then
    fail "$1 shows a panic"
  fi
}

AUTH_ROOT=$SMOKE_DIR/auth-root
TASK_ROOT=$SMOKE_DIR/task-root
SHARED_DATA=$SMOKE_DIR/shared-data
make_root "$AUTH_ROOT" "$BIN_DIR/auth"
make_root "$TASK_ROOT" "$BIN_DIR/task"
mkdir -p "$SHARED_DATA"
chown "$NOBODY:$NOBODY" "$SHARED_DATA"
chmod 0750 "$SHARED_DATA"

say "root contents (what each image holds)"
(cd "$AUTH_ROOT" && find . -mindepth 1 | sort | sed 's/^/  auth-root: /')
(cd "$TASK_ROOT" && find . -mindepth 1 | sort | sed 's/^/  task-root: /')

AUTH_PORT=$(free_port)
TASK_PORT=$(free_port)
while [ "$TASK_PORT" = "$AUTH_PORT" ]; do TASK_PORT=$(free_port); done
IMAGE_ENV=("SSL_CERT_FILE=/$CA_IN_IMAGE" "APP_ENV=development" "LOG_FORMAT=json" "RUST_LOG=info")

say "auth on 127.0.0.1:$AUTH_PORT (uid $NOBODY, empty root, SQLite default)"
start auth "$AUTH_ROOT" "$SHARED_DATA" "${IMAGE_ENV[@]}" "PORT=$AUTH_PORT"
AUTH_PG=$STARTED_PGID
wait_healthy "http://127.0.0.1:$AUTH_PORT/auth/health" "$AUTH_PG"
curl -sS --max-time 5 "http://127.0.0.1:$AUTH_PORT/auth/health"
echo

say "task on 127.0.0.1:$TASK_PORT, AUTH_SERVICE_URL=http://127.0.0.1:$AUTH_PORT"
start task "$TASK_ROOT" "$SHARED_DATA" "${IMAGE_ENV[@]}" "PORT=$TASK_PORT" \
  "AUTH_SERVICE_URL=http://127.0.0.1:$AUTH_PORT"
TASK_PG=$STARTED_PGID
wait_healthy "http://127.0.0.1:$TASK_PORT/tasks/health" "$TASK_PG"
curl -sS --max-time 5 "http://127.0.0.1:$TASK_PORT/tasks/health"
echo

say "healthcheck subcommand inside each root"
for pair in "auth:$AUTH_ROOT:$AUTH_PORT" "task:$TASK_ROOT:$TASK_PORT"; do
  IFS=: read -r name root port <<<"$pair"
  if timeout 15 env -i "PORT=$port" "$CHROOT" --userspec=65534:65534 "$root" "/bin/$name" healthcheck; then
    echo "$name healthcheck: exit 0"
  else
    fail "$name healthcheck exited $?"
  fi
done
say "healthcheck against a port nothing listens on must fail"
dead_port=$(free_port)
if timeout 15 env -i "PORT=$dead_port" "$CHROOT" --userspec=65534:65534 "$AUTH_ROOT" /bin/auth healthcheck >/dev/null 2>&1; then
  fail "auth healthcheck exited 0 with nothing listening"
else
  echo "auth healthcheck on a dead port: exit $? (non-zero, as it should be)"
fi

say "register -> login -> create task, across the two roots"
user="smoke_$(date +%s)_$RANDOM"
body=$(jq -nc --arg u "$user" '{username: $u, email: ($u + "@example.com"), password: "correct-horse-battery"}')
resp=$(curl -sS --max-time 10 -w '\n%{http_code}' -H 'Content-Type: application/json' \
  -d "$body" "http://127.0.0.1:$AUTH_PORT/auth/register")
code=${resp##*$'\n'}
echo "POST /auth/register -> $code ${resp%$'\n'*}"
[ "$code" = 201 ] || fail "register answered $code"

body=$(jq -nc --arg u "$user" '{username: $u, password: "correct-horse-battery"}')
resp=$(curl -sS --max-time 10 -w '\n%{http_code}' -H 'Content-Type: application/json' \
  -d "$body" "http://127.0.0.1:$AUTH_PORT/auth/login")
code=${resp##*$'\n'}
[ "$code" = 200 ] || fail "login answered $code: ${resp%$'\n'*}"
token=$(printf '%s' "${resp%$'\n'*}" | jq -r .token)
if [ -z "$token" ] || [ "$token" = null ]; then fail "login returned no token"; fi
echo "POST /auth/login -> $code (token of ${#token} characters)"

body=$(jq -nc '{title: "scratch smoke test", priority: "high"}')
resp=$(curl -sS --max-time 10 -w '\n%{http_code}' -H 'Content-Type: application/json' \
  -H "Authorization: Bearer $token" -d "$body" "http://127.0.0.1:$TASK_PORT/tasks")
code=${resp##*$'\n'}
echo "POST /tasks -> $code ${resp%$'\n'*}"
[ "$code" = 201 ] || fail "create task answered $code"
[ "$(printf '%s' "${resp%$'\n'*}" | jq -r .task.title)" = "scratch smoke test" ] || fail "created task has the wrong title"

resp=$(curl -sS --max-time 10 -w '\n%{http_code}' -H "Authorization: Bearer $token" \
  "http://127.0.0.1:$TASK_PORT/tasks")
code=${resp##*$'\n'}
count=$(printf '%s' "${resp%$'\n'*}" | jq -r .count)
echo "GET /tasks -> $code (count $count)"
if [ "$code" != 200 ] || [ "$count" != 1 ]; then fail "list tasks answered $code with count $count"; fi

code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$TASK_PORT/tasks")
echo "GET /tasks without a token -> $code"
[ "$code" = 401 ] || fail "unauthenticated list answered $code"

echo "database files in the shared data dir (owned by nobody):"
ls -ln "$SHARED_DATA"

no_panic "$SMOKE_DIR/auth-auth-root.log"
no_panic "$SMOKE_DIR/task-task-root.log"

say "graceful stop on SIGTERM"
for pg in "$AUTH_PG" "$TASK_PG"; do
  kill -TERM -- "-$pg" 2>/dev/null || true
done
for pg in "$AUTH_PG" "$TASK_PG"; do
  for _ in $(seq 1 40); do
    alive "$pg" || break
    sleep 0.25
  done
  alive "$pg" && fail "process group $pg still running 10 s after SIGTERM"
  wait "$pg" && rc=0 || rc=$?
  [ "$rc" = 0 ] || fail "a service exited $rc after SIGTERM, not 0"
done
echo "both services stopped, exit status 0"
PGIDS=()

# --- no CA bundle: a clear error, never a panic -----------------------------------------------------
# No bundle in the root and SSL_CERT_FILE unset. Every address stays on loopback; static
# credentials keep the AWS SDK away from the instance metadata service.
NOCA_PATTERN=${NOCA_PATTERN:-'certificate|CA bundle|SSL_CERT_FILE|trust anchor|root store|roots'}
AWS_LOCAL=("AWS_REGION=us-east-1" "AWS_ENDPOINT_URL=https://127.0.0.1:9" "AWS_ACCESS_KEY_ID=smoke"
  "AWS_SECRET_ACCESS_KEY=smoke" "AWS_EC2_METADATA_DISABLED=true")

# expect_clear_exit NAME PGID LOG: the process has exited (or exits now) with an error status,
# not a signal, its output names the missing CA roots and shows no panic.
expect_clear_exit() {
  local name=$1 pg=$2 log=$3 rc
  wait "$pg" && rc=0 || rc=$?
  echo "$name exited with status $rc; its output:"
  sed 's/^/  | /' "$log" | tail -n 15
  [ "$rc" != 0 ] || fail "$name exited 0 without the CA roots it needs"
  [ "$rc" -lt 128 ] || fail "$name was killed by a signal ($rc): an abort, not an error exit"
  no_panic "$log"
  grep -Eqi "$NOCA_PATTERN" "$log" || fail "$name's error does not say what is missing (pattern: $NOCA_PATTERN)"
  echo "clear error, no panic"
}

say "no CA bundle: auth with JWT_SIGNING_KEY_SECRET (Secrets Manager over TLS)"
NOCA_AUTH=$SMOKE_DIR/auth-noca
make_root "$NOCA_AUTH" "$BIN_DIR/auth" no-ca
noca_data=$SMOKE_DIR/noca-data
mkdir -p "$noca_data" && chown "$NOBODY:$NOBODY" "$noca_data"
port=$(free_port)
start auth "$NOCA_AUTH" "$noca_data" "APP_ENV=development" "LOG_FORMAT=json" "PORT=$port" \
  "JWT_SIGNING_KEY_SECRET=x" "${AWS_LOCAL[@]}"
pg=$STARTED_PGID
log=$SMOKE_DIR/auth-auth-noca.log
for _ in $(seq 1 120); do
  alive "$pg" || break
  sleep 0.5
done
if alive "$pg"; then
  fail "auth without CA roots and with a key secret is still running after 60 s (expected a startup error)"
fi
expect_clear_exit auth "$pg" "$log"

say "no CA bundle: task with an https AUTH_SERVICE_URL (reqwest)"
NOCA_TASK=$SMOKE_DIR/task-noca
make_root "$NOCA_TASK" "$BIN_DIR/task" no-ca
port=$(free_port)
start task "$NOCA_TASK" "$noca_data" "APP_ENV=development" "LOG_FORMAT=json" "PORT=$port" \
  "AUTH_SERVICE_URL=https://127.0.0.1:9" "${AWS_LOCAL[@]}"
pg=$STARTED_PGID
log=$SMOKE_DIR/task-task-noca.log
# Either outcome is acceptable: a startup error that names the missing roots, or a running
# service whose protected routes answer 503 (no keys) — but never a panic.
for _ in $(seq 1 20); do
  alive "$pg" || break
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/tasks/health" || true)
  [ "$code" = 200 ] && break
  sleep 0.5
done
if alive "$pg"; then
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H 'Authorization: Bearer x.y.z' \
    "http://127.0.0.1:$port/tasks" || true)
  echo "task kept running; GET /tasks with a token -> $code"
  kill -TERM -- "-$pg" 2>/dev/null || true
  sleep 1
  sed 's/^/  | /' "$log" | tail -n 15
  no_panic "$log"
  case "$code" in
    401 | 503) ;;
    *) fail "task without CA roots answered $code to a protected route" ;;
  esac
  grep -Eqi "$NOCA_PATTERN" "$log" || fail "task's log does not say the CA roots are missing"
  echo "clear error, no panic"
else
  expect_clear_exit task "$pg" "$log"
fi

say "musl build, size budget and scratch smoke test passed"
