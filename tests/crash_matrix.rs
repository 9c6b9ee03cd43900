//! The fault-injection suite: calls on the simulated switch while the real
//! binary dies (`abort()`, as abrupt as SIGKILL) at every named point of a
//! call's life (`sessions::crash::POINTS`), in every scenario; and,
//! separately, while the switch cuts the Event Socket at random moments.
//! After the restart the calls run to their end, and for every call:
//! exactly one record; charged the price of the time the switch says it
//! talked, never more, never less than that minus the price of
//! `limit_grace`; the accounts lose exactly the sum of the records' costs,
//! and none goes below zero.

mod common;

use common::Server;
use integration::{CallSpec, FakeSwitch, SwitchConfig};
use rust_decimal::Decimal;
use serde_json::{json, Value};
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

fn overrides(sw: &FakeSwitch) -> Value {
    json!({
        "freeswitch": [{"address": sw.addr().to_string(), "password": "ClueCon", "alias": "fs1"}],
        "sessions": {"clock_speed": SPEED, "limit_grace": format!("{GRACE}s")},
    })
}

fn decimal(v: &Value) -> Decimal {
    v.to_string()
        .parse()
        .unwrap_or_else(|_| panic!("not a number: {v}"))
}

/// The sample plan's mobile rate: 0.02 per started 10 s.
fn price(secs: f64) -> Decimal {
    let steps = (secs.max(0.0) / 10.0 - 1e-9).ceil().max(0.0);
    Decimal::from(steps as i64) * Decimal::new(2, 2)
}

fn money(server: &Server, account: &str) -> Decimal {
    let reply = server.call(
        "APIerSv2.GetAccount",
        json!({"Tenant": "cgrates.org", "Account": account}),
    );
    reply["result"]["BalanceMap"]["*monetary"]
        .as_array()
        .unwrap_or_else(|| panic!("{reply}"))
        .iter()
        .map(|b| decimal(&b["Value"]))
        .sum()
}

fn records(server: &Server, uuid: &str) -> Vec<Value> {
    let reply = server.call("CDRsV1.GetCDRs", json!({"OriginIDs": [uuid]}));
    reply["result"].as_array().cloned().unwrap_or_default()
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
    /// The switch drops its Event Socket connections at these moments
    /// (simulated seconds after the first call).
    Cuts(Vec<f64>),
}

/// Runs one scenario under one fault and checks every invariant. Returns
/// whether the fault happened (a crash point may not be on the path).
fn run(scenario: &Scenario, fault: &Fault) -> bool {
    let label = match fault {
        Fault::Crash(p) => format!("{} / crash at {p}", scenario.name),
        Fault::Cuts(at) => format!("{} / cuts at {at:?}", scenario.name),
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _in_runtime = rt.enter();
    let sw = rt
        .block_on(FakeSwitch::start(SwitchConfig::with_speed(SPEED)))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Funded first, by a server without the crash point.
    let server = Server::start_in(dir.path(), overrides(&sw));
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
            Server::start_with_env(dir.path(), overrides(&sw), &[("TOLLGATE_CRASH_AT", point)])
        }
        Fault::Cuts(_) => server,
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
                server = Server::start_in(dir.path(), overrides(&sw));
            }
        }
        Fault::Cuts(at) => {
            for &t in at {
                let due = started + Duration::from_secs_f64(t / SPEED);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                happened |= sw.drop_connections() > 0;
            }
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
        let least = price(talked - GRACE as f64);
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

#[test]
fn event_socket_cuts_at_random_moments() {
    let started = Instant::now();
    let mut rng = fastrand::Rng::with_seed(11);
    let mut runs = 0;
    for scenario in SCENARIOS {
        for _ in 0..3 {
            let cuts: Vec<f64> = {
                let mut at: Vec<f64> = (0..rng.usize(1..=3)).map(|_| rng.f64() * 40.0).collect();
                at.sort_by(f64::total_cmp);
                at
            };
            run(scenario, &Fault::Cuts(cuts));
            runs += 1;
        }
    }
    eprintln!(
        "event socket cuts: {runs} runs in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
