#!/usr/bin/env python3
"""Prepaid load on tollgate: the release `tollgate` controls calls placed by
the release `fake-freeswitch` in load mode (real time), then the numbers:
calls up at once, park-to-authorization p99 (tollgate's histogram), tollgate's
resident memory per active call, and whether every call was billed right.

    integration/load/prepaid_load.py [--calls 10000] [--rate 500] [--talk 35] [--consoles 100]

With --consoles N, N WebSocket consoles (consoles.py) follow the live
sessions and call records on /ws the whole time; their CPU is reported
apart from tollgate's.

Every call goes to a Romanian mobile on the sample plan (0.12/min in 10 s
steps) from one account with ample credit, so each call must cost
ceil(billsec / 10) * 0.02 and the account must lose exactly their sum.
"""
import argparse, json, os, re, signal, socket, subprocess, sys, tempfile, time, urllib.request
from decimal import Decimal

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    """User plus system CPU time the process has used."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode()


def rpc(port, method, params):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(json.dumps({"id": 1, "method": method, "params": [params]}).encode())
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        buf += chunk
    s.close()
    return json.loads(buf, parse_float=Decimal)


def metric(text, name):
    m = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def p99_bucket(text, name="tollgate_authorization_seconds"):
    buckets = [(float(le) if le != "+Inf" else float("inf"), float(v)) for le, v in
               re.findall(name + r'_bucket\{le="([^"]+)"\} (\S+)', text)]
    total = buckets[-1][1] if buckets else 0
    for le, v in buckets:
        if total and v >= 0.99 * total:
            return le, total
    return None, total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=10000)
    ap.add_argument("--rate", type=float, default=500)
    ap.add_argument("--talk", type=float, default=35)
    ap.add_argument("--consoles", type=int, default=0)
    ap.add_argument("--perf", metavar="FILE",
                    help="record tollgate with `perf record` into FILE for the whole load "
                         "(options from $PERF_ARGS, default `-F 999 -g`)")
    a = ap.parse_args()
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
    if not os.environ.get("LOAD_NO_BUILD"):  # set: run the binaries as built (another build's target dir)
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "tollgate", "-p", "integration",
                        "--bin", "tollgate", "--bin", "fake-freeswitch"], cwd=ROOT, check=True)
    tmp = tempfile.mkdtemp(prefix="tollgate-load-")
    esl, rpc_port, http = free_port(), free_port(), free_port()
    template = json.load(open(os.path.join(os.path.dirname(__file__), "prepaid_call.json")))
    template["talk"] = a.talk
    json.dump(template, open(f"{tmp}/call.json", "w"))
    config = {
        # The consoles all come from 127.0.0.1: room for them beside the
        # default 64 connections per address.
        "listen": {"rpc_json": f"127.0.0.1:{rpc_port}", "http": f"127.0.0.1:{http}",
                   "max_connections_per_ip": 64 + a.consoles},
        "tariffplan": f"{ROOT}/conf/tariffplans/sample",
        "store": {"type": "embedded", "path": f"{tmp}/data"},
        "sessions": {"debit_interval": "10s", "max_session_time": "exact"},
        "freeswitch": [{"address": f"127.0.0.1:{esl}", "password": "ClueCon", "alias": "load"}],
    }
    json.dump(config, open(f"{tmp}/tollgate.json", "w"))
    env = dict(os.environ, RUST_LOG="warn")
    tg = subprocess.Popen([f"{target}/release/tollgate", "serve", "--config", f"{tmp}/tollgate.json"],
                          env=env, stderr=open(f"{tmp}/tollgate.log", "w"))
    for _ in range(200):
        try:
            get(f"http://127.0.0.1:{http}/health"); break
        except Exception:
            time.sleep(0.05)
    start_money = Decimal("1000000")
    rpc(rpc_port, "APIerSv1.SetBalance", {"Tenant": "cgrates.org", "Account": "load", "BalanceType": "*monetary",
                                         "BalanceID": "main", "Value": 1000000})
    consoles = None
    if a.consoles:
        venv = os.path.join(os.path.dirname(__file__), ".venv")
        python = os.path.join(venv, "bin", "python")
        if not os.path.exists(python) or subprocess.run(
                [python, "-c", "import websockets"], capture_output=True).returncode != 0:
            subprocess.run([sys.executable, "-m", "venv", venv], check=True)
            subprocess.run([python, "-m", "pip", "install", "-q", "websockets==13.1"], check=True)
        consoles = subprocess.Popen([python, os.path.join(os.path.dirname(__file__), "consoles.py"),
                                     str(http), str(a.consoles)], stdout=subprocess.PIPE, text=True)
        time.sleep(1)
    base_rss = rss_kib(tg.pid)
    cpu_before = cpu_seconds(tg.pid)
    perf = None
    if a.perf:
        # PERF_STAT=event,event counts instead (`perf stat`), e.g. syscalls:sys_enter_fdatasync.
        if os.environ.get("PERF_STAT"):
            perf_cmd = ["stat", "-e", os.environ["PERF_STAT"]]
        else:
            perf_cmd = ["record", *os.environ.get("PERF_ARGS", "-F 999 -g").split()]
        perf = subprocess.Popen(["perf", *perf_cmd, "-o", a.perf, "-p", str(tg.pid)],
                                stdout=subprocess.DEVNULL, stderr=open(f"{tmp}/perf.log", "w"))
    lead = 3.0
    sw = subprocess.Popen([f"{target}/release/fake-freeswitch", "--listen", f"127.0.0.1:{esl}",
                           "--load-calls", str(a.calls), "--load-rate", str(a.rate), "--load-at", str(lead),
                           "--load-template", f"{tmp}/call.json", "--exit-when-idle", "--records", f"{tmp}/records.json"],
                          stderr=open(f"{tmp}/switch.log", "w"))
    peak_calls, peak_rss, started = 0, base_rss, time.time()
    sw_cpu = None
    while sw_cpu is None:
        # wait4 reaps the simulator with its CPU time (user + system).
        pid, _, usage = os.wait4(sw.pid, os.WNOHANG)
        if pid:
            sw_cpu = usage.ru_utime + usage.ru_stime
            sw.returncode = 0
            break
        text = get(f"http://127.0.0.1:{http}/metrics")
        active = int(metric(text, "tollgate_active_calls"))
        rss = rss_kib(tg.pid)
        if active > peak_calls:
            peak_calls, peak_rss = active, max(peak_rss, rss)
        peak_rss = max(peak_rss, rss) if active >= peak_calls * 0.98 else peak_rss
        time.sleep(0.5)
        if time.time() - started > 600:
            sw.send_signal(signal.SIGTERM)
    records = json.load(open(f"{tmp}/records.json"))
    time.sleep(2)
    text = get(f"http://127.0.0.1:{http}/metrics")
    le, auths = p99_bucket(text)
    rt, _ = p99_bucket(text, "tollgate_authorization_round_trip_seconds")
    cdrs = rpc(rpc_port, "CDRsV1.GetCDRs", {"Limit": len(records) + 1})["result"] or []
    by_id = {c["OriginID"]: c for c in cdrs}
    wrong, expected_total = [], Decimal(0)
    for r in records:
        want = Decimal(-(-r["billsec"] // 10)) * Decimal("0.02")
        expected_total += want
        c = by_id.get(r["uuid"])
        if c is None or Decimal(str(c["Cost"])) != want:
            wrong.append((r["uuid"], r["billsec"], c and c["Cost"], str(want)))
    acct = rpc(rpc_port, "APIerSv2.GetAccount", {"Tenant": "cgrates.org", "Account": "load"})["result"]
    left = sum(Decimal(str(b["Value"])) for b in acct["BalanceMap"]["*monetary"])
    answered = sum(1 for r in records if r["answered"])
    cpu = cpu_seconds(tg.pid)
    if perf:
        perf.send_signal(signal.SIGINT); perf.wait(timeout=120)
    console_line = None
    if consoles:
        console_cpu = cpu_seconds(consoles.pid)
        consoles.send_signal(signal.SIGTERM)
        console_line = f"{a.consoles} consoles: {consoles.communicate(timeout=60)[0].strip()}, CPU {console_cpu:.1f} s"
    tg.send_signal(signal.SIGTERM); tg.wait(timeout=60)
    per_call = (peak_rss - base_rss) * 1024 / peak_calls if peak_calls else 0
    print(f"calls placed {len(records)}, answered {answered}, peak concurrent {peak_calls}")
    print(f"authorizations {int(auths)}, p99 CHANNEL_PARK -> commands issued <= {le * 1000:g} ms, "
          f"-> switch's answers <= {rt * 1000:g} ms (histogram buckets)")
    dist = re.findall(r'tollgate_authorization_seconds_bucket\{le="([^"]+)"\} (\S+)', text)
    print("CHANNEL_PARK -> commands issued, cumulative: " + ", ".join(f"<={le}s {int(float(v))}" for le, v in dist))
    print(f"tollgate RSS: base {base_rss / 1024:.1f} MiB, at peak {peak_rss / 1024:.1f} MiB, "
          f"{per_call:.0f} bytes per active call beyond the base")
    print(f"tollgate CPU: {cpu:.1f} s for {len(records)} calls ({cpu * 1e3 / max(len(records), 1):.2f} ms per call)")
    print(f"simulator CPU: {sw_cpu:.1f} s ({sw_cpu * 1e3 / max(len(records), 1):.2f} ms per call); "
          f"tollgate CPU before the load (start, plan, idle): {cpu_before:.1f} s")
    print(f"calls billed wrong: {len(wrong)} (first: {wrong[:3]})")
    print(f"account: expected to lose {expected_total}, lost {start_money - left}")
    if console_line:
        print(console_line)
    print(f"logs and records in {tmp}")
    ok = not wrong and start_money - left == expected_total
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
