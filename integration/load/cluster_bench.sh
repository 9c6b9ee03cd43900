#!/usr/bin/env bash
# The cluster's benchmarks (README, "Run a cluster"), on real processes:
#
#   integration/load/cluster_bench.sh [SECONDS]     (default 10)
#
# For 1 node, then 3 nodes (scripts/cluster.sh: a throwaway PostgreSQL with
# fsync=on, the nodes, HAProxy):
# 1. pgbench -b simple-update -c 64 -j 2 on the same PostgreSQL (a database
#    of its own), then
# 2. durable debits through the balancer's JSON-RPC port: 64 connections,
#    one debit in flight each, over 64 accounts (`APIerSv1.DebitBalance`,
#    each answered only once committed), with rpc-load --accounts 64;
#    the ratio debits/s ÷ pgbench tps.
# 3. With 1 node: Responder.GetCost req/s (32 connections × 4 in flight)
#    on the node directly and through HAProxy.
# Release builds; honours CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-10}"

echo "== building (release)" >&2
cargo build --release -q --bin tollgate -p tollgate
cargo build --release -q -p integration --bin rpc-load
target="${CARGO_TARGET_DIR:-target}"
export TOLLGATE_BIN="$target/release/tollgate"
load="$target/release/rpc-load"
bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"

base="$(mktemp /tmp/tollgate-bench-base.XXXXXX.json)"
echo "{\"tariffplan\": \"$PWD/conf/tariffplans/sample\"}" >"$base"
dir=""
cleanup() {
    [ -n "$dir" ] && scripts/cluster.sh down "$dir" >/dev/null 2>&1 || true
    rm -f "$base"
}
trap cleanup EXIT

field() { python3 -c "import json,sys; d=json.load(open('$dir/cluster.json')); print($1)"; }

rpc() { # rpc ADDR JSON -> reply line
    python3 - "$1" "$2" <<'PY'
import json, socket, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)))
s.sendall(sys.argv[2].encode() + b"\n")
buf = b""
while not buf.endswith(b"\n"):
    chunk = s.recv(65536)
    if not chunk:
        break
    buf += chunk
print(buf.decode().strip())
PY
}

for nodes in ${NODES:-1 3}; do
    parent="$(mktemp -d /tmp/tollgate-bench.XXXXXX)"
    chmod 755 "$parent" # PostgreSQL runs as its own user when we are root
    dir="$parent/c"
    echo "== cluster of $nodes node(s)" >&2
    scripts/cluster.sh up "$dir" --nodes "$nodes" --base "$base" >&2
    url="$(field 'd["postgres"]')"
    balancer="$(field 'd["balancer"]["rpc_json"]')"
    node1="$(field 'd["nodes"][0]["rpc_json"]')"
    hostport="${url#postgres://postgres@}"
    hostport="${hostport%%/*}"
    host="${hostport%:*}"
    port="${hostport##*:}"
    for i in $(seq 0 63); do
        reply="$(rpc "$balancer" "{\"id\":1,\"method\":\"APIerSv1.SetBalance\",\"params\":[{\"Tenant\":\"cgrates.org\",\"Account\":\"bench$i\",\"BalanceType\":\"*monetary\",\"BalanceID\":\"main\",\"Value\":1000000}]}")"
        case "$reply" in *'"result":"OK"'*) ;; *) echo "seeding bench$i: $reply" >&2; exit 1 ;; esac
    done
    "$bin/psql" -h "$host" -p "$port" -U postgres -q -c "CREATE DATABASE pgbench" postgres
    "$bin/pgbench" -h "$host" -p "$port" -U postgres -i -q pgbench >/dev/null 2>&1
    tps="$("$bin/pgbench" -h "$host" -p "$port" -U postgres -b simple-update -c 64 -j 2 -T "$seconds" pgbench 2>/dev/null \
        | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -n 1)"
    echo "$nodes node(s): pgbench simple-update: $tps tps"
    out="$("$load" --addr "$balancer" --connections 64 --depth 1 --duration "$seconds" \
        --method APIerSv1.DebitBalance --accounts 64 \
        --params '{"Tenant":"cgrates.org","Account":"{account}","BalanceType":"*monetary","BalanceId":"main","Value":0.01}')"
    echo "$nodes node(s): $out"
    debits="$(echo "$out" | sed -n 's/.* \([0-9]*\) req\/s.*/\1/p')"
    awk -v d="$debits" -v t="$tps" -v n="$nodes" 'BEGIN { printf "%s node(s): durable debits/s through HAProxy %d, pgbench %d tps, ratio %.2f\n", n, d, t, d / t }'
    if [ "$nodes" = 1 ]; then
        direct="$("$load" --addr "$node1" --connections 32 --depth 4 --duration "$seconds")"
        echo "GetCost, one node direct: $direct"
        through="$("$load" --addr "$balancer" --connections 32 --depth 4 --duration "$seconds")"
        echo "GetCost, through HAProxy: $through"
    fi
    scripts/cluster.sh down "$dir" >&2
    rmdir "$parent" 2>/dev/null || true
    dir=""
done
