//! HTTP: POST /jsonrpc (1.0 and 2.0), the seeds' GET endpoints, /health,
//! /metrics, limits.

mod common;

use common::{seed_cd, Server};
use serde_json::{json, Value};

fn parse(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}"))
}

#[test]
fn the_seed_curl_lines() {
    let server = Server::start(json!({}));
    // curl "http://127.0.0.1:8000/getcost?cstmid=vdf&subj=rif&dest=0257"
    let (status, body) = server.get("/getcost?cstmid=vdf&subj=rif&dest=0257");
    assert_eq!(status, 200, "{body}");
    let cost = parse(&body);
    assert_eq!(cost["Tenant"], "vdf");
    assert_eq!(cost["Subject"], "rif");
    assert_eq!(cost["Destination"], "0257");
    assert_eq!(cost["RatedUsage"], 60_000_000_000i64);
    // The seeds' `@amount=` form means dest 0257 and amount 100.
    let (status, body) = server.get("/getcost?cstmid=vdf&subj=rif&dest=0257@amount=100");
    assert_eq!(status, 200, "{body}");
    assert_eq!(parse(&body)["Destination"], "0257");
    // A fixed time and duration give a fixed answer.
    let (status, body) = server
        .get("/getcost?cstmid=vdf&subj=rif&dest=0256&tor=0&start=2012-02-02T17:30:00Z&duration=1h");
    assert_eq!(status, 200, "{body}");
    assert_eq!(parse(&body)["Cost"].to_string(), "3.69");
    let (_, body) =
        server.get("/getcost?cstmid=vdf&subj=rif&dest=0256&start=2012-02-02T17:30:00Z&end=2012-02-02T18:30:00Z");
    assert_eq!(parse(&body)["Cost"].to_string(), "3.69");
}

#[test]
fn every_seed_endpoint_reaches_its_registry_method() {
    let server = Server::start(json!({}));
    let endpoints = [
        ("debitbalance", "DebitBalance", "&amount=100"),
        ("debitsms", "DebitSMS", "@amount=100"),
        ("debitseconds", "DebitSeconds", "@amount=100"),
        ("getmaxsessiontime", "GetMaxSessionTime", "@amount=100"),
        (
            "addvolumediscountseconds",
            "AddVolumeDiscountSeconds",
            "@amount=100",
        ),
        (
            "resetvolumediscountseconds",
            "ResetVolumeDiscountSeconds",
            "",
        ),
        (
            "addrecievedcallseconds",
            "AddRecievedCallSeconds",
            "@amount=100",
        ),
        (
            "addreceivedcallseconds",
            "AddReceivedCallSeconds",
            "@amount=100",
        ),
        ("resetuserbudget", "ResetUserBudget", ""),
    ];
    for (path, method, extra) in endpoints {
        let (status, body) = server.get(&format!("/{path}?cstmid=vdf&subj=rif&dest=0257{extra}"));
        let reply = parse(&body);
        // Until the account methods are wired the registry says so; after,
        // they answer.
        if status != 200 {
            let expected = format!("rpc: can't find method Responder.{method}");
            let error = reply["error"].as_str().unwrap_or_default();
            assert!(
                error == expected || status == 422 || status == 400,
                "{path}: {status} {body}"
            );
        }
    }
}

#[test]
fn bad_queries_are_400() {
    let server = Server::start(json!({}));
    for q in [
        "/getcost?cstmid=vdf&subj=rif&dest=0257&amount=lots",
        "/getcost?subj=rif&duration=forever",
        "/getcost?subj=rif&start=yesterday",
        "/getcost?subj=rif&colour=blue",
    ] {
        let (status, body) = server.get(q);
        assert_eq!(status, 400, "{q}: {body}");
        assert!(parse(&body)["error"].is_string());
    }
    let (status, body) = server.get("/getcost?cstmid=vdf&subj=rif&dest=999");
    assert_eq!(status, 422);
    assert_eq!(parse(&body)["error"], "UNAUTHORIZED_DESTINATION");
    let (status, _) = server.get("/nope");
    assert_eq!(status, 404);
}

#[test]
fn post_jsonrpc_1_0() {
    let server = Server::start(json!({}));
    let body = json!({"id": 7, "method": "Responder.Get", "params": [seed_cd()]}).to_string();
    let (status, reply) = server.post("/jsonrpc", &body);
    assert_eq!(status, 200);
    let reply = parse(&reply);
    assert_eq!(reply["id"], 7);
    assert_eq!(reply["error"], Value::Null);
    assert_eq!(reply["result"]["Cost"].to_string(), "3.69");
    assert!(reply.get("jsonrpc").is_none());
    let (_, reply) = server.post(
        "/jsonrpc",
        r#"{"id":8,"method":"Responder.Foo","params":[{}]}"#,
    );
    let reply = parse(&reply);
    assert_eq!(reply["result"], Value::Null);
    assert_eq!(reply["error"], "rpc: can't find method Responder.Foo");
}

#[test]
fn post_jsonrpc_2_0() {
    let server = Server::start(json!({}));
    let body =
        json!({"jsonrpc": "2.0", "id": "a", "method": "Responder.GetCost", "params": [seed_cd()]});
    let (status, reply) = server.post("/jsonrpc", &body.to_string());
    assert_eq!(status, 200);
    let reply = parse(&reply);
    assert_eq!(reply["jsonrpc"], "2.0");
    assert_eq!(reply["id"], "a");
    assert_eq!(reply["result"]["Cost"].to_string(), "3.69");
    assert!(reply.get("error").is_none());
    // By-name params, errors as objects.
    let body = json!({"jsonrpc": "2.0", "id": 2, "method": "Responder.GetCost", "params": {"Tenant": "vdf", "Subject": "nobody"}});
    let reply = parse(&server.post("/jsonrpc", &body.to_string()).1);
    assert_eq!(reply["error"]["message"], "RATING_PLAN_NOT_FOUND");
    assert_eq!(reply["error"]["code"], -32000);
    let body = json!({"jsonrpc": "2.0", "id": 3, "method": "X.Y"});
    let reply = parse(&server.post("/jsonrpc", &body.to_string()).1);
    assert_eq!(reply["error"]["code"], -32601);
    // A batch, with a notification that gets no answer.
    let batch = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "Responder.GetCost", "params": [seed_cd()]},
        {"jsonrpc": "2.0", "method": "Responder.GetCost", "params": [seed_cd()]},
        {"jsonrpc": "2.0", "id": 2, "method": "Nope.Nope", "params": []}
    ]);
    let (status, reply) = server.post("/jsonrpc", &batch.to_string());
    assert_eq!(status, 200);
    let reply = parse(&reply);
    let replies = reply.as_array().unwrap();
    assert_eq!(replies.len(), 2);
    assert_eq!(replies[0]["id"], 1);
    assert_eq!(
        replies[1]["error"]["message"],
        "rpc: can't find service Nope.Nope"
    );
    let only_note = json!({"jsonrpc": "2.0", "method": "Responder.GetCost", "params": [seed_cd()]});
    assert_eq!(server.post("/jsonrpc", &only_note.to_string()).0, 204);
}

#[test]
fn malformed_and_oversized_bodies() {
    let server = Server::start(json!({}));
    let (status, reply) = server.post("/jsonrpc", "this is not json");
    assert_eq!(status, 400);
    assert!(parse(&reply)["error"]
        .as_str()
        .unwrap()
        .contains("malformed"));
    let (status, reply) = server.post("/jsonrpc", r#"{"jsonrpc":"2.0","id":1,"#);
    assert_eq!(status, 400);
    assert_eq!(parse(&reply)["error"]["code"], -32700);
    let big = format!(
        r#"{{"id":1,"method":"Responder.GetCost","params":[{{"Subject":"{}"}}]}}"#,
        "a".repeat(1_100_000)
    );
    let (status, reply) = server.post("/jsonrpc", &big);
    assert_eq!(status, 413);
    assert!(parse(&reply)["error"]
        .as_str()
        .unwrap()
        .contains("larger than"));
    // The server is fine afterwards.
    assert_eq!(server.get("/health").0, 200);
}

#[test]
fn health_and_metrics() {
    let server = Server::start(json!({}));
    let (status, body) = server.get("/health");
    assert_eq!(status, 200);
    let health = parse(&body);
    assert_eq!(health["status"], "ok");
    assert!(health["tariffplan"]["prefixes"].as_u64().unwrap() > 0);
    server.call("Responder.GetCost", seed_cd());
    server.call("Responder.Nope", json!({}));
    server.get("/getcost?cstmid=vdf&subj=rif&dest=999");
    let (status, text) = server.get("/metrics");
    assert_eq!(status, 200);
    for needle in [
        "# TYPE tollgate_requests_total counter",
        "tollgate_requests_total{method=\"Responder.GetCost\",outcome=\"ok\"} 1",
        "tollgate_requests_total{method=\"Responder.GetCost\",outcome=\"refused\"} 1",
        "tollgate_requests_total{method=\"(unknown)\",outcome=\"unknown_method\"} 1",
        "# TYPE tollgate_request_duration_seconds histogram",
        "tollgate_request_duration_seconds_count{method=\"Responder.GetCost\"} 2",
        "tollgate_connections_accepted_total{listener=\"rpc_json\"} 2",
        "tollgate_connections_open{listener=\"http\"} ",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

#[test]
fn http_connection_cap_and_idle_timeout() {
    use std::io::Read;
    let server = Server::start(json!({"listen": {"max_connections": 1, "idle_timeout": "1s"}}));
    let held = std::net::TcpStream::connect(server.http).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(50));
    let (status, body) = server.get("/health");
    assert_eq!(status, 503, "{body}");
    // The held connection idles out, which frees the slot.
    let mut held = held;
    held.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 16];
    assert!(matches!(held.read(&mut buf), Ok(0) | Err(_)));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while server.get("/health").0 != 200 {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
