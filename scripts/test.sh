#!/usr/bin/env bash
# The whole test suite, as CI runs it (`.ci/run` calls this). On a fresh machine with only Rust,
# Python, Node and gcc it installs what the tests need first (PyPI and Debian packages, each step
# idempotent), then runs, every step gating: formatting, clippy on every target, every Rust test
# (unit, integration against moto server, the Kubernetes API fixture with kubectl, pyarrow/duckdb
# readers, headless Chromium, the deploy template rules), the demo's exact match with its ground
# truth, the CloudFormation and Kubernetes checks, the cargo-lambda zips and Runtime API emulator
# test.
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

# Clippy compiles the workspace's own crates, the way `cargo clippy` runs it (clippy-driver as
# RUSTC_WORKSPACE_WRAPPER, its arguments in CLIPPY_ARGS), but in the builds the tests need
# anyway: every build below is linted with -D warnings, and the dependencies are compiled once
# instead of a second time in check mode. The zips (.ci/test-lambda.sh) lint the Lambdas' own
# feature sets too.
RUSTC_WORKSPACE_WRAPPER="$(rustup which clippy-driver)"
export RUSTC_WORKSPACE_WRAPPER
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"

# One workspace-wide feature set for every cargo call, so DataFusion and the AWS SDKs compile once.
phase "build and clippy -D warnings: cargo test --workspace --all-features --all-targets --no-run"
cargo test --workspace --all-features --all-targets --no-run

phase "cargo test --workspace --all-features"
cargo test --workspace --all-features --no-fail-fast

phase "demo (exact match with the generator's ground truth)"
# `cargo test` built this binary with the test run's feature set; `cargo build` would resolve
# features without the dev-dependencies and compile DataFusion again.
demo_out="$(mktemp -d)"
trap 'rm -rf "${demo_out}"' EXIT
target/debug/crossaz demo --out "${demo_out}"

phase ".ci/test-deploy.sh"
bash .ci/test-deploy.sh

phase ".ci/test-lambda.sh"
bash .ci/test-lambda.sh

phase "done in $((SECONDS - started)) s"
