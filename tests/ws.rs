//! `/ws`: JSON-RPC 2.0 over WebSocket on the wire (a plain WebSocket
//! client, JSON written by hand): registry methods by their CGRateS
//! names, the live session and call record subscriptions, and
//! `SessionSv1.ForceDisconnect`, against the real binary and the
//! simulated switch.

mod common;

use common::*;
use futures::{SinkExt, StreamExt};
use integration::{CallSpec, FakeSwitch, SwitchConfig};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

const SPEED: f64 = 10.0;
const WAIT: Duration = Duration::from_secs(20);

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Ws {
    socket: Socket,
    next_id: u64,
    /// Notifications read while waiting for a reply.
    pending: Vec<Value>,
}

impl Ws {
    async fn connect(http: SocketAddr) -> Ws {
        let (socket, _) = tokio_tungstenite::connect_async(format!("ws://{http}/ws"))
            .await
            .expect("websocket upgrade");
        Ws {
            socket,
            next_id: 1,
            pending: vec![],
        }
    }

    async fn read(&mut self) -> Value {
        loop {
            let msg = tokio::time::timeout(WAIT, self.socket.next())
                .await
                .expect("a message in time")
                .expect("the socket is open")
                .expect("a frame");
            if let Message::Text(text) = msg {
                return serde_json::from_str(&text).unwrap();
            }
        }
    }

    /// Sends a request; returns its whole reply (`result` or `error`).
    async fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let req = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.socket
            .send(Message::Text(req.to_string().into()))
            .await
            .unwrap();
        loop {
            let v = self.read().await;
            if v["id"] == json!(id) {
                return v;
            }
            self.pending.push(v);
        }
    }

    /// The next notification of `method`.
    async fn notification(&mut self, method: &str) -> Value {
        if let Some(i) = self.pending.iter().position(|v| v["method"] == method) {
            return self.pending.remove(i);
        }
        loop {
            let v = self.read().await;
            if v["method"] == method {
                return v;
            }
            self.pending.push(v);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_methods_answer_by_their_cgrates_names() {
    let server = tokio::task::spawn_blocking(|| Server::start(json!({})))
        .await
        .unwrap();
    let mut ws = Ws::connect(server.http).await;
    let r = ws
        .call(
            "APIerSv1.SetBalance",
            json!([{"Tenant": "cgrates.org", "Account": "7001", "BalanceType": "*monetary", "BalanceID": "main", "Value": 5}]),
        )
        .await;
    assert_eq!(r["result"], "OK", "{r}");
    // The argument object itself works too.
    let r = ws
        .call(
            "APIerSv2.GetAccount",
            json!({"Tenant": "cgrates.org", "Account": "7001"}),
        )
        .await;
    assert_eq!(r["result"]["BalanceMap"]["*monetary"][0]["Value"], 5, "{r}");
    let r = ws
        .call(
            "APIerSv2.GetAccount",
            json!([{"Tenant": "cgrates.org", "Account": "nobody"}]),
        )
        .await;
    assert_eq!(r["error"]["code"], -32000, "{r}");
    assert_eq!(r["error"]["message"], "NOT_FOUND", "{r}");
    let r = ws.call("Nope.Nothing", json!([])).await;
    assert_eq!(r["error"]["code"], -32601, "{r}");
    let r = ws.call("APIerSv2.GetAccount", json!([1, 2])).await;
    assert_eq!(r["error"]["code"], -32602, "{r}");
    let r = ws
        .call(
            "SessionSv1.ForceDisconnect",
            json!([{"OriginID": "nobody"}]),
        )
        .await;
    assert_eq!(r["error"]["message"], "NOT_FOUND", "{r}");
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_is_followed_live_and_ended_on_request() {
    let sw = FakeSwitch::start(SwitchConfig::with_speed(SPEED))
        .await
        .unwrap();
    let overrides = json!({
        "freeswitch": [{"address": sw.addr().to_string(), "password": "ClueCon", "alias": "fs1"}],
        "sessions": {"clock_speed": SPEED},
    });
    let server = tokio::task::spawn_blocking(move || {
        let s = Server::start(overrides);
        s.wait_connected();
        s
    })
    .await
    .unwrap();
    let mut ws = Ws::connect(server.http).await;
    let r = ws
        .call(
            "APIerSv1.SetBalance",
            json!([{"Tenant": "cgrates.org", "Account": "7002", "BalanceType": "*monetary", "BalanceID": "main", "Value": 10}]),
        )
        .await;
    assert_eq!(r["result"], "OK", "{r}");
    let sub = ws.call("tollgate_subscribeSessions", json!([])).await;
    let sessions_id = sub["result"].clone();
    assert!(!sessions_id.is_null(), "{sub}");
    let sub = ws.call("tollgate_subscribeCdrs", json!([])).await;
    assert!(!sub["result"].is_null(), "{sub}");
    let first = ws.notification("tollgate_sessions").await;
    assert_eq!(first["params"]["subscription"], sessions_id);
    assert_eq!(
        first["params"]["result"],
        json!({"Event": "snapshot", "Sessions": []})
    );
    let uuid = sw
        .place_call(
            CallSpec::new("7002", "0723456789")
                .var("cgr_reqtype", "*prepaid")
                .var("cgr_account", "7002")
                .ring(0.5)
                .talk_forever(),
        )
        .unwrap();
    // It appears whole once; then only what changes is sent (its answer,
    // each debit): batched, each call once per batch and list.
    let (mut shown, mut answered, mut running) = (false, false, false);
    while !running {
        let n = ws.notification("tollgate_sessions").await;
        let event = &n["params"]["result"];
        assert_eq!(event["Event"], "changes", "{n}");
        assert_eq!(event["Ended"], json!([]), "{n}");
        for s in event["Sessions"].as_array().unwrap() {
            assert_eq!(s["CGRID"], uuid.as_str(), "{n}");
            assert_eq!(s["Account"], "7002", "whole: {n}");
            assert!(!shown, "shown whole once: {n}");
            shown = true;
        }
        for d in event["Changed"].as_array().unwrap() {
            assert!(shown, "a change before the call was shown whole: {n}");
            assert_eq!(d["CGRID"], uuid.as_str(), "{n}");
            assert!(d.get("Account").is_none(), "only what changes: {n}");
            answered |= d["AnswerTime"] != "0001-01-01T00:00:00Z";
            running |= answered && d["LoopIndex"].as_u64() >= Some(2);
        }
    }
    let r = ws
        .call("SessionSv1.ForceDisconnect", json!([{"OriginID": uuid}]))
        .await;
    assert_eq!(r["result"], "OK", "{r}");
    let rec = sw.wait_for_end(&uuid, WAIT).await.expect("hung up");
    assert!(rec.logged("uuid_kill"), "{:?}", rec.log);
    assert_eq!(rec.hangup_cause.as_deref(), Some("MANAGER_REQUEST"));
    loop {
        let n = ws.notification("tollgate_sessions").await;
        let ended = &n["params"]["result"]["Ended"];
        if ended.as_array().is_some_and(|l| !l.is_empty()) {
            assert_eq!(ended, &json!([{"CGRID": uuid, "OriginHost": "fs1"}]), "{n}");
            assert_eq!(n["params"]["result"]["Sessions"], json!([]), "{n}");
            break;
        }
    }
    let cdrs = ws.notification("tollgate_cdrs").await;
    let cdr = &cdrs["params"]["result"][0];
    assert_eq!(
        cdrs["params"]["result"].as_array().map(Vec::len),
        Some(1),
        "{cdrs}"
    );
    assert_eq!(cdr["OriginID"], uuid.as_str(), "{cdr}");
    assert!(cdr["Cost"].as_f64() > Some(0.0), "{cdr}");
    let r = ws
        .call("CDRsV1.GetCDRs", json!([{"OriginIDs": [uuid]}]))
        .await;
    assert_eq!(r["result"][0]["Cost"], cdr["Cost"], "{r}");
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_token_the_socket_needs_it() {
    let server =
        tokio::task::spawn_blocking(|| Server::start(json!({"security": {"api_token": "s3cret"}})))
            .await
            .unwrap();
    let url = format!("ws://{}/ws", server.http);
    // No token, or a wrong one: 401 before any upgrade.
    for cookie in [None, Some("tollgate_token=wrong")] {
        let mut req =
            tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
                url.as_str(),
            )
            .unwrap();
        if let Some(c) = cookie {
            req.headers_mut().insert("Cookie", c.parse().unwrap());
        }
        match tokio_tungstenite::connect_async(req).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 401),
            other => panic!("{cookie:?}: {:?}", other.map(|_| ())),
        }
    }
    // The page's cookie opens it.
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        url.as_str(),
    )
    .unwrap();
    req.headers_mut()
        .insert("Cookie", "tollgate_token=s3cret".parse().unwrap());
    let (socket, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("upgrade");
    let mut ws = Ws {
        socket,
        next_id: 1,
        pending: vec![],
    };
    let r = ws
        .call(
            "APIerSv2.GetAccount",
            json!([{"Tenant": "cgrates.org", "Account": "nobody"}]),
        )
        .await;
    assert_eq!(r["error"]["message"], "NOT_FOUND", "{r}");
    drop(server);
}
