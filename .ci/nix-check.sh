#!/usr/bin/env bash
# What can be checked of flake.nix without a Nix store or network access to its inputs:
# it parses (Debian's nix-bin: nix-instantiate --parse) and has no dead code (deadnix).
# Building it (`nix build .#auth-image`, `nix flake check`) needs a machine with Nix: docs/nix.md.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v nix-instantiate >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nix-bin >/dev/null
fi
if ! command -v deadnix >/dev/null; then
  cargo install deadnix --locked --quiet
fi
nix-instantiate --version
deadnix --version

files=(flake.nix)
for f in "${files[@]}"; do
  echo "== nix-instantiate --parse $f"
  nix-instantiate --parse "$f" >/dev/null
  echo "parses"
  echo "== deadnix --fail $f"
  deadnix --fail "$f"
  echo "no unused bindings"
done

# The flake reads these at evaluation time; make sure they are where it expects them.
for f in Cargo.toml Cargo.lock; do
  [ -f "$f" ] || {
    echo "FAIL: flake.nix reads $f, which is missing" >&2
    exit 1
  }
done
grep -q '^\[workspace.package\]' Cargo.toml || {
  echo "FAIL: flake.nix reads version and repository from [workspace.package] in Cargo.toml" >&2
  exit 1
}
echo "== flake checks passed"
