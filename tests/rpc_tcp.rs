//! Raw TCP JSON-RPC (Go net/rpc/jsonrpc codec) against the real binary.

mod common;

use common::{seed_cd, RpcClient, Server};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::time::Duration;

#[test]
fn the_seed_python_snippet_shape() {
    let server = Server::start(json!({}));
    let mut c = server.client();
    let cost = c.ok("Responder.Get", seed_cd());
    // One hour of peak landline for rif: 0.05 connect fee, the first minute
    // whole at 0.10, then 59 minutes at 0.06/min per second.
    assert_eq!(cost["Cost"].to_string(), "3.69");
    assert_eq!(cost["ConnectFee"].to_string(), "0.05");
    assert_eq!(cost["Tenant"], "vdf");
    assert_eq!(cost["Category"], "0");
    assert_eq!(cost["Destination"], "0256");
    assert_eq!(cost["Timespans"].as_array().unwrap().len(), 2);
    let modern = c.ok(
        "Responder.GetCost",
        json!({"Tenant":"vdf","Category":"call","Subject":"rif","Destination":"0256",
               "TimeStart":"2012-02-02T17:30:00Z","TimeEnd":"2012-02-02T18:30:00Z"}),
    );
    assert_eq!(modern["Cost"], cost["Cost"]);
}

#[test]
fn the_seed_python_snippet_verbatim_in_python3() {
    let Ok(out) = std::process::Command::new("python3")
        .arg("--version")
        .output()
    else {
        eprintln!("python3 not installed: skipped");
        return;
    };
    assert!(out.status.success());
    let server = Server::start(json!({}));
    // The seed's snippet, with Python 3's bytes for sendall and print().
    let script = format!(
        r#"import json, socket
cd = {{"Tor":0, "CstmId": "vdf", "Subject": "rif", "DestinationPrefix": "0256", "TimeStart": "2012-02-02T17:30:00Z", "TimeEnd": "2012-02-02T18:30:00Z"}}
s = socket.create_connection(("127.0.0.1", {port}))
s.sendall(json.dumps(({{"id": 1, "method": "Responder.Get", "params": [cd]}})).encode())
print(s.recv(4096).decode())
"#,
        port = server.rpc.port()
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let reply: Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(reply["id"], 1);
    assert_eq!(reply["error"], Value::Null);
    assert_eq!(reply["result"]["Cost"].to_string(), "3.69");
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let server = Server::start(json!({}));
    let mut c = server.client();
    let mut batch = String::new();
    for id in 0..200 {
        let req = json!({"id": id, "method": "Responder.GetCost", "params": [seed_cd()]});
        batch.push_str(&req.to_string());
        if id % 3 == 0 {
            batch.push('\n');
        }
    }
    c.send_raw(batch.as_bytes());
    for id in 0..200 {
        let reply = c.read_reply().unwrap();
        assert_eq!(reply["id"], id);
        assert_eq!(reply["result"]["Cost"].to_string(), "3.69");
    }
    // Split mid-request, byte by byte: still one answer.
    let req = json!({"id": "x", "method": "Responder.GetCost", "params": [seed_cd()]}).to_string();
    for b in req.as_bytes() {
        c.send_raw(&[*b]);
    }
    assert_eq!(c.read_reply().unwrap()["id"], "x");
}

#[test]
fn concurrent_clients() {
    let server = Server::start(json!({}));
    let addr = server.rpc;
    let threads: Vec<_> = (0..8)
        .map(|t| {
            std::thread::spawn(move || {
                let mut c = RpcClient::connect(addr);
                for i in 0..100 {
                    let cd = json!({"Tenant":"vdf","Subject":"rif","Destination":"0723",
                        "TimeStart":"2012-02-02T17:30:00Z","DurationIndex": (t * 100 + i + 1) * 1_000_000_000i64});
                    let r = c.ok("Responder.GetCost", cd);
                    assert!(r["Cost"].is_number());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn unknown_services_and_methods_use_go_words() {
    let server = Server::start(json!({}));
    let mut c = server.client();
    assert_eq!(
        c.err("Responder.Foo", json!({})),
        "rpc: can't find method Responder.Foo"
    );
    assert_eq!(
        c.err("Nope.Get", json!({})),
        "rpc: can't find service Nope.Get"
    );
    assert_eq!(
        c.err("nodot", json!({})),
        "rpc: service/method request ill-formed: nodot"
    );
    // The connection is still usable.
    assert!(c.ok("Responder.GetCost", seed_cd())["Cost"].is_number());
}

#[test]
fn engine_errors_use_cgrates_words() {
    let server = Server::start(json!({}));
    let mut c = server.client();
    let mut cd = seed_cd();
    cd["DestinationPrefix"] = json!("999");
    assert_eq!(c.err("Responder.GetCost", cd), "UNAUTHORIZED_DESTINATION");
    let mut cd = seed_cd();
    cd["Subject"] = json!("nobody");
    assert_eq!(c.err("Responder.GetCost", cd), "RATING_PLAN_NOT_FOUND");
    assert_eq!(
        c.err("Responder.GetCost", json!({"Tenant": 7})),
        "json: cannot unmarshal number into Go struct field CallDescriptor.Tenant of type string"
    );
}

#[test]
fn malformed_input_gets_one_error_then_close_without_disturbing_others() {
    let server = Server::start(json!({}));
    let mut other = server.client();
    let mut bad = server.client();
    bad.send_raw(b"{\"id\":1,\"method\":\"Responder.GetCost\",\"params\":[{}]}hello world");
    // The valid request before the garbage is answered first.
    assert_eq!(bad.read_reply().unwrap()["id"], 1);
    let err = bad.read_reply().unwrap();
    assert_eq!(err["id"], Value::Null);
    assert!(
        err["error"].as_str().unwrap().contains("malformed"),
        "{err}"
    );
    assert!(bad.is_closed());
    assert!(other.ok("Responder.GetCost", seed_cd())["Cost"].is_number());
}

#[test]
fn oversized_requests_are_refused() {
    let server = Server::start(json!({}));
    let mut other = server.client();
    // An incomplete request growing past 1 MiB: error, then close.
    let mut big = server.client();
    let mut payload =
        b"{\"id\":1,\"method\":\"Responder.GetCost\",\"params\":[{\"Subject\":\"".to_vec();
    payload.extend(std::iter::repeat_n(b'a', 1_200_000));
    let _ = big.stream.write_all(&payload);
    let reply = big.read_reply().expect("an error reply");
    assert!(
        reply["error"].as_str().unwrap().contains("larger than"),
        "{reply}"
    );
    assert!(big.is_closed());
    // A complete request over 1 MiB sent at once may also get its own error.
    assert!(other.ok("Responder.GetCost", seed_cd())["Cost"].is_number());
}

#[test]
fn idle_connections_time_out() {
    let server = Server::start(json!({"listen": {"idle_timeout": "1s"}}));
    let mut idle = server.client();
    let started = std::time::Instant::now();
    assert!(idle.is_closed());
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert!(started.elapsed() < Duration::from_secs(10));
    // A busy connection stays open.
    let mut busy = server.client();
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(200));
        busy.ok("Responder.GetCost", seed_cd());
    }
}

#[test]
fn connections_beyond_the_cap_are_refused() {
    let server = Server::start(json!({"listen": {"max_connections": 2}}));
    let mut a = server.client();
    let mut b = server.client();
    a.ok("Responder.GetCost", seed_cd());
    b.ok("Responder.GetCost", seed_cd());
    let mut c = server.client();
    let reply = c.read_reply().expect("a refusal");
    assert!(reply["error"]
        .as_str()
        .unwrap()
        .contains("too many connections"));
    assert!(c.is_closed());
    // The first two are undisturbed; closing one frees a slot.
    a.ok("Responder.GetCost", seed_cd());
    drop(b);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let mut d = server.client();
        let req = json!({"id": 1, "method": "Responder.GetCost", "params": [seed_cd()]});
        d.send_raw(req.to_string().as_bytes());
        let reply = d.read_reply().unwrap_or(Value::Null);
        if reply["id"] == 1 && reply["error"].is_null() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "slot never freed");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn envelope_details_match_go() {
    let server = Server::start(json!({}));
    let mut c = server.client();
    // String ids are echoed as sent; keys are case-insensitive; no params
    // means an empty descriptor.
    c.send_raw(br#"{"ID":"abc","Method":"Responder.GetCost","Params":[{"Tenant":"vdf","Subject":"nobody"}]}"#);
    let reply = c.read_reply().unwrap();
    assert_eq!(reply["id"], "abc");
    assert_eq!(reply["error"], "RATING_PLAN_NOT_FOUND");
    c.send_raw(br#"{"id":2,"method":"Responder.GetCost"}"#);
    let reply = c.read_reply().unwrap();
    assert_eq!(reply["error"], "MANDATORY_IE_MISSING: [Subject Account]");
    // JSON-RPC 2.0 over TCP is answered in 2.0 form.
    c.send_raw(br#"{"jsonrpc":"2.0","id":3,"method":"Responder.Nope","params":{}}"#);
    let mut line = String::new();
    let mut byte = [0u8; 1];
    while c.stream.read(&mut byte).unwrap() == 1 {
        line.push(byte[0] as char);
        if line.ends_with('}') && serde_json::from_str::<Value>(&line).is_ok() {
            break;
        }
    }
    let reply: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(reply["jsonrpc"], "2.0");
    assert_eq!(reply["error"]["code"], -32601);
}
