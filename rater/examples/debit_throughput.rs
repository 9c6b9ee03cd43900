//! Durable debit throughput of the embedded store through the engine:
//! `cargo run --release -p rater --example debit_throughput -- [ACCOUNTS] [SECONDS] [DIR]`
//! (defaults: 64 accounts, 10 s, a temp dir). Each of ACCOUNTS tasks debits
//! its own account a rated 10 s mobile call at a time and waits for the
//! fsynced acknowledgement before the next.

use chrono::{TimeDelta, Utc};
use rater::account::{AccountKey, BalanceType, MaxSessionMethod};
use rater::engine::{BalanceArgs, Engine, Origin};
use rater::store::embedded::EmbeddedStore;
use rater::CallDescriptor;
use rust_decimal::Decimal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let accounts: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(64);
    let seconds: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(10);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = args
        .next()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| tmp.path().to_path_buf());
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/../conf/tariffplans/sample");
    let plan = rater::load_folder(sample, chrono_tz::Tz::UTC).expect("sample plan");
    let store = Arc::new(EmbeddedStore::open(&dir).expect("store"));
    let engine = Arc::new(Engine::new(plan, store, MaxSessionMethod::Exact));
    for i in 0..accounts {
        let args = BalanceArgs {
            tenant: "cgrates.org".into(),
            account: format!("bench{i}"),
            balance_type: Some(BalanceType::Monetary),
            id: Some("main".into()),
            value: Some(Decimal::from(1_000_000)),
            ..Default::default()
        };
        engine.set_balance(&args).await.expect("seed");
    }
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..accounts {
        let (engine, done) = (engine.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            // cgrates.org rates every subject with the standard plan.
            let cd = CallDescriptor::new(
                "cgrates.org",
                "call",
                &format!("bench{i}"),
                "0723456789",
                Utc::now(),
                TimeDelta::seconds(10),
            );
            let origin = Origin::default();
            while Instant::now() < deadline {
                engine.debit(&cd, &origin, false).await.expect("debit");
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let n = done.load(Ordering::Relaxed);
    let left = engine
        .store()
        .get(&AccountKey::new("cgrates.org", "bench0"))
        .await
        .unwrap()
        .unwrap()
        .total(BalanceType::Monetary);
    println!(
        "{n} durable debits in {elapsed:.2} s with {accounts} concurrent accounts: {:.0} debits/s (bench0 has {left} left)",
        n as f64 / elapsed
    );
}
