#!/usr/bin/env bash
# The benchmark harness in quick mode (a few seconds per scenario), as CI runs it: installs wrk
# and pgbench if missing, runs `cargo run --release -p bench -- --quick` into a temporary folder
# and prints the figures. It asserts nothing about speed; it fails only when the harness itself
# fails (a service does not start, a scenario's single checked request is not 2xx, wrk or
# pgbench fails). The full run, whose figures are committed in bench/RESULTS.md, is
# `cargo run --release -p bench`.
# PostgreSQL must be running: BENCH_PG_URL, default postgres://postgres@127.0.0.1:5432/postgres.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v wrk >/dev/null || need+=(wrk)
pgbench --version >/dev/null 2>&1 || need+=(postgresql-contrib)
psql --version >/dev/null 2>&1 || need+=(postgresql-client)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cargo run --release --locked -p bench -- --quick --out "$out"
test -s "$out/RESULTS.md" && test -s "$out/results.json"
echo "bench: quick run complete"
