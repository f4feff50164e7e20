# nix run .#publish -- <auth|task> <image-archive> [tag]
# Pushes an image archive built by this flake to ECR with skopeo (no Docker daemon) and prints
# the two variables the Copilot manifests read: PLATFORM=linux/… and AUTH_IMAGE=… or
# TASK_IMAGE=…, so that `export $(nix run .#publish -- auth ./auth-image)` prepares a deploy.
# flake.nix wraps this file with writeShellApplication: bash with errexit, nounset and
# pipefail, skopeo, aws, coreutils and sed on PATH, and DEFAULT_TAG (<version>-<short rev>).
#   AWS_REGION       required
#   AWS_ACCOUNT_ID   default: the caller's account (aws sts get-caller-identity)
#   ECR_REPOSITORY   default: task-management/<service>; it must exist
usage() {
  echo "usage: nix run .#publish -- <auth|task> <image-archive> [tag]   (default tag: ${DEFAULT_TAG}[-arm64])" >&2
  exit 2
}
if [ $# -lt 2 ] || [ $# -gt 3 ]; then usage; fi
service=$1 archive=$2
case "$service" in
  auth) var=AUTH_IMAGE ;;
  task) var=TASK_IMAGE ;;
  *) usage ;;
esac
[ -f "$archive" ] || { echo "publish: no image archive at $archive" >&2; exit 1; }
: "${AWS_REGION:?publish: set AWS_REGION}"

# The archive's own architecture decides PLATFORM and the default tag's suffix. The signature
# policy is moot for an archive this flake built, and hosts other than NixOS have none.
arch=$(skopeo --insecure-policy inspect --config "docker-archive:$archive" |
  sed -n 's/.*"architecture": *"\([^"]*\)".*/\1/p' | head -n 1)
if [ "$arch" = arm64 ]; then platform=linux/arm64; else platform=linux/x86_64; fi
tag=${3:-$DEFAULT_TAG$([ "$arch" = arm64 ] && echo -arm64)}

account=${AWS_ACCOUNT_ID:-$(aws sts get-caller-identity --query Account --output text)}
registry="$account.dkr.ecr.$AWS_REGION.amazonaws.com"
uri="$registry/${ECR_REPOSITORY:-task-management/$service}:$tag"

authfile=$(mktemp)
trap 'rm -f "$authfile"' EXIT
aws ecr get-login-password --region "$AWS_REGION" |
  skopeo login --authfile "$authfile" --username AWS --password-stdin "$registry" >&2
skopeo --insecure-policy copy --authfile "$authfile" "docker-archive:$archive" "docker://$uri" >&2

echo "PLATFORM=$platform"
echo "$var=$uri"
