#!/usr/bin/env bash
# The CDK app in cdk/: type check, unit and contract tests, `cdk synth` for dev, test and prod
# (offline, no AWS credentials; cdk-nag's AwsSolutions pack runs inside synth and fails it on any
# unacknowledged finding), then cfn-lint on every template synth wrote: no errors allowed; and the
# application role's statements against the local PostgreSQL (.ci/app-role.sh).
# Usage: bash .ci/cdk.sh   (from anywhere). Leaves cdk/cdk.out/<env>/ for tests/it/cdk_matches_copilot.rs.
set -euo pipefail
cd "$(dirname "$0")/../cdk"
started=$(date +%s)
step() { printf '\n--- cdk: %s (%ss)\n' "$*" "$(( $(date +%s) - started ))"; }

# No AWS credentials or region may leak into the synth: it must work without them.
unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_REGION AWS_DEFAULT_REGION
export CDK_DISABLE_VERSION_CHECK=1 CDK_DISABLE_CLI_TELEMETRY=1

step "npm ci (skipped when .ci/setup.sh installed the lock file's tree already)"
if [ ! node_modules/.package-lock.json -nt package-lock.json ]; then
  npm ci --no-audit --no-fund --silent
fi

step "tsc --noEmit"
npx tsc --noEmit

step "jest (assertions for dev, test, prod; contract; command line; cdk-nag gate)"
npx jest --ci

# Example image URIs in the form `nix run .#publish` prints (by digest).
ecr=123456789012.dkr.ecr.eu-west-1.amazonaws.com/task-management
auth_image="$ecr/auth@sha256:$(printf 'a%.0s' {1..64})"
task_image="$ecr/task@sha256:$(printf 'b%.0s' {1..64})"
rm -rf cdk.out
for env in dev test prod; do
  step "cdk synth -c env=$env (cdk-nag AwsSolutions: fails on any unacknowledged finding)"
  # Each environment's exposure as cdk/test/helpers.ts (EXPOSURE) has it: dev limited to a range,
  # test on plain HTTP open to all (what the deployment rehearsal reads), prod on HTTPS.
  extra=()
  [ "$env" = prod ] && extra=(-c certificateArn=arn:aws:acm:eu-west-1:123456789012:certificate/0f0e0d0c-0b0a-0908-0706-050403020100 -c domain=api.example.com)
  [ "$env" = dev ] && extra=(-c arch=arm64 -c allowedCidrs=203.0.113.0/24)
  [ "$env" = test ] && extra=(-c allowPublicHttp=true)
  mkdir -p cdk.out
  if ! npx cdk synth --quiet -c env="$env" -c authImage="$auth_image" -c taskImage="$task_image" "${extra[@]}" \
    -o "cdk.out/$env" >"cdk.out/synth-$env.log" 2>&1; then
    cat "cdk.out/synth-$env.log" >&2
    echo "cdk synth -c env=$env failed (cdk-nag findings are listed above, if any)" >&2
    exit 1
  fi
  grep -v -e '^Successfully synthesized' -e '^Supply a stack id' -e 'feature flags are not configured' -e '^$' \
    "cdk.out/synth-$env.log" || true
  report="cdk.out/$env/validation-report.json"
  if [ -f "$report" ] && [ "$(jq '[.pluginReports[]?.conclusion.violations[]?] | length' "$report" 2>/dev/null || echo 0)" != 0 ]; then
    echo "cdk-nag findings in $report" >&2
    exit 1
  fi
  printf '%s: %s templates, no unacknowledged cdk-nag finding; acknowledged rules (each with its reason in lib/): %s\n' "$env" \
    "$(find "cdk.out/$env" -maxdepth 1 -name '*.template.json' | wc -l)" \
    "$(jq -rs '[.[] | .Resources[]?.Metadata.cdk_nag.rules_to_suppress[]?.id | select(startswith("AwsSolutions-"))] | unique | join(" ")' cdk.out/"$env"/*.template.json)"
done

# must_refuse <env> <what it lacks> <words the refusal must name…>: the synth fails, naming them.
must_refuse() {
  local env=$1 lacks=$2 out word
  shift 2
  step "$env without $lacks must be refused"
  if out=$(npx cdk synth --quiet -c env="$env" -c authImage="$auth_image" -c taskImage="$task_image" -o cdk.out/refused 2>&1); then
    echo "$env synthesized without $lacks" >&2
    exit 1
  fi
  for word in "$@"; do
    grep -q -- "$word" <<<"$out" || { echo "$out" >&2; exit 1; }
  done
  rm -rf cdk.out/refused
  echo "refused, naming $*"
}
must_refuse prod "certificateArn and domain" certificateArn domain
must_refuse test "an exposure choice (plain HTTP to the internet)" allowedCidrs allowPublicHttp=true

step "cfn-lint (pinned, in cdk/.venv) on every synthesized template"
# A pinned cfn-lint of its own: CDK emits resource properties (Tags on listeners, scalable
# targets, dashboards) that older cfn-lint schemas reject, and the Copilot check keeps its own.
CFN_LINT_VERSION=1.58.0
if [ ! -x .venv/bin/cfn-lint ] || [ "$(.venv/bin/cfn-lint --version 2>/dev/null)" != "cfn-lint $CFN_LINT_VERSION" ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check "cfn-lint==$CFN_LINT_VERSION"
fi
.venv/bin/cfn-lint --version
status=0
# cfn-lint exits with bit flags: 2 errors, 4 warnings, 8 informational. Errors fail; the rest is shown.
.venv/bin/cfn-lint --format parseable -- cdk.out/*/*.template.json || status=$?
if (( status & 2 )) || (( status & 1 )); then
  echo "cfn-lint: errors (exit $status)" >&2
  exit 1
fi
echo "cfn-lint: $(find cdk.out -mindepth 2 -maxdepth 2 -name '*.template.json' | wc -l) templates, no errors (exit $status)"
step "the application role against PostgreSQL (.ci/app-role.sh)"
bash ../.ci/app-role.sh | tail -n 1
step "done"
