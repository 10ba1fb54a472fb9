#!/usr/bin/env bash
# Removes what deploy/deploy.sh created for one stack:
#   - the extractor RBAC (kubernetes/rbac.yaml) when kubectl points at the cluster,
#   - the CloudFormation stack (flow log, Firehose stream, Lambdas, roles, access entry, Glue
#     database, table and view, Athena workgroup and saved queries, alarms, log groups),
#   - the Athena results bucket (query results only),
#   - the stack's Lambda zips under s3://<artifact bucket>/crossaz/<stack>/.
# It KEEPS the data bucket (Parquet rows and failed records) and the snapshot bucket unless
# --delete-data is given, and the artifact bucket itself (other stacks may share it). It says what
# it kept at the end. --dry-run prints the commands and calls nothing.
#
# Usage: deploy/destroy.sh --stack NAME [--region REGION] [--delete-data] [--dry-run] [--yes]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
cd "${ROOT}"

usage() {
  cat <<'EOF'
Usage: deploy/destroy.sh --stack NAME [options]

  --stack NAME              the stack deploy.sh created (crossaz-<cluster> by default)
  --region REGION           AWS Region (default: AWS_REGION, AWS_DEFAULT_REGION or the CLI's)
  --artifact-bucket NAME    where deploy.sh uploaded the zips (default crossaz-artifacts-<account>-<region>)
  --delete-data             also empty and delete the data and snapshot buckets
  --yes                     do not ask for confirmation
  --dry-run                 print the commands; call nothing
  -h, --help                this text
EOF
}

die() { echo "destroy.sh: $*" >&2; exit 2; }
note() { echo "==> $*" >&2; }

STACK="" REGION="" ARTIFACT_BUCKET="" DELETE_DATA=0 YES=0 DRY_RUN=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --stack) STACK="${2:?--stack needs a value}"; shift 2 ;;
    --region) REGION="${2:?--region needs a value}"; shift 2 ;;
    --artifact-bucket) ARTIFACT_BUCKET="${2:?--artifact-bucket needs a value}"; shift 2 ;;
    --delete-data) DELETE_DATA=1; shift ;;
    --yes) YES=1; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done
[[ -n "${STACK}" ]] || { usage >&2; die "--stack is required"; }
[[ "${STACK}" =~ ^[a-z][a-z0-9-]{0,39}$ ]] || die "invalid stack name: ${STACK}"
if [[ ${DRY_RUN} -eq 0 ]]; then command -v aws >/dev/null 2>&1 || die "aws CLI not found"; fi

show() {
  local arg out="+"
  for arg in "$@"; do
    if [[ "${arg}" =~ ^[A-Za-z0-9_./:=,@+\<\>-]+$ ]]; then out+=" ${arg}"; else out+=" $(printf '%q' "${arg}")"; fi
  done
  echo "${out}"
}
run() {
  show "$@"
  if [[ ${DRY_RUN} -eq 0 ]]; then "$@"; fi
}
query() {
  local placeholder="$1"; shift
  if [[ ${DRY_RUN} -eq 1 ]]; then show "$@" >&2; echo "${placeholder}"; else "$@"; fi
}

if [[ -z "${REGION}" ]]; then
  REGION="${AWS_REGION:-${AWS_DEFAULT_REGION:-}}"
  if [[ -z "${REGION}" && ${DRY_RUN} -eq 0 ]]; then REGION="$(aws configure get region || true)"; fi
  if [[ -z "${REGION}" && ${DRY_RUN} -eq 1 ]]; then REGION="<region>"; fi
  [[ -n "${REGION}" ]] || die "no Region: pass --region or set AWS_REGION"
fi
AWS=(aws --region "${REGION}")

output() {
  query "<$1>" "${AWS[@]}" cloudformation describe-stacks --stack-name "${STACK}" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}
CLUSTER="$(output ClusterName)"
DATA_BUCKET="$(output DataBucketName)"
SNAPSHOT_BUCKET="$(output SnapshotBucketName)"
RESULTS_BUCKET="$(output AthenaResultsBucketName)"
ACCESS_ENTRY="$(output AccessEntryCreated)"
ROLE_ARN="$(output ExtractorRoleArn)"
[[ -n "${DATA_BUCKET}" && "${DATA_BUCKET}" != "None" ]] || die "stack ${STACK} not found in ${REGION} (or it has no outputs)"
if [[ -z "${ARTIFACT_BUCKET}" ]]; then
  ACCOUNT="$(query "<account>" "${AWS[@]}" sts get-caller-identity --query Account --output text)"
  ARTIFACT_BUCKET="crossaz-artifacts-${ACCOUNT}-${REGION}"
fi

if [[ ${YES} -eq 0 && ${DRY_RUN} -eq 0 ]]; then
  echo "This deletes stack ${STACK} (cluster ${CLUSTER}) in ${REGION}."
  if [[ ${DELETE_DATA} -eq 1 ]]; then echo "It also DELETES all flow data in ${DATA_BUCKET} and snapshots in ${SNAPSHOT_BUCKET}."; fi
  read -r -p "Type the stack name to go on: " answer
  [[ "${answer}" == "${STACK}" ]] || die "cancelled"
fi

# RBAC first, while the cluster name is known. Harmless if another stack still uses the group:
# deploy.sh applies it again.
ENDPOINT="$(query "<endpoint>" "${AWS[@]}" eks describe-cluster --name "${CLUSTER}" --query cluster.endpoint --output text || true)"
KUBE_SERVER=""
# Only the local kubeconfig is read (no call to the cluster), and not at all in --dry-run.
if [[ ${DRY_RUN} -eq 0 ]] && command -v kubectl >/dev/null 2>&1; then
  KUBE_SERVER="$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}' 2>/dev/null || true)"
fi
if [[ -n "${KUBE_SERVER}" && "${KUBE_SERVER}" == "${ENDPOINT}" ]]; then
  run kubectl delete --ignore-not-found -f kubernetes/rbac.yaml
elif [[ ${DRY_RUN} -eq 1 ]]; then
  note "when kubectl points at ${CLUSTER} (server ${ENDPOINT}):"
  show kubectl delete --ignore-not-found -f kubernetes/rbac.yaml
else
  note "kubectl does not point at ${CLUSTER}; remove the RBAC yourself: kubectl delete -f kubernetes/rbac.yaml"
fi
if [[ "${ACCESS_ENTRY}" == "false" ]]; then
  note "remove the aws-auth mapping you added for the extractor:"
  echo "  eksctl delete iamidentitymapping --cluster ${CLUSTER} --region ${REGION} --arn ${ROLE_ARN}"
fi

# The flow log is deleted with the stack before the stream it writes to (it depends on it).
note "deleting stack ${STACK}"
run "${AWS[@]}" cloudformation delete-stack --stack-name "${STACK}"
run "${AWS[@]}" cloudformation wait stack-delete-complete --stack-name "${STACK}"

# Buckets are Retain in the template, so the stack deletion leaves them.
remove_bucket() {
  run "${AWS[@]}" s3 rm --only-show-errors --recursive "s3://$1"
  run "${AWS[@]}" s3api delete-bucket --bucket "$1"
}
remove_bucket "${RESULTS_BUCKET}"
if [[ ${DELETE_DATA} -eq 1 ]]; then
  remove_bucket "${DATA_BUCKET}"
  remove_bucket "${SNAPSHOT_BUCKET}"
fi
run "${AWS[@]}" s3 rm --only-show-errors --recursive "s3://${ARTIFACT_BUCKET}/crossaz/${STACK}/"

echo
echo "Deleted stack ${STACK}, the Athena results bucket ${RESULTS_BUCKET} and the stack's Lambda zips."
if [[ ${DELETE_DATA} -eq 1 ]]; then
  echo "Deleted the data bucket ${DATA_BUCKET} and the snapshot bucket ${SNAPSHOT_BUCKET}."
else
  echo "Kept (delete with --delete-data, or by hand):"
  echo "  s3://${DATA_BUCKET}      Parquet rows under flows/, failed records under errors/"
  echo "  s3://${SNAPSHOT_BUCKET}  pod snapshots"
fi
echo "Kept the artifact bucket s3://${ARTIFACT_BUCKET} (shared by stacks): aws s3 rb --force s3://${ARTIFACT_BUCKET}"
if [[ ${DRY_RUN} -eq 1 ]]; then note "dry run: nothing was deleted"; fi
