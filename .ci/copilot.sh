#!/usr/bin/env bash
# Lints every Copilot addon template (CloudFormation) with cfn-lint from PyPI.
# Usage: bash .ci/copilot.sh   (from anywhere; installs cfn-lint if it is missing)
# The manifests themselves are checked by `cargo test --test it copilot_manifests`.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cfn-lint >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check cfn-lint
fi
cfn-lint --version

# Every addon template Copilot reads: copilot/<service>/addons/*.yml and
# copilot/environments/addons/*.yml, except the parameters files (not templates). A template
# reached through a symbolic link from another service is linted once.
mapfile -t templates < <(
  for f in copilot/*/addons/*.yml copilot/*/addons/*.yaml; do
    [ -e "$f" ] || continue
    case "$(basename "$f")" in addons.parameters.yml | addons.parameters.yaml) continue ;; esac
    printf '%s\t%s\n' "$(realpath "$f")" "$f"
  done | sort -u -k1,1 | cut -f2
)
[ "${#templates[@]}" -gt 0 ] || { echo "copilot.sh: no addon templates found" >&2; exit 1; }

status=0
for t in "${templates[@]}"; do
  # cfn-lint exits 2 on errors, 4 on warnings, 8 on informational findings (bit flags).
  if cfn-lint --format parseable -- "$t"; then
    echo "ok   $t"
  else
    rc=$?
    if (( rc & 2 )) || (( rc & 1 )); then
      echo "FAIL $t (cfn-lint exit $rc)"
      status=1
    else
      echo "ok   $t (warnings only, exit $rc)"
    fi
  fi
done
echo "cfn-lint: ${#templates[@]} addon templates, $([ $status = 0 ] && echo 'no errors' || echo 'errors')"
exit $status
