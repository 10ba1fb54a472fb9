#!/usr/bin/env bash
# Offline checks of deploy/ and kubernetes/ (run .ci/install-deploy.sh first):
#   1. cfn-lint on the template: no error and no warning;
#   2. checkov (--skip-download): no failed check; every suppression lives in the template with a
#      written reason (processor/tests/deploy_template.rs checks the reasons);
#   3. kubernetes-validate --strict on every Kubernetes manifest;
#   4. shellcheck (warnings and errors) on the deploy scripts;
#   5. deploy.sh / destroy.sh in --dry-run mode (deploy/tests/dry_run.sh), calling no AWS.
# The project rules cfn-lint misses run with the Rust tests: cargo test -p crossaz --test deploy_template
# Prints "N passed, N failed" and exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2

VENV="${CROSSAZ_DEPLOY_VENV:-${HOME}/.cache/crossaz/deploy-venv}"
BIN="${VENV}/bin"
# EKS versions run behind upstream; validate against one EKS supports.
KUBERNETES_VERSION="1.33.0"
[[ -x "${BIN}/cfn-lint" && -x "${BIN}/checkov" && -x "${BIN}/kubernetes-validate" && -x "${BIN}/shellcheck" ]] \
  || { echo "test-deploy: run .ci/install-deploy.sh first" >&2; exit 2; }

passed=0 failed=0
step() {
  local name="$1"; shift
  local start=${SECONDS} out rc
  out="$("$@" 2>&1)"; rc=$?
  if [[ ${rc} -eq 0 ]]; then
    passed=$((passed + 1)); echo "ok   ${name} ($((SECONDS - start)) s)"
  else
    failed=$((failed + 1)); echo "FAIL ${name} (exit ${rc})"; sed 's/^/     /' <<<"${out}"
  fi
}

step "cfn-lint deploy/template.yaml" "${BIN}/cfn-lint" deploy/template.yaml
step "checkov deploy/template.yaml" "${BIN}/checkov" --skip-download --quiet --compact \
  --framework cloudformation -f deploy/template.yaml
mapfile -t manifests < <(find kubernetes -name '*.yaml' -not -path 'kubernetes/eksctl/*' | sort)
[[ ${#manifests[@]} -ge 2 ]] || { echo "FAIL no Kubernetes manifests found"; failed=$((failed + 1)); }
step "kubernetes-validate --strict ${manifests[*]}" \
  "${BIN}/kubernetes-validate" --strict --quiet -k "${KUBERNETES_VERSION}" "${manifests[@]}"
step "shellcheck deploy scripts" "${BIN}/shellcheck" -S warning deploy/deploy.sh deploy/destroy.sh \
  deploy/tests/dry_run.sh .ci/install-deploy.sh .ci/test-deploy.sh
step "deploy/tests/dry_run.sh" bash deploy/tests/dry_run.sh "${BIN}/python"

echo "test-deploy: ${passed} passed, ${failed} failed"
[[ ${failed} -eq 0 ]]
