//! Stopping a node behind a load balancer, on the real binary: on SIGTERM
//! (or Ctrl-C) `/health` turns `503 draining` at once while the node goes
//! on serving for `listen.drain`, then it stops accepting, answers what it
//! has read and exits 0. And `/health` follows the PostgreSQL store: `503
//! store unavailable` while it cannot be reached, `200` again by itself.

mod common;

use common::pg::{PgDb, Proxy};
use common::{free_addr, seed_cd, Server};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn health(server: &Server) -> (u16, Value) {
    let (status, body) = server.get("/health");
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// Waits up to `within` for `/health` to answer `status`.
fn wait_health(server: &Server, status: u16, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let (s, body) = health(server);
        if s == status {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "/health still {s} {body}, waited for {status}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn health_is_ok_with_the_plan_summary_and_the_node_id() {
    let server = Server::start(json!({"cluster": {"node_id": "n7"}}));
    let (status, body) = health(&server);
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["node_id"], "n7");
    assert!(body["tariffplan"]["loaded_at"].is_string(), "{body}");
}

#[test]
fn sigterm_drains_then_stops_and_exits_zero() {
    let drain = Duration::from_secs(3);
    let server = Server::start(json!({"listen": {"drain": "3s"}}));
    let mut early = server.client();
    assert!(early.ok("Responder.GetCost", seed_cd())["Cost"].is_number());

    let sent = Instant::now();
    server.signal("TERM");
    let body = wait_health(&server, 503, Duration::from_millis(500));
    assert_eq!(body, json!({"status": "draining"}));
    let noticed = sent.elapsed();

    // Still serving in the window: a new TCP connection, the one opened
    // before, and HTTP.
    std::thread::sleep(Duration::from_millis(300));
    assert!(server.client().ok("Responder.GetCost", seed_cd())["Cost"].is_number());
    assert!(early.ok("Responder.GetCost", seed_cd())["Cost"].is_number());
    let (status, reply) = server.post(
        "/jsonrpc",
        &json!({"id": 1, "method": "Responder.GetCost", "params": [seed_cd()]}).to_string(),
    );
    assert_eq!(status, 200, "{reply}");
    assert!(reply.contains("\"Cost\""), "{reply}");
    assert!(
        sent.elapsed() < drain,
        "the checks ran inside the drain window ({:?}; /health noticed after {noticed:?})",
        sent.elapsed()
    );
    assert_eq!(health(&server).0, 503);

    let http = server.http;
    let status = server.wait_exit();
    let took = sent.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(
        took >= drain,
        "exited after {took:?}, before the drain ended"
    );
    assert!(
        took < drain + Duration::from_secs(5),
        "exited after {took:?}"
    );
    // The connection opened before was closed, and nothing listens.
    assert!(early.is_closed());
    assert!(common::try_http_request(http, "GET", "/health", "").is_none());
}

#[test]
fn ctrl_c_drains_too() {
    let server = Server::start(json!({"listen": {"drain": "1s"}}));
    let sent = Instant::now();
    server.signal("INT");
    assert_eq!(
        wait_health(&server, 503, Duration::from_millis(500)),
        json!({"status": "draining"})
    );
    let status = server.wait_exit();
    assert!(status.success(), "{status:?}");
    assert!(sent.elapsed() >= Duration::from_secs(1));
}

#[test]
fn a_signal_as_soon_as_the_addresses_are_printed_stops_gracefully() {
    // The handlers are installed before the addresses are announced.
    for name in ["TERM", "INT", "TERM"] {
        let server = Server::start(json!({}));
        server.signal(name);
        let status = server.wait_exit();
        assert!(status.success(), "SIG{name}: {status:?}");
    }
}

#[test]
fn health_follows_the_postgres_store() {
    let Some(db) = PgDb::create() else { return };
    let via = free_addr();
    let proxy = Proxy::start(via, db.addr());
    let server = Server::start(json!({
        "store": {"type": "postgres", "url": db.url_via(via)},
        "tariffplan": "",
        "listen": {"drain": "2s"},
    }));
    assert_eq!(
        wait_health(&server, 200, Duration::from_secs(5))["status"],
        "ok"
    );
    let set = json!({"TPid": "TP", "DestinationId": "D", "Prefixes": ["1"]});
    assert_eq!(
        server.client().ok("ApierV1.SetTPDestination", set.clone()),
        json!("OK")
    );

    // The database goes away: 503 within a few probes; StorDb answers errors.
    proxy.stop();
    let body = wait_health(&server, 503, Duration::from_secs(5));
    assert_eq!(body, json!({"status": "store unavailable"}));
    let e = server.client().err("ApierV1.GetTPIds", json!({}));
    assert!(e.starts_with("SERVER_ERROR: stordb"), "{e}");

    // It comes back: the node recovers by itself.
    let _proxy = Proxy::start(via, db.addr());
    assert_eq!(
        wait_health(&server, 200, Duration::from_secs(5))["status"],
        "ok"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let reply = server.call("ApierV1.GetTPIds", json!({}));
        if reply["result"] == json!(["TP"]) {
            break;
        }
        assert!(Instant::now() < deadline, "StorDb did not recover: {reply}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Draining wins over everything.
    server.signal("TERM");
    assert_eq!(
        wait_health(&server, 503, Duration::from_millis(500)),
        json!({"status": "draining"})
    );
}
