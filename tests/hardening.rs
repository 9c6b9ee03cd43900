//! Bounded work and memory per request: what one unauthenticated client
//! can make the server do (docs/server.md, "Limits").

mod common;

use common::{seed_cd, Server};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// The seed's descriptor lasting `years` (365-day years), from the year
/// 1000 when that is long (RFC 3339 stops at 9999).
fn cd_years(years: i64) -> Value {
    let mut cd = seed_cd();
    let start = if years > 100 {
        "1000-02-02T17:30:00Z"
    } else {
        "2012-02-02T17:30:00Z"
    };
    let end =
        chrono::DateTime::parse_from_rfc3339(start).unwrap() + chrono::TimeDelta::days(365 * years);
    cd["TimeStart"] = json!(start);
    cd["TimeEnd"] = json!(end.to_rfc3339());
    cd
}

const MB: u64 = 1 << 20;

#[test]
fn huge_usages_are_refused_at_once_with_flat_memory() {
    let server = Server::start(json!({}));
    let mut other = server.client();
    other.ok("Responder.GetCost", seed_cd());
    let before = server.rss();
    // The review's requests: a 1,000-year and an 8,000-year GetCost, and
    // an exact GetMaxSessionTime over 250 years, each several times.
    let abusers: Vec<_> = (0..4)
        .map(|_| {
            let mut c = server.client();
            std::thread::spawn(move || {
                for _ in 0..5 {
                    for years in [1_000, 8_000] {
                        let started = Instant::now();
                        let e = c.err("Responder.GetCost", cd_years(years));
                        assert_eq!(e, "MAX_USAGE_EXCEEDED");
                        // Used to take 4 s and more; refused before any work.
                        assert!(started.elapsed() < Duration::from_secs(2));
                    }
                    let mut cd = seed_cd();
                    cd["Amount"] = json!(250 * 365 * 86_400_i64);
                    cd["MaxSessionMethod"] = json!("exact");
                    let started = Instant::now();
                    let e = c.err("Responder.GetMaxSessionTime", cd);
                    assert_eq!(e, "MAX_USAGE_EXCEEDED");
                    assert!(started.elapsed() < Duration::from_secs(2));
                    let e = c.err("Responder.GetMaxSessionTime", cd_years(250));
                    assert_eq!(e, "MAX_USAGE_EXCEEDED");
                    let e = c.err("Responder.Debit", cd_years(1_000));
                    assert_eq!(e, "MAX_USAGE_EXCEEDED");
                }
            })
        })
        .collect();
    // Another client is answered meanwhile.
    for _ in 0..20 {
        assert!(other.ok("Responder.GetCost", seed_cd())["Cost"].is_number());
    }
    for a in abusers {
        a.join().unwrap();
    }
    let after = server.rss();
    assert!(
        after < before + 64 * MB,
        "resident memory grew from {before} to {after} bytes"
    );
    // Absurd numbers are refused too, never a panic.
    let mut cd = seed_cd();
    cd["Amount"] = json!(1e27);
    assert_eq!(
        other.err("Responder.GetMaxSessionTime", cd),
        "MAX_USAGE_EXCEEDED"
    );
    let mut cd = seed_cd();
    cd.as_object_mut().unwrap().remove("TimeEnd");
    cd["DurationIndex"] = json!(i64::MAX);
    assert_eq!(other.err("Responder.GetCost", cd), "MAX_USAGE_EXCEEDED");
    // Over HTTP the refusal is a 422 with the same word.
    let (status, body) = server.get(
        "/getcost?cstmid=vdf&subj=rif&dest=0256&start=2012-02-02T17:30:00Z&end=3012-02-02T17:30:00Z",
    );
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("MAX_USAGE_EXCEEDED"), "{body}");
    assert!(other.ok("Responder.GetCost", seed_cd())["Cost"].is_number());
}

#[test]
fn usages_up_to_the_cap_are_answered() {
    let server = Server::start(json!({"limits": {"max_usage": "72h"}}));
    let mut c = server.client();
    // 72 h: over the inline threshold, so rated on the blocking pool.
    let mut cd = seed_cd();
    cd["TimeEnd"] = json!("2012-02-05T17:30:00Z");
    let cost = c.ok("Responder.GetCost", cd.clone());
    assert_eq!(cost["RatedUsage"], json!(72 * 3600 * 1_000_000_000_i64));
    cd["TimeEnd"] = json!("2012-02-05T17:30:01Z");
    assert_eq!(c.err("Responder.GetCost", cd), "MAX_USAGE_EXCEEDED");
    let mut cd = seed_cd();
    cd["Amount"] = json!(72 * 3600);
    cd["MaxSessionMethod"] = json!("exact");
    assert!(c.ok("Responder.GetMaxSessionTime", cd.clone()).is_number());
    cd["Amount"] = json!(72 * 3600 + 1);
    assert_eq!(
        c.err("Responder.GetMaxSessionTime", cd),
        "MAX_USAGE_EXCEEDED"
    );
}

#[test]
fn long_requests_leave_the_runtime_workers_free() {
    // A cap of a year: each of these rates 365 days on the blocking pool.
    let server = Server::start(json!({"limits": {"max_usage": "8760h"}}));
    let long: Vec<_> = (0..4)
        .map(|_| {
            let mut c = server.client();
            std::thread::spawn(move || c.ok("Responder.GetCost", cd_years(1)))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(50));
    let mut other = server.client();
    for _ in 0..10 {
        let started = Instant::now();
        assert!(other.ok("Responder.GetCost", seed_cd())["Cost"].is_number());
        // Generous: a short request waits for no long one.
        assert!(started.elapsed() < Duration::from_secs(2));
    }
    for l in long {
        assert!(l.join().unwrap()["Timespans"].as_array().unwrap().len() > 365);
    }
}

#[test]
fn replies_over_the_size_limit_are_refused() {
    let server = Server::start(json!({"limits": {"max_reply_bytes": 1000}}));
    let mut c = server.client();
    // The seed's hour answers 1,794 bytes.
    assert_eq!(
        c.err("Responder.GetCost", seed_cd()),
        "SERVER_ERROR: reply larger than 1000 bytes"
    );
    let mut cd = seed_cd();
    cd["TimeEnd"] = json!("2012-02-02T17:31:00Z");
    assert!(c.ok("Responder.GetCost", cd)["Cost"].is_number());
}

#[test]
fn limits_are_checked_in_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.json");
    std::fs::write(&path, r#"{"limits": {"max_usage": "1h"}}"#).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["serve", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("limits.max_usage"), "{err}");
}

/// User plus system CPU time of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // After the command name in parentheses: state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// A GetCost whose Subject pads the request to about `size` bytes.
fn padded_request(size: usize) -> Vec<u8> {
    let mut cd = seed_cd();
    cd["ExtraFields"] = json!({"pad": "x".repeat(size)});
    json!({"id": 7, "method": "Responder.GetCost", "params": [cd]})
        .to_string()
        .into_bytes()
}

#[test]
fn a_request_in_small_pieces_costs_about_what_it_costs_at_once() {
    use std::io::Write;
    let server = Server::start(json!({}));
    let request = padded_request(900_000);
    let send = |pieces: usize| {
        let mut c = server.client();
        c.stream.set_nodelay(true).unwrap();
        let before = cpu_ticks(server.pid());
        for chunk in request.chunks(request.len().div_ceil(pieces)) {
            c.stream.write_all(chunk).unwrap();
            // Let the server read each piece on its own.
            std::thread::sleep(Duration::from_micros(200));
        }
        let reply = c.read_reply().unwrap();
        assert_eq!(reply["id"], 7);
        assert!(reply["result"]["Cost"].is_number(), "{reply}");
        cpu_ticks(server.pid()) - before
    };
    let whole = send(1);
    let trickled = send(900);
    eprintln!("server CPU: one piece {whole} ticks, 900 pieces {trickled} ticks");
    // Re-parsing the pending buffer on every read made this ~25 times the
    // CPU; each byte is now scanned once. A generous ceiling (ticks are
    // 10 ms).
    assert!(
        trickled <= 4 * whole + 30,
        "900 pieces took {trickled} ticks, one piece {whole}"
    );
}

#[test]
fn a_trickling_client_is_cut_at_the_request_deadline() {
    use std::io::Write;
    let server = Server::start(json!({"listen": {"request_timeout": "1s", "idle_timeout": "10m"}}));
    let mut slow = server.client();
    let started = Instant::now();
    let request = padded_request(1_000);
    let mut cut = false;
    // One byte every 50 ms: the idle timer never fires, the deadline does.
    for byte in request.iter() {
        if slow.stream.write_all(&[*byte]).is_err() {
            cut = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        if started.elapsed() > Duration::from_secs(15) {
            break;
        }
    }
    let reply = slow.read_reply();
    assert!(cut || reply.is_some(), "the server kept the trickler");
    if let Some(reply) = reply {
        let e = reply["error"].as_str().unwrap();
        assert!(e.contains("request not complete within 1s"), "{e}");
    }
    assert!(slow.is_closed());
    assert!(started.elapsed() < Duration::from_secs(10));
    // A complete request is not bound by it, nor is a quiet connection.
    let mut c = server.client();
    c.ok("Responder.GetCost", seed_cd());
    std::thread::sleep(Duration::from_millis(1_500));
    c.ok("Responder.GetCost", seed_cd());
}

/// A connection to `to` from the local address `ip` (any 127/8 address
/// is this machine's).
fn connect_from(ip: [u8; 4], to: std::net::SocketAddr) -> std::net::TcpStream {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket
        .bind(&std::net::SocketAddr::from((ip, 0)).into())
        .unwrap();
    socket.connect(&to.into()).unwrap();
    socket.into()
}

#[test]
fn one_address_cannot_take_every_connection() {
    let server = Server::start(json!({"listen": {
        "rpc_json": "0.0.0.0:0", "http": "0.0.0.0:0",
        "max_connections": 16, "max_connections_per_ip": 4
    }, "security": {"api_token": "t", "allow_remote_rpc_json": true}}));
    let port = server.rpc.port();
    let from = |ip: [u8; 4]| connect_from(ip, std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    // 127.0.0.1 opens connections until refused.
    let mut held = Vec::new();
    let refused = loop {
        let mut c = common::RpcClient::from_stream(from([127, 0, 0, 1]));
        let req = json!({"id": 1, "method": "Responder.GetCost", "params": [seed_cd()]});
        c.send_raw(req.to_string().as_bytes());
        let reply = c.read_reply().unwrap();
        if reply["id"] == 1 {
            held.push(c);
            assert!(held.len() <= 4, "more than 4 connections from one address");
            continue;
        }
        break reply;
    };
    assert_eq!(held.len(), 4);
    assert_eq!(
        refused["error"],
        "SERVER_ERROR: too many connections from this address, try again later"
    );
    // Another address still gets in.
    let mut other = common::RpcClient::from_stream(from([127, 0, 0, 2]));
    assert!(other.ok("Responder.GetCost", seed_cd())["Cost"].is_number());
    // The same over HTTP.
    let http = server.http.port();
    let http = std::net::SocketAddr::from(([127, 0, 0, 1], http));
    let mut conns = Vec::new();
    for _ in 0..4 {
        conns.push(connect_from([127, 0, 0, 1], http));
    }
    std::thread::sleep(Duration::from_millis(200));
    let (status, body) = common::http_request(http, "GET", "/health", "");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("from this address"), "{body}");
    let mut other = connect_from([127, 0, 0, 2], http);
    use std::io::{Read, Write};
    other
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    other.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[test]
fn a_trickling_http_client_is_cut_at_the_request_deadline() {
    use std::io::{Read, Write};
    let server = Server::start(json!({"listen": {"request_timeout": "1s"}}));
    let mut s = std::net::TcpStream::connect(server.http).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let started = Instant::now();
    let head = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    for byte in head.iter() {
        if s.write_all(&[*byte]).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        if started.elapsed() > Duration::from_secs(8) {
            break;
        }
    }
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    // Closed without an answer, well before the whole head was sent.
    assert!(!String::from_utf8_lossy(&rest).contains("200 OK"));
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn an_http_body_of_many_requests_has_a_bounded_answer() {
    let server = Server::start(json!({"limits": {"max_reply_bytes": 1500}}));
    let mut cd = seed_cd();
    cd["TimeEnd"] = json!("2012-02-02T17:31:00Z");
    let one = json!({"id": 1, "method": "Responder.GetCost", "params": [cd]}).to_string();
    let body = [one.as_str(); 4].join("\n");
    let (status, text) = server.post("/jsonrpc", &body);
    assert_eq!(status, 200, "{text}");
    let replies: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(replies.len(), 4);
    // Each answer is under the limit; once they add up past it, the rest
    // are not run.
    assert!(replies[0]["result"]["Cost"].is_number());
    assert!(replies[1]["result"]["Cost"].is_number());
    for r in &replies[2..] {
        assert_eq!(r["error"], "SERVER_ERROR: reply larger than 1500 bytes");
    }
    // The same in a 2.0 batch.
    let one = json!({"jsonrpc": "2.0", "id": 1, "method": "Responder.GetCost", "params": [cd]})
        .to_string();
    let (status, text) = server.post("/jsonrpc", &format!("[{}]", [one.as_str(); 4].join(",")));
    assert_eq!(status, 200, "{text}");
    let replies: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(replies.len(), 4);
    assert_eq!(
        replies[3]["error"]["message"],
        "SERVER_ERROR: reply larger than 1500 bytes"
    );
}

#[test]
fn whitespace_does_not_keep_a_connection_open() {
    use std::io::Write;
    let server = Server::start(json!({"listen": {"idle_timeout": "1s", "request_timeout": "10m"}}));
    let mut c = server.client();
    let started = Instant::now();
    let mut cut = false;
    while started.elapsed() < Duration::from_secs(8) {
        if c.stream.write_all(b" ").is_err() {
            cut = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        cut || c.is_closed(),
        "a whitespace trickle kept the connection"
    );
    assert!(started.elapsed() < Duration::from_secs(8));
}
