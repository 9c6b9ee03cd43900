#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it. Installs and starts whatever
# the tests need on a fresh machine (a throwaway PostgreSQL cluster); run it
# from anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

echo "== format"
cargo fmt --all -- --check

echo "== lint"
cargo clippy --workspace --all-targets -- -D warnings

echo "== postgresql (throwaway cluster)"
pg_dir="$(mktemp -d /tmp/tollgate-pg.XXXXXX)"
trap 'scripts/pg-cluster.sh stop "$pg_dir"' EXIT
TOLLGATE_TEST_PG_URL="$(scripts/pg-cluster.sh start "$pg_dir")"
export TOLLGATE_TEST_PG_URL
echo "started at $TOLLGATE_TEST_PG_URL"

echo "== chromium (the console's browser tests)"
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
    echo "installing chromium and chromium-driver (Debian packages)..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium chromium-driver
fi
# tests/console_browser.rs fails (rather than skips) without chromedriver.
export TOLLGATE_BROWSER_TESTS=1

echo "== haproxy (the cluster tests' balancer)"
if ! command -v haproxy >/dev/null 2>&1 && [ ! -x /usr/sbin/haproxy ]; then
    echo "installing haproxy (Debian package)..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq haproxy
fi
# tests/cluster/ brings up clusters with scripts/cluster.sh; it fails
# (rather than skips) when this is set.
export TOLLGATE_CLUSTER_TESTS=1

echo "== tests"
# The proptest fuzzers (tests/fuzz_rpc.rs, rater/tests/fuzz_loader.rs) run
# more cases here than in a plain cargo test: ~17 s together on a 2-core machine.
export TOLLGATE_FUZZ_CASES="${TOLLGATE_FUZZ_CASES:-3000}"
cargo test --workspace
echo "== third-party ESL client"; integration/check-third-party.sh
