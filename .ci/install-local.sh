#!/usr/bin/env bash
# Python readers used by processor/tests/local_*.rs to check the Parquet the local writer produces
# (independent readers: pyarrow and duckdb), and moto for S3/Kinesis. Idempotent.
set -euo pipefail
python3 -c 'import pyarrow, duckdb' 2>/dev/null || python3 -m pip install --quiet pyarrow duckdb
command -v moto_server >/dev/null || python3 -m pip install --quiet 'moto[server]'
