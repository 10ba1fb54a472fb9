#!/usr/bin/env bash
# Peers of the extractor tests (pod-cache/tests/extractor_*.rs, --features extractor):
#   - moto_server (S3): install-moto.sh; the tests start it on a free 127.0.0.1 port;
#   - kubectl, which reads the same Kubernetes API fixture in extractor_list.rs: the `kubectl`
#     package if an apt source offers it, else Debian's `kubernetes-client`.
# Idempotent: returns at once when both are present.
set -euo pipefail
# kubectl only serves the fixture-fidelity test (report-only in CI for now): never fail the
# install over it.
if ! command -v kubectl >/dev/null; then
  SUDO=""
  [[ "$(id -u)" == 0 ]] || SUDO="sudo"
  { ${SUDO} apt-get update -qq \
      && { ${SUDO} apt-get install -y -qq kubectl || ${SUDO} apt-get install -y -qq kubernetes-client; }; } \
    || echo "install-extractor: kubectl not installable here; its test will report the failure" >&2
fi
