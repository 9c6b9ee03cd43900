//! Stores under real processes: a debiting child killed with SIGKILL
//! loses no acknowledged debit, and two processes on one PostgreSQL never
//! overdraw a shared account.

mod support;

use rater::account::{AccountKey, BalanceType};
use rater::store::embedded::EmbeddedStore;
use rater::store::postgres::PostgresStore;
use rater::store::AccountStore;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use support::{pg_url, seed};

const HAMMER: &str = env!("CARGO_BIN_EXE_store_hammer");

#[tokio::test]
async fn sigkill_loses_no_acknowledged_debit() {
    let dir = tempfile::tempdir().unwrap();
    let key = AccountKey::new("t", "crash");
    let start = dec!(1000000);
    {
        let store = EmbeddedStore::open(dir.path()).unwrap();
        seed(&store, &key, start).await;
    }
    let tasks = 8;
    let mut child = Command::new(HAMMER)
        .args([
            "embedded",
            dir.path().to_str().unwrap(),
            "t:crash",
            &tasks.to_string(),
            "100000",
            "0.01",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut acked = Vec::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while let Some(Ok(line)) = lines.next() {
        if let Some(op) = line.strip_prefix("ok ") {
            acked.push(op.to_string());
        }
        if acked.len() == 3000 {
            break;
        }
    }
    // SIGKILL mid-stream: debits are in flight in the writer right now.
    child.kill().unwrap();
    child.wait().unwrap();
    // Lines already written by the child count as acknowledged too.
    for line in lines.map_while(Result::ok) {
        if let Some(op) = line.strip_prefix("ok ") {
            acked.push(op.to_string());
        }
    }
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let left = store
        .get(&key)
        .await
        .unwrap()
        .unwrap()
        .total(BalanceType::Monetary);
    let applied = (start - left) / dec!(0.01);
    let acked_n = Decimal::from(acked.len());
    assert!(
        applied >= acked_n,
        "lost debits: applied {applied}, acknowledged {acked_n}"
    );
    assert!(
        applied <= acked_n + Decimal::from(tasks),
        "applied {applied} > acknowledged {acked_n} + in flight"
    );
    // Every acknowledged op is known: a retry changes nothing.
    let before = left;
    for op in acked.iter().rev().take(50) {
        store
            .update(&key, Some(op), &mut |_| {
                panic!("an acknowledged op ran twice")
            })
            .await
            .unwrap();
    }
    assert_eq!(
        store
            .get(&key)
            .await
            .unwrap()
            .unwrap()
            .total(BalanceType::Monetary),
        before
    );
}

#[tokio::test]
async fn two_processes_on_postgres_never_overdraw() {
    let Some(url) = pg_url() else { return };
    let store = PostgresStore::connect(&url).await.unwrap();
    let tenant = format!("procs-{}", uuid::Uuid::new_v4().simple());
    let key = AccountKey::new(&tenant, "shared");
    let start = dec!(50);
    seed(&store, &key, start).await;
    let id = key.to_string();
    let children: Vec<_> = (0..2)
        .map(|_| {
            Command::new(HAMMER)
                .args(["postgres", &url, &id, "32", "10", "0.1"])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut ok = 0u32;
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.ends_with("done\n"), "{text}");
        assert!(!text.contains("error"), "{text}");
        ok += text.lines().filter(|l| l.starts_with("ok ")).count() as u32;
    }
    let left = store
        .get(&key)
        .await
        .unwrap()
        .unwrap()
        .total(BalanceType::Monetary);
    // 640 attempts of 0.1 against 50: exactly 500 succeed.
    assert_eq!(ok, 500);
    assert_eq!(left, start - Decimal::from(ok) * dec!(0.1));
    assert_eq!(left, Decimal::ZERO);
}
