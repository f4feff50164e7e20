# nix run .#publish -- <auth|task> <image-archive> [tag]
# Pushes an image archive built by this flake to ECR with skopeo (no Docker daemon) and prints
# shell assignments, one a line, that `eval "$(nix run .#publish -- auth ./result-auth)"` sets:
#   authImage=<registry>/<repo>@sha256:…   (or taskImage=…) the image BY DIGEST, and
#   arch=x86_64 | arm64                    for the CDK app: npx cdk deploy -c authImage="$authImage"
#                                          -c taskImage="$taskImage" -c arch="$arch" (docs/deploy.md);
#   AUTH_IMAGE=<registry>/<repo>:<tag>     (or TASK_IMAGE=…) and PLATFORM=linux/…, the variables
#                                          the Copilot manifests read (end of support 2026-06-12).
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
  auth) var=AUTH_IMAGE cdk_var=authImage ;;
  task) var=TASK_IMAGE cdk_var=taskImage ;;
  *) usage ;;
esac
[ -f "$archive" ] || { echo "publish: no image archive at $archive" >&2; exit 1; }
: "${AWS_REGION:?publish: set AWS_REGION}"

# The archive's own architecture decides PLATFORM and the default tag's suffix. The signature
# policy is moot for an archive this flake built, and hosts other than NixOS have none.
arch=$(skopeo --insecure-policy inspect --config "docker-archive:$archive" |
  sed -n 's/.*"architecture": *"\([^"]*\)".*/\1/p' | head -n 1)
if [ "$arch" = arm64 ]; then platform=linux/arm64 cdk_arch=arm64; else platform=linux/x86_64 cdk_arch=x86_64; fi
tag=${3:-$DEFAULT_TAG$([ "$arch" = arm64 ] && echo -arm64)}

account=${AWS_ACCOUNT_ID:-$(aws sts get-caller-identity --query Account --output text)}
registry="$account.dkr.ecr.$AWS_REGION.amazonaws.com"
repo="$registry/${ECR_REPOSITORY:-task-management/$service}"
uri="$repo:$tag"

authfile=$(mktemp)
digestfile=$(mktemp)
trap 'rm -f "$authfile" "$digestfile"' EXIT
aws ecr get-login-password --region "$AWS_REGION" |
  skopeo login --authfile "$authfile" --username AWS --password-stdin "$registry" >&2
skopeo --insecure-policy copy --authfile "$authfile" --digestfile "$digestfile" \
  "docker-archive:$archive" "docker://$uri" >&2
digest=$(cat "$digestfile")
case "$digest" in
  sha256:*) ;;
  *) echo "publish: skopeo wrote no digest for $uri" >&2; exit 1 ;;
esac

echo "$cdk_var=$repo@$digest"
echo "arch=$cdk_arch"
echo "PLATFORM=$platform"
echo "$var=$uri"
