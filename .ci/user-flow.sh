# shellcheck shell=bash
# Sourced by .ci/musl.sh and .ci/images.sh: what a user does first, against a running auth and
# task that share one database. user_flow AUTH_URL TASK_URL registers a new user at auth, logs
# in, creates a task at task with that token and lists it (count 1), and checks that task
# answers 401 without a token. Calls `fail` (the sourcing script's) on the first step that fails.
user_flow() {
  local auth=$1 task=$2 user token count code
  user="smoke_$RANDOM$RANDOM"
  curl -sf -H 'Content-Type: application/json' -o /dev/null "$auth/auth/register" \
    -d "{\"username\":\"$user\",\"email\":\"$user@example.com\",\"password\":\"correct-horse-battery\"}" ||
    fail "register"
  token=$(curl -sf -H 'Content-Type: application/json' "$auth/auth/login" \
    -d "{\"username\":\"$user\",\"password\":\"correct-horse-battery\"}" | jq -er .token) || fail "login"
  curl -sf -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -o /dev/null \
    "$task/tasks" -d '{"title":"smoke"}' || fail "task did not create a task with auth's token"
  count=$(curl -sf -H "Authorization: Bearer $token" "$task/tasks" | jq -er .count) ||
    fail "GET /tasks with auth's token"
  code=$(curl -s -o /dev/null -w '%{http_code}' "$task/tasks")
  if [ "$count" != 1 ] || [ "$code" != 401 ]; then fail "GET /tasks: count $count with a token, $code without"; fi
}
