#!/usr/bin/env bash
# Python readers used by processor/tests/local_*.rs to check the Parquet the local writer produces
# (independent readers: pyarrow and duckdb), and headless Chromium (Debian's `chromium` package),
# which processor/tests/report_html.rs renders `crossaz report --html` with. moto comes from
# install-moto.sh. Idempotent.
set -euo pipefail
python3 -c 'import pyarrow, duckdb' 2>/dev/null || python3 -m pip install --quiet pyarrow duckdb
if ! command -v chromium >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
