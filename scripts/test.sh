#!/usr/bin/env bash
# The whole test suite, as CI runs it (`.ci/run` calls this). On a fresh machine with only Rust,
# Python, Node and gcc it installs what the tests need first (PyPI and Debian packages, each step
# idempotent), then runs: formatting, clippy, every Rust test (unit, integration against moto
# server, the Kubernetes API fixture, pyarrow/duckdb readers), the CloudFormation and Kubernetes
# checks, the Lambda zips built with cargo-lambda and the transform Lambda invoked through
# cargo-lambda's Runtime API emulator, and the demo.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TERM_COLOR=never
started=${SECONDS}
phase() { echo; echo "=== $* (+$((SECONDS - started)) s)"; }

phase "install test dependencies"
for script in .ci/install-*.sh; do
  bash "${script}"
done

phase "cargo fmt --check"
cargo fmt --all -- --check

phase "cargo clippy"
cargo clippy --workspace --all-targets --all-features -- -D warnings

phase "cargo test"
cargo test --workspace --all-features

for script in .ci/test-*.sh; do
  phase "${script}"
  bash "${script}"
done

phase "demo"
cargo run -p crossaz -- demo

phase "done in $((SECONDS - started)) s"
