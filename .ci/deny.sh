#!/usr/bin/env bash
# cargo deny check, offline: advisories against the RustSec snapshot in ../shared/advisory-db/
# (as of its date, see its README), licences, sources and duplicate versions per deny.toml.
# cargo-deny reads an advisory database only as a git checkout under its db-path, in a
# directory named after the database's URL, so the read-only snapshot is copied there and
# committed; the check runs with --offline (no database fetch), after `cargo fetch` has
# brought the crates of every platform in Cargo.lock that cargo metadata reads.
set -euo pipefail
cd "$(dirname "$0")/.."
SNAPSHOT=${ADVISORY_DB_SNAPSHOT:-../shared/advisory-db}
[ -d "$SNAPSHOT/crates" ] || { echo "FAIL: no advisory snapshot at $SNAPSHOT" >&2; exit 1; }

export CARGO_DENY_DB_PATH="${CARGO_TARGET_DIR:-$PWD/target}/advisory-dbs"
# cargo-deny's directory for its default database, https://github.com/RustSec/advisory-db
# (the URL's last segment and its hash; cargo-deny 0.20).
db="$CARGO_DENY_DB_PATH/advisory-db-3157b0e258782691"
rm -rf "$db"
mkdir -p "$db"
cp -R "$SNAPSHOT/." "$db/"
chmod -R u+w "$db"
git -C "$db" init -q -b main
git -C "$db" add -A
git -C "$db" -c user.name=ci -c user.email=ci@localhost commit -q -m "RustSec snapshot from $SNAPSHOT"

cargo fetch --locked --quiet
cargo deny --version
cargo deny --locked --offline check
