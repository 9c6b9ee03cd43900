//! The library and binary controls: scenario files, load, the clock,
//! dropping connections, stopping and resuming the listener.

mod common;

use std::time::Duration;

use common::*;
use esl::{Backoff, Client, ClientConfig, ClientEvent, EventFormat};
use integration::{
    CallRecord, CallSpec, FakeSwitch, HangupBy, LoadSpec, Scenario, ScenarioStart, SwitchConfig,
};

const SCENARIOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios");

fn example() -> Scenario {
    Scenario::from_file(format!("{SCENARIOS}/example.json").as_ref()).expect("example parses")
}

fn check_example_records(records: &[CallRecord]) {
    assert_eq!(records.len(), 12);
    let first = &records[0];
    assert_eq!(first.uuid, "5c6b8c0e-7a43-4d57-9e57-000000000001");
    assert!(first.parked && !first.answered);
    assert_eq!(first.hangup_by, Some(HangupBy::Abandon));
    assert_eq!(first.ended_at.unwrap() - first.created_at, 30_000_000);
    let second = &records[1];
    assert_eq!(second.caller, "1003");
    assert_eq!(second.billsec, 20);
    assert_eq!(second.hangup_by, Some(HangupBy::Caller));
    assert_eq!(second.created_at - first.created_at, 5_000_000);
    for (i, r) in records[2..].iter().enumerate() {
        let n = i + 1;
        assert_eq!(r.caller, format!("2{n}"));
        assert_eq!(r.variable("cgr_account"), Some(format!("2{n}").as_str()));
        assert_eq!(r.billsec, 5);
        assert_eq!(
            r.created_at - first.created_at,
            10_000_000 + i as i64 * 500_000
        );
    }
}

#[tokio::test]
async fn the_example_scenario_runs_to_the_end() {
    let sw = FakeSwitch::start(SwitchConfig {
        speed: 200.0,
        scenario: example(),
        ..Default::default()
    })
    .await
    .unwrap();
    assert!(sw.wait_idle(WAIT).await);
    check_example_records(&sw.records());
}

#[tokio::test]
async fn the_binary_prints_records_at_exit() {
    let out = tokio::time::timeout(
        WAIT,
        tokio::process::Command::new(env!("CARGO_BIN_EXE_fake-freeswitch"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--speed",
                "200",
                "--exit-when-idle",
            ])
            .arg("--scenario")
            .arg(format!("{SCENARIOS}/example.json"))
            .output(),
    )
    .await
    .expect("exits when idle")
    .expect("runs");
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("listening on 127.0.0.1:"), "{err}");
    let records: Vec<CallRecord> = serde_json::from_slice(&out.stdout).expect("records JSON");
    check_example_records(&records);
}

#[tokio::test]
async fn the_binary_runs_a_load_from_flags() {
    let out = tokio::time::timeout(
        WAIT,
        tokio::process::Command::new(env!("CARGO_BIN_EXE_fake-freeswitch"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--speed",
                "100",
                "--exit-when-idle",
            ])
            .args(["--load-calls", "5", "--load-rate", "10"])
            .output(),
    )
    .await
    .expect("exits")
    .expect("runs");
    let records: Vec<CallRecord> = serde_json::from_slice(&out.stdout).expect("records JSON");
    assert_eq!(records.len(), 5);
    assert!(records.iter().all(|r| r.ended()));
    // The default template parks, and its callers give up after 60 s.
    assert_eq!(records[4].caller, "15");
    assert!(records
        .iter()
        .all(|r| r.parked && r.hangup_by == Some(HangupBy::Abandon)));
}

#[tokio::test]
async fn load_starts_calls_at_the_rate() {
    let sw = switch(100.0).await;
    let load = LoadSpec {
        calls: 50,
        rate: 50.0,
        at: 0.0,
        template: CallSpec::new("3{n}", "1002")
            .park(false)
            .ring(0.5)
            .talk(2.0)
            .var("cgr_account", "acc{n}"),
    };
    let uuids = sw.start_load(load).unwrap();
    assert_eq!(uuids.len(), 50);
    assert!(sw.wait_idle(WAIT).await);
    let records = sw.records();
    assert_eq!(records.len(), 50);
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.uuid, uuids[i]);
        assert_eq!(r.billsec, 2);
        assert_eq!(
            r.variable("cgr_account"),
            Some(format!("acc{}", i + 1).as_str())
        );
        assert_eq!(r.created_at - records[0].created_at, i as i64 * 20_000);
    }
}

#[tokio::test]
async fn a_scenario_can_wait_for_the_first_subscriber() {
    let sw = FakeSwitch::start(SwitchConfig {
        speed: 100.0,
        scenario: Scenario {
            start: ScenarioStart::OnFirstSubscription,
            calls: vec![CallSpec::new("1001", "1002").uuid("late")],
            load: None,
        },
        ..Default::default()
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(sw.records().is_empty());
    assert!(!sw.wait_idle(Duration::from_millis(10)).await);
    let mut raw = Raw::authed(sw.addr()).await;
    assert!(sw.records().is_empty(), "authenticating is not subscribing");
    raw.command("event plain CHANNEL_CREATE").await;
    assert_eq!(raw.event().await.unique_id(), Some("late"));
}

#[tokio::test]
async fn dropped_connections_reconnect_and_see_new_calls() {
    let sw = switch(100.0).await;
    let mut config = ClientConfig::new(sw.addr().to_string(), "ClueCon");
    config.liveness_timeout = None;
    config.reconnect = Some(Backoff {
        initial: Duration::from_millis(10),
        max: Duration::from_millis(50),
        jitter: false,
    });
    let (client, mut rx) = Client::connect(config).await.unwrap();
    client
        .subscribe(EventFormat::Plain, &["CHANNEL_CREATE"])
        .await
        .unwrap();
    assert_eq!(sw.connections(), 1);
    let up = sw.place_call(CallSpec::new("1", "2")).unwrap();
    next_event(&mut rx, "CHANNEL_CREATE", &up).await;

    assert_eq!(sw.drop_connections(), 1);
    let mut saw_drop = false;
    let reconnected = tokio::time::timeout(WAIT, async {
        while let Some(ev) = rx.recv().await {
            match ev {
                ClientEvent::Disconnected { .. } => saw_drop = true,
                ClientEvent::Reconnected { .. } => return true,
                _ => {}
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    assert!(saw_drop && reconnected);
    // Calls went on while the connection was down.
    assert!(client.uuid_exists(&up).await.unwrap());
    let next = sw.place_call(CallSpec::new("1", "2")).unwrap();
    next_event(&mut rx, "CHANNEL_CREATE", &next).await;
}

#[tokio::test]
async fn stop_and_resume_listening() {
    let sw = switch(1.0).await;
    let mut kept = Raw::authed(sw.addr()).await;
    sw.stop_listening().await;
    assert!(tokio::net::TcpStream::connect(sw.addr()).await.is_err());
    assert_eq!(
        kept.api("uuid_exists x").await,
        "false",
        "open connections stay"
    );
    assert_eq!(sw.resume_listening().await.unwrap(), sw.addr());
    let mut again = Raw::authed(sw.addr()).await;
    assert_eq!(again.api("uuid_exists x").await, "false");
    sw.drop_connections();
    assert!(kept.closed().await);
    assert!(again.closed().await);
}

#[tokio::test]
async fn hangup_caller_and_wait_record() {
    let sw = switch(100.0).await;
    let uuid = sw
        .place_call(CallSpec::new("1", "2").park(false).ring(1.0))
        .unwrap();
    let answered = sw.wait_record(&uuid, WAIT, |r| r.answered).await.unwrap();
    assert!(!answered.ended());
    assert_eq!(sw.active_calls(), vec![uuid.clone()]);
    assert!(sw.hangup_caller(&uuid));
    let rec = sw.wait_for_end(&uuid, WAIT).await.unwrap();
    assert_eq!(rec.hangup_by, Some(HangupBy::Caller));
    assert!(sw.active_calls().is_empty());
    assert!(!sw.hangup_caller(&uuid));
    let ringing = sw.place_call(CallSpec::new("1", "2")).unwrap();
    assert!(sw.hangup_caller(&ringing));
    let rec = sw.record(&ringing).unwrap();
    assert_eq!(rec.hangup_by, Some(HangupBy::Abandon));
    assert_eq!(rec.hangup_cause.as_deref(), Some("ORIGINATOR_CANCEL"));
    assert!(sw.place_call(CallSpec::new("1", "2").uuid(&uuid)).is_err());
    assert!(sw.place_call(CallSpec::new("1", "2").talk(-1.0)).is_err());
}

/// No socket is involved, so tokio's paused clock can run an hour-long call
/// at speed 1 in no time.
#[tokio::test(start_paused = true)]
async fn an_hour_long_call_on_the_paused_clock() {
    let sw = switch(1.0).await;
    let uuid = sw
        .place_call(CallSpec::new("1", "2").park(false).ring(3.0).talk(3600.0))
        .unwrap();
    let rec = sw
        .wait_for_end(&uuid, Duration::from_secs(7200))
        .await
        .unwrap();
    assert_eq!(rec.billsec, 3600);
    assert_eq!(rec.duration, 3603);
}
