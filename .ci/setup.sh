#!/usr/bin/env bash
# Installs what the test suite needs beyond Rust, on a fresh Debian machine (run as root):
# cargo-nextest, cargo-deny, oha (the benchmark's fixed-rate load), rustfmt/clippy, moto_server (a real Secrets Manager emulator),
# HAProxy (the rehearsal's load balancer), Chromium and playwright-core for the browser test,
# the CDK app's node modules, the client
# generators of tests/it/clients.rs (openapi-python-client in tests/clients/.venv,
# openapi-typescript, openapi-fetch and tsc in tests/clients/node_modules). Idempotent: skips
# what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_needed=()
command -v chromium >/dev/null || apt_needed+=(chromium)
command -v node >/dev/null || apt_needed+=(nodejs)
command -v npm >/dev/null || apt_needed+=(npm)
command -v jq >/dev/null || apt_needed+=(jq)
command -v curl >/dev/null || apt_needed+=(curl)
# The load balancer of tests/it/rehearsal.rs.
command -v haproxy >/dev/null || apt_needed+=(haproxy)
python3 -m venv --help >/dev/null 2>&1 || apt_needed+=(python3-venv)
# oha's TLS through the system's OpenSSL: its default TLS (rustls) compiles a crypto library
# from source, and the benchmark speaks plain HTTP.
command -v pkg-config >/dev/null || apt_needed+=(pkg-config)
dpkg -s libssl-dev >/dev/null 2>&1 || apt_needed+=(libssl-dev)
if [ ${#apt_needed[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_needed[@]}" >/dev/null
fi

rustup component add rustfmt clippy >/dev/null 2>&1 || true
cargo nextest --version >/dev/null 2>&1 || cargo install cargo-nextest --locked
# The fixed-rate load generator of the benchmark harness (.ci/bench.sh runs this line from here
# when setup did not run).
command -v oha >/dev/null || cargo install oha --locked --version 1.16.0 --no-default-features --features native-tls
# Pinned: .ci/deny.sh lays the advisory snapshot where this version looks for it.
cargo deny --version 2>/dev/null | grep -q "^cargo-deny 0\.20\." || cargo install cargo-deny --locked --version "~0.20.2"

if ! command -v moto_server >/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check 'moto[server]'
  command -v pyenv >/dev/null && pyenv rehash || true
fi
command -v moto_server >/dev/null || { echo "moto_server not on PATH after pip install" >&2; exit 1; }

npm ci --prefix tests/browser --no-audit --no-fund --silent
# tests/it/clients.rs: the generators a user reaches for first, at the versions pinned there.
[ -x tests/clients/.venv/bin/python ] || python3 -m venv tests/clients/.venv
tests/clients/.venv/bin/pip install --quiet --disable-pip-version-check -r tests/clients/requirements.txt
npm ci --prefix tests/clients --no-audit --no-fund --silent
# The CDK app (aws-cdk-lib, the aws-cdk CLI, cdk-nag, jest): .ci/cdk.sh and tests/it/cdk_matches_copilot.rs.
npm ci --prefix cdk --no-audit --no-fund --silent

echo "setup: $(cargo nextest --version | head -1); $(haproxy -v | head -1); $(cargo deny --version); moto $(python3 -c 'import moto; print(moto.__version__)'); $(chromium --version); node $(node --version)"
