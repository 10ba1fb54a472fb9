#!/usr/bin/env bash
# The Lambda checks (.ci/test-lambda.sh): cargo-lambda (PyPI, brings Zig) for the zip builds and
# the Runtime API emulator (`--only-lambda-apis` needs 1.x), boto3 and pytest for the test itself.
# The emulator and moto are started by the test. Pinned, idempotent.
set -euo pipefail
CARGO_LAMBDA_VERSION=1.9.2
if [[ "$(cargo lambda --version 2>/dev/null | awk '{print $2}')" != "${CARGO_LAMBDA_VERSION}" ]]; then
  python3 -m pip install --quiet "cargo-lambda==${CARGO_LAMBDA_VERSION}"
fi
python3 -c 'import boto3, pytest' 2>/dev/null || python3 -m pip install --quiet 'boto3>=1.34' 'pytest>=8'
cargo lambda --version >/dev/null
