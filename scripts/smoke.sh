#!/usr/bin/env bash
# Smoke check of a deployed (or local) task-management API, through its load balancer:
#   scripts/smoke.sh <base URL>          e.g. scripts/smoke.sh "$(aws cloudformation describe-stacks \
#       --stack-name TaskManagement-test-Services --query "Stacks[0].Outputs[?OutputKey=='ApiUrl'].OutputValue" --output text)"
# Both health checks, the JWK Set, register a random user, log in, create, read, update and
# delete a task, then delete the user (DELETE /auth/me), also when a step in between fails.
# Exits 0 when every step passed; otherwise non-zero, naming the step that failed.
# Needs bash, curl and jq. SMOKE_TIMEOUT (seconds per request, default 10).
set -euo pipefail

base=${1:?usage: scripts/smoke.sh <base URL, e.g. https://api.example.com>}
base=${base%/}
timeout=${SMOKE_TIMEOUT:-10}
for tool in curl jq; do
  command -v "$tool" >/dev/null || { echo "smoke: needs $tool" >&2; exit 2; }
done

body=$(mktemp)
token='' password='' deleted_user=0
step=''

fail() {
  echo "FAIL [$step] $*" >&2
  [ -s "$body" ] && echo "  response: $(head -c 400 "$body")" >&2
  exit 1
}

# call METHOD PATH EXPECTED_STATUS [JSON BODY]: the response body lands in $body.
call() {
  local method=$1 path=$2 want=$3 data=${4:-} status
  local args=(-sS -o "$body" -w '%{http_code}' --max-time "$timeout" -X "$method" -H 'Accept: application/json')
  [ -n "$token" ] && args+=(-H "Authorization: Bearer $token")
  [ -n "$data" ] && args+=(-H 'Content-Type: application/json' --data "$data")
  status=$(curl "${args[@]}" "$base$path") || fail "$method $path: no response (curl exit $?)"
  [ "$status" = "$want" ] || fail "$method $path: HTTP $status, expected $want"
}

# check JQ_FILTER DESCRIPTION: the last response satisfies the filter.
check() {
  jq -e "$1" "$body" >/dev/null 2>&1 || fail "response is not $2"
}

cleanup() {
  local rc=$?
  if [ -n "$token" ] && [ "$deleted_user" = 0 ]; then
    step='cleanup: delete the smoke user'
    if call DELETE /auth/me 200 "$(jq -nc --arg p "$password" '{password: $p}')" 2>/dev/null; then
      echo "cleanup: smoke user deleted" >&2
    else
      echo "cleanup: could not delete the smoke user ($user)" >&2
    fi
  fi
  rm -f "$body"
  exit "$rc"
}
trap cleanup EXIT

ok() { echo "ok   $step"; }

step='auth health'
call GET /auth/health 200
check '.status == "healthy"' 'a healthy auth status'
ok

step='task health'
call GET /tasks/health 200
check '.status == "healthy"' 'a healthy task status'
ok

step='JWK Set'
call GET /auth/.well-known/jwks.json 200
check '(.keys | length) > 0 and all(.keys[]; has("kid"))' 'a JWK Set with keys'
ok

step='unknown route is a JSON 404'
call GET /smoke-no-such-route 404
check '.error == "Not Found"' 'the JSON error envelope'
ok

suffix=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
user="smoke_$suffix"
password="smoke-$suffix-pw"
step="register $user"
call POST /auth/register 201 "$(jq -nc --arg u "$user" --arg p "$password" '{username: $u, email: ($u + "@example.com"), password: $p}')"
check '.user.username == "'"$user"'"' 'the new user'
ok

step='login'
call POST /auth/login 200 "$(jq -nc --arg u "$user" --arg p "$password" '{username: $u, password: $p}')"
check '.token_type == "Bearer" and (.token | length) > 20' 'a bearer token'
token=$(jq -r .token "$body")
ok

step='create a task'
call POST /tasks 201 '{"title":"smoke task","priority":"high"}'
check '.task.title == "smoke task" and .task.status == "pending"' 'the created task'
id=$(jq -r .task.id "$body")
ok

step="read task $id"
call GET "/tasks/$id" 200
check ".task.id == $id and .task.priority == \"high\"" 'the task'
ok

step="update task $id"
call PUT "/tasks/$id" 200 '{"status":"completed","title":"smoke task, done"}'
check '.task.status == "completed" and .task.title == "smoke task, done"' 'the updated task'
ok

step="delete task $id"
call DELETE "/tasks/$id" 200
call GET "/tasks/$id" 404
ok

step='delete the smoke user'
call DELETE /auth/me 200 "$(jq -nc --arg p "$password" '{password: $p}')"
deleted_user=1
call POST /auth/login 401 "$(jq -nc --arg u "$user" --arg p "$password" '{username: $u, password: $p}')"
ok

echo "smoke: all steps passed against $base"
