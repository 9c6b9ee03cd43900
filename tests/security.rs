//! Access: listeners beyond loopback need `security`, and with
//! `security.api_token` every HTTP path but `GET /health` needs the token
//! (Bearer, cookie or Basic); without it nothing changes.

mod common;

use common::*;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;

const TOKEN: &str = "s3cret-Token_1";

/// An HTTP/1.1 exchange with extra headers: (status, head, body).
fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body.as_bytes()).unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap();
    (status, head.to_string(), body.to_string())
}

/// The value of a response header (case-insensitive name).
fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

fn basic(user_password: &str) -> String {
    // A tiny base64 encoder, so the test does not share the server's.
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = user_password.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    format!("Basic {out}")
}

/// Starts the binary on `config` and expects it to refuse: its stderr.
fn refused(config: Value) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config;
    config["store"] = json!({"type": "embedded", "path": dir.path().join("data")});
    config["freeswitch"] = json!([]);
    config["tariffplan"] = json!("");
    let path = dir.path().join("tollgate.json");
    std::fs::write(&path, config.to_string()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["serve", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success(), "{config} should be refused");
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn listeners_beyond_loopback_need_security() {
    let e = refused(json!({"listen": {"http": "0.0.0.0:0", "rpc_json": "127.0.0.1:0"}}));
    assert!(e.contains("security.api_token"), "{e}");
    let e = refused(json!({"listen": {"http": "[::]:0", "rpc_json": ""}}));
    assert!(e.contains("security.api_token"), "{e}");
    let e = refused(json!({"listen": {"http": "127.0.0.1:0", "rpc_json": "0.0.0.0:0"}}));
    assert!(e.contains("security.allow_remote_rpc_json"), "{e}");
    // A token does not open raw TCP (it cannot carry one).
    let e = refused(json!({
        "listen": {"http": "127.0.0.1:0", "rpc_json": "0.0.0.0:0"},
        "security": {"api_token": TOKEN},
    }));
    assert!(e.contains("security.allow_remote_rpc_json"), "{e}");
    // Guarded, both start; the token is then required.
    let server = Server::start(json!({
        "listen": {"http": "0.0.0.0:0", "rpc_json": "0.0.0.0:0"},
        "security": {"api_token": TOKEN, "allow_remote_rpc_json": true},
    }));
    let http = SocketAddr::from(([127, 0, 0, 1], server.http.port()));
    assert_eq!(request(http, "GET", "/health", &[], "").0, 200);
    assert_eq!(request(http, "GET", "/metrics", &[], "").0, 401);
    let mut c = RpcClient::connect(SocketAddr::from(([127, 0, 0, 1], server.rpc.port())));
    assert!(c.ok("Responder.GetCost", seed_cd())["Cost"].is_number());
}

fn money(server: &Server) -> Value {
    let account = server.client().ok(
        "APIerSv2.GetAccount",
        json!({"Tenant": "cgrates.org", "Account": "1001"}),
    );
    account["BalanceMap"].clone()
}

const ADD_BALANCE: &str = r#"{"id": 1, "method": "APIerSv1.AddBalance", "params": [{"Tenant": "cgrates.org", "Account": "1001", "BalanceType": "*monetary", "BalanceID": "main", "Value": 5}]}"#;

#[test]
fn without_the_token_nothing_is_answered_and_nothing_changes() {
    let server = Server::start(json!({"security": {"api_token": TOKEN}}));
    let set = server.client().ok(
        "APIerSv1.SetBalance",
        json!({"Tenant": "cgrates.org", "Account": "1001", "BalanceType": "*monetary", "BalanceID": "main", "Value": 1}),
    );
    assert_eq!(set, "OK");
    let before = money(&server);
    let (status, _, body) = request(server.http, "GET", "/health", &[], "");
    assert_eq!(status, 200, "{body}");
    let wrong_basic = basic(&format!("{TOKEN}:{TOKEN}x"));
    let no_or_wrong: [&[(&str, &str)]; 6] = [
        &[],
        &[("Authorization", "Bearer wrong")],
        &[("Authorization", "Bearer s3cret-Token_")],
        &[("Cookie", "tollgate_token=wrong")],
        &[("Authorization", &wrong_basic)],
        &[("Authorization", TOKEN)],
    ];
    let requests = [
        ("POST", "/jsonrpc", ADD_BALANCE),
        ("GET", "/metrics", ""),
        ("GET", "/getcost?cstmid=vdf&subj=rif&dest=0257", ""),
        (
            "GET",
            "/debitbalance?cstmid=vdf&subj=rif&dest=0257@amount=100",
            "",
        ),
        ("POST", "/freeswitch/cdr", "{}"),
        ("GET", "/cdrs.csv", ""),
        ("GET", "/sessions", ""),
        ("GET", "/no/such/path", ""),
        ("POST", "/health", ""),
    ];
    for headers in no_or_wrong {
        for (method, path, body) in requests {
            let (status, head, reply) = request(server.http, method, path, headers, body);
            assert_eq!(status, 401, "{method} {path} {headers:?}: {reply}");
            assert_eq!(
                header(&head, "content-type").as_deref(),
                Some("application/json")
            );
            let error: Value = serde_json::from_str(&reply).unwrap();
            assert!(
                error["error"]
                    .as_str()
                    .unwrap()
                    .starts_with("UNAUTHORIZED: "),
                "{reply}"
            );
        }
    }
    assert_eq!(money(&server), before, "nothing changed");
    // The same AddBalance with the token goes through, once per request.
    let bearer = format!("Bearer {TOKEN}");
    let (status, _, reply) = request(
        server.http,
        "POST",
        "/jsonrpc",
        &[("Authorization", &bearer)],
        ADD_BALANCE,
    );
    assert_eq!(status, 200, "{reply}");
    assert!(reply.contains("\"result\":\"OK\""), "{reply}");
    assert_ne!(money(&server), before);
}

#[test]
fn bearer_cookie_and_basic_each_let_a_request_through() {
    let server = Server::start(json!({"security": {"api_token": TOKEN}}));
    let bearer = format!("Bearer {TOKEN}");
    let cookie = format!("theme=dark; tollgate_token={TOKEN}");
    let basic = basic(&format!("fs1:{TOKEN}"));
    for headers in [
        [("Authorization", bearer.as_str())],
        [("Cookie", cookie.as_str())],
        [("Authorization", basic.as_str())],
    ] {
        for path in [
            "/metrics",
            "/getcost?cstmid=vdf&subj=rif&dest=0257&start=2012-02-02T17:30:00Z",
            "/cdrs.csv",
            "/sessions",
        ] {
            let (status, _, reply) = request(server.http, "GET", path, &headers, "");
            assert_eq!(status, 200, "{path} {headers:?}: {reply}");
        }
        let (status, _, reply) = request(
            server.http,
            "POST",
            "/jsonrpc",
            &headers,
            &json!({"id": 1, "method": "Responder.GetCost", "params": [seed_cd()]}).to_string(),
        );
        assert_eq!(status, 200, "{reply}");
        assert!(reply.contains("\"Cost\":3.69"), "{reply}");
        // Past the gate, the CDR intake judges the body itself.
        let (status, _, reply) = request(server.http, "POST", "/freeswitch/cdr", &headers, "{}");
        assert_eq!(status, 400, "{reply}");
    }
}

#[test]
fn the_console_answers_a_login_page_and_sets_the_cookie() {
    let server = Server::start(json!({"security": {"api_token": TOKEN}}));
    for path in ["/ui/", "/ui", "/ui/app.js", "/ui/login"] {
        let (status, head, page) = request(server.http, "GET", path, &[], "");
        assert_eq!(status, 401, "{path}: {page}");
        assert!(header(&head, "content-type")
            .unwrap()
            .starts_with("text/html"));
        assert!(
            page.contains("<form") && page.contains("name=\"token\""),
            "{page}"
        );
        assert!(!page.contains("refused"), "{page}");
    }
    // A stale cookie: the page says why.
    let (status, _, page) = request(
        server.http,
        "GET",
        "/ui/",
        &[("Cookie", "tollgate_token=old")],
        "",
    );
    assert_eq!(status, 401);
    assert!(page.contains("refused"), "{page}");
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let (status, head, page) = request(server.http, "POST", "/ui/login", &form, "token=nope");
    assert_eq!(status, 401, "{page}");
    assert!(
        page.contains("The token was refused") && page.contains("<form"),
        "{page}"
    );
    assert_eq!(header(&head, "set-cookie"), None);
    let (status, head, _) = request(server.http, "POST", "/ui/login", &form, "");
    assert_eq!(status, 401);
    assert_eq!(header(&head, "set-cookie"), None);
    // The right token (its characters need no escaping in a form).
    let (status, head, page) = request(
        server.http,
        "POST",
        "/ui/login",
        &form,
        &format!("token={TOKEN}"),
    );
    assert_eq!(status, 303, "{page}");
    assert_eq!(header(&head, "location").as_deref(), Some("/ui/"));
    let cookie = header(&head, "set-cookie").unwrap();
    assert_eq!(
        cookie,
        format!("tollgate_token={TOKEN}; Path=/; HttpOnly; SameSite=Strict")
    );
    // The cookie opens the console and everything else.
    let jar = cookie.split(';').next().unwrap().to_string();
    let (status, _, _) = request(server.http, "GET", "/ui/", &[("Cookie", &jar)], "");
    assert_ne!(status, 401);
    let (status, _, _) = request(server.http, "GET", "/metrics", &[("Cookie", &jar)], "");
    assert_eq!(status, 200);
}

#[test]
fn without_a_token_everything_is_open_as_before() {
    let server = Server::start(json!({}));
    for path in ["/health", "/metrics", "/cdrs.csv", "/sessions"] {
        assert_eq!(server.get(path).0, 200, "{path}");
    }
    let (status, _) = server.post(
        "/jsonrpc",
        &json!({"id": 1, "method": "Responder.GetCost", "params": [seed_cd()]}).to_string(),
    );
    assert_eq!(status, 200);
    // The login form has nothing to check: straight to the console.
    let (status, head, _) = request(server.http, "POST", "/ui/login", &[], "token=x");
    assert_eq!(status, 303);
    assert_eq!(header(&head, "set-cookie"), None);
}
