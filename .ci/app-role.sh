#!/usr/bin/env bash
# The application role the services connect as, against the real PostgreSQL: the statements
# production runs (cdk/lambda/migration/app-role.sql, rendered by sql.js exactly as the migration
# step renders them) are run as a non-superuser owner (as Aurora's master user is), twice (they
# are idempotent); then the role must read and write rows, also of a table created after the
# grants (a later migration), and must fail to DROP, ALTER, TRUNCATE, CREATE, manage roles or
# write the migration history. The same for the `_clone` twin multi-user rotation creates.
# Usage: bash .ci/app-role.sh   (PostgreSQL on 127.0.0.1:5432, user postgres, trust auth)
set -euo pipefail
cd "$(dirname "$0")/../cdk"
host=${PGHOST:-127.0.0.1} port=${PGPORT:-5432}
suffix=$$
db=cdk_app_role_$suffix owner=cdk_owner_$suffix role=cdk_app_$suffix
as() { local user=$1; shift; psql -X -q -v ON_ERROR_STOP=1 -h "$host" -p "$port" -U "$user" "$@"; }
cleanup() {
  as postgres -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  for r in "${role}_clone" "$role" "$owner"; do as postgres -d postgres -c "DROP ROLE IF EXISTS $r" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT

as postgres -d postgres -c "CREATE ROLE $owner LOGIN CREATEROLE" -c "CREATE DATABASE $db OWNER $owner"
# What `migrate` leaves: the history table and the application's tables, owned by the owner.
as "$owner" -d "$db" \
  -c "CREATE TABLE seaql_migrations (version varchar PRIMARY KEY, applied_at bigint NOT NULL)" \
  -c "INSERT INTO seaql_migrations VALUES ('m0001_init', 0)" \
  -c "CREATE TABLE tasks (id bigserial PRIMARY KEY, title text NOT NULL)"
statements=$(node -e "
  const { appRoleStatements } = require('./lambda/migration/sql.js');
  for (const s of appRoleStatements(process.argv[1], 'a-generated-password-0123456789')) console.log(s + '\n');
" "$role")
for run in 1 2; do as "$owner" -d "$db" <<<"$statements"; done
echo "app-role: the statements ran twice as a non-superuser owner"
# A table a later release's migration adds: granted by the owner's default privileges.
as "$owner" -d "$db" -c "CREATE TABLE later (id bigserial PRIMARY KEY, v text)"
as "$owner" -d "$db" -c "CREATE ROLE ${role}_clone LOGIN" -c "GRANT $role TO ${role}_clone"

failures=0
check() { # check <user> <allowed|refused> <sql>
  local user=$1 expect=$2 sql=$3 out
  if out=$(as "$user" -d "$db" -c "$sql" 2>&1); then
    [ "$expect" = allowed ] && { echo "  ok   $user may:     $sql"; return; }
    echo "  FAIL $user could:   $sql" >&2
  else
    if [ "$expect" = refused ] && grep -qE 'permission denied|must be owner|must have|only roles with' <<<"$out"; then
      echo "  ok   $user may not: $sql"; return
    fi
    echo "  FAIL $user: $sql -> $out" >&2
  fi
  failures=$((failures + 1))
}
for user in "$role" "${role}_clone"; do
  check "$user" allowed "INSERT INTO tasks (title) VALUES ('a')"
  check "$user" allowed "UPDATE tasks SET title = 'b'"
  check "$user" allowed "SELECT count(*) FROM tasks"
  check "$user" allowed "DELETE FROM tasks"
  check "$user" allowed "INSERT INTO later (v) VALUES ('x')"
  check "$user" allowed "SELECT version FROM seaql_migrations"
  check "$user" refused "DROP TABLE tasks"
  check "$user" refused "ALTER TABLE tasks ADD COLUMN extra int"
  check "$user" refused "TRUNCATE tasks"
  check "$user" refused "CREATE TABLE mine (id int)"
  check "$user" refused "CREATE INDEX ON tasks (title)"
  check "$user" refused "INSERT INTO seaql_migrations VALUES ('m9999_forged', 0)"
  check "$user" refused "DELETE FROM seaql_migrations"
  check "$user" refused "CREATE ROLE intruder_$suffix"
  check "$user" refused "ALTER ROLE $role CREATEDB"
  check "$user" refused "ALTER TABLE tasks OWNER TO $user"
  check "$user" refused "CREATE SCHEMA mine_$suffix"
done
if [ "$failures" -gt 0 ]; then echo "app-role: $failures check(s) failed" >&2; exit 1; fi
echo "app-role: the application role and its clone read and write rows and nothing else"
