//! The fault-injection suite: calls on the simulated switch while the real
//! binary dies (`abort()`, as abrupt as SIGKILL) at every named point of a
//! call's life (`sessions::crash::POINTS`), in every scenario; and,
//! separately, while the switch cuts the Event Socket at every moment of a
//! call's life (before its park is handled, while it rings, at its answer,
//! while it talks, as it hangs up, just after). The switch posts its CDRs
//! (`mod_json_cdr`, retried) to the server's `/freeswitch/cdr`, on a fixed
//! address across restarts. After the restart the calls run to their end,
//! and for every call: exactly one record; charged exactly the price of
//! the time the switch says it talked when the credit covered it, else
//! never more than that nor less than that minus the price of
//! `limit_grace`; the accounts lose exactly the sum of the records' costs,
//! and none goes below zero. A last test walks the path of a call that
//! ends unheard and whose CDR comes late (held, estimated, corrected)
//! through its own crash points (`sessions::crash::UNHEARD_POINTS`).

mod common;

use common::Server;
use common::{decimal, free_addr, money, price, records, try_http_request};
use integration::{CallSpec, FakeSwitch, JsonCdrConfig, SwitchConfig};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const SPEED: f64 = 20.0;
/// Seconds of grace: long enough (at SPEED) for a restart to come back
/// before any call reaches it.
const GRACE: u64 = 30;
const WAIT: Duration = Duration::from_secs(60);

/// One account and the calls made on it.
struct Account {
    name: &'static str,
    credit: &'static str,
    talks: &'static [f64],
}

struct Scenario {
    name: &'static str,
    accounts: &'static [Account],
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "the caller hangs up",
        accounts: &[Account {
            name: "2001",
            credit: "10",
            talks: &[45.0],
        }],
    },
    Scenario {
        // 0.12 pays 60 s at 0.02 per 10 s (more than the grace, so the
        // limit is re-armed before the credit runs out).
        name: "the credit runs out",
        accounts: &[Account {
            name: "2002",
            credit: "0.12",
            talks: &[120.0],
        }],
    },
    Scenario {
        // 0.10 pays 50 s; three callers want 40 s each.
        name: "concurrent calls on one account",
        accounts: &[Account {
            name: "2003",
            credit: "0.1",
            talks: &[40.0, 40.0, 40.0],
        }],
    },
];

fn overrides(sw: &FakeSwitch, http: SocketAddr) -> Value {
    json!({
        "listen": {"http": http.to_string()},
        "freeswitch": [{"address": sw.addr().to_string(), "password": "ClueCon", "alias": "fs1"}],
        "sessions": {"clock_speed": SPEED, "limit_grace": format!("{GRACE}s"), "cdr_wait": "20s"},
    })
}

/// A switch posting its CDRs to `http` as `json_cdr.conf.xml` in
/// docs/freeswitch.md says: retried every 5 s, 30 times.
async fn switch(http: SocketAddr) -> FakeSwitch {
    let mut config = SwitchConfig::with_speed(SPEED);
    config.json_cdr = Some(
        JsonCdrConfig::new(format!("http://{http}/freeswitch/cdr"))
            .retries(30, Duration::from_secs(5)),
    );
    FakeSwitch::start(config).await.unwrap()
}

/// As [`records`], over HTTP; None if the server does not answer (it died).
fn try_records(http: SocketAddr, uuid: &str) -> Option<Vec<Value>> {
    let body = json!({"method": "CDRsV1.GetCDRs", "params": [{"OriginIDs": [uuid]}], "id": 1});
    let (status, reply) = try_http_request(http, "POST", "/jsonrpc", &body.to_string())?;
    let reply: Value = serde_json::from_str(&reply).ok()?;
    (status == 200).then(|| reply["result"].as_array().cloned().unwrap_or_default())
}

fn call(account: &str, talk: f64) -> CallSpec {
    CallSpec::new(account, "0723456789")
        .var("cgr_reqtype", "*prepaid")
        .var("cgr_account", account)
        .ring(1.0)
        .talk(talk)
}

/// What disturbs a run.
enum Fault {
    /// The process dies at this point.
    Crash(&'static str),
    /// The switch cuts its Event Socket at this moment (simulated seconds
    /// after the first call) for `CUT` (refusing to reconnect meanwhile).
    Cut(f64),
}

/// Runs one scenario under one fault and checks every invariant. Returns
/// whether the fault happened (a crash point may not be on the path).
fn run(scenario: &Scenario, fault: &Fault) -> bool {
    let label = match fault {
        Fault::Crash(p) => format!("{} / crash at {p}", scenario.name),
        Fault::Cut(at) => format!("{} / cut at {at} s", scenario.name),
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _in_runtime = rt.enter();
    let http = free_addr();
    let sw = rt.block_on(switch(http));
    let dir = tempfile::tempdir().unwrap();
    // Funded first, by a server without the crash point.
    let server = Server::start_in(dir.path(), overrides(&sw, http));
    for a in scenario.accounts {
        let reply = server.call(
            "APIerSv1.SetBalance",
            json!({"Tenant": "cgrates.org", "Account": a.name, "BalanceType": "*monetary", "BalanceID": "main", "Value": serde_json::from_str::<Value>(a.credit).unwrap()}),
        );
        assert_eq!(reply["result"], "OK", "{reply}");
    }
    let mut server = match fault {
        Fault::Crash(point) => {
            server.kill9();
            Server::start_with_env(
                dir.path(),
                overrides(&sw, http),
                &[("TOLLGATE_CRASH_AT", point)],
            )
        }
        Fault::Cut(_) => server,
    };
    server.wait_connected();
    let mut calls = vec![];
    for a in scenario.accounts {
        for &talk in a.talks {
            calls.push((a.name, sw.place_call(call(a.name, talk)).unwrap()));
        }
    }
    let started = Instant::now();
    let mut happened = false;
    let all_ended = |sw: &FakeSwitch| {
        calls
            .iter()
            .all(|(_, u)| sw.record(u).is_some_and(|r| r.ended_at.is_some()))
    };
    match fault {
        Fault::Crash(_) => {
            while started.elapsed() < WAIT {
                if server.exited() {
                    happened = true;
                    break;
                }
                if all_ended(&sw) {
                    // Give a point at the very end (settlement) its chance.
                    std::thread::sleep(Duration::from_millis(300));
                    happened = server.exited();
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            if happened {
                server = Server::start_in(dir.path(), overrides(&sw, http));
            }
        }
        Fault::Cut(at) => {
            let due = started + Duration::from_secs_f64(at / SPEED);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            rt.block_on(sw.stop_listening());
            happened = sw.drop_connections() > 0;
            std::thread::sleep(Duration::from_secs_f64(CUT / SPEED));
            rt.block_on(sw.resume_listening()).unwrap();
        }
    }
    for (_, uuid) in &calls {
        rt.block_on(sw.wait_for_end(uuid, WAIT))
            .unwrap_or_else(|| panic!("{label}: call {uuid} never ended"));
    }
    let mut spent = std::collections::HashMap::<&str, Decimal>::new();
    for (account, uuid) in &calls {
        let rec = sw.record(uuid).unwrap();
        let talked = match (rec.answered_at, rec.ended_at) {
            (Some(a), Some(e)) => (e - a) as f64 / 1e6,
            _ => 0.0,
        };
        let deadline = Instant::now() + WAIT;
        let list = loop {
            let list = records(&server, uuid);
            if !list.is_empty() || Instant::now() > deadline {
                break list;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(list.len(), 1, "{label}: {uuid} has {} records", list.len());
        let cost = decimal(&list[0]["Cost"]);
        let most = price(talked);
        // Short of credit, a call the switch cut late is charged what the
        // credit covered; every other call exactly the price of its talk.
        let least = match list[0]["Unpaid"].as_bool() {
            Some(true) => price(talked - GRACE as f64),
            _ => most,
        };
        assert!(
            cost <= most && cost >= least,
            "{label}: {uuid} talked {talked} s (price {most}), charged {cost}: {}",
            list[0]
        );
        *spent.entry(account).or_default() += cost;
    }
    for a in scenario.accounts {
        let left = money(&server, a.name);
        let credit: Decimal = a.credit.parse().unwrap();
        assert!(
            left >= Decimal::ZERO,
            "{label}: {} overdrawn: {left}",
            a.name
        );
        assert_eq!(
            credit - left,
            spent[a.name],
            "{label}: {} lost {} but its records cost {}",
            a.name,
            credit - left,
            spent[a.name]
        );
    }
    // A record written just before a crash is found at once; its session
    // is dropped by the restarted server's resync a moment later.
    let deadline = Instant::now() + WAIT;
    loop {
        let sessions = server.call("SessionSv1.GetActiveSessions", json!({}));
        if sessions["result"] == json!([]) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{label}: sessions left: {sessions}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    happened
}

#[test]
fn every_crash_point_in_every_scenario() {
    let started = Instant::now();
    let mut crashed = 0;
    for scenario in SCENARIOS {
        for point in sessions::crash::POINTS {
            if run(scenario, &Fault::Crash(point)) {
                crashed += 1;
            }
        }
    }
    let runs = SCENARIOS.len() * sessions::crash::POINTS.len();
    eprintln!(
        "crash matrix: {} points x {} scenarios = {runs} runs, {crashed} crashed, in {:.1} s",
        sessions::crash::POINTS.len(),
        SCENARIOS.len(),
        started.elapsed().as_secs_f64()
    );
    // Every point is on the path of every scenario.
    assert_eq!(crashed, runs);
}

/// How long each cut lasts (simulated seconds).
const CUT: f64 = 4.0;

/// The moments of a call's life, for a call that rings 1 s and talks
/// `talk` s: before its park is handled, while it rings, at its answer,
/// early in its talk, around its first re-debit, as it hangs up (the
/// hangup falls inside the cut) and just after.
fn moments(talk: f64) -> Vec<f64> {
    vec![0.0, 0.5, 1.0, 3.0, 8.5, 1.0 + talk - 2.0, 1.0 + talk + 0.2]
}

#[test]
fn event_socket_cuts_at_every_moment_of_a_call() {
    let started = Instant::now();
    let mut runs = 0;
    for scenario in SCENARIOS {
        let talk = scenario.accounts[0].talks[0];
        for at in moments(talk) {
            run(scenario, &Fault::Cut(at));
            runs += 1;
        }
    }
    eprintln!(
        "event socket cuts: {runs} runs in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// A call that ends while the Event Socket is down and whose CDR does not
/// come in time: held, then settled with an estimate; the CDR, posted
/// late, corrects the record and the charge once. With `crash`, the
/// server dies at that point of the path and is started again.
fn unheard_and_late(crash: Option<&str>) {
    let label = format!("unheard, CDR late / crash at {crash:?}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _in_runtime = rt.enter();
    let http = free_addr();
    // The switch posts where nobody listens: the test delivers the CDR itself, late.
    let sw = rt.block_on(switch(free_addr()));
    let dir = tempfile::tempdir().unwrap();
    let overrides = || {
        let mut o = overrides(&sw, http);
        o["sessions"]["cdr_wait"] = json!("10s");
        o
    };
    let server = Server::start_in(dir.path(), overrides());
    let reply = server.call(
        "APIerSv1.SetBalance",
        json!({"Tenant": "cgrates.org", "Account": "2004", "BalanceType": "*monetary", "BalanceID": "main", "Value": 10}),
    );
    assert_eq!(reply["result"], "OK", "{reply}");
    server.kill9();
    let env: Vec<(&str, &str)> = crash
        .map(|p| ("TOLLGATE_CRASH_AT", p))
        .into_iter()
        .collect();
    let mut server = Server::start_with_env(dir.path(), overrides(), &env);
    server.wait_connected();
    let uuid = sw.place_call(call("2004", 20.0)).unwrap();
    rt.block_on(sw.wait_record(&uuid, WAIT, |r| r.answered))
        .expect("answered");
    std::thread::sleep(Duration::from_secs_f64(3.0 / SPEED));
    rt.block_on(sw.stop_listening());
    sw.drop_connections();
    let rec = rt.block_on(sw.wait_for_end(&uuid, WAIT)).expect("ends");
    rt.block_on(sw.resume_listening()).unwrap();
    let talked = (rec.ended_at.unwrap() - rec.answered_at.unwrap()) as f64 / 1e6;
    let body = rt
        .block_on(sw.wait_cdr_post(&uuid, WAIT))
        .expect("the switch made the CDR")
        .body;
    let mut crashed = false;
    // Held, then estimated (the held point dies before the estimate).
    let deadline = Instant::now() + WAIT;
    let estimate = loop {
        if server.exited() {
            crashed = true;
            server = Server::start_in(dir.path(), overrides());
        }
        if let Some(r) = try_records(http, &uuid).and_then(|l| l.first().cloned()) {
            break r;
        }
        assert!(Instant::now() < deadline, "{label}: no record");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(estimate["Estimated"], true, "{label}: {estimate}");
    // The CDR comes late: the record is corrected (a post the server died
    // on is posted again, as the switch would).
    let deadline = Instant::now() + WAIT;
    loop {
        match try_http_request(http, "POST", "/freeswitch/cdr", &body) {
            Some((200, reply)) => {
                assert_eq!(reply, r#"{"result":"corrected"}"#, "{label}");
                break;
            }
            other => {
                assert!(Instant::now() < deadline, "{label}: {other:?}");
                if server.exited() {
                    crashed = true;
                    server = Server::start_in(dir.path(), overrides());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    assert_eq!(
        crashed,
        crash.is_some(),
        "{label}: the crash point was not passed"
    );
    let again = try_http_request(http, "POST", "/freeswitch/cdr", &body);
    assert_eq!(
        again,
        Some((200, r#"{"result":"already settled"}"#.to_string())),
        "{label}"
    );
    let list = records(&server, &uuid);
    assert_eq!(list.len(), 1, "{label}: {list:?}");
    let cost = decimal(&list[0]["Cost"]);
    assert_eq!(
        cost,
        price(talked),
        "{label}: talked {talked} s: {}",
        list[0]
    );
    assert!(list[0].get("Estimated").is_none(), "{label}: {}", list[0]);
    assert!(
        cost < decimal(&estimate["Cost"]),
        "{label}: the estimate was {estimate}"
    );
    assert_eq!(money(&server, "2004"), Decimal::TEN - cost, "{label}");
}

#[test]
fn a_call_ending_unheard_is_estimated_then_corrected_once_whatever_dies() {
    unheard_and_late(None);
    for point in sessions::crash::UNHEARD_POINTS {
        unheard_and_late(Some(point));
    }
}
