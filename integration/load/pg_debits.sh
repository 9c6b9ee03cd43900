#!/usr/bin/env bash
# Durable debits/s of the PostgreSQL account store against what the same
# server does for pgbench's simple-update, on a throwaway cluster
# (scripts/pg-cluster.sh: fsync=on):
#
#   integration/load/pg_debits.sh [CLIENTS] [SECONDS]     (defaults: 64 10)
#
# 1. pgbench -i, then pgbench -b simple-update -c CLIENTS -j 2 -T SECONDS:
#    one small durable transaction per client at a time.
# 2. rater's pg_debit_throughput example (release) in a database of its own
#    on the same server: CLIENTS accounts, each debited a rated call at a
#    time, each debit acknowledged only once committed.
# Prints both numbers and the ratio store/pgbench. Honours CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/../.."

clients="${1:-64}"
seconds="${2:-10}"

echo "== building the example (release)" >&2
cargo build --release -q -p rater --example pg_debit_throughput
target="${CARGO_TARGET_DIR:-target}"
example="$target/release/examples/pg_debit_throughput"

dir="$(mktemp -d /tmp/tollgate-pgdebits.XXXXXX)"
trap 'scripts/pg-cluster.sh stop "$dir"' EXIT
url="$(scripts/pg-cluster.sh start "$dir")"
hostport="${url#postgres://postgres@}"
hostport="${hostport%%/*}"
host="${hostport%:*}"
port="${hostport##*:}"
bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
echo "== postgresql at $url" >&2

echo "== pgbench -i" >&2
"$bin/pgbench" -h "$host" -p "$port" -U postgres -i -q postgres >"$dir/pgbench-init.log" 2>&1 \
    || { cat "$dir/pgbench-init.log" >&2; exit 1; }
echo "== pgbench -b simple-update -c $clients -j 2 -T $seconds" >&2
"$bin/pgbench" -h "$host" -p "$port" -U postgres -b simple-update \
    -c "$clients" -j 2 -T "$seconds" postgres >"$dir/pgbench.log" 2>&1 \
    || { cat "$dir/pgbench.log" >&2; exit 1; }
tps="$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$dir/pgbench.log" | head -n 1)"
[ -n "$tps" ] || { cat "$dir/pgbench.log" >&2; echo "no tps in pgbench's output" >&2; exit 1; }
echo "pgbench simple-update: $tps tps"

echo "== store: $clients accounts, $seconds s" >&2
"$bin/psql" -h "$host" -p "$port" -U postgres -q -c "CREATE DATABASE tollgate_bench" postgres
out="$("$example" "postgres://postgres@$hostport/tollgate_bench" "$clients" "$seconds")"
echo "$out"
debits="$(echo "$out" | sed -n 's/.*: \([0-9]*\) debits\/s.*/\1/p' | tail -n 1)"
[ -n "$debits" ] || { echo "no debits/s in the example's output" >&2; exit 1; }
echo "store: $debits debits/s"

awk -v d="$debits" -v t="$tps" 'BEGIN { printf "ratio store/pgbench: %.2f\n", d / t }'
