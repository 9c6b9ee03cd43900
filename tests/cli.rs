//! The console commands against a running server (and a fake one).

mod common;

use common::Server;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output};

fn tollgate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

fn stdout_json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn help_teaches_with_examples() {
    let out = tollgate(&["--help"]);
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in ["serve", "rpc", "cost", "balance", "load-tp", "Examples:"] {
        assert!(text.contains(needle), "--help lacks {needle}: {text}");
    }
    let out = tollgate(&["cost", "--help"]);
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .contains("--destination"));
}

#[test]
fn rpc_cost_and_load_tp() {
    let server = Server::start(json!({}));
    let addr = server.rpc.to_string();
    let out = tollgate(&[
        "rpc",
        "Responder.GetCost",
        r#"{"Tenant":"vdf","Category":"0","Subject":"rif","Destination":"0256","TimeStart":"2012-02-02T17:30:00Z","TimeEnd":"2012-02-02T18:30:00Z"}"#,
        "--addr",
        &addr,
    ]);
    assert_eq!(stdout_json(&out)["Cost"].to_string(), "3.69");
    assert!(String::from_utf8_lossy(&out.stdout).contains("\n  \"Cost\": 3.69"));
    let out = tollgate(&[
        "cost",
        "--tenant",
        "vdf",
        "--category",
        "0",
        "--subject",
        "rif",
        "--destination",
        "0256",
        "--start",
        "2012-02-02T17:30:00Z",
        "--duration",
        "1h",
        "--addr",
        &addr,
    ]);
    assert_eq!(stdout_json(&out)["Cost"].to_string(), "3.69");
    let out = tollgate(&["load-tp", "conf/tariffplans/sample", "--addr", &addr]);
    assert_eq!(stdout_json(&out), json!("OK"));
    let out = tollgate(&["rpc", "Responder.Foo", "--addr", &addr]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("rpc: can't find method Responder.Foo"));
    let out = tollgate(&["rpc", "Responder.GetCost", "{not json", "--addr", &addr]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("params"));
}

#[test]
fn balance_asks_apiersv2_get_account() {
    // A fake server that records the request and answers as a server
    // without account methods would.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let fake = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let req: Value = serde_json::from_str(line.trim()).unwrap();
        let mut stream = stream;
        writeln!(
            stream,
            r#"{{"id":{},"result":null,"error":"rpc: can't find method APIerSv2.GetAccount"}}"#,
            req["id"]
        )
        .unwrap();
        req
    });
    let out = tollgate(&[
        "balance",
        "--tenant",
        "cgrates.org",
        "--account",
        "1001",
        "--addr",
        &addr,
    ]);
    let req = fake.join().unwrap();
    assert_eq!(req["method"], "APIerSv2.GetAccount");
    assert_eq!(
        req["params"],
        json!([{"Tenant": "cgrates.org", "Account": "1001"}])
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("APIerSv2.GetAccount"));
}

#[test]
fn no_server_is_a_clear_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let out = tollgate(&[
        "rpc",
        "ApierV1.GetTPIds",
        "--addr",
        &format!("127.0.0.1:{port}"),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot connect"));
}
