#!/usr/bin/env bash
# What can be checked of flake.nix without a Nix store or network access to its inputs:
# it parses (Debian's nix-bin: nix-instantiate --parse), has no dead code (deadnix), and the
# publish script it wraps passes shellcheck, as writeShellApplication's own check requires.
# Building it (`nix build .#auth-image`, `nix flake check`) needs a machine with Nix: docs/nix.md.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v nix-instantiate >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nix-bin >/dev/null
fi
if ! command -v shellcheck >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null
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

# writeShellApplication puts a shebang and `set -o errexit -o nounset -o pipefail` in front of
# the text and runs shellcheck on the result; DEFAULT_TAG comes from its runtimeEnv.
echo "== shellcheck nix/publish.sh (as writeShellApplication wraps it)"
script=$(mktemp)
trap 'rm -f "$script"' EXIT
{
  echo '#!/usr/bin/env bash'
  echo 'set -o errexit -o nounset -o pipefail'
  echo 'DEFAULT_TAG=0.1.0-0000000; export DEFAULT_TAG'
  cat nix/publish.sh
} >"$script"
shellcheck "$script"
echo "clean"

# The flake reads these at evaluation time; make sure they are where it expects them.
for f in Cargo.toml Cargo.lock nix/publish.sh; do
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
