//! The real binary controlling calls on the simulated switch, killed with
//! SIGKILL mid-call and restarted: a call still up is resumed and billed
//! exactly; a call the switch cut on its own while tollgate was down is
//! settled up to the limit the switch held (the paid time plus the
//! grace), by the switch's clock.

mod common;

use common::Server;
use integration::{CallSpec, FakeSwitch, HangupBy, SwitchConfig};
use serde_json::{json, Value};
use std::time::Duration;

const SPEED: f64 = 100.0;
const WAIT: Duration = Duration::from_secs(30);

fn overrides(sw: &FakeSwitch) -> Value {
    json!({
        "freeswitch": [{"address": sw.addr().to_string(), "password": "ClueCon", "alias": "fs1"}],
        "sessions": {"clock_speed": SPEED, "max_session_time": "exact"},
    })
}

fn fund(server: &Server, account: &str, value: f64) {
    let reply = server.call(
        "APIerSv1.SetBalance",
        json!({"Tenant": "cgrates.org", "Account": account, "BalanceType": "*monetary", "BalanceID": "main", "Value": value}),
    );
    assert_eq!(reply["result"], "OK", "{reply}");
}

fn money(server: &Server, account: &str) -> f64 {
    let reply = server.call(
        "APIerSv2.GetAccount",
        json!({"Tenant": "cgrates.org", "Account": account}),
    );
    reply["result"]["BalanceMap"]["*monetary"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["Value"].as_f64().unwrap())
        .sum()
}

fn cdr(server: &Server, uuid: &str) -> Value {
    for _ in 0..1000 {
        let reply = server.call("CDRsV1.GetCDRs", json!({"OriginIDs": [uuid]}));
        if let Some(c) = reply["result"].as_array().and_then(|l| l.first()) {
            return c.clone();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no call record for {uuid}");
}

/// A prepaid call to a Romanian mobile (sample plan: 0.12/min in 10 s steps).
fn call(account: &str, talk: f64) -> CallSpec {
    CallSpec::new(account, "0723456789")
        .var("cgr_reqtype", "*prepaid")
        .var("cgr_account", account)
        .ring(1.0)
        .talk(talk)
}

#[test]
fn a_call_survives_sigkill_and_is_billed_exactly() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _in_runtime = rt.enter();
    let sw = rt
        .block_on(FakeSwitch::start(SwitchConfig::with_speed(SPEED)))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), overrides(&sw));
    server.wait_connected();
    fund(&server, "1001", 10.0);
    let uuid = sw.place_call(call("1001", 120.0)).unwrap();
    rt.block_on(sw.wait_record(&uuid, WAIT, |r| r.answered))
        .expect("answered");
    std::thread::sleep(Duration::from_millis(300));
    server.kill9();
    let server = Server::start_in(dir.path(), overrides(&sw));
    let rec = rt
        .block_on(sw.wait_for_end(&uuid, WAIT))
        .expect("call ends");
    assert_eq!(rec.hangup_by, Some(HangupBy::Caller));
    assert_eq!(rec.billsec, 120);
    let c = cdr(&server, &uuid);
    assert_eq!(c["Cost"], json!(0.24));
    assert_eq!(money(&server, "1001"), 9.76);
}

#[test]
fn a_call_cut_by_the_switch_while_tollgate_is_down_is_settled_at_restart() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _in_runtime = rt.enter();
    let sw = rt
        .block_on(FakeSwitch::start(SwitchConfig::with_speed(SPEED)))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), overrides(&sw));
    server.wait_connected();
    // 0.10 pays 50 s; the caller would talk 300 s. The switch holds what
    // was paid ahead (10 s) plus the grace (10 s): with tollgate gone, the
    // call ends there, not at the end of the credit.
    fund(&server, "1002", 0.1);
    let uuid = sw.place_call(call("1002", 300.0)).unwrap();
    rt.block_on(sw.wait_record(&uuid, WAIT, |r| r.answered))
        .expect("answered");
    std::thread::sleep(Duration::from_millis(30));
    server.kill9();
    let rec = rt
        .block_on(sw.wait_for_end(&uuid, WAIT))
        .expect("the switch ends the call");
    assert_eq!(rec.hangup_by, Some(HangupBy::SchedHangup));
    assert_eq!(rec.hangup_cause.as_deref(), Some("ALLOTTED_TIMEOUT"));
    let talked = (rec.ended_at.unwrap() - rec.answered_at.unwrap()) as f64 / 1e6;
    assert!(talked <= 20.0, "talked {talked} s");
    // Settled from the switch's clock (`strepoch`) and the limit it held:
    // 20 s of 0.02 per 10 s.
    let server = Server::start_in(dir.path(), overrides(&sw));
    let c = cdr(&server, &uuid);
    assert_eq!(c["Cost"], json!(0.04), "{c}");
    assert_eq!(money(&server, "1002"), 0.06);
    let sessions = server.call("SessionSv1.GetActiveSessions", json!({}));
    assert_eq!(sessions["result"], json!([]));
}
