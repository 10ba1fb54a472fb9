#!/usr/bin/env bash
# Python readers used by processor/tests/local_*.rs to check the Parquet the local writer produces
# (independent readers: pyarrow and duckdb), moto comes from install-moto.sh. Idempotent.
set -euo pipefail
python3 -c 'import pyarrow, duckdb' 2>/dev/null || python3 -m pip install --quiet pyarrow duckdb
