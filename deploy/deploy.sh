#!/usr/bin/env bash
# Deploys crossaz into an AWS account that already runs an EKS cluster:
#   1. builds the two Lambda zips with cargo-lambda,
#   2. uploads them to an artifact bucket (content-addressed keys, so a changed zip updates the
#      function and an unchanged one does not),
#   3. runs `aws cloudformation deploy` on deploy/template.yaml,
#   4. applies kubernetes/rbac.yaml when kubectl points at the cluster,
#   5. prints how to query.
# With --dry-run it validates the tools and parameters, prints every command it would run and
# calls nothing that talks to AWS or the cluster. No account ID or Region is hard-coded: they come
# from the flags, the environment (AWS_REGION / AWS_DEFAULT_REGION) or the AWS CLI configuration.
#
# Usage: deploy/deploy.sh --cluster NAME [options]; deploy/deploy.sh --help
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly TEMPLATE="${ROOT}/deploy/template.yaml"
readonly RBAC="${ROOT}/kubernetes/rbac.yaml"
readonly TRANSFORM_BIN="crossaz-transform"
readonly EXTRACTOR_BIN="crossaz-extractor"
readonly KUBERNETES_GROUP="crossaz-extractor"
cd "${ROOT}"

usage() {
  cat <<'EOF'
Usage: deploy/deploy.sh --cluster NAME [options]

Required:
  --cluster NAME            existing EKS cluster

Options:
  --stack NAME              CloudFormation stack (default: crossaz-<cluster>); lower case,
                            digits and '-', it prefixes every resource name
  --region REGION           AWS Region (default: AWS_REGION, AWS_DEFAULT_REGION or the CLI's)
  --vpc-id ID               VPC of the cluster (default: read from the cluster)
  --artifact-bucket NAME    bucket for the Lambda zips (default: crossaz-artifacts-<account>-<region>,
                            created if missing)
  --arch arm64|x86_64       Lambda architecture (default arm64)
  --subnets ID,ID           private subnets for the extractor (private-only cluster endpoint)
  --security-group ID       security group for the extractor (with --subnets)
  --access-entry auto|true|false
                            create the EKS access entry (default auto: false when the cluster is
                            in CONFIG_MAP mode, then the aws-auth fallback is printed)
  --param KEY=VALUE         any other template parameter (repeatable), e.g. UsdPerGb=0.02,
                            FlowRetentionDays=30, AlarmTopicArn=arn:...
  --skip-build              reuse target/lambda/*/bootstrap.zip
  --dry-run                 validate and print the commands; call nothing
  -h, --help                this text
EOF
}

die() { echo "deploy.sh: $*" >&2; exit 2; }
note() { echo "==> $*" >&2; }

CLUSTER="" STACK="" REGION="" VPC_ID="" ARTIFACT_BUCKET="" ARCH="arm64" SUBNETS="" SECURITY_GROUP=""
ACCESS_ENTRY="auto" SKIP_BUILD=0 DRY_RUN=0
EXTRA_PARAMS=()

while [[ $# -gt 0 ]]; do
  case "$1" in
    --cluster) CLUSTER="${2:?--cluster needs a value}"; shift 2 ;;
    --stack) STACK="${2:?--stack needs a value}"; shift 2 ;;
    --region) REGION="${2:?--region needs a value}"; shift 2 ;;
    --vpc-id) VPC_ID="${2:?--vpc-id needs a value}"; shift 2 ;;
    --artifact-bucket) ARTIFACT_BUCKET="${2:?--artifact-bucket needs a value}"; shift 2 ;;
    --arch) ARCH="${2:?--arch needs a value}"; shift 2 ;;
    --subnets) SUBNETS="${2:?--subnets needs a value}"; shift 2 ;;
    --security-group) SECURITY_GROUP="${2:?--security-group needs a value}"; shift 2 ;;
    --access-entry) ACCESS_ENTRY="${2:?--access-entry needs a value}"; shift 2 ;;
    --param) EXTRA_PARAMS+=("${2:?--param needs KEY=VALUE}"); shift 2 ;;
    --skip-build) SKIP_BUILD=1; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

# ------------------------------------------------------------------ validation (no AWS calls)
[[ -n "${CLUSTER}" ]] || { usage >&2; die "--cluster is required"; }
[[ "${CLUSTER}" =~ ^[0-9A-Za-z][0-9A-Za-z_-]{0,99}$ ]] || die "invalid cluster name: ${CLUSTER}"
if [[ -z "${STACK}" ]]; then
  STACK="crossaz-$(tr 'A-Z_' 'a-z-' <<<"${CLUSTER}")"
fi
# Resource names derive from the stack name: Firehose '<stack>-flows' (64 chars max), the Glue
# database (lower case), IAM-visible Lambda names. Keep it short and lower case.
[[ "${STACK}" =~ ^[a-z][a-z0-9-]{0,39}$ ]] || die "stack name must be lower case letters, digits and '-', at most 40 characters: ${STACK}"
[[ "${ARCH}" == "arm64" || "${ARCH}" == "x86_64" ]] || die "--arch must be arm64 or x86_64"
[[ "${ACCESS_ENTRY}" =~ ^(auto|true|false)$ ]] || die "--access-entry must be auto, true or false"
if [[ -n "${SUBNETS}" && -z "${SECURITY_GROUP}" ]]; then die "--subnets needs --security-group"; fi
if [[ -z "${SUBNETS}" && -n "${SECURITY_GROUP}" ]]; then die "--security-group needs --subnets"; fi
[[ -z "${VPC_ID}" || "${VPC_ID}" =~ ^vpc-[0-9a-f]+$ ]] || die "invalid VPC ID: ${VPC_ID}"
TEMPLATE_PARAMS="$(sed -n '/^Parameters:/,/^[A-Z]/p' "${TEMPLATE}" | sed -n 's/^  \([A-Za-z0-9]*\):$/\1/p')"
for kv in "${EXTRA_PARAMS[@]+"${EXTRA_PARAMS[@]}"}"; do
  [[ "${kv}" == *=* ]] || die "--param expects KEY=VALUE: ${kv}"
  grep -qx "${kv%%=*}" <<<"${TEMPLATE_PARAMS}" || die "--param ${kv%%=*} is not a parameter of deploy/template.yaml"
done
[[ -f "${TEMPLATE}" && -f "${RBAC}" ]] || die "run from a crossaz checkout (missing template or rbac.yaml)"

missing=()
for tool in aws cargo kubectl; do command -v "${tool}" >/dev/null 2>&1 || missing+=("${tool}"); done
if [[ ${SKIP_BUILD} -eq 0 ]] && ! cargo lambda --version >/dev/null 2>&1; then missing+=("cargo-lambda"); fi
for tool in "${missing[@]+"${missing[@]}"}"; do
  case "${tool}" in
    kubectl) note "kubectl not found: rbac.yaml will not be applied, the command is printed instead" ;;
    *) if [[ ${DRY_RUN} -eq 1 ]]; then note "warning: ${tool} not found (a real run needs it)"; else die "${tool} not found (cargo-lambda: pip install cargo-lambda)"; fi ;;
  esac
done

# show CMD...: prints a command the way a shell would take it back (placeholders such as
# <account> are left readable).
show() {
  local arg out="+"
  for arg in "$@"; do
    if [[ "${arg}" =~ ^[A-Za-z0-9_./:=,@+\<\>-]+$ ]]; then out+=" ${arg}"; else out+=" $(printf '%q' "${arg}")"; fi
  done
  echo "${out}"
}
# run CMD...: prints the command; runs it unless --dry-run. Output of the command goes to stdout.
run() {
  show "$@"
  if [[ ${DRY_RUN} -eq 0 ]]; then "$@"; fi
}
# query CMD...: a read-only AWS call whose output the script needs; in --dry-run it prints the
# command and yields the placeholder $1 instead.
query() {
  local placeholder="$1"; shift
  if [[ ${DRY_RUN} -eq 1 ]]; then
    show "$@" >&2
    echo "${placeholder}"
  else
    "$@"
  fi
}

# ------------------------------------------------------------------ account, Region, cluster
if [[ -z "${REGION}" ]]; then
  REGION="${AWS_REGION:-${AWS_DEFAULT_REGION:-}}"
  if [[ -z "${REGION}" && ${DRY_RUN} -eq 0 ]]; then REGION="$(aws configure get region || true)"; fi
  if [[ -z "${REGION}" && ${DRY_RUN} -eq 1 ]]; then REGION="<region>"; fi
  [[ -n "${REGION}" ]] || die "no Region: pass --region or set AWS_REGION"
fi
AWS=(aws --region "${REGION}")
CLUSTER_JSON="$(query '{"cluster":{"resourcesVpcConfig":{"vpcId":"<vpc-id>","endpointPublicAccess":true},"accessConfig":{"authenticationMode":"API_AND_CONFIG_MAP"},"endpoint":"<endpoint>"}}' \
  "${AWS[@]}" eks describe-cluster --name "${CLUSTER}" --output json)"
cluster_field() { python3 -c 'import json,sys; v=json.load(sys.stdin)["cluster"]
for k in sys.argv[1].split("."): v=(v or {}).get(k)
print("" if v is None else str(v).lower() if isinstance(v,bool) else v)' "$1" <<<"${CLUSTER_JSON}"; }

if [[ -z "${VPC_ID}" ]]; then VPC_ID="$(cluster_field resourcesVpcConfig.vpcId)"; fi
AUTH_MODE="$(cluster_field accessConfig.authenticationMode)"
PUBLIC_ENDPOINT="$(cluster_field resourcesVpcConfig.endpointPublicAccess)"
ENDPOINT="$(cluster_field endpoint)"
if [[ "${PUBLIC_ENDPOINT}" == "false" && -z "${SUBNETS}" ]]; then
  die "cluster ${CLUSTER} has a private-only endpoint: pass --subnets (private subnets with a route to S3 and EKS) and --security-group (allowed to the cluster on 443)"
fi
if [[ "${ACCESS_ENTRY}" == "auto" ]]; then
  if [[ "${AUTH_MODE}" == "CONFIG_MAP" ]]; then ACCESS_ENTRY="false"; else ACCESS_ENTRY="true"; fi
fi
if [[ "${ACCESS_ENTRY}" == "true" && "${AUTH_MODE}" == "CONFIG_MAP" ]]; then
  die "cluster ${CLUSTER} is in CONFIG_MAP mode: use --access-entry false (aws-auth fallback) or switch it to API_AND_CONFIG_MAP"
fi
if [[ -z "${ARTIFACT_BUCKET}" ]]; then
  ACCOUNT="$(query "<account>" "${AWS[@]}" sts get-caller-identity --query Account --output text)"
  ARTIFACT_BUCKET="crossaz-artifacts-${ACCOUNT}-${REGION}"
fi

# ------------------------------------------------------------------ build and upload
CARGO_ARCH="--arm64"
if [[ "${ARCH}" == "x86_64" ]]; then
  CARGO_ARCH="--x86-64"
  # Every x86_64 Lambda host has AVX2 (AWS Lambda guide, "Using AVX2 vectorization in Lambda"):
  # the transform runs about 6% fewer instructions a record with it (README, Speed).
  export RUSTFLAGS="${RUSTFLAGS:+${RUSTFLAGS} }-C target-feature=+avx2"
fi
TRANSFORM_ZIP="target/lambda/${TRANSFORM_BIN}/bootstrap.zip"
EXTRACTOR_ZIP="target/lambda/${EXTRACTOR_BIN}/bootstrap.zip"
if [[ ${SKIP_BUILD} -eq 0 ]]; then
  note "building the Lambda zips (${ARCH}${RUSTFLAGS:+, RUSTFLAGS=${RUSTFLAGS}})"
  run cargo lambda build --release "${CARGO_ARCH}" --output-format zip \
    -p crossaz --bin "${TRANSFORM_BIN}" --no-default-features --features lambda
  run cargo lambda build --release "${CARGO_ARCH}" --output-format zip \
    -p pod-cache --bin "${EXTRACTOR_BIN}" --no-default-features --features extractor
fi
digest() {
  if [[ -f "$1" ]]; then
    { sha256sum "$1" 2>/dev/null || shasum -a 256 "$1"; } | cut -c1-16
  elif [[ ${DRY_RUN} -eq 1 ]]; then echo "<sha256>"
  else die "missing $1 (build first, or drop --skip-build)"; fi
}
TRANSFORM_KEY="crossaz/${STACK}/${TRANSFORM_BIN}-${ARCH}-$(digest "${TRANSFORM_ZIP}").zip"
EXTRACTOR_KEY="crossaz/${STACK}/${EXTRACTOR_BIN}-${ARCH}-$(digest "${EXTRACTOR_ZIP}").zip"

note "uploading to s3://${ARTIFACT_BUCKET}/crossaz/${STACK}/"
if [[ ${DRY_RUN} -eq 1 ]] || ! "${AWS[@]}" s3api head-bucket --bucket "${ARTIFACT_BUCKET}" >/dev/null 2>&1; then
  run "${AWS[@]}" s3 mb "s3://${ARTIFACT_BUCKET}"
  run "${AWS[@]}" s3api put-public-access-block --bucket "${ARTIFACT_BUCKET}" \
    --public-access-block-configuration BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true
fi
run "${AWS[@]}" s3 cp --only-show-errors "${TRANSFORM_ZIP}" "s3://${ARTIFACT_BUCKET}/${TRANSFORM_KEY}"
run "${AWS[@]}" s3 cp --only-show-errors "${EXTRACTOR_ZIP}" "s3://${ARTIFACT_BUCKET}/${EXTRACTOR_KEY}"

# ------------------------------------------------------------------ stack
PARAMS=(
  "ClusterName=${CLUSTER}"
  "VpcId=${VPC_ID}"
  "CreateAccessEntry=${ACCESS_ENTRY}"
  "LambdaArchitecture=${ARCH}"
  "ArtifactBucket=${ARTIFACT_BUCKET}"
  "TransformCodeKey=${TRANSFORM_KEY}"
  "ExtractorCodeKey=${EXTRACTOR_KEY}"
)
if [[ -n "${SUBNETS}" ]]; then PARAMS+=("ExtractorSubnetIds=${SUBNETS}" "ExtractorSecurityGroupId=${SECURITY_GROUP}"); fi
PARAMS+=("${EXTRA_PARAMS[@]+"${EXTRA_PARAMS[@]}"}")

note "deploying stack ${STACK} in ${REGION}"
run "${AWS[@]}" cloudformation deploy --template-file deploy/template.yaml --stack-name "${STACK}" \
  --capabilities CAPABILITY_IAM --no-fail-on-empty-changeset --parameter-overrides "${PARAMS[@]}"

output() {
  query "<$1>" "${AWS[@]}" cloudformation describe-stacks --stack-name "${STACK}" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}
ROLE_ARN="$(output ExtractorRoleArn)"
DATABASE="$(output GlueDatabaseName)"
WORKGROUP="$(output AthenaWorkGroupName)"
VIEW="$(output ResultsViewName)"

# ------------------------------------------------------------------ Kubernetes RBAC
if [[ "${ACCESS_ENTRY}" == "false" ]]; then
  note "cluster in CONFIG_MAP mode: map the extractor role in aws-auth (deploy/README.md):"
  echo "  eksctl create iamidentitymapping --cluster ${CLUSTER} --region ${REGION} --arn ${ROLE_ARN} --username crossaz-extractor --group ${KUBERNETES_GROUP}"
fi
KUBE_SERVER=""
# Only the local kubeconfig is read (no call to the cluster), and not at all in --dry-run.
if [[ ${DRY_RUN} -eq 0 ]] && command -v kubectl >/dev/null 2>&1; then
  KUBE_SERVER="$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}' 2>/dev/null || true)"
fi
if [[ -n "${KUBE_SERVER}" && "${KUBE_SERVER}" == "${ENDPOINT}" ]]; then
  note "kubectl points at ${CLUSTER}: applying the extractor RBAC"
  run kubectl apply -f kubernetes/rbac.yaml
elif [[ ${DRY_RUN} -eq 1 ]]; then
  note "when kubectl points at ${CLUSTER} (server ${ENDPOINT}):"
  show kubectl apply -f kubernetes/rbac.yaml
else
  note "kubectl does not point at ${CLUSTER}; apply the extractor RBAC yourself:"
  echo "  aws eks update-kubeconfig --region ${REGION} --name ${CLUSTER} && kubectl apply -f kubernetes/rbac.yaml"
fi

# ------------------------------------------------------------------ how to query
cat <<EOF

crossaz is deployed (stack ${STACK}). Flow logs reach Athena a few minutes after traffic flows
(60 s aggregation + Firehose's 60 s buffer + the extractor's first snapshot).

  # the original walkthrough's query, over the view with its columns
  ${AWS[*]} athena start-query-execution --work-group ${WORKGROUP} \\
    --query-string 'SELECT * FROM "${DATABASE}"."${VIEW}" ORDER BY "timestamp" DESC, "bytes_transfered" LIMIT 20'
  ${AWS[*]} athena get-query-results --query-execution-id <QueryExecutionId>

  # saved queries (top pairs by \$, AZ matrix, per namespace): Athena console, workgroup ${WORKGROUP}
  ${AWS[*]} athena list-named-queries --work-group ${WORKGROUP}

Remove it all with: deploy/destroy.sh --stack ${STACK} --region ${REGION}
EOF
if [[ ${DRY_RUN} -eq 1 ]]; then note "dry run: nothing was built, uploaded or deployed"; fi
