#!/usr/bin/env bash
# Tests of deploy/deploy.sh and deploy/destroy.sh in --dry-run mode. Fake `aws`, `kubectl`,
# `cargo` and `eksctl` come first on PATH and record every call: a dry run must make none.
# Prints "N passed, N failed" and exits non-zero on any failure.
# Usage: deploy/tests/dry_run.sh [python with PyYAML]
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PYTHON="${1:-python3}"
WORK="$(mktemp -d)"
trap 'rm -rf "${WORK}"' EXIT
mkdir -p "${WORK}/bin"
for tool in aws kubectl cargo eksctl; do
  printf '#!/bin/sh\necho "%s $*" >> "%s/calls"\nexit 1\n' "${tool}" "${WORK}" > "${WORK}/bin/${tool}"
  chmod +x "${WORK}/bin/${tool}"
done
touch "${WORK}/calls"
export PATH="${WORK}/bin:${PATH}"
unset AWS_REGION AWS_DEFAULT_REGION AWS_PROFILE

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok   $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1"; [[ -n "${2:-}" ]] && sed 's/^/     /' <<<"$2"; }

# expect NAME STATUS PATTERN... -- CMD...: CMD exits with STATUS and its output (stdout+stderr)
# matches every extended regex PATTERN; a PATTERN starting with ! must not match.
expect() {
  local name="$1" status="$2"; shift 2
  local patterns=()
  while [[ "$1" != "--" ]]; do patterns+=("$1"); shift; done
  shift
  local out rc
  out="$("$@" 2>&1)"; rc=$?
  if [[ ${rc} -ne ${status} ]]; then fail "${name}: exit ${rc}, expected ${status}" "${out}"; return; fi
  local p
  for p in "${patterns[@]+"${patterns[@]}"}"; do
    if [[ "${p}" == !* ]]; then
      if grep -Eq -- "${p:1}" <<<"${out}"; then fail "${name}: unexpected /${p:1}/" "${out}"; return; fi
    elif ! grep -Eq -- "${p}" <<<"${out}"; then
      fail "${name}: missing /${p}/" "${out}"; return
    fi
  done
  ok "${name}"
}

DEPLOY=(bash "${ROOT}/deploy/deploy.sh")
DESTROY=(bash "${ROOT}/deploy/destroy.sh")

expect "deploy builds both Lambdas for arm64 by default" 0 \
  '^\+ cargo lambda build --release --arm64 --output-format zip -p crossaz --bin crossaz-transform --no-default-features --features lambda$' \
  '^\+ cargo lambda build --release --arm64 --output-format zip -p pod-cache --bin crossaz-extractor --no-default-features --features extractor$' \
  '^\+ aws --region eu-west-1 s3 mb s3://crossaz-artifacts-<account>-eu-west-1$' \
  '^\+ aws --region eu-west-1 s3 cp .*target/lambda/crossaz-transform/bootstrap.zip s3://crossaz-artifacts-<account>-eu-west-1/crossaz/crossaz-demo/crossaz-transform-arm64-' \
  '^\+ aws --region eu-west-1 cloudformation deploy --template-file deploy/template.yaml --stack-name crossaz-demo --capabilities CAPABILITY_IAM' \
  'LambdaArchitecture=arm64' 'CreateAccessEntry=true' 'ClusterName=demo( |$)' \
  '^\+ kubectl apply -f kubernetes/rbac.yaml$' 'athena start-query-execution' 'dry run: nothing was built' \
  'building the Lambda zips \(arm64\)' '!target-feature' \
  -- "${DEPLOY[@]}" --cluster demo --region eu-west-1 --dry-run

expect "deploy builds x86_64 zips when asked" 0 \
  'cargo lambda build --release --x86-64 .*crossaz-transform' 'cargo lambda build --release --x86-64 .*crossaz-extractor' \
  'LambdaArchitecture=x86_64' 'crossaz-transform-x86_64-' '!--arm64' \
  'building the Lambda zips \(x86_64, RUSTFLAGS=-C target-feature=\+avx2\)' \
  -- "${DEPLOY[@]}" --cluster demo --region eu-west-1 --arch x86_64 --dry-run

expect "deploy passes the private-endpoint subnets and security group" 0 \
  'ExtractorSubnetIds=subnet-1,subnet-2 ExtractorSecurityGroupId=sg-1' \
  -- "${DEPLOY[@]}" --cluster demo --region eu-west-1 --subnets subnet-1,subnet-2 --security-group sg-1 --dry-run

expect "deploy prints the aws-auth fallback without an access entry" 0 \
  'CreateAccessEntry=false' 'eksctl create iamidentitymapping --cluster demo --region eu-west-1 --arn <ExtractorRoleArn> --username crossaz-extractor --group crossaz-extractor' \
  -- "${DEPLOY[@]}" --cluster demo --region eu-west-1 --access-entry false --dry-run

expect "deploy passes extra template parameters and a chosen stack, VPC and bucket" 0 \
  'UsdPerGb=0.01 FlowRetentionDays=7$' 'VpcId=vpc-0abc ' '--stack-name team-a ' 'ArtifactBucket=my-zips ' '!sts get-caller-identity' \
  -- "${DEPLOY[@]}" --cluster demo --region eu-west-1 --stack team-a --vpc-id vpc-0abc --artifact-bucket my-zips \
     --param UsdPerGb=0.01 --param FlowRetentionDays=7 --dry-run

expect "deploy --skip-build builds nothing" 0 '!cargo lambda' 'cloudformation deploy' \
  -- "${DEPLOY[@]}" --cluster demo --region eu-west-1 --skip-build --dry-run

expect "deploy takes the Region from AWS_REGION" 0 'aws --region ap-south-2 cloudformation deploy' \
  -- env AWS_REGION=ap-south-2 "${DEPLOY[@]}" --cluster demo --dry-run

expect "deploy requires --cluster" 2 'cluster is required' -- "${DEPLOY[@]}" --dry-run
expect "deploy rejects an unknown architecture" 2 'arch must be arm64 or x86_64' -- "${DEPLOY[@]}" --cluster demo --arch ppc --dry-run
expect "deploy rejects subnets without a security group" 2 'subnets needs --security-group' \
  -- "${DEPLOY[@]}" --cluster demo --subnets subnet-1 --dry-run
expect "deploy rejects a parameter the template lacks" 2 'NoSuchParam is not a parameter' \
  -- "${DEPLOY[@]}" --cluster demo --param NoSuchParam=1 --dry-run
expect "deploy rejects an upper-case stack name" 2 'stack name must be lower case' \
  -- "${DEPLOY[@]}" --cluster demo --stack Crossaz --dry-run
expect "deploy rejects an invalid cluster name" 2 'invalid cluster name' -- "${DEPLOY[@]}" --cluster '-x' --dry-run

expect "destroy keeps data and snapshots by default" 0 \
  'cloudformation delete-stack --stack-name crossaz-demo' 'cloudformation wait stack-delete-complete' \
  's3 rm --only-show-errors --recursive s3://<AthenaResultsBucketName>$' \
  's3 rm --only-show-errors --recursive s3://crossaz-artifacts-<account>-eu-west-1/crossaz/crossaz-demo/$' \
  '!s3://<DataBucketName>$' '!s3://<SnapshotBucketName>$' 'Kept \(delete with --delete-data' \
  -- "${DESTROY[@]}" --stack crossaz-demo --region eu-west-1 --dry-run

expect "destroy --delete-data removes data and snapshot buckets" 0 \
  's3 rm --only-show-errors --recursive s3://<DataBucketName>$' 'delete-bucket --bucket <DataBucketName>$' \
  'delete-bucket --bucket <SnapshotBucketName>$' '!Kept \(delete with' \
  -- "${DESTROY[@]}" --stack crossaz-demo --region eu-west-1 --delete-data --dry-run

expect "destroy requires --stack" 2 'stack is required' -- "${DESTROY[@]}" --dry-run

# The only call allowed is the tool check `cargo lambda --version`.
calls="$(grep -vx 'cargo lambda --version' "${WORK}/calls")"
if [[ -n "${calls}" ]]; then
  fail "dry runs called external tools" "${calls}"
elif [[ ! -s "${WORK}/calls" ]]; then
  fail "the tool check never ran (fake PATH not used?)"
else
  ok "dry runs called no aws, kubectl, cargo build or eksctl"
fi

# Every --parameter-overrides key is a template parameter, and every parameter without a default
# is given.
out="$("${DEPLOY[@]}" --cluster demo --region eu-west-1 --dry-run 2>/dev/null | grep -- '--parameter-overrides')"
given="$(sed 's/.*--parameter-overrides //' <<<"${out}" | tr ' ' '\n' | sed 's/=.*//' | sort)"
check="$("${PYTHON}" - "${ROOT}/deploy/template.yaml" "${given}" <<'PY'
import sys, yaml
class Loader(yaml.SafeLoader):
    pass
Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
params = yaml.load(open(sys.argv[1]), Loader=Loader)["Parameters"]
given = set(sys.argv[2].split())
unknown = sorted(given - set(params))
required = sorted(k for k, v in params.items() if "Default" not in v and k not in given)
print(f"unknown={unknown} missing={required}" if unknown or required else "")
PY
)"
if [[ -z "${check}" && -n "${given}" ]]; then ok "parameter overrides match the template"; else fail "parameter overrides: ${check}"; fi

# No account ID or Region is written into the scripts.
if grep -EnH '[0-9]{12}|\b(us|eu|ap|sa|ca|me|af|il|mx)-(east|west|north|south|central|northeast|southeast|northwest|southwest)-[0-9]\b' \
     "${ROOT}/deploy/deploy.sh" "${ROOT}/deploy/destroy.sh"; then
  fail "deploy scripts hard-code an account ID or Region"
else
  ok "deploy scripts hard-code no account ID or Region"
fi

echo "${passed} passed, ${failed} failed"
[[ ${failed} -eq 0 ]]
