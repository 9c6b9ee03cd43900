//! A real cluster for the tests: `scripts/cluster.sh up` (a throwaway
#![allow(dead_code)]
//! PostgreSQL, N tollgate nodes, HAProxy), read from its `cluster.json`,
//! torn down with `scripts/cluster.sh down` when dropped. Nodes can be
//! killed, stopped with SIGTERM and started again; PostgreSQL stopped and
//! started.

use crate::common::{money_in, try_http_request, RpcClient};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// One cluster at a time: each takes PostgreSQL, HAProxy and three nodes
/// on two cores.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Whether the cluster tests run here: always under `scripts/test.sh`
/// (CI), which sets `TOLLGATE_CLUSTER_TESTS=1`; otherwise skipped.
pub fn enabled() -> bool {
    if std::env::var("TOLLGATE_CLUSTER_TESTS").is_ok_and(|v| v == "1") {
        return true;
    }
    assert!(
        std::env::var("CI").is_err(),
        "CI must run the cluster tests: TOLLGATE_CLUSTER_TESTS is not 1"
    );
    eprintln!(
        "TOLLGATE_CLUSTER_TESTS not set: skipping the cluster tests (scripts/test.sh sets it)"
    );
    false
}

pub struct Node {
    pub node_id: String,
    pub pid: u32,
    pub rpc: SocketAddr,
    pub http: SocketAddr,
    pub config: PathBuf,
}

pub struct Cluster {
    pub dir: PathBuf,
    pub postgres: String,
    pub rpc: SocketAddr,
    pub http: SocketAddr,
    pub nodes: Vec<Node>,
    _serial: MutexGuard<'static, ()>,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn addr(v: &Value) -> SocketAddr {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("an address: {v}"))
}

impl Cluster {
    /// Starts `nodes` nodes whose `general`, `tariffplan`, `sessions` and
    /// `freeswitch` come from `base`.
    pub fn up(nodes: usize, base: Value) -> Cluster {
        let serial = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
        let dir = std::env::temp_dir().join(format!(
            "tollgate-cluster-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let base_path = dir.with_extension("base.json");
        std::fs::write(&base_path, base.to_string()).unwrap();
        let out = Command::new(root().join("scripts/cluster.sh"))
            .arg("up")
            .arg(&dir)
            .args(["--nodes", &nodes.to_string(), "--base"])
            .arg(&base_path)
            .env("TOLLGATE_BIN", env!("CARGO_BIN_EXE_tollgate"))
            .output()
            .expect("run scripts/cluster.sh");
        assert!(
            out.status.success(),
            "cluster.sh up failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(dir.join("cluster.json")).unwrap();
        let info: Value = serde_json::from_str(&text).unwrap();
        let nodes = info["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| Node {
                node_id: n["node_id"].as_str().unwrap().to_string(),
                pid: n["pid"].as_u64().unwrap() as u32,
                rpc: addr(&n["rpc_json"]),
                http: addr(&n["http"]),
                config: PathBuf::from(n["config"].as_str().unwrap()),
            })
            .collect();
        Cluster {
            postgres: info["postgres"].as_str().unwrap().to_string(),
            rpc: addr(&info["balancer"]["rpc_json"]),
            http: addr(&info["balancer"]["http"]),
            nodes,
            dir,
            _serial: serial,
        }
    }

    /// A JSON-RPC client through the balancer.
    pub fn client(&self) -> RpcClient {
        RpcClient::connect(self.rpc)
    }

    pub fn call(&self, method: &str, params: Value) -> Value {
        self.client().call(method, params)
    }

    /// A JSON-RPC call through the balancer's HTTP frontend.
    pub fn http_call(&self, method: &str, params: Value) -> Option<(u16, Value)> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": [params]});
        let (status, text) = try_http_request(self.http, "POST", "/jsonrpc", &body.to_string())?;
        Some((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    pub fn node_of(&self, node_id: &str) -> usize {
        self.nodes
            .iter()
            .position(|n| n.node_id == node_id)
            .unwrap_or_else(|| panic!("no node {node_id}"))
    }

    pub fn health(&self, i: usize) -> Option<(u16, String)> {
        try_http_request(self.nodes[i].http, "GET", "/health", "")
    }

    fn signal(&self, i: usize, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.nodes[i].pid.to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig} {}", self.nodes[i].pid);
    }

    fn alive(pid: u32) -> bool {
        // A zombie (exited, not yet reaped by cluster.sh's shell) counts as gone.
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s.split(' ').nth(2).is_none_or(|state| state != "Z"))
            .unwrap_or(false)
    }

    /// kill -9.
    pub fn kill(&self, i: usize) {
        self.signal(i, "-KILL");
        self.wait_gone(i, Duration::from_secs(10));
    }

    /// SIGTERM, then waits for the process to end.
    pub fn terminate(&self, i: usize, within: Duration) {
        self.signal(i, "-TERM");
        self.wait_gone(i, within);
    }

    fn wait_gone(&self, i: usize, within: Duration) {
        let deadline = Instant::now() + within;
        while Self::alive(self.nodes[i].pid) {
            assert!(
                Instant::now() < deadline,
                "node {} did not exit",
                self.nodes[i].node_id
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts node `i` again with its config, and waits until it is healthy.
    pub fn restart(&mut self, i: usize) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("{}.log", self.nodes[i].node_id)))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .args(["serve", "--config"])
            .arg(&self.nodes[i].config)
            .current_dir(self.dir.join(&self.nodes[i].node_id))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start a node again");
        self.nodes[i].pid = child.id();
        // Reaped by a thread, so it never lingers as a zombie.
        std::thread::spawn(move || {
            let mut child = child;
            let _ = child.wait();
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.health(i).is_none_or(|(s, _)| s != 200) {
            assert!(
                Instant::now() < deadline,
                "node {} did not come back",
                self.nodes[i].node_id
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn pg_ctl(&self, args: &[&str]) {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("bin/pg_ctl"))
            .filter(|p| p.exists())
            .max()
            .expect("pg_ctl");
        let data = self.dir.join("pg/data");
        let mut cmd = if nix_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(bin);
            c
        } else {
            Command::new(bin)
        };
        let out = cmd
            .arg("-D")
            .arg(&data)
            .args(args)
            .output()
            .expect("pg_ctl");
        assert!(
            out.status.success(),
            "pg_ctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn stop_postgres(&self) {
        self.pg_ctl(&["-m", "fast", "-w", "stop"]);
    }

    /// Starts PostgreSQL again as `scripts/pg-cluster.sh` did: same
    /// address, port and socket folder.
    pub fn start_postgres(&self) {
        let log = self.dir.join("pg/server.log");
        let log = log.to_str().unwrap().to_string();
        let port = self
            .postgres
            .rsplit_once(':')
            .and_then(|(_, rest)| rest.split('/').next())
            .expect("a port in the PostgreSQL URL");
        let options = format!(
            "-h 127.0.0.1 -p {port} -k {} -c fsync=on -c max_connections=200",
            self.dir.join("pg").display()
        );
        self.pg_ctl(&["-l", &log, "-o", &options, "-w", "start"]);
    }

    /// The money of `account` (tenant cgrates.org), read through the balancer.
    pub fn money(&self, account: &str) -> rust_decimal::Decimal {
        let reply = self.call(
            "APIerSv2.GetAccount",
            json!({"Tenant": "cgrates.org", "Account": account}),
        );
        money_in(&reply)
    }

    pub fn fund(&self, account: &str, value: &str) {
        let reply = self.call(
            "APIerSv1.SetBalance",
            json!({"Tenant": "cgrates.org", "Account": account, "BalanceType": "*monetary", "BalanceID": "main", "Value": value.parse::<f64>().unwrap()}),
        );
        assert_eq!(reply["result"], "OK", "{reply}");
    }

    /// A read through the balancer, asked again when its connection closes
    /// without a reply: right after a node is killed, the balancer still
    /// sends connections to it until its health check fails.
    fn read(&self, method: &str, params: Value) -> Value {
        for _ in 0..10 {
            if let Some(reply) = self.client().try_call(method, params.clone()) {
                return reply;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("{method}: no reply through the balancer in 10 tries");
    }

    /// The call records of call `uuid`.
    pub fn records(&self, uuid: &str) -> Vec<Value> {
        let reply = self.read("CDRsV1.GetCDRs", json!({"OriginIDs": [uuid]}));
        reply["result"].as_array().cloned().unwrap_or_default()
    }

    /// The live sessions, as any node answers them.
    pub fn sessions(&self) -> Vec<Value> {
        let reply = self.read("SessionSv1.GetActiveSessions", json!({}));
        reply["result"].as_array().cloned().unwrap_or_default()
    }

    /// The node's log, for failure messages.
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.dir.join(format!("{}.log", self.nodes[i].node_id)))
            .unwrap_or_default()
    }
}

fn nix_root() -> bool {
    // SAFETY-free check of the effective user: `id -u` prints 0 for root.
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false)
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(root().join("scripts/cluster.sh"))
            .arg("down")
            .arg(&self.dir)
            .status();
        let _ = std::fs::remove_file(self.dir.with_extension("base.json"));
    }
}

/// Waits up to `within` for `f` to return Some.
pub fn wait_for<T>(within: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
