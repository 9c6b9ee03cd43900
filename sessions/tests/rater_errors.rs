//! `sessions.on_rater_error`: what a store failure in the middle of a call
//! does to it, with the real embedded store behind a switch that makes it
//! fail on demand.

mod common;

use async_trait::async_trait;
use common::*;
use integration::HangupBy;
use rater::account::{Account, AccountError, AccountKey, MaxSessionMethod};
use rater::engine::Engine;
use rater::store::embedded::EmbeddedStore;
use rater::store::{AccountStore, Change};
use rust_decimal_macros::dec;
use serde_json::Value;
use sessions::RaterErrorPolicy;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The embedded store, whose changes fail while `broken` is set.
struct Breakable {
    inner: EmbeddedStore,
    broken: AtomicBool,
}

#[async_trait]
impl AccountStore for Breakable {
    async fn get(&self, key: &AccountKey) -> Result<Option<Account>, AccountError> {
        self.inner.get(key).await
    }

    async fn list(
        &self,
        tenant: &str,
        ids: Option<&[String]>,
        offset: usize,
        limit: Option<usize>,
    ) -> Result<Vec<Account>, AccountError> {
        self.inner.list(tenant, ids, offset, limit).await
    }

    async fn update(
        &self,
        key: &AccountKey,
        op: Option<&str>,
        change: &mut Change<'_>,
    ) -> Result<Value, AccountError> {
        if self.broken.load(Ordering::SeqCst) {
            return Err(AccountError::Store("disk on fire (injected)".into()));
        }
        self.inner.update(key, op, change).await
    }

    async fn flush(&self) -> Result<(), AccountError> {
        self.inner.flush().await
    }
}

/// Places a 120 s call on 10.00 of credit, breaks the store once the first
/// interval is paid (mends it after `outage`, if given), and returns how
/// the call ended and the debit errors.
async fn call_with_failing_store(
    policy: RaterErrorPolicy,
    outage: Option<f64>,
) -> (integration::CallRecord, u64) {
    // Slower with an outage: its length must hold to a simulated second.
    let speed = if outage.is_some() { 20.0 } else { SPEED };
    let dir = tempfile::tempdir().unwrap();
    let sw = switch_at(speed).await;
    let store = Arc::new(Breakable {
        inner: EmbeddedStore::open(dir.path().join("accounts")).unwrap(),
        broken: AtomicBool::new(false),
    });
    let engine = Arc::new(Engine::new(plan(), store.clone(), MaxSessionMethod::Exact));
    fund(&engine, "1001", dec!(10)).await;
    let mut cfg = config_at(speed, &[&sw]);
    cfg.on_rater_error = policy;
    let ctl = start(&engine, cfg, dir.path());
    connected(&ctl, 1).await;
    let uuid = sw.place_call(prepaid("1001", "1002", 120.0)).unwrap();
    for _ in 0..1000 {
        if ctl.active_sessions().unwrap().iter().any(|s| s.usage > 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    store.broken.store(true, Ordering::SeqCst);
    if let Some(outage) = outage {
        tokio::time::sleep(Duration::from_secs_f64(outage / speed)).await;
        store.broken.store(false, Ordering::SeqCst);
    }
    let rec = sw.wait_for_end(&uuid, WAIT).await.expect("call ends");
    let errors = ctl.metrics().debit_errors.load(Ordering::Relaxed);
    ctl.shutdown().await;
    (rec, errors)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hangup_cuts_the_call_when_a_debit_fails() {
    let (rec, errors) = call_with_failing_store(RaterErrorPolicy::Hangup, None).await;
    assert_eq!(rec.hangup_by, Some(HangupBy::UuidKill), "{:?}", rec.log);
    assert_eq!(
        rec.hangup_cause.as_deref(),
        Some("NORMAL_TEMPORARY_FAILURE"),
        "{:?}",
        rec.log
    );
    // Tried again while paid for and half the grace (10 s): then cut,
    // before the switch's limit (paid + grace) would have.
    assert!(
        rec.billsec >= 10 && rec.billsec < 20,
        "talked {} s",
        rec.billsec
    );
    assert!(errors >= 2, "the debit was tried again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_back_within_the_grace_lets_the_call_go_on_paid() {
    // Broken from the answer for 11.5 s: the debit due at 8 s (2 s before
    // the 10 paid seconds run out) fails and is tried again every second
    // until the store is back, before the patience (10 + 5 s) runs out.
    let (rec, errors) = call_with_failing_store(RaterErrorPolicy::Hangup, Some(11.5)).await;
    assert_eq!(rec.hangup_by, Some(HangupBy::Caller), "{:?}", rec.log);
    assert_eq!(rec.billsec, 120);
    assert!(errors >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continue_lets_the_call_go_on_under_the_switch_limit() {
    let (rec, errors) = call_with_failing_store(RaterErrorPolicy::Continue, None).await;
    assert_eq!(rec.hangup_by, Some(HangupBy::Caller), "{:?}", rec.log);
    assert_eq!(rec.billsec, 120);
    assert!(errors >= 1);
}
