#!/usr/bin/env bash
# The Lambdas as AWS runs them: the x86_64 zips built with cargo-lambda (debug profile here, to
# reuse the test build; deploy/deploy.sh builds --release --arm64), and the transform invoked
# through cargo-lambda's Runtime API emulator with its snapshot in moto's S3.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo lambda build --x86-64 --output-format zip \
  --package crossaz --bin crossaz-transform --no-default-features --features lambda
cargo lambda build --x86-64 --output-format zip \
  --package pod-cache --bin crossaz-extractor --no-default-features --features extractor
for zip in target/lambda/crossaz-transform/bootstrap.zip target/lambda/crossaz-extractor/bootstrap.zip; do
  test -s "${zip}" || { echo "missing ${zip}" >&2; exit 1; }
  python3 -c 'import sys, zipfile; sys.exit("bootstrap" not in zipfile.ZipFile(sys.argv[1]).namelist())' "${zip}" \
    || { echo "${zip} has no bootstrap at its root" >&2; exit 1; }
  echo "${zip}: $(stat -c %s "${zip}") bytes"
done
python3 -m pytest -q processor/tests/lambda
