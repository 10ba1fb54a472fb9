#!/usr/bin/env bash
# moto server, the local peer for S3, Kinesis and Firehose in every test that starts one.
# Pinned: moto 5.2 serializes S3's CompleteMultipartUpload answer with the root element
# `CompleteMultipartUploadResponse`, which the Rust SDK (rightly) refuses, so multipart uploads
# cannot be tested against it; 5.1.22 answers `CompleteMultipartUploadResult` like S3. Idempotent.
set -euo pipefail
MOTO_VERSION=5.1.22
if [[ "$(python3 -c 'import moto; print(moto.__version__)' 2>/dev/null)" != "${MOTO_VERSION}" ]] \
  || ! command -v moto_server >/dev/null; then
  python3 -m pip install --quiet "moto[server]==${MOTO_VERSION}"
fi
moto_server --help >/dev/null
