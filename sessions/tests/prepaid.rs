//! Prepaid calls end to end against the simulated switch, on a fast clock.

mod common;

use common::*;
use integration::HangupBy;
use rust_decimal_macros::dec;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enough_credit_is_billed_exactly() {
    let Rig {
        dir: _dir,
        sw,
        engine,
        ctl,
    } = rig(dec!(10), |_| {}).await;
    // 95 s: debited in advance in 10 s steps (100 s), the unused 5 s refunded.
    let uuid = sw.place_call(prepaid("1001", "1002", 95.0)).unwrap();
    let rec = sw.wait_for_end(&uuid, WAIT).await.expect("call ends");
    assert!(rec.answered);
    assert_eq!(rec.hangup_by, Some(HangupBy::Caller));
    assert_eq!(rec.billsec, 95);
    assert_eq!(rec.variable("cgr_notify"), Some("+AUTH_OK"));
    assert!(rec.logged("uuid_transfer"), "{:?}", rec.log);
    let cdr = cdr(&ctl, &uuid, WAIT).await;
    assert_eq!(cdr.cost, dec!(0.95));
    assert_eq!(cdr.usage, 95_000_000_000);
    assert_eq!(money(&engine, "1001").await, dec!(9.05));
    no_sessions(&ctl).await;
    let m = ctl.metrics();
    assert!(m.debits.load(std::sync::atomic::Ordering::Relaxed) >= 9);
    assert_eq!(m.refunds.load(std::sync::atomic::Ordering::Relaxed), 1);
    ctl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credit_running_out_cuts_the_call_and_leaves_zero() {
    let Rig {
        dir: _dir,
        sw,
        engine,
        ctl,
    } = rig(dec!(1), |_| {}).await;
    // 1.00 pays 100 s; the caller would talk for 300.
    let uuid = sw.place_call(prepaid("1001", "1002", 300.0)).unwrap();
    let rec = sw.wait_for_end(&uuid, WAIT).await.expect("call ends");
    // Cut by the limit re-armed (`sched_api`) when the last debit found
    // the credit short.
    assert_eq!(rec.hangup_by, Some(HangupBy::SchedApi), "{:?}", rec.log);
    assert_eq!(rec.hangup_cause.as_deref(), Some("ALLOTTED_TIMEOUT"));
    let talked = talked(&rec);
    assert!(
        (talked - 100.0).abs() <= 1.0,
        "cut after {talked} s, credit ran out at 100 s"
    );
    let cdr = cdr(&ctl, &uuid, WAIT).await;
    assert_eq!(money(&engine, "1001").await, dec!(0));
    assert_eq!(cdr.cost, dec!(1));
    ctl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credit_and_unrated_destinations_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let sw = switch().await;
    let engine = engine(dir.path()).await;
    fund(&engine, "1001", dec!(0)).await;
    fund(&engine, "1005", dec!(10)).await;
    let ctl = start(&engine, config(&[&sw]), dir.path());
    connected(&ctl, 1).await;
    let broke = sw.place_call(prepaid("1001", "1002", 60.0)).unwrap();
    let unrated = sw.place_call(prepaid("1005", "9999", 60.0)).unwrap();
    let unknown = sw.place_call(prepaid("nobody", "1002", 60.0)).unwrap();
    for (uuid, reason) in [
        (&broke, "-INSUFFICIENT_CREDIT"),
        (&unrated, "-UNAUTHORIZED_DESTINATION"),
        (&unknown, "-ACCOUNT_NOT_FOUND"),
    ] {
        let rec = sw
            .wait_for_end(uuid, WAIT)
            .await
            .expect("refused call ends");
        assert!(!rec.answered, "{reason}: answered");
        assert_eq!(rec.hangup_by, Some(HangupBy::UuidKill));
        assert_eq!(rec.hangup_cause.as_deref(), Some("CALL_REJECTED"));
        assert_eq!(rec.variable("cgr_notify"), Some(reason));
    }
    assert_eq!(money(&engine, "1005").await, dec!(10));
    assert_eq!(
        ctl.metrics()
            .refused
            .load(std::sync::atomic::Ordering::Relaxed),
        3
    );
    ctl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_share_one_account_without_overdraft() {
    for calls in [2usize, 10] {
        let dir = tempfile::tempdir().unwrap();
        // Slower than the other tests: ten calls racing for the last of the
        // credit make timing matter, and CI runs every test at once.
        let sw = switch_at(20.0).await;
        let engine = engine(dir.path()).await;
        // 3.00 pays 300 s in all; each caller would talk 120 s.
        fund(&engine, "1001", dec!(3)).await;
        let ctl = start(&engine, config_at(20.0, &[&sw]), dir.path());
        connected(&ctl, 1).await;
        let uuids: Vec<String> = (0..calls)
            .map(|_| sw.place_call(prepaid("1001", "1002", 120.0)).unwrap())
            .collect();
        let mut total = rust_decimal::Decimal::ZERO;
        let mut talked = 0u64;
        for uuid in &uuids {
            let rec = sw.wait_for_end(uuid, WAIT).await.expect("call ends");
            talked += rec.billsec;
            total += cdr(&ctl, uuid, WAIT).await.cost;
        }
        let left = money(&engine, "1001").await;
        assert!(left >= dec!(0), "{calls} calls overdrew: {left}");
        assert_eq!(
            left,
            dec!(3) - total,
            "{calls} calls: the records do not add up"
        );
        if calls == 2 {
            assert_eq!(talked, 240);
            assert_eq!(left, dec!(0.6));
        } else {
            // Ten callers want 1200 s; the credit covers 300. Each cut call
            // may run up to a second past its paid time (sched_hangup takes
            // whole seconds; billsec counts whole-second epochs): that slice
            // is recorded unpaid, never taken below zero.
            assert!(
                talked <= 300 + 2 * calls as u64,
                "{talked} s talked on 300 s of credit"
            );
            assert!(left < dec!(0.1), "{left} left unused");
        }
        ctl.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_fee_is_charged_once() {
    let Rig {
        dir: _dir,
        sw,
        engine,
        ctl,
    } = rig(dec!(10), |_| {}).await;
    let uuid = sw.place_call(prepaid("1001", "1003", 45.0)).unwrap();
    sw.wait_for_end(&uuid, WAIT).await.expect("call ends");
    assert_eq!(cdr(&ctl, &uuid, WAIT).await.cost, dec!(0.95));
    assert_eq!(money(&engine, "1001").await, dec!(9.05));
    ctl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_call_shows_as_cgrates_shows_active_sessions() {
    let Rig {
        dir: _dir,
        sw,
        engine: _engine,
        ctl,
    } = rig(dec!(10), |_| {}).await;
    let uuid = sw.place_call(prepaid("1001", "1002", 120.0)).unwrap();
    // Wait until the call is answered and its first interval debited.
    let mut live = None;
    for _ in 0..1000 {
        if let Some(s) = ctl
            .active_sessions()
            .unwrap()
            .into_iter()
            .find(|s| s.usage > 0)
        {
            live = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let s = live.expect("the call shows as an active session");
    let v = serde_json::to_value(&s).unwrap();
    assert_eq!(v["CGRID"], uuid.as_str());
    assert_eq!(v["OriginID"], uuid.as_str());
    assert_eq!(v["OriginHost"], "fs1");
    assert_eq!(v["RunID"], "*default");
    assert_eq!(v["ToR"], "*voice");
    assert_eq!(v["RequestType"], "*prepaid");
    assert_eq!(v["Tenant"], "cgrates.org");
    assert_eq!(v["Account"], "1001");
    assert_eq!(v["Destination"], "1002");
    assert_eq!(v["DebitInterval"], 10_000_000_000i64);
    assert!(v["Usage"].as_i64().unwrap() >= 10_000_000_000, "{v}");
    assert!(v["LoopIndex"].as_u64().unwrap() >= 1, "{v}");
    assert!(v["AnswerTime"].as_str().unwrap().starts_with("20"), "{v}");
    assert!(v["MaxCostSoFar"].as_f64().unwrap() > 0.0, "{v}");
    sw.wait_for_end(&uuid, WAIT).await.expect("call ends");
    no_sessions(&ctl).await;
    ctl.shutdown().await;
}
