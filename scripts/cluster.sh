#!/usr/bin/env bash
# A throwaway tollgate cluster on this machine: one PostgreSQL, N tollgate
# nodes sharing it, HAProxy in front (deploy/haproxy.cfg), all on loopback.
#
#   scripts/cluster.sh up DIR [--nodes N] [--base CONFIG]
#   scripts/cluster.sh down DIR
#
# `up` starts everything, waits until every node's /health and the balancer
# answer 200, writes DIR/cluster.json and exits 0:
#
#   {"postgres": "postgres://…",
#    "balancer": {"rpc_json": "127.0.0.1:P", "http": "127.0.0.1:P"},
#    "nodes": [{"node_id": "n1", "pid": 123, "rpc_json": "127.0.0.1:P",
#               "http": "127.0.0.1:P", "config": "DIR/n1.json"}, …]}
#
# N defaults to 3. CONFIG is a tollgate config file whose `general`,
# `tariffplan`, `sessions` and `freeswitch` keys every node uses (a relative
# `tariffplan` is read from the current directory); without it the nodes
# rate with conf/tariffplans/sample and follow no switch. The script sets
# `store`, `listen` and `cluster` itself. Each node runs in DIR/nN/ with its
# config in DIR/nN.json and its log in DIR/nN.log; PostgreSQL lives in
# DIR/pg/, HAProxy's config and log are DIR/haproxy.cfg and DIR/haproxy.log.
#
# `down` stops HAProxy, the nodes (SIGTERM, SIGKILL after 20 s) and
# PostgreSQL, then removes DIR.
#
# The tollgate binary: $TOLLGATE_BIN, else target/release/tollgate, else
# target/debug/tollgate (built with cargo when none exists). HAProxy and
# PostgreSQL are installed from Debian packages when missing.
# Environment: CLUSTER_TIMEOUT (seconds `up` waits for health, default 60),
# CLUSTER_DRAIN (each node's listen.drain, default 2s).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"

usage() {
    cat >&2 <<'EOF'
usage: scripts/cluster.sh up DIR [--nodes N] [--base CONFIG]
       scripts/cluster.sh down DIR

  up    start PostgreSQL, N tollgate nodes (default 3) and HAProxy on loopback;
        returns once all are healthy, with DIR/cluster.json describing them
  down  stop everything `up` started in DIR and remove DIR
EOF
    exit 2
}

die() {
    echo "cluster.sh: $*" >&2
    exit 1
}

# ---- stopping (shared by `down` and a failed `up`) ----

# Whether process $1 is still one we started: its command line names a
# file in $2, the cluster's folder (guards against pid reuse).
is_ours() {
    local pid="$1" dir="$2" args
    [ -r "/proc/$pid/cmdline" ] || return 1
    args="$( { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null || true)"
    case "$args" in
    *"$dir/"*) return 0 ;;
    *) return 1 ;;
    esac
}

# stop_pids SECONDS DIR WHAT PID... : SIGTERM, then SIGKILL after SECONDS.
stop_pids() {
    local wait="$1" dir="$2" name="$3"
    shift 3
    local pid live=()
    for pid in "$@"; do
        if is_ours "$pid" "$dir"; then
            kill -TERM "$pid" 2>/dev/null || true
            live+=("$pid")
        fi
    done
    [ "${#live[@]}" -gt 0 ] || return 0
    local deadline=$((SECONDS + wait))
    while [ "$SECONDS" -lt "$deadline" ]; do
        local any=0
        for pid in "${live[@]}"; do
            if is_ours "$pid" "$dir" && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; then
                any=1
            fi
        done
        [ "$any" = 1 ] || return 0
        sleep 0.1
    done
    for pid in "${live[@]}"; do
        if is_ours "$pid" "$dir"; then
            echo "cluster.sh: $name $pid did not stop within ${wait}s: SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
}

# Stops whatever DIR/pids lists, any process still running one of DIR's
# configs (a node restarted by hand), and DIR's PostgreSQL.
stop_all() {
    local dir="$1" name pid args
    local haproxy=() nodes=()
    if [ -f "$dir/pids" ]; then
        while read -r name pid; do
            case "$name" in
            haproxy) haproxy+=("$pid") ;;
            n*) nodes+=("$pid") ;;
            esac
        done <"$dir/pids"
    fi
    for pid in $(ls /proc | grep -E '^[0-9]+$'); do
        args="$( { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null || true)"
        case "$args" in
        *" -f $dir/haproxy.cfg"*) haproxy+=("$pid") ;;
        *" --config $dir/n"*.json*) nodes+=("$pid") ;;
        esac
    done
    [ "${#haproxy[@]}" -eq 0 ] || stop_pids 5 "$dir" haproxy "${haproxy[@]}"
    [ "${#nodes[@]}" -eq 0 ] || stop_pids 20 "$dir" tollgate "${nodes[@]}"
    if [ -d "$dir/pg" ]; then
        "$root/scripts/pg-cluster.sh" stop "$dir/pg" || true
    fi
}

down() {
    local dir="$1"
    if [ ! -e "$dir" ]; then
        echo "cluster.sh: nothing at $dir" >&2
        return 0
    fi
    [ -f "$dir/.tollgate-cluster" ] || die "$dir was not made by cluster.sh up; not touching it"
    dir="$(cd "$dir" && pwd)"
    stop_all "$dir"
    rm -rf "$dir"
    echo "cluster.sh: stopped and removed $dir" >&2
}

# ---- starting ----

find_binary() {
    if [ -n "${TOLLGATE_BIN:-}" ]; then
        [ -x "$TOLLGATE_BIN" ] || die "TOLLGATE_BIN=$TOLLGATE_BIN is not an executable"
        # Absolute: each node runs in a folder of its own.
        echo "$(cd "$(dirname "$TOLLGATE_BIN")" && pwd)/$(basename "$TOLLGATE_BIN")"
        return
    fi
    local target="${CARGO_TARGET_DIR:-$root/target}"
    case "$target" in /*) ;; *) target="$root/$target" ;; esac
    for b in "$target/release/tollgate" "$target/debug/tollgate"; do
        if [ -x "$b" ]; then
            echo "$b"
            return
        fi
    done
    echo "cluster.sh: no tollgate binary in $target: building it (cargo build -p tollgate)..." >&2
    (cd "$root" && cargo build -p tollgate --bin tollgate >&2)
    [ -x "$target/debug/tollgate" ] || die "cargo build did not produce $target/debug/tollgate"
    echo "$target/debug/tollgate"
}

find_haproxy() {
    if ! command -v haproxy >/dev/null 2>&1; then
        echo "cluster.sh: installing haproxy (Debian package)..." >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2
        apt-get install -y -qq haproxy >&2
    fi
    command -v haproxy || die "haproxy is not installed"
}

# Prints the last lines of every log in DIR.
log_tails() {
    local dir="$1" f
    for f in "$dir"/n*.log "$dir/haproxy.log" "$dir/pg/server.log"; do
        [ -f "$f" ] || continue
        echo "---- last lines of $f" >&2
        tail -n 20 "$f" >&2
    done
}

up() {
    local dir="$1" nodes="$2" base="$3"
    case "$nodes" in '' | *[!0-9]*) die "--nodes wants a number, got '$nodes'" ;; esac
    [ "$nodes" -ge 1 ] && [ "$nodes" -le 20 ] || die "--nodes must be 1 to 20"
    if [ -n "$base" ]; then
        [ -f "$base" ] || die "--base $base: no such file"
        base="$(cd "$(dirname "$base")" && pwd)/$(basename "$base")"
    fi
    if [ -e "$dir" ] && [ -n "$(ls -A "$dir" 2>/dev/null)" ]; then
        die "$dir exists and is not empty (scripts/cluster.sh down $dir first)"
    fi
    local bin haproxy
    bin="$(find_binary)"
    haproxy="$(find_haproxy)"
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    touch "$dir/.tollgate-cluster" "$dir/pids"

    # From here on a failure stops what was started and keeps the logs.
    trap 'status=$?; if [ $status -ne 0 ]; then
            log_tails "'"$dir"'"; stop_all "'"$dir"'";
            echo "cluster.sh: up failed; logs kept in '"$dir"' (scripts/cluster.sh down '"$dir"' removes it)" >&2;
          fi' EXIT

    echo "cluster.sh: starting PostgreSQL in $dir/pg..." >&2
    local pg_url
    pg_url="$("$root/scripts/pg-cluster.sh" start "$dir/pg")"

    # 2 ports per node and 2 for the balancer, all free at once.
    local ports
    ports="$(python3 - "$((2 * nodes + 2))" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
)"

    # The nodes' configs, the balancer's config and cluster.json's skeleton.
    python3 - "$dir" "$nodes" "$base" "$pg_url" "$root" "${CLUSTER_DRAIN:-2s}" "$ports" <<'PY'
import json, os, re, sys
dir, n, base, pg, root, drain, ports = sys.argv[1:8]
n = int(n)
ports = [int(p) for p in ports.split()]
shared = {"tariffplan": os.path.join(root, "conf/tariffplans/sample"), "freeswitch": []}
if base:
    with open(base) as f:
        doc = json.load(f)
    if not isinstance(doc, dict):
        sys.exit(f"cluster.sh: {base}: not a JSON object")
    for key in ("general", "tariffplan", "sessions", "freeswitch"):
        if key in doc:
            shared[key] = doc[key]
tp = shared.get("tariffplan")
if isinstance(tp, str) and tp and not os.path.isabs(tp):
    shared["tariffplan"] = os.path.abspath(tp)
nodes = []
for i in range(1, n + 1):
    rpc, http = ports[2 * i - 2], ports[2 * i - 1]
    node = dict(shared)
    node["store"] = {"type": "postgres", "url": pg}
    node["listen"] = {"rpc_json": f"127.0.0.1:{rpc}", "http": f"127.0.0.1:{http}", "drain": drain}
    node["cluster"] = {"node_id": f"n{i}"}
    path = os.path.join(dir, f"n{i}.json")
    with open(path, "w") as f:
        json.dump(node, f, indent=2)
        f.write("\n")
    os.makedirs(os.path.join(dir, f"n{i}"), exist_ok=True)
    nodes.append({"node_id": f"n{i}", "rpc_json": f"127.0.0.1:{rpc}", "http": f"127.0.0.1:{http}", "config": path})
b_rpc, b_http = ports[-2], ports[-1]

# HAProxy: deploy/haproxy.cfg with this cluster's binds, servers and socket.
with open(os.path.join(root, "deploy/haproxy.cfg")) as f:
    template = f.read().splitlines()
out, section = [], None
for line in template:
    words = line.split()
    if line and not line[0].isspace():
        section = " ".join(words[:2]) if words else None
    if words and words[0] == "stats" and words[1:2] == ["socket"]:
        out.append(f"    stats socket {dir}/haproxy.sock mode 600 level admin")
        continue
    if words and words[0] == "bind":
        port = {"frontend rpc_json": b_rpc, "frontend http": b_http}.get(section)
        if port is None:
            sys.exit(f"cluster.sh: deploy/haproxy.cfg: a bind line in {section!r}")
        out.append(f"    bind 127.0.0.1:{port}")
        continue
    if words and words[0] == "server":
        if words[1] != "n1":
            continue
        for node in nodes:
            rpc_port, http_port = node["rpc_json"], node["http"]
            if section == "backend tollgate_rpc_json":
                out.append(f"    server {node['node_id']} {rpc_port} check port {http_port.rsplit(':', 1)[1]}")
            elif section == "backend tollgate_http":
                out.append(f"    server {node['node_id']} {http_port} check")
            else:
                sys.exit(f"cluster.sh: deploy/haproxy.cfg: a server line in {section!r}")
        continue
    out.append(line)
with open(os.path.join(dir, "haproxy.cfg"), "w") as f:
    f.write("\n".join(out) + "\n")

with open(os.path.join(dir, "cluster.partial.json"), "w") as f:
    json.dump({"postgres": pg,
               "balancer": {"rpc_json": f"127.0.0.1:{b_rpc}", "http": f"127.0.0.1:{b_http}"},
               "nodes": nodes}, f)
PY
    "$haproxy" -c -q -f "$dir/haproxy.cfg" >"$dir/haproxy.log" 2>&1 \
        || die "HAProxy refuses $dir/haproxy.cfg: $(cat "$dir/haproxy.log")"

    echo "cluster.sh: starting $nodes tollgate nodes ($bin)..." >&2
    local i
    for i in $(seq 1 "$nodes"); do
        # Each node in a session of its own, in its own working directory.
        (cd "$dir/n$i" && exec setsid "$bin" serve --config "$dir/n$i.json") \
            </dev/null >"$dir/n$i.log" 2>&1 &
        echo "n$i $!" >>"$dir/pids"
    done
    (exec setsid "$haproxy" -f "$dir/haproxy.cfg") </dev/null >>"$dir/haproxy.log" 2>&1 &
    echo "haproxy $!" >>"$dir/pids"

    echo "cluster.sh: waiting for every node and the balancer to be healthy..." >&2
    python3 - "$dir" "${CLUSTER_TIMEOUT:-60}" <<'PY'
import json, os, socket, sys, time, urllib.request
dir, timeout = sys.argv[1], float(sys.argv[2])
with open(os.path.join(dir, "cluster.partial.json")) as f:
    cluster = json.load(f)
pids = dict(line.split() for line in open(os.path.join(dir, "pids")) if line.strip())

def alive(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return not any(l.startswith("State:") and "Z" in l for l in f)
    except OSError:
        return False

# Straight to loopback, whatever http_proxy says.
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

def health(addr):
    try:
        with opener.open(f"http://{addr}/health", timeout=1) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None

def servers_up():
    """Every server of both backends UP in HAProxy's own view."""
    try:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(1)
        s.connect(os.path.join(dir, "haproxy.sock"))
        s.sendall(b"show stat\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
        s.close()
    except OSError:
        return False
    rows = [l.split(",") for l in data.decode().splitlines() if l and not l.startswith("#")]
    servers = [r for r in rows if r[0].startswith("tollgate_") and r[1] not in ("FRONTEND", "BACKEND")]
    return len(servers) == 2 * len(cluster["nodes"]) and all(r[17] == "UP" for r in servers)

def rpc_json(addr):
    """One JSON-RPC call through the TCP frontend; any answer will do."""
    host, port = addr.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=2) as s:
            s.sendall(b'{"id":1,"method":"ApierV1.GetTPIds","params":[{}]}')
            return b'"id":1' in s.recv(4096)
    except OSError:
        return False

deadline = time.monotonic() + timeout
waiting = None
while time.monotonic() < deadline:
    dead = [name for name, pid in pids.items() if not alive(pid)]
    if dead:
        sys.exit(f"cluster.sh: {', '.join(sorted(dead))} exited during start-up")
    sick = [n["node_id"] for n in cluster["nodes"] if health(n["http"]) != 200]
    if sick:
        waiting = f"nodes {', '.join(sick)} /health"
    elif not servers_up():
        waiting = "HAProxy to see every node up"
    elif health(cluster["balancer"]["http"]) != 200:
        waiting = "the balancer's /health"
    elif not rpc_json(cluster["balancer"]["rpc_json"]):
        waiting = "a JSON-RPC answer through the balancer's rpc_json"
    else:
        for n in cluster["nodes"]:
            n["pid"] = int(pids[n["node_id"]])
        cluster["nodes"] = [
            {k: n[k] for k in ("node_id", "pid", "rpc_json", "http", "config")}
            for n in cluster["nodes"]
        ]
        tmp = os.path.join(dir, "cluster.json.tmp")
        with open(tmp, "w") as f:
            json.dump(cluster, f, indent=2)
            f.write("\n")
        os.rename(tmp, os.path.join(dir, "cluster.json"))
        os.remove(os.path.join(dir, "cluster.partial.json"))
        sys.exit(0)
    time.sleep(0.2)
sys.exit(f"cluster.sh: not healthy after {timeout:g}s: still waiting for {waiting}")
PY
    trap - EXIT
    python3 - "$dir/cluster.json" <<'PY' >&2
import json, sys
c = json.load(open(sys.argv[1]))
print(f"cluster.sh: up. balancer rpc_json {c['balancer']['rpc_json']}, http {c['balancer']['http']}; "
      f"{len(c['nodes'])} nodes; postgres {c['postgres']}; {sys.argv[1]}")
PY
}

cmd="${1:-}"
[ -n "$cmd" ] || usage
shift
case "$cmd" in
up)
    [ $# -ge 1 ] || usage
    dir="$1"
    shift
    nodes=3
    base=""
    while [ $# -gt 0 ]; do
        case "$1" in
        --nodes)
            [ $# -ge 2 ] || usage
            nodes="$2"
            shift 2
            ;;
        --base)
            [ $# -ge 2 ] || usage
            base="$2"
            shift 2
            ;;
        *) usage ;;
        esac
    done
    up "$dir" "$nodes" "$base"
    ;;
down)
    [ $# -eq 1 ] || usage
    down "$1"
    ;;
-h | --help | help) usage ;;
*) usage ;;
esac
