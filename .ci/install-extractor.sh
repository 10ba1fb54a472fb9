#!/usr/bin/env bash
# Peers of the extractor tests (pod-cache/tests/extractor_*.rs, --features extractor):
#   - moto_server (S3): install-moto.sh; the tests start it on a free 127.0.0.1 port;
#   - kubectl, which reads the same Kubernetes API fixture in extractor_list.rs (proof that the
#     fixture is a faithful peer): the `kubectl` package if an apt source offers it, else Debian's
#     `kubernetes-client`. The test gates, so a kubectl that cannot be installed fails here, loudly.
# Idempotent: returns at once when kubectl is present.
set -euo pipefail
if ! command -v kubectl >/dev/null; then
  SUDO=""
  [[ "$(id -u)" == 0 ]] || SUDO="sudo"
  ${SUDO} apt-get update -qq
  DEBIAN_FRONTEND=noninteractive ${SUDO} apt-get install -y -qq kubectl \
    || DEBIAN_FRONTEND=noninteractive ${SUDO} apt-get install -y -qq kubernetes-client
fi
kubectl version --client >/dev/null
