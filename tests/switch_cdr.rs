//! `POST /freeswitch/cdr`: the switch's own CDR (`mod_json_cdr`) settles
//! the calls whose hangup tollgate never heard. The simulated switch posts
//! every channel's CDR as the module does (before CHANNEL_HANGUP_COMPLETE,
//! retried), and reproduces the recorded cut (testdata/freeswitch-1.10,
//! `tollgate_esl_cut_before.wire`, `…_after.wire`): 10 calls up, both
//! Event Socket connections cut for 6 s, 4 callers hanging up and 10 new
//! calls parking while tollgate is blind.

mod common;

use common::*;
use integration::{FakeSwitch, JsonCdrConfig, SwitchConfig};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const SPEED: f64 = 20.0;
const WAIT: Duration = Duration::from_secs(60);

/// A switch posting its CDRs to `http` (retried every 5 s, 20 times) and
/// a server on that address following it.
fn rig(http: SocketAddr, extra: Value) -> (tokio::runtime::Runtime, FakeSwitch, Server) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut config = SwitchConfig::with_speed(SPEED);
    config.json_cdr = Some(
        JsonCdrConfig::new(format!("http://{http}/freeswitch/cdr"))
            .retries(20, Duration::from_secs(5)),
    );
    let sw = rt.block_on(FakeSwitch::start(config)).unwrap();
    let mut overrides = json!({
        "listen": {"http": http.to_string()},
        "freeswitch": [{"address": sw.addr().to_string(), "password": "ClueCon", "alias": "fs1"}],
        "sessions": {"clock_speed": SPEED, "limit_grace": "30s"},
    });
    if let (Value::Object(o), Value::Object(e)) = (&mut overrides, extra) {
        for (k, v) in e {
            o.insert(k, v);
        }
    }
    let server = Server::start(overrides);
    server.wait_connected();
    (rt, sw, server)
}

#[test]
fn a_body_that_is_not_a_cdr_gets_400_and_changes_nothing() {
    let server = Server::start(json!({}));
    fund(&server, "1001", 1.0);
    for body in [
        "",
        "{",
        "[]",
        "{}",
        r#"{"variables": {}}"#,
        r#"{"variables": {"uuid": "u", "end_uepoch": "later"}}"#,
    ] {
        let (status, reply) = server.post("/freeswitch/cdr", body);
        assert_eq!(status, 400, "{body:?}: {reply}");
        assert!(reply.contains("\"error\""), "{reply}");
    }
    // A CDR of a channel no session knows: taken, nothing billed.
    let (status, reply) = server.post(
        "/freeswitch/cdr",
        r#"{"variables": {"uuid": "nobody", "answer_uepoch": "1796283215064151", "end_uepoch": "1796283225064151", "billsec": "10", "cgr_reqtype": "%2Aprepaid", "cgr_account": "1001"}}"#,
    );
    assert_eq!(
        (status, reply.as_str()),
        (200, r#"{"result":"not billed"}"#)
    );
    assert_eq!(money(&server, "1001"), Decimal::ONE);
    assert!(records(&server, "nobody").is_empty());
}

#[test]
fn a_call_is_settled_from_its_cdr_once() {
    let (rt, sw, server) = rig(free_addr(), json!({}));
    let _in_runtime = rt.enter();
    fund(&server, "1001", 1.0);
    let uuid = sw.place_call(recorded_call("1001").talk(25.0)).unwrap();
    let rec = rt
        .block_on(sw.wait_for_end(&uuid, WAIT))
        .expect("call ends");
    let post = rt
        .block_on(sw.wait_cdr_post(&uuid, WAIT))
        .expect("the switch posts the call's CDR");
    assert!(post.attempts.iter().any(|a| a.ok()), "{:?}", post.attempts);
    let cdr = wait_record(&server, &uuid, WAIT);
    let talked = (rec.ended_at.unwrap() - rec.answered_at.unwrap()) as f64 / 1e6;
    assert_eq!(decimal(&cdr["Cost"]), price(talked), "{cdr}");
    assert_eq!(cdr["Usage"], json!((talked * 1e9).round() as i64), "{cdr}");
    // The CDR came before the hangup event (as mod_json_cdr posts).
    assert_eq!(cdr["ExtraInfo"], "settled from the switch's CDR", "{cdr}");
    assert_eq!(money(&server, "1001"), Decimal::ONE - price(talked));
    // Every other leg's CDR was taken and billed nothing; posting the
    // billed one again changes nothing.
    for leg in sw.legs(&uuid) {
        let post = rt.block_on(sw.wait_cdr_post(&leg.uuid, WAIT)).unwrap();
        assert!(post.attempts.iter().any(|a| a.ok()), "{:?}", post.attempts);
    }
    let (status, reply) = server.post("/freeswitch/cdr", &post.body);
    assert_eq!(
        (status, reply.as_str()),
        (200, r#"{"result":"already settled"}"#)
    );
    assert_eq!(money(&server, "1001"), Decimal::ONE - price(talked));
    let (_, metrics) = server.get("/metrics");
    assert!(
        metrics.contains("tollgate_switch_cdr_settlements_total 1"),
        "{metrics}"
    );
}

#[test]
fn the_recorded_cut_bills_every_call_at_its_talk_and_leaves_none_parked() {
    let (rt, sw, server) = rig(free_addr(), json!({}));
    let _in_runtime = rt.enter();
    let accounts: Vec<String> = (0..20).map(|i| format!("30{i:02}")).collect();
    for a in &accounts {
        fund(&server, a, 10.0);
    }
    // 10 calls up: 4 end 4.4–5 s into their talk, inside the cut; 6 live through it.
    let mut calls = vec![];
    for (i, a) in accounts[..10].iter().enumerate() {
        let talk = if i < 4 { 4.4 + 0.2 * i as f64 } else { 30.0 };
        calls.push((
            a.clone(),
            sw.place_call(recorded_call(a).talk(talk)).unwrap(),
        ));
    }
    let started = Instant::now();
    let sim = |secs: f64| started + Duration::from_secs_f64(secs / SPEED);
    let sleep_until = |at: Instant| {
        if let Some(d) = at.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
    };
    // Answered at 0.5 s; both Event Socket connections cut at 2 s, for 6 s.
    sleep_until(sim(2.0));
    rt.block_on(sw.stop_listening());
    assert!(sw.drop_connections() > 0);
    // 10 calls arrive and park while tollgate is blind.
    sleep_until(sim(3.0));
    for a in &accounts[10..] {
        calls.push((
            a.clone(),
            sw.place_call(recorded_call(a).talk(12.0)).unwrap(),
        ));
    }
    sleep_until(sim(8.0));
    rt.block_on(sw.resume_listening()).unwrap();
    for (_, uuid) in &calls {
        rt.block_on(sw.wait_for_end(uuid, WAIT)).unwrap_or_else(|| {
            panic!(
                "{uuid} never ended: left parked? {:?}",
                sw.record(uuid).map(|r| r.log)
            )
        });
    }
    for (account, uuid) in &calls {
        let rec = sw.record(uuid).unwrap();
        assert!(
            rec.transferred,
            "{uuid} was never authorized: {:?}",
            rec.log
        );
        let (Some(a), Some(e)) = (rec.answered_at, rec.ended_at) else {
            panic!("{uuid} never talked: {:?}", rec.log)
        };
        assert_eq!(
            rec.hangup_cause.as_deref(),
            Some("NORMAL_CLEARING"),
            "{:?}",
            rec.log
        );
        let talked = (e - a) as f64 / 1e6;
        let cdr = wait_record(&server, uuid, WAIT);
        assert_eq!(
            decimal(&cdr["Cost"]),
            price(talked),
            "{uuid} talked {talked} s: {cdr}"
        );
        assert!(cdr.get("Estimated").is_none(), "{cdr}");
        assert_eq!(
            money(&server, account),
            Decimal::TEN - price(talked),
            "{account}"
        );
    }
    let sessions = server.call("SessionSv1.GetActiveSessions", json!({}));
    assert_eq!(sessions["result"], json!([]), "{sessions}");
}

#[test]
fn a_call_found_gone_waits_for_its_cdr_and_is_settled_from_it() {
    // The switch posts where nobody listens; the test delivers the CDR
    // itself, after the resync has found the call gone.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _in_runtime = rt.enter();
    let mut config = SwitchConfig::with_speed(SPEED);
    config.json_cdr = Some(JsonCdrConfig::new(format!(
        "http://{}/freeswitch/cdr",
        free_addr()
    )));
    let sw = rt.block_on(FakeSwitch::start(config)).unwrap();
    let http = free_addr();
    let server = Server::start(json!({
        "listen": {"http": http.to_string()},
        "freeswitch": [{"address": sw.addr().to_string(), "password": "ClueCon", "alias": "fs1"}],
        "sessions": {"clock_speed": SPEED, "limit_grace": "30s", "cdr_wait": "1h"},
    }));
    server.wait_connected();
    fund(&server, "1001", 1.0);
    let uuid = sw.place_call(recorded_call("1001").talk(12.0)).unwrap();
    rt.block_on(sw.wait_record(&uuid, WAIT, |r| r.answered))
        .unwrap();
    rt.block_on(sw.stop_listening());
    sw.drop_connections();
    let rec = rt.block_on(sw.wait_for_end(&uuid, WAIT)).unwrap();
    rt.block_on(sw.resume_listening()).unwrap();
    // Found gone: no longer an active session, not settled either.
    let deadline = Instant::now() + WAIT;
    loop {
        let sessions = server.call("SessionSv1.GetActiveSessions", json!({}));
        if sessions["result"] == json!([]) {
            break;
        }
        assert!(Instant::now() < deadline, "{sessions}");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        records(&server, &uuid).is_empty(),
        "settled before its CDR came"
    );
    let body = rt.block_on(sw.wait_cdr_post(&uuid, WAIT)).unwrap().body;
    let (status, reply) = http_request(http, "POST", "/freeswitch/cdr", &body);
    assert_eq!((status, reply.as_str()), (200, r#"{"result":"settled"}"#));
    let talked = (rec.ended_at.unwrap() - rec.answered_at.unwrap()) as f64 / 1e6;
    let cdr = wait_record(&server, &uuid, WAIT);
    assert_eq!(decimal(&cdr["Cost"]), price(talked), "{cdr}");
    assert!(cdr.get("Estimated").is_none(), "{cdr}");
    assert_eq!(money(&server, "1001"), Decimal::ONE - price(talked));
}
