//! A rolling restart: every node in turn gets SIGTERM (drains, exits) and
//! is started again, under steady HTTP and JSON-RPC load through HAProxy.
//! No HTTP request fails; JSON-RPC clients reconnect, and every debit
//! acknowledged is in the balance, once.

use crate::common::{decimal, RpcClient};
use crate::harness::{enabled, Cluster};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn get_cost() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "Responder.GetCost", "params": [{
        "Tenant": "cgrates.org", "Account": "1001", "Destination": "0723456789",
        "TimeStart": "2024-03-06T14:00:00Z", "TimeEnd": "2024-03-06T14:01:35Z"}]})
}

fn debit(cgr_id: &str) -> Value {
    json!({
        "Tenant": "cgrates.org", "Account": "1002", "Destination": "0723456789",
        "TimeStart": "2024-03-06T14:00:00Z", "TimeEnd": "2024-03-06T14:01:35Z",
        "CgrID": cgr_id, "RunID": "*default"
    })
}

/// One JSON-RPC request on `conn`; None if the connection broke first.
fn ask(conn: &mut Option<(TcpStream, BufReader<TcpStream>)>, req: &str) -> Option<Value> {
    let (stream, reader) = conn.as_mut()?;
    stream.write_all(req.as_bytes()).ok()?;
    let mut line = String::new();
    match reader.read_line(&mut line) {
        Ok(n) if n > 0 => serde_json::from_str(&line).ok(),
        _ => None,
    }
}

fn connect(addr: SocketAddr) -> Option<(TcpStream, BufReader<TcpStream>)> {
    let s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    let r = BufReader::new(s.try_clone().ok()?);
    Some((s, r))
}

#[test]
fn a_rolling_restart_under_load_fails_no_http_request_and_loses_no_debit() {
    if !enabled() {
        return;
    }
    let mut cluster = Cluster::up(3, json!({"tariffplan": crate::common::sample_plan()}));
    cluster.fund("1002", "100000");
    let start = cluster.money("1002");
    let stop = Arc::new(AtomicBool::new(false));
    let http_ok = Arc::new(AtomicU64::new(0));
    let http_failed = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut loads = vec![];
    for _ in 0..2 {
        let (stop, ok, failed, http) = (
            stop.clone(),
            http_ok.clone(),
            http_failed.clone(),
            cluster.http,
        );
        loads.push(std::thread::spawn(move || {
            let body = get_cost().to_string();
            while !stop.load(Ordering::Relaxed) {
                match crate::common::try_http_request(http, "POST", "/jsonrpc", &body) {
                    Some((200, text)) if text.contains("\"Cost\"") => {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    other => failed.lock().unwrap().push(format!("{other:?}")),
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Decimal::ZERO
        }));
    }
    let reconnects = Arc::new(AtomicU64::new(0));
    for c in 0..4 {
        let (stop, reconnects, rpc) = (stop.clone(), reconnects.clone(), cluster.rpc);
        loads.push(std::thread::spawn(move || {
            let mut conn = connect(rpc);
            let mut acked = Decimal::ZERO;
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let id = format!("rolling-{c}-{n}");
                let req = json!({"id": n, "method": "Responder.Debit", "params": [debit(&id)]})
                    .to_string();
                // Until answered: a broken connection is replaced and the
                // same debit asked again (idempotent by its CgrID).
                loop {
                    match ask(&mut conn, &req) {
                        Some(reply) => {
                            assert_eq!(reply["error"], Value::Null, "{reply}");
                            acked += decimal(&reply["result"]["Cost"]);
                            break;
                        }
                        None => {
                            reconnects.fetch_add(1, Ordering::Relaxed);
                            std::thread::sleep(Duration::from_millis(50));
                            conn = connect(rpc);
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            acked
        }));
    }
    std::thread::sleep(Duration::from_secs(2));
    for i in 0..cluster.nodes.len() {
        // Drain (2 s), answer what was read, exit; then back.
        cluster.terminate(i, Duration::from_secs(15));
        cluster.restart(i);
        std::thread::sleep(Duration::from_secs(2));
    }
    stop.store(true, Ordering::Relaxed);
    let acked: Decimal = loads.into_iter().map(|t| t.join().unwrap()).sum();
    let failed = http_failed.lock().unwrap().clone();
    assert!(
        failed.is_empty(),
        "{} HTTP requests failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    assert!(http_ok.load(Ordering::Relaxed) > 100, "the HTTP load ran");
    assert!(
        reconnects.load(Ordering::Relaxed) >= 1,
        "the JSON-RPC clients had to reconnect"
    );
    assert!(acked > Decimal::ZERO);
    assert_eq!(
        start - cluster.money("1002"),
        acked,
        "every acknowledged debit, once"
    );
    let _ = RpcClient::connect(cluster.rpc);
}
