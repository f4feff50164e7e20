#!/usr/bin/env bash
# arm64 (Graviton Fargate, the dev environment's default) proven without an arm machine: both
# services built for aarch64-unknown-linux-musl with cargo-zigbuild (zig as the C compiler and
# linker for SQLite, aws-lc, ring and mimalloc, zig and cargo-zigbuild from PyPI), then
# .ci/musl.sh's scratch checks on those binaries under qemu-aarch64 (Debian's qemu-user-static):
# static and stripped within the size budget, from a root holding only the image's files (and
# the emulator) as uid 65534, healthy, register, login, a task created with auth's token, exit
# 0 on SIGTERM, and a clear error without CA roots. On an aarch64 host no emulator is needed.
# A release build of the whole dependency tree for a second target: long (docs/nix.md, "Measured
# here"), so .ci/run leaves it to the forge's workflow. Run as root (chroot, apt-get, pip).
# The build honours CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=aarch64-unknown-linux-musl
BIN_DIR=${CARGO_TARGET_DIR:-$PWD/target}/$TARGET/release
ZIG_VERSION=0.17.1
ZIGBUILD_VERSION=0.24.1
VENV="${XDG_CACHE_HOME:-$HOME/.cache}/task-management/zigbuild-$ZIGBUILD_VERSION-zig-$ZIG_VERSION"

emulator=
if [ "$(uname -m)" != aarch64 ]; then
  command -v qemu-aarch64-static >/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static >/dev/null
  }
  emulator=$(command -v qemu-aarch64-static)
fi
if [ ! -x "$VENV/bin/cargo-zigbuild" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "ziglang==$ZIG_VERSION" "cargo-zigbuild==$ZIGBUILD_VERSION"
fi
# cargo-zigbuild runs zig as `python3 -m ziglang` from the venv's python.
export PATH="$VENV/bin:$PATH"
rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET"

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  start=$(date +%s)
  cargo zigbuild --release --locked --target "$TARGET" -p auth -p task
  echo "aarch64 release build: $(($(date +%s) - start)) s"
fi
SKIP_BUILD=1 TARGET=$TARGET BIN_DIR=$BIN_DIR EMULATOR=$emulator bash .ci/musl.sh
