#!/usr/bin/env bash
# schemathesis (all checks) against the auth and task services' OpenAPI documents.
#
# Builds nothing: takes the debug binaries auth and task from ${CARGO_TARGET_DIR:-target}/debug
# (build them first: cargo build -p auth -p task), starts both as processes on a fresh
# PostgreSQL database, registers and logs in a user, and runs `st run` against each
# service's spec with that user's token. Exits non-zero on any finding.
#
# Environment: PG_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/postgres),
# ST_MAX_EXAMPLES (default 30 per operation), ST_MAX_TIME (seconds per service, 70),
# ST_VENV (where schemathesis is installed, default under ~/.cache), ST_SERVICES ("task auth").
set -euo pipefail

cd "$(dirname "$0")/.."
ST_VERSION=4.32.5
BIN="${CARGO_TARGET_DIR:-target}/debug"
PG_ADMIN_URL="${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
MAX_EXAMPLES="${ST_MAX_EXAMPLES:-30}"
MAX_TIME="${ST_MAX_TIME:-70}"
CONFIG="$PWD/.ci/schemathesis.toml"
VENV="${ST_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/task-management/schemathesis-$ST_VERSION}"

for b in auth task; do
    [ -x "$BIN/$b" ] || { echo "schemathesis: $BIN/$b missing; run cargo build -p auth -p task" >&2; exit 2; }
done

if [ ! -x "$VENV/bin/st" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$ST_VERSION"
fi

WORK="$(mktemp -d)"
DB="st_$(date +%s)_$$"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    psql "$PG_ADMIN_URL" -qXc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

psql "$PG_ADMIN_URL" -qXc "CREATE DATABASE $DB" >/dev/null
DATABASE_URL="${PG_ADMIN_URL%/*}/$DB"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
AUTH_PORT="$(free_port)"
TASK_PORT="$(free_port)"
AUTH="http://127.0.0.1:$AUTH_PORT"
TASK="http://127.0.0.1:$TASK_PORT"

# Every request comes from 127.0.0.1: without a roomy registration limit the run would stop
# exercising registration after the first 20.
export DATABASE_URL APP_ENV=development LOG_FORMAT=json RUST_LOG="${RUST_LOG:-warn}" BCRYPT_COST=4 \
    REGISTER_PER_ADDRESS_PER_HOUR=1000000
PORT="$AUTH_PORT" "$BIN/auth" >"$WORK/auth.log" 2>&1 &
PIDS+=($!)
PORT="$TASK_PORT" AUTH_SERVICE_URL="$AUTH" "$BIN/task" >"$WORK/task.log" 2>&1 &
PIDS+=($!)

wait_for() {
    for _ in $(seq 1 100); do
        curl -fsS -o /dev/null "$1" && return 0
        sleep 0.2
    done
    echo "schemathesis: $1 did not come up" >&2
    tail -20 "$WORK"/*.log >&2
    exit 1
}
wait_for "$AUTH/auth/health"
wait_for "$TASK/tasks/ready"

curl -fsS -o /dev/null -H 'Content-Type: application/json' \
    -d '{"username":"schemathesis","email":"st@example.com","password":"password1"}' "$AUTH/auth/register"
TOKEN="$(curl -fsS -H 'Content-Type: application/json' \
    -d '{"username":"schemathesis","password":"password1"}' "$AUTH/auth/login" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"

status=0
# auth runs in two passes: everything but logout first, then logout, which ends the run's
# token; in one pass it would end the token early and leave the account operations with
# nothing but 401s to answer.
# The task list runs as a pass of its own without positive_data_acceptance: its `cursor` is
# valid only as the API issued it and `offset` is refused beside it, rules JSON Schema cannot
# state, so a schema-valid list may rightly be 400. Every other check still runs on it.
for pass in ${ST_SERVICES:-task task-list auth auth-logout}; do
    svc=${pass%-logout}
    svc=${svc%-list}
    base="$TASK"
    [ "$svc" = auth ] && base="$AUTH"
    prefix=tasks
    [ "$svc" = auth ] && prefix=auth
    filter=()
    [ "$pass" = auth ] && filter=(--exclude-path /auth/logout)
    [ "$pass" = auth-logout ] && filter=(--include-path /auth/logout)
    [ "$pass" = task ] && filter=(--exclude-operation-id listTasks)
    [ "$pass" = task-list ] && filter=(--include-operation-id listTasks --exclude-checks positive_data_acceptance)
    echo "=== schemathesis: $pass ($base/$prefix/openapi.json)"
    # From the scratch directory: schemathesis keeps its cache in ./.schemathesis.
    # One worker: with two threads, hypothesis (6.170) describing filtered strategies calls
    # ast.parse concurrently, which CPython 3.11.7 fails with "AST constructor recursion depth
    # mismatch" (a runtime error of the tool, reported as an error of GET /tasks).
    (cd "$WORK" && "$VENV/bin/st" --no-color --config-file "$CONFIG" run "$base/$prefix/openapi.json" \
        --checks all \
        "${filter[@]}" \
        --header "Authorization: Bearer $TOKEN" \
        --max-examples "$MAX_EXAMPLES" \
        --max-time "$MAX_TIME" \
        --workers 1 \
        --seed "${ST_SEED:-1}" \
        --output-truncate true) || status=1
done

if grep -q '"level":"ERROR"' "$WORK"/*.log; then
    echo "=== error lines in the services' logs:"
    grep -h '"level":"ERROR"' "$WORK"/*.log | head -20
fi
exit "$status"
