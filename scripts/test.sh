#!/usr/bin/env bash
# The whole test suite, as CI runs it (`.ci/run` calls this). On a fresh machine with only Rust,
# Python, Node and gcc it installs what the tests need first (PyPI and Debian packages, each step
# idempotent), then runs: formatting, every Rust test (unit, integration against moto server, the
# Kubernetes API fixture, pyarrow/duckdb readers, the deploy template rules), the CloudFormation and
# Kubernetes checks, and the demo. Clippy and the cargo-lambda checks (zips + Runtime API emulator)
# run last and report without gating (see README: "Test status").
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

phase "cargo test"
cargo test --workspace --all-features

phase ".ci/test-deploy.sh"
bash .ci/test-deploy.sh

phase "demo"
# `cargo test` built this binary with the test run's feature set; `cargo build` would compile
# DataFusion again with another one.
target/debug/crossaz demo --out "$(mktemp -d)"

# Not gating yet: reported so regressions are visible in the log.
phase "cargo clippy (report only)"
cargo clippy --workspace --all-targets --all-features -- -D warnings \
  || echo "clippy: findings above (not gating yet)"

phase ".ci/test-lambda.sh (report only)"
timeout 1500 bash .ci/test-lambda.sh || echo "test-lambda: failed (not gating yet)"

phase "done in $((SECONDS - started)) s"
