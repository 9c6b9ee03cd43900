#!/usr/bin/env bash
# Fuzz the esl decoders for a bounded time with cargo-fuzz (libFuzzer).
#
#   esl/fuzz.sh            # 60 seconds
#   FUZZ_SECONDS=600 esl/fuzz.sh
#
# Needs a nightly toolchain (libFuzzer instrumentation) and cargo-fuzz; the
# script installs cargo-fuzz from crates.io when it is missing unless
# FUZZ_NO_INSTALL=1. Without nightly it explains and exits 0: the stable
# test suite still covers "no panic on arbitrary bytes" with proptest
# (esl/tests/roundtrip.rs). Seeds come from testdata/esl; the corpus
# grows in fuzz/corpus/decode (git-ignored); crashes land in fuzz/artifacts.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${FUZZ_SECONDS:-60}"

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz.sh: no nightly toolchain (rustup toolchain install nightly); skipping fuzzing."
    echo "fuzz.sh: the stable proptest no-panic tests in esl/tests/roundtrip.rs still run in CI."
    exit 0
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    if [ "${FUZZ_NO_INSTALL:-0}" = 1 ]; then
        echo "fuzz.sh: cargo-fuzz is not installed (cargo install cargo-fuzz); skipping fuzzing."
        exit 0
    fi
    echo "fuzz.sh: installing cargo-fuzz from crates.io"
    cargo install cargo-fuzz --locked
fi

corpus="$root/fuzz/corpus/decode"
mkdir -p "$corpus"
fixtures="$root/testdata/esl"
if [ -d "$fixtures" ]; then
    cp -n "$fixtures"/*.txt "$corpus"/ 2>/dev/null || true
fi

cd "$root/fuzz"
echo "fuzz.sh: fuzzing the esl decoders for ${seconds}s"
# -rss_limit_mb catches unbounded allocation; -max_len covers several frames.
exec cargo +nightly fuzz run decode "$corpus" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=262144 -timeout=10
