//! Credit control as Diameter Gy does it, against the simulated switch:
//! authorization grants one interval at a time (step-down over the grant,
//! not the whole call), the switch never holds more than the paid time
//! plus `limit_grace`, a call is cut at or before its paid time, and a
//! call that ended or was answered while tollgate was away is billed from
//! the switch's facts.

mod common;

use common::*;
use rater::account::MaxSessionMethod;
use rater::engine::Engine;
use rater::store::embedded::EmbeddedStore;
use rust_decimal_macros::dec;
use sessions::SessionsConfig;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The defaults a new user runs with (step-down, 10 s interval, 3 h
/// calls, 10 s grace), on the simulated switch's fast clock.
fn defaults(cfg: &mut SessionsConfig) {
    let d = SessionsConfig::default();
    cfg.max_session_method = MaxSessionMethod::StepDown;
    cfg.debit_interval = d.debit_interval;
    cfg.max_call_duration = d.max_call_duration;
    cfg.min_call_duration = d.min_call_duration;
    cfg.limit_grace = d.limit_grace;
}

/// An engine on the sample tariff plan shipped in conf/ (mobiles: 0.12
/// per minute in 10 s steps, that is 0.02 per 10 s).
fn sample_engine(dir: &Path) -> Arc<Engine> {
    let plan = rater::load_folder(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf/tariffplans/sample"),
        chrono_tz::Tz::UTC,
    )
    .unwrap();
    let store = Arc::new(EmbeddedStore::open(dir.join("accounts")).unwrap());
    Arc::new(Engine::new(plan, store, MaxSessionMethod::StepDown))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn little_credit_is_authorized_and_cut_near_its_end() {
    // 0.25 pays 25 s at 0.01/s: far below 10 % of the 3 h a call may last.
    let Rig {
        dir: _dir,
        sw,
        engine,
        ctl,
    } = rig(dec!(0.25), defaults).await;
    let uuid = sw.place_call(prepaid("1001", "1002", 300.0)).unwrap();
    let rec = sw.wait_for_end(&uuid, WAIT).await.expect("call ends");
    assert!(rec.answered, "{:?}", rec.log);
    assert_eq!(rec.variable("cgr_max_usage"), Some("25"));
    let talked = talked(&rec);
    assert!((23.0..=26.0).contains(&talked), "cut after {talked} s");
    let c = cdr(&ctl, &uuid, WAIT).await;
    assert!(!c.unpaid, "{c:?}");
    assert!(money(&engine, "1001").await >= dec!(0));
    assert_eq!(money(&engine, "1001").await, dec!(0.25) - c.cost);
    ctl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_call_on_little_credit_is_billed_what_it_talked() {
    // 1.00 pays 100 s at 0.01/s; the caller talks 5 s.
    let Rig {
        dir: _dir,
        sw,
        engine,
        ctl,
    } = rig(dec!(1), defaults).await;
    let uuid = sw.place_call(prepaid("1001", "1002", 5.0)).unwrap();
    let rec = sw.wait_for_end(&uuid, WAIT).await.expect("call ends");
    assert_eq!(rec.billsec, 5);
    assert_eq!(rec.variable("cgr_max_usage"), Some("100"));
    assert_eq!(cdr(&ctl, &uuid, WAIT).await.cost, dec!(0.05));
    assert_eq!(money(&engine, "1001").await, dec!(0.95));
    ctl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sample_mobile_rate_authorizes_one_unit_of_credit_and_prices_the_cut_call_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let sw = switch().await;
    let engine = sample_engine(dir.path());
    // 1.00 on mobiles at 0.12/min: over 8 minutes; the caller talks 30 s.
    fund(&engine, "1001", dec!(1)).await;
    // R4: 0.05 at 0.02 per 10 s pays 20 s; the caller would talk 60 s.
    fund(&engine, "1002", dec!(0.05)).await;
    let mut cfg = config(&[&sw]);
    defaults(&mut cfg);
    let ctl = start(&engine, cfg, dir.path());
    connected(&ctl, 1).await;
    let ample = sw.place_call(prepaid("1001", "0723045326", 30.0)).unwrap();
    let short = sw.place_call(prepaid("1002", "0723045326", 60.0)).unwrap();
    let rec = sw.wait_for_end(&ample, WAIT).await.expect("call ends");
    assert_eq!(rec.billsec, 30, "{:?}", rec.log);
    assert_eq!(rec.variable("cgr_max_usage"), Some("500"));
    assert_eq!(cdr(&ctl, &ample, WAIT).await.cost, dec!(0.06));
    let rec = sw.wait_for_end(&short, WAIT).await.expect("call ends");
    let talked = talked(&rec);
    // Cut at or before the paid time (whole seconds of the switch's
    // clock, rounded down), never after it.
    assert!((19.0..=20.0).contains(&talked), "cut after {talked} s");
    let c = cdr(&ctl, &short, WAIT).await;
    assert_eq!(c.cost, dec!(0.04), "{c:?}");
    assert!(!c.unpaid, "{c:?}");
    // The record's cost is the price of its own usage.
    let usage = Duration::from_nanos(c.usage as u64);
    assert!(usage <= Duration::from_secs(20), "{usage:?}");
    assert_eq!(money(&engine, "1002").await, dec!(0.01));
    ctl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_controller_costs_at_most_the_grace_per_call_on_a_shared_account() {
    // F2: two calls on one account with credit for 10,000 s. tollgate goes
    // away after the answer: each call holds only what it paid (10 s) plus
    // the grace (10 s), not the whole credit.
    let dir = tempfile::tempdir().unwrap();
    let sw = switch().await;
    let engine = engine(dir.path()).await;
    fund(&engine, "1001", dec!(100)).await;
    let cfg = config(&[&sw]);
    let ctl = start(&engine, cfg.clone(), dir.path());
    connected(&ctl, 1).await;
    let calls: Vec<String> = (0..2)
        .map(|_| sw.place_call(prepaid("1001", "1002", 300.0)).unwrap())
        .collect();
    for uuid in &calls {
        sw.wait_record(uuid, WAIT, |r| r.answered).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    ctl.shutdown().await;
    drop(ctl);
    for uuid in &calls {
        let rec = sw
            .wait_for_end(uuid, WAIT)
            .await
            .expect("the switch cuts it");
        let talked = talked(&rec);
        assert!(talked <= 20.01, "talked {talked} s with tollgate gone");
        assert_eq!(rec.hangup_cause.as_deref(), Some("ALLOTTED_TIMEOUT"));
    }
    // Back: each call is settled from the switch's clock (R2: `strepoch`)
    // and the limit it held, not from the whole credit nor as zero.
    let ctl = start(&engine, cfg, dir.path());
    let mut total = dec!(0);
    for uuid in &calls {
        let rec = sw.record(uuid).unwrap();
        let c = cdr(&ctl, uuid, WAIT).await;
        let billed = Duration::from_nanos(c.usage as u64).as_secs_f64();
        assert!(
            (talked(&rec) - billed).abs() <= 1.0,
            "talked {} s, billed {billed} s",
            talked(&rec)
        );
        total += c.cost;
    }
    assert!(total >= dec!(0.36) && total <= dec!(0.40), "{total}");
    assert_eq!(money(&engine, "1001").await, dec!(100) - total);
    no_sessions(&ctl).await;
    ctl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_the_switch_kept_is_what_bounds_the_estimate_of_a_call_ended_unheard() {
    // The first interval's debit (at 8 s) arms the next limit, 30 s, but
    // the switch does not take the deletion of the one before, 20 s, which
    // still holds. The next debit (at 18 s, paying to 30 s) is written
    // down; tollgate goes away before 20 s, when the old limit cuts the
    // call. Back, it finds the call gone without a CDR and estimates its
    // usage from the switch's clock up to the limit the switch held: 20 s,
    // not the 30 s or 40 s armed since (which billed the time until the
    // restart). At 10x: the 2 s between the debit and the cut are 200 ms.
    let dir = tempfile::tempdir().unwrap();
    let sw = switch_at(10.0).await;
    let engine = engine(dir.path()).await;
    fund(&engine, "1001", dec!(100)).await;
    let mut cfg = config_at(10.0, &[&sw]);
    // No CDR comes: the estimate stands after 1 s (real).
    cfg.cdr_wait = Duration::from_secs(10);
    let ctl = start(&engine, cfg.clone(), dir.path());
    connected(&ctl, 1).await;
    let uuid = sw.place_call(prepaid("1001", "1002", 300.0)).unwrap();
    sw.wait_record(&uuid, WAIT, |r| r.answered).await.unwrap();
    sw.fail_api("sched_del", true);
    // Paid to 30 s: the park's 10 s and two intervals.
    let paid = tokio::time::timeout(WAIT, async {
        while money(&engine, "1001").await > dec!(99.70) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(paid.is_ok(), "the second interval was never debited");
    assert!(
        sw.refused_api().iter().any(|l| l.contains(uuid.as_str())),
        "{:?}",
        sw.refused_api()
    );
    // Its session written down (it shares an fsync: up to 10 ms).
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(sw.is_up(&uuid), "the call ended before tollgate went away");
    ctl.shutdown().await;
    drop(ctl);
    let rec = sw
        .wait_for_end(&uuid, WAIT)
        .await
        .expect("the switch cuts it");
    let talked = talked(&rec);
    assert!(talked <= 20.01, "talked {talked} s");
    assert_eq!(rec.hangup_cause.as_deref(), Some("ALLOTTED_TIMEOUT"));
    // Back well after the end: 5 s of the switch's time.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ctl = start(&engine, cfg, dir.path());
    let c = cdr(&ctl, &uuid, WAIT).await;
    let billed = Duration::from_nanos(c.usage as u64).as_secs_f64();
    assert!(
        (talked - billed).abs() <= 1.0,
        "talked {talked} s, billed {billed} s"
    );
    no_sessions(&ctl).await;
    ctl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_answered_while_the_event_socket_was_down_is_billed() {
    // F1: authorized at park, then the connection drops while it rings;
    // the switch answers unheard. Found on resync, billed in full. (The
    // call lasts 3 s of real time, longer than a reconnection.)
    let Rig {
        dir: _dir,
        sw,
        engine,
        ctl,
    } = rig(dec!(10), long_grace).await;
    let uuid = sw
        .place_call(prepaid("1001", "1002", 300.0).ring(3.0))
        .unwrap();
    sw.wait_record(&uuid, WAIT, |r| r.logged("uuid_transfer"))
        .await
        .unwrap();
    sw.stop_listening().await;
    sw.drop_connections();
    sw.wait_record(&uuid, WAIT, |r| r.answered).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    sw.resume_listening().await.unwrap();
    let rec = sw.wait_for_end(&uuid, WAIT).await.expect("call ends");
    assert_eq!(rec.billsec, 300, "{:?}", rec.log);
    let c = cdr(&ctl, &uuid, WAIT).await;
    assert_eq!(Duration::from_nanos(c.usage as u64).as_secs(), 300, "{c:?}");
    assert_eq!(c.cost, dec!(3));
    assert_eq!(money(&engine, "1001").await, dec!(7));
    ctl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_answered_while_tollgate_was_down_is_billed() {
    // F1: tollgate stops while the call rings and is back after the answer.
    let dir = tempfile::tempdir().unwrap();
    let sw = switch().await;
    let engine = engine(dir.path()).await;
    fund(&engine, "1001", dec!(10)).await;
    let cfg = config(&[&sw]);
    let ctl = start(&engine, cfg.clone(), dir.path());
    connected(&ctl, 1).await;
    let uuid = sw
        .place_call(prepaid("1001", "1002", 60.0).ring(3.0))
        .unwrap();
    sw.wait_record(&uuid, WAIT, |r| r.logged("uuid_transfer"))
        .await
        .unwrap();
    ctl.shutdown().await;
    drop(ctl);
    sw.wait_record(&uuid, WAIT, |r| r.answered).await.unwrap();
    let ctl = start(&engine, cfg, dir.path());
    let rec = sw.wait_for_end(&uuid, WAIT).await.expect("call ends");
    assert_eq!(rec.billsec, 60, "{:?}", rec.log);
    let c = cdr(&ctl, &uuid, WAIT).await;
    assert_eq!(c.cost, dec!(0.6), "{c:?}");
    assert_eq!(money(&engine, "1001").await, dec!(9.4));
    ctl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_missing_from_a_lagging_channel_table_is_not_taken_for_gone() {
    // R3: the switch lists a call in `show channels` only some time after
    // its events. A reconnection right after the answer must not settle it.
    let dir = tempfile::tempdir().unwrap();
    let mut sim = integration::SwitchConfig::with_speed(SPEED);
    sim.channel_table_lag = Duration::from_secs(30);
    let sw = integration::FakeSwitch::start(sim).await.unwrap();
    let engine = engine(dir.path()).await;
    fund(&engine, "1001", dec!(10)).await;
    let mut cfg = config(&[&sw]);
    long_grace(&mut cfg);
    let ctl = start(&engine, cfg, dir.path());
    connected(&ctl, 1).await;
    let uuid = sw.place_call(prepaid("1001", "1002", 45.0)).unwrap();
    sw.wait_record(&uuid, WAIT, |r| r.answered).await.unwrap();
    assert!(sw.drop_connections() >= 2);
    let rec = sw.wait_for_end(&uuid, WAIT).await.expect("call ends");
    assert_eq!(rec.billsec, 45, "{:?}", rec.log);
    let c = cdr(&ctl, &uuid, WAIT).await;
    assert!(c.extra_info.is_empty(), "{c:?}");
    assert_eq!(c.cost, dec!(0.45));
    ctl.shutdown().await;
}
