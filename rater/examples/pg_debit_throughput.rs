//! Durable debit throughput of the PostgreSQL store through the engine:
//! `cargo run --release -p rater --example pg_debit_throughput -- URL [ACCOUNTS] [SECONDS]`
//! (defaults: 64 accounts, 10 s). Each of ACCOUNTS tasks debits its own
//! account a rated 10 s mobile call at a time and waits for the committed
//! acknowledgement before the next. The accounts (tenant
//! `cgrates.org`, `pgbench0`…) are set to 1 000 000 first; the last line
//! printed is `… debits/s`.

use chrono::{TimeDelta, Utc};
use rater::account::{AccountKey, BalanceType, MaxSessionMethod};
use rater::engine::{BalanceArgs, Engine, Origin};
use rater::store::postgres::PostgresStore;
use rater::CallDescriptor;
use rust_decimal::Decimal;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(url) = args.next() else {
        eprintln!("usage: pg_debit_throughput URL [ACCOUNTS] [SECONDS]");
        return ExitCode::from(2);
    };
    let accounts: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(64);
    let seconds: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(10);
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/../conf/tariffplans/sample");
    let plan = match rater::load_folder(sample, chrono_tz::Tz::UTC) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("sample plan: {e}");
            return ExitCode::FAILURE;
        }
    };
    let store = match PostgresStore::connect(&url).await {
        Ok(store) => Arc::new(store),
        Err(e) => {
            eprintln!("{url}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let engine = Arc::new(Engine::new(plan, store, MaxSessionMethod::Exact));
    for i in 0..accounts {
        let args = BalanceArgs {
            tenant: "cgrates.org".into(),
            account: format!("pgbench{i}"),
            balance_type: Some(BalanceType::Monetary),
            id: Some("main".into()),
            value: Some(Decimal::from(1_000_000)),
            ..Default::default()
        };
        if let Err(e) = engine.set_balance(&args).await {
            eprintln!("seeding pgbench{i}: {e}");
            return ExitCode::FAILURE;
        }
    }
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..accounts {
        let (engine, done, failed) = (engine.clone(), done.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            // cgrates.org rates every subject with the standard plan.
            let cd = CallDescriptor::new(
                "cgrates.org",
                "call",
                &format!("pgbench{i}"),
                "0723456789",
                Utc::now(),
                TimeDelta::seconds(10),
            );
            let origin = Origin::default();
            while Instant::now() < deadline {
                match engine.debit(&cd, &origin, false).await {
                    Ok(_) => done.fetch_add(1, Ordering::Relaxed),
                    Err(e) => {
                        if failed.fetch_add(1, Ordering::Relaxed) == 0 {
                            eprintln!("debit failed: {e}");
                        }
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        0
                    }
                };
            }
        }));
    }
    for t in tasks {
        if let Err(e) = t.await {
            eprintln!("task: {e}");
            return ExitCode::FAILURE;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let n = done.load(Ordering::Relaxed);
    let errors = failed.load(Ordering::Relaxed);
    let left = match engine
        .store()
        .get(&AccountKey::new("cgrates.org", "pgbench0"))
        .await
    {
        Ok(Some(account)) => account.total(BalanceType::Monetary).to_string(),
        Ok(None) => "no account".to_string(),
        Err(e) => format!("unreadable: {e}"),
    };
    println!(
        "{n} committed debits in {elapsed:.2} s with {accounts} concurrent accounts, {errors} failed: \
         {:.0} debits/s (pgbench0 has {left} left)",
        n as f64 / elapsed
    );
    if errors > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
