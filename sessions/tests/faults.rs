//! Faults and other request types against the simulated switch: a dropped
//! connection, a call that ends while tollgate cannot hear the switch,
//! postpaid and rated calls, two switches, and a repeated hangup event.

mod common;

use common::*;
use integration::{CallSpec, HangupBy};
use rust_decimal_macros::dec;
use std::sync::atomic::Ordering;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_comes_back_and_the_call_is_billed_exactly() {
    let Rig {
        dir: _dir,
        sw,
        engine,
        ctl,
    } = rig(dec!(10), long_grace).await;
    let uuid = sw.place_call(prepaid("1001", "1002", 95.0)).unwrap();
    sw.wait_record(&uuid, WAIT, |r| r.answered).await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(sw.drop_connections() >= 2);
    let rec = sw.wait_for_end(&uuid, WAIT).await.unwrap();
    assert_eq!(rec.billsec, 95);
    assert_eq!(cdr(&ctl, &uuid, WAIT).await.cost, dec!(0.95));
    assert_eq!(money(&engine, "1001").await, dec!(9.05));
    assert!(ctl.metrics().reconnects.load(Ordering::Relaxed) >= 1);
    ctl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_cut_by_the_switch_while_unheard_is_settled_on_resync() {
    let dir = tempfile::tempdir().unwrap();
    let sw = switch().await;
    let engine = engine(dir.path()).await;
    // 0.50 pays 50 s; the switch holds the limit: the paid time plus the
    // grace, extended while tollgate hears the switch.
    fund(&engine, "1001", dec!(0.5)).await;
    let ctl = start(&engine, config(&[&sw]), dir.path());
    connected(&ctl, 1).await;
    let uuid = sw.place_call(prepaid("1001", "1002", 300.0)).unwrap();
    sw.wait_record(&uuid, WAIT, |r| r.answered).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    sw.stop_listening().await;
    sw.drop_connections();
    let rec = sw.wait_for_end(&uuid, WAIT).await.unwrap();
    assert_eq!(rec.hangup_cause.as_deref(), Some("ALLOTTED_TIMEOUT"));
    let talked = talked(&rec);
    assert!(talked <= 50.0, "{talked}");
    sw.resume_listening().await.unwrap();
    let cdr = cdr(&ctl, &uuid, WAIT).await;
    // No CDR comes (the switch posts none here): after `cdr_wait`, the
    // record is an estimate, and says so.
    assert!(cdr.estimated, "{cdr:?}");
    assert!(
        cdr.extra_info.starts_with("estimated"),
        "{}",
        cdr.extra_info
    );
    // Billed what the switch's clock says the call lasted: the limit it
    // held (read with `strepoch`, whole seconds).
    let billed = Duration::from_nanos(cdr.usage as u64).as_secs_f64();
    assert!(
        (talked - billed).abs() <= 1.0,
        "talked {talked} s, billed {billed} s"
    );
    assert!(cdr.cost <= dec!(0.5));
    assert_eq!(money(&engine, "1001").await, dec!(0.5) - cdr.cost);
    no_sessions(&ctl).await;
    ctl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postpaid_and_rated_calls_are_priced_at_the_end() {
    let Rig {
        dir: _dir,
        sw,
        engine,
        ctl,
    } = rig(dec!(0.5), |_| {}).await;
    let postpaid = sw
        .place_call(
            CallSpec::new("1001", "1002")
                .var("cgr_reqtype", "*postpaid")
                .ring(1.0)
                .talk(95.0),
        )
        .unwrap();
    let rated = sw
        .place_call(
            CallSpec::new("7777", "1003")
                .var("cgr_reqtype", "*rated")
                .ring(1.0)
                .talk(30.0),
        )
        .unwrap();
    for uuid in [&postpaid, &rated] {
        let rec = sw.wait_for_end(uuid, WAIT).await.unwrap();
        assert_eq!(rec.hangup_by, Some(HangupBy::Caller));
        assert!(
            !rec.logged("sched_hangup"),
            "no limit for {uuid}: {:?}",
            rec.log
        );
    }
    // Postpaid: billed whole after the call, below zero if need be.
    assert_eq!(cdr(&ctl, &postpaid, WAIT).await.cost, dec!(0.95));
    assert_eq!(money(&engine, "1001").await, dec!(-0.45));
    // Rated: priced (0.5 connect fee + 0.30), no account touched.
    let c = cdr(&ctl, &rated, WAIT).await;
    assert_eq!(c.cost, dec!(0.8));
    assert!(c.charges.is_empty());
    assert_eq!(ctl.metrics().debits.load(Ordering::Relaxed), 0);
    ctl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_switches_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (switch().await, switch().await);
    let engine = engine(dir.path()).await;
    fund(&engine, "1001", dec!(10)).await;
    // A long grace: at 100x, the default 10 s is 100 ms of real time,
    // which a loaded machine can miss between two debits.
    let mut cfg = config(&[&a, &b]);
    long_grace(&mut cfg);
    let ctl = start(&engine, cfg, dir.path());
    connected(&ctl, 2).await;
    let ua = a.place_call(prepaid("1001", "1002", 40.0)).unwrap();
    let ub = b.place_call(prepaid("1001", "1002", 70.0)).unwrap();
    a.wait_for_end(&ua, WAIT).await.unwrap();
    b.wait_for_end(&ub, WAIT).await.unwrap();
    let (ca, cb) = (cdr(&ctl, &ua, WAIT).await, cdr(&ctl, &ub, WAIT).await);
    assert_eq!(
        (ca.origin_host.as_str(), cb.origin_host.as_str()),
        ("fs1", "fs2")
    );
    assert_eq!(ca.cost + cb.cost, dec!(1.1), "{ca:?}\n{cb:?}");
    assert_eq!(money(&engine, "1001").await, dec!(8.9));
    ctl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_low_balance_is_announced_once() {
    let dir = tempfile::tempdir().unwrap();
    let sw = switch().await;
    let engine = engine(dir.path()).await;
    fund(&engine, "1001", dec!(1)).await;
    let mut cfg = config(&[&sw]);
    cfg.low_balance_warning = Some(sessions::LowBalanceWarning {
        threshold: dec!(0.5),
        file: "/sounds/low_balance.wav".into(),
    });
    let ctl = start(&engine, cfg, dir.path());
    connected(&ctl, 1).await;
    let uuid = sw.place_call(prepaid("1001", "1002", 80.0)).unwrap();
    let rec = sw.wait_for_end(&uuid, WAIT).await.unwrap();
    let plays: Vec<_> = rec
        .log
        .iter()
        .filter(|l| l.what.starts_with("uuid_broadcast"))
        .collect();
    assert_eq!(plays.len(), 1, "{:?}", rec.log);
    assert!(
        plays[0].what.contains("playback::/sounds/low_balance.wav"),
        "{:?}",
        plays[0]
    );
    // Announced by the debit in advance that leaves less than 0.5: the one
    // paying for the time past 50 s, made at about 40 s (plus drift).
    let answered = rec.answered_at.unwrap();
    assert!(
        plays[0].at - answered >= 35_000_000,
        "{:?} {} s after the answer",
        plays[0],
        (plays[0].at - answered) as f64 / 1e6
    );
    assert_eq!(cdr(&ctl, &uuid, WAIT).await.cost, dec!(0.8));
    ctl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_answered_before_tollgate_started_is_picked_up() {
    let dir = tempfile::tempdir().unwrap();
    let sw = switch().await;
    let engine = engine(dir.path()).await;
    fund(&engine, "1001", dec!(10)).await;
    // Not parked (nobody to authorize it yet), answered, talking.
    let uuid = sw
        .place_call(prepaid("1001", "1002", 60.0).park(false))
        .unwrap();
    sw.wait_record(&uuid, WAIT, |r| r.answered).await.unwrap();
    let ctl = start(&engine, config(&[&sw]), dir.path());
    let rec = sw.wait_for_end(&uuid, WAIT).await.unwrap();
    assert_eq!(rec.billsec, 60);
    let c = cdr(&ctl, &uuid, WAIT).await;
    assert_eq!(c.cost, dec!(0.6));
    assert_eq!(money(&engine, "1001").await, dec!(9.4));
    ctl.shutdown().await;
}
