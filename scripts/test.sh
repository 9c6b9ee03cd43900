#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it. Installs and starts whatever
# the tests need on a fresh machine; run it from anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

echo "== format"
cargo fmt --all -- --check

echo "== lint"
cargo clippy --workspace --all-targets -- -D warnings

echo "== tests"
cargo test --workspace
