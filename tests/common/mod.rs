//! Starting the real `tollgate` binary on free ports with a temp config and
//! data folder, and small blocking clients for its raw TCP and HTTP ports.
#![allow(dead_code)]

pub mod pg;

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const TIMEOUT: Duration = Duration::from_secs(20);

/// The sample tariff plan shipped in conf/.
pub fn sample_plan() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/tariffplans/sample")
}

/// A running server, killed when dropped.
pub struct Server {
    child: Option<Child>,
    pub rpc: SocketAddr,
    pub http: SocketAddr,
    pub dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

/// Merges `overrides` into `base`, objects key by key.
fn merge(base: &mut Value, overrides: &Value) {
    match (base, overrides) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                merge(b.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// The config a test server runs with: ephemeral loopback ports, no
/// drain on SIGTERM, the sample plan, data in `dir`. `overrides` are merged
/// in key by key, but a `store` replaces the whole store (another type
/// takes other keys).
pub fn test_config(dir: &Path, overrides: &Value) -> Value {
    let mut config = json!({
        "listen": {"rpc_json": "127.0.0.1:0", "http": "127.0.0.1:0", "drain": "0s"},
        "tariffplan": sample_plan(),
        "store": {"type": "embedded", "path": dir.join("data")},
        "freeswitch": [],
    });
    merge(&mut config, overrides);
    if let Some(store) = overrides.get("store") {
        config["store"] = store.clone();
    }
    config
}

impl Server {
    /// Starts a server with data in a fresh temp folder.
    pub fn start(overrides: Value) -> Server {
        let tmp = tempfile::tempdir().unwrap();
        let mut server = Server::start_in(tmp.path(), overrides);
        server._tmp = Some(tmp);
        server
    }

    /// Starts a server whose data lives in `dir` (kept across restarts).
    pub fn start_in(dir: &Path, overrides: Value) -> Server {
        Server::start_with_env(dir, overrides, &[])
    }

    /// As [`Server::start_in`], with more environment variables (such as
    /// `TOLLGATE_CRASH_AT`).
    pub fn start_with_env(dir: &Path, overrides: Value, env: &[(&str, &str)]) -> Server {
        let config = test_config(dir, &overrides);
        let path = dir.join("tollgate.json");
        std::fs::write(&path, config.to_string()).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .args(["serve", "--config"])
            .arg(&path)
            .env("RUST_LOG", "error")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start tollgate");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let (mut rpc, mut http) = (None, None);
        while rpc.is_none() || http.is_none() {
            let line = rx
                .recv_timeout(TIMEOUT)
                .expect("tollgate printed its addresses");
            let addr = || {
                line.rsplit(' ')
                    .next()
                    .unwrap()
                    .parse::<SocketAddr>()
                    .unwrap()
            };
            if line.starts_with("tollgate: rpc_json listening on") {
                rpc = Some(addr());
            } else if line.starts_with("tollgate: http listening on") {
                http = Some(addr());
            }
        }
        Server {
            child: Some(child),
            rpc: rpc.unwrap(),
            http: http.unwrap(),
            dir: dir.to_path_buf(),
            _tmp: None,
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// The server's resident memory in bytes (Linux `/proc`).
    pub fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("VmRSS in /proc/PID/status");
        kb * 1024
    }

    /// A JSON-RPC 1.0 client on the raw TCP port.
    pub fn client(&self) -> RpcClient {
        RpcClient::connect(self.rpc)
    }

    /// One call on a fresh connection; returns the whole reply object.
    pub fn call(&self, method: &str, params: Value) -> Value {
        self.client().call(method, params)
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn stop(self) -> std::process::ExitStatus {
        self.signal("TERM");
        self.wait_exit()
    }

    /// Sends a signal (`TERM`, `INT`, …) with `kill`.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits (up to [`TIMEOUT`]) for the process to exit.
    pub fn wait_exit(mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        let deadline = std::time::Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "tollgate did not stop"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the server follows its (one) switch, per `/metrics`.
    pub fn wait_connected(&self) {
        for _ in 0..1000 {
            let (_, body) = self.get("/metrics");
            if body.contains("tollgate_switches_connected 1") {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("tollgate did not connect to the switch");
    }

    /// Whether the process has exited (a crash point fired).
    pub fn exited(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => child.try_wait().unwrap().is_some(),
            None => true,
        }
    }

    /// SIGKILL: no shutdown, no flush; the process is simply gone.
    pub fn kill9(mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    pub fn get(&self, path_and_query: &str) -> (u16, String) {
        http_request(self.http, "GET", path_and_query, "")
    }

    pub fn post(&self, path: &str, body: &str) -> (u16, String) {
        http_request(self.http, "POST", path, body)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A blocking JSON-RPC 1.0 client (Go `net/rpc/jsonrpc` wire form).
pub struct RpcClient {
    pub stream: TcpStream,
    reader: BufReader<TcpStream>,
    next_id: u64,
}

impl RpcClient {
    pub fn connect(addr: SocketAddr) -> RpcClient {
        RpcClient::from_stream(TcpStream::connect(addr).unwrap())
    }

    /// A client on a connection opened elsewhere (another source address…).
    pub fn from_stream(stream: TcpStream) -> RpcClient {
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        let reader = BufReader::new(stream.try_clone().unwrap());
        RpcClient {
            stream,
            reader,
            next_id: 1,
        }
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Reads one reply line; `None` when the server closed the connection.
    pub fn read_reply(&mut self) -> Option<Value> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => None,
            Ok(_) => {
                assert!(line.ends_with('\n'), "reply ends with a newline: {line:?}");
                Some(serde_json::from_str(&line).unwrap())
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => None,
            Err(e) => panic!("reading reply: {e}"),
        }
    }

    /// A call, or None when the connection closed (or could not be
    /// written to) before the reply.
    pub fn try_call(&mut self, method: &str, params: Value) -> Option<Value> {
        let id = self.next_id;
        self.next_id += 1;
        let req = json!({"id": id, "method": method, "params": [params]});
        self.stream.write_all(req.to_string().as_bytes()).ok()?;
        let reply = self.read_reply()?;
        assert_eq!(reply["id"], json!(id));
        Some(reply)
    }

    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let req = json!({"id": id, "method": method, "params": [params]});
        self.send_raw(req.to_string().as_bytes());
        let reply = self.read_reply().expect("a reply");
        assert_eq!(reply["id"], json!(id));
        reply
    }

    /// The result of a call that must succeed.
    pub fn ok(&mut self, method: &str, params: Value) -> Value {
        let reply = self.call(method, params);
        assert_eq!(reply["error"], Value::Null, "{method}: {reply}");
        reply["result"].clone()
    }

    /// The error text of a call that must fail.
    pub fn err(&mut self, method: &str, params: Value) -> String {
        let reply = self.call(method, params);
        assert_eq!(reply["result"], Value::Null, "{method}: {reply}");
        reply["error"].as_str().expect("error string").to_string()
    }

    /// Whether the server closed the connection (reads EOF).
    pub fn is_closed(&mut self) -> bool {
        let mut buf = [0u8; 1];
        matches!(self.reader.read(&mut buf), Ok(0) | Err(_))
    }
}

/// A minimal HTTP/1.1 exchange with `Connection: close`.
pub fn http_request(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    try_http_request(addr, method, path, body)
        .unwrap_or_else(|| panic!("no HTTP answer from {addr} to {method} {path}"))
}

/// As [`http_request`]; None when nothing answers (no server, or it died
/// before answering).
pub fn try_http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(TIMEOUT)).ok()?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).ok()?;
    let _ = stream.write_all(body.as_bytes());
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).to_string();
    let status: u16 = text.split(' ').nth(1).and_then(|s| s.parse().ok())?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((status, body))
}

/// The seed's 2012 call descriptor (`Responder.Get` in the Python snippet).
pub fn seed_cd() -> Value {
    json!({"Tor":0, "CstmId": "vdf", "Subject": "rif", "DestinationPrefix": "0256", "TimeStart": "2012-02-02T17:30:00Z", "TimeEnd": "2012-02-02T18:30:00Z"})
}

/// A loopback address with a port free right now (for a server that must
/// keep its address across restarts, or be known before it starts).
pub fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// A JSON number (or numeric string) as an exact decimal.
pub fn decimal(v: &Value) -> rust_decimal::Decimal {
    let s = match v {
        Value::String(s) => s.clone(),
        v => v.to_string(),
    };
    s.trim()
        .parse()
        .unwrap_or_else(|_| panic!("not a number: {v}"))
}

/// The sample plan's mobile rate: 0.02 per started 10 s.
pub fn price(secs: f64) -> rust_decimal::Decimal {
    let steps = (secs.max(0.0) / 10.0 - 1e-9).ceil().max(0.0);
    rust_decimal::Decimal::from(steps as i64) * rust_decimal::Decimal::new(2, 2)
}

/// The money of `account` (tenant cgrates.org): its monetary balances summed.
pub fn money(server: &Server, account: &str) -> rust_decimal::Decimal {
    let reply = server.call(
        "APIerSv2.GetAccount",
        json!({"Tenant": "cgrates.org", "Account": account}),
    );
    money_in(&reply)
}

/// The monetary balances of a `GetAccount` reply, summed.
pub fn money_in(reply: &Value) -> rust_decimal::Decimal {
    reply["result"]["BalanceMap"]["*monetary"]
        .as_array()
        .unwrap_or_else(|| panic!("{reply}"))
        .iter()
        .map(|b| decimal(&b["Value"]))
        .sum()
}

/// Sets `account`'s `main` monetary balance to `value`.
pub fn fund(server: &Server, account: &str, value: f64) {
    let reply = server.call(
        "APIerSv1.SetBalance",
        json!({"Tenant": "cgrates.org", "Account": account, "BalanceType": "*monetary", "BalanceID": "main", "Value": value}),
    );
    assert_eq!(reply["result"], "OK", "{reply}");
}

/// The call records of call `uuid`.
pub fn records(server: &Server, uuid: &str) -> Vec<Value> {
    let reply = server.call("CDRsV1.GetCDRs", json!({"OriginIDs": [uuid]}));
    reply["result"].as_array().cloned().unwrap_or_default()
}

/// The one call record of call `uuid`, waiting up to `within` for it.
pub fn wait_record(server: &Server, uuid: &str, within: Duration) -> Value {
    let deadline = std::time::Instant::now() + within;
    loop {
        let list = records(server, uuid);
        if !list.is_empty() {
            assert_eq!(list.len(), 1, "{uuid}: {list:?}");
            return list[0].clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{uuid}: no call record"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The recordings' prepaid call of `account` to a mobile (0.02 per started
/// 10 s in the sample plan): a loopback pair whose `-b` leg is parked and
/// billed, bridged on with the bridged legs marked `*none`. Add `.talk(…)`.
pub fn recorded_call(account: &str) -> integration::CallSpec {
    integration::CallSpec::new(account, "0723456789")
        .loopback()
        .partner_var("origination_caller_id_number", account)
        .var("cgr_reqtype", "*prepaid")
        .var("cgr_account", account)
        .bridge(&[("cgr_bleg", "1"), ("cgr_reqtype", "*none")])
        .ring(0.5)
}
