#!/usr/bin/env bash
# The transform Lambda's emulator test (.ci/test-lambda.sh): cargo-lambda (PyPI, brings Zig) for
# the Runtime API emulator and the zip builds, boto3 and pytest for the test itself.
# Idempotent.
set -euo pipefail
command -v cargo-lambda >/dev/null || python3 -m pip install --quiet cargo-lambda
python3 -c 'import boto3, pytest' 2>/dev/null || python3 -m pip install --quiet boto3 pytest
