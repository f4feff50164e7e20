#!/usr/bin/env bash
# scripts/smoke.sh (the post-deploy smoke check) against the local stack: the debug binary the
# test step built (target/debug/task-management: auth, task and a path router standing in for
# the load balancer), on a free port and a throw-away SQLite database. Proves the smoke check
# works before anyone points it at a real deployment.
# Usage: bash .ci/smoke.sh   (after `cargo build` / the test step; builds the binary if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${CARGO_TARGET_DIR:-$PWD/target}/debug/task-management"
[ -x "$bin" ] || cargo build --quiet -p task-management --bin task-management

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
dir=$(mktemp -d)
log="$dir/stack.log"
# The local stack keeps its SQLite file and development key under ./data of its working directory.
(cd "$dir" && exec env -u DATABASE_URL -u APP_ENV PORT="$port" "$bin" >"$log" 2>&1) &
pid=$!
stop() {
  if kill "$pid" 2>/dev/null; then wait "$pid" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap stop EXIT

for _ in $(seq 1 150); do
  curl -fsS -o /dev/null "http://127.0.0.1:$port/auth/health" 2>/dev/null &&
    curl -fsS -o /dev/null "http://127.0.0.1:$port/tasks/health" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { echo "the local stack exited:" >&2; tail -20 "$log" >&2; exit 1; }
  sleep 0.2
done

if ! bash scripts/smoke.sh "http://127.0.0.1:$port"; then
  echo "--- local stack log (last 30 lines)" >&2
  tail -30 "$log" >&2
  exit 1
fi
