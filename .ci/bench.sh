#!/usr/bin/env bash
# The benchmark harness in quick mode (a few seconds per scenario, 100k tasks for the lists,
# a 10 s registration flood), as CI runs it: installs wrk, pgbench and psql if missing (and oha,
# at the version .ci/setup.sh pins), runs `bench --quick` into a temporary folder and prints
# the figures. It asserts nothing about speed (a target not met is reported, not failed); it
# fails only when the harness itself fails (a service does not start, a scenario's single
# checked request is not 2xx, no statement is captured, wrk, oha or pgbench fails). The full
# run, whose figures are committed in bench/RESULTS.md, is docs/benchmarks.md's "Running".
# PostgreSQL must be running: BENCH_PG_URL, default postgres://postgres@127.0.0.1:5432/postgres,
# with its server log readable here (BENCH_PG_LOG; default: Debian's).
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
# The pinned install line lives in .ci/setup.sh; jobs that skip setup run it from there.
command -v oha >/dev/null || grep -o 'cargo install oha --locked .*' .ci/setup.sh | sh

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
started=$(date +%s)
# CI hands in the release binaries musl.sh built (BENCH_BIN_DIR), so nothing is built twice;
# the harness itself then needs no optimisation (it drives wrk, oha and pgbench, and bcrypt is
# optimised in every profile).
if [ -n "${BENCH_BIN_DIR:-}" ]; then
  cargo run --locked -p bench -- --quick --out "$out" --bin-dir "$BENCH_BIN_DIR"
else
  cargo build --release --locked -p auth -p task -p bench
  "${CARGO_TARGET_DIR:-target}/release/bench" --quick --out "$out"
fi
cat "$out/RESULTS.md"
test -s "$out/RESULTS.md" && test -s "$out/results.json"
echo "bench: quick run complete in $(( $(date +%s) - started )) s"
