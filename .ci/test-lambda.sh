#!/usr/bin/env bash
# The Lambdas as AWS runs them: both x86_64 zips built with cargo-lambda (one unoptimised build
# for the two functions, profile `zip-check`, to keep CI short: the zips are packaged, not run;
# deploy/deploy.sh builds --release --arm64, one per function),
# and the transform binary that `cargo test` built, polling cargo-lambda's Runtime API emulator,
# with its snapshot in moto's S3 (processor/tests/lambda).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo lambda build --x86-64 --output-format zip --profile zip-check \
  --package crossaz --package pod-cache --bin crossaz-transform --bin crossaz-extractor \
  --no-default-features --features crossaz/lambda,pod-cache/extractor
for zip in target/lambda/crossaz-transform/bootstrap.zip target/lambda/crossaz-extractor/bootstrap.zip; do
  test -s "${zip}" || { echo "missing ${zip}" >&2; exit 1; }
  python3 -c 'import sys, zipfile; sys.exit("bootstrap" not in zipfile.ZipFile(sys.argv[1]).namelist())' "${zip}" \
    || { echo "${zip} has no bootstrap at its root" >&2; exit 1; }
  echo "${zip}: $(stat -c %s "${zip}") bytes"
done
# Built fresh, as `cargo test` builds them (a no-op right after it; `cargo build` would resolve
# features without the dev-dependencies and compile DataFusion again): a stale binary would
# test old code.
cargo test --workspace --all-features --no-run
python3 -m pytest -q processor/tests/lambda
