//! One test suite for both account stores. PostgreSQL runs when
//! TOLLGATE_TEST_PG_URL is set (scripts/test.sh starts a throwaway
//! cluster and sets it); under CI its absence is a failure.

mod support;

use support::{pg_url, seed};

use rater::account::{AccountError, AccountKey, BalanceType};
use rater::store::embedded::EmbeddedStore;
use rater::store::postgres::PostgresStore;
use rater::store::AccountStore;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::sync::Arc;

/// A fresh, uniquely named tenant so tests sharing one database never meet.
fn tenant(name: &str) -> String {
    format!("{name}-{}", uuid::Uuid::new_v4().simple())
}

async fn money(store: &dyn AccountStore, key: &AccountKey) -> Decimal {
    store
        .get(key)
        .await
        .unwrap()
        .unwrap()
        .total(BalanceType::Monetary)
}

async fn debit(
    store: &dyn AccountStore,
    key: &AccountKey,
    op: Option<&str>,
    amount: Decimal,
) -> Result<serde_json::Value, AccountError> {
    store
        .update(key, op, &mut |acc| {
            let acc = acc.as_mut().ok_or(AccountError::AccountNotFound)?;
            let b = &mut acc.balance_map.get_mut(&BalanceType::Monetary).unwrap()[0];
            if b.value < amount {
                return Err(AccountError::InsufficientCredit);
            }
            b.value -= amount;
            Ok(serde_json::json!({ "left": b.value.to_string() }))
        })
        .await
}

async fn crud_and_paging(store: Arc<dyn AccountStore>) {
    let t = tenant("crud");
    assert!(store
        .get(&AccountKey::new(&t, "1"))
        .await
        .unwrap()
        .is_none());
    for n in ["3", "1", "2"] {
        seed(&*store, &AccountKey::new(&t, n), dec!(1)).await;
    }
    let all = store.list(&t, None, 0, None).await.unwrap();
    assert_eq!(
        all.iter().map(|a| a.id.clone()).collect::<Vec<_>>(),
        [format!("{t}:1"), format!("{t}:2"), format!("{t}:3")]
    );
    let page = store.list(&t, None, 1, Some(1)).await.unwrap();
    assert_eq!(page[0].id, format!("{t}:2"));
    let some = store
        .list(&t, Some(&["3".to_string(), "9".to_string()]), 0, None)
        .await
        .unwrap();
    assert_eq!(some.len(), 1);
    store
        .update(&AccountKey::new(&t, "2"), None, &mut |acc| {
            *acc = None;
            Ok(serde_json::json!("OK"))
        })
        .await
        .unwrap();
    assert!(store
        .get(&AccountKey::new(&t, "2"))
        .await
        .unwrap()
        .is_none());
    assert_eq!(store.list(&t, None, 0, None).await.unwrap().len(), 2);
}

async fn failed_change_changes_nothing(store: Arc<dyn AccountStore>) {
    let key = AccountKey::new(&tenant("fail"), "a");
    seed(&*store, &key, dec!(5)).await;
    // Op ids are global: unique per run, so a database kept across runs
    // does not answer an earlier run's reply.
    let op = format!("{key}-op-too-big");
    let e = debit(&*store, &key, Some(&op), dec!(6)).await.unwrap_err();
    assert_eq!(e, AccountError::InsufficientCredit);
    assert_eq!(money(&*store, &key).await, dec!(5));
    // The failed op was not recorded: a retry after a top-up really runs.
    debit(&*store, &key, Some(&op), dec!(1)).await.unwrap();
    assert_eq!(money(&*store, &key).await, dec!(4));
}

async fn idempotent_ops(store: Arc<dyn AccountStore>) {
    let t = tenant("idem");
    let key = AccountKey::new(&t, "a");
    seed(&*store, &key, dec!(10)).await;
    let op = format!("{t}-cgrid-1:*default");
    let first = debit(&*store, &key, Some(&op), dec!(3)).await.unwrap();
    let again = debit(&*store, &key, Some(&op), dec!(3)).await.unwrap();
    assert_eq!(first, again);
    assert_eq!(money(&*store, &key).await, dec!(7));
}

async fn concurrent_debits_never_overdraw(store: Arc<dyn AccountStore>) {
    let key = AccountKey::new(&tenant("race"), "a");
    let start = dec!(100);
    seed(&*store, &key, start).await;
    let mut tasks = Vec::new();
    for i in 0..64 {
        let (store, key) = (store.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            let mut ok = Decimal::ZERO;
            for j in 0..10 {
                let amount = Decimal::new(7 + (i + j) % 5, 1);
                if debit(&*store, &key, None, amount).await.is_ok() {
                    ok += amount;
                }
            }
            ok
        }));
    }
    let mut taken = Decimal::ZERO;
    for t in tasks {
        taken += t.await.unwrap();
    }
    let left = money(&*store, &key).await;
    assert!(left >= Decimal::ZERO, "overdrawn: {left}");
    assert_eq!(left, start - taken);
    assert!(left < dec!(0.7), "credit left unused: {left}");
}

async fn run_suite(store: Arc<dyn AccountStore>) {
    crud_and_paging(store.clone()).await;
    failed_change_changes_nothing(store.clone()).await;
    idempotent_ops(store.clone()).await;
    concurrent_debits_never_overdraw(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_store_suite() {
    let dir = tempfile::tempdir().unwrap();
    run_suite(Arc::new(EmbeddedStore::open(dir.path()).unwrap())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_store_suite() {
    let Some(url) = pg_url() else { return };
    run_suite(Arc::new(PostgresStore::connect(&url).await.unwrap())).await;
}

#[tokio::test]
async fn embedded_store_survives_reopen_and_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let key = AccountKey::new("t", "a");
    {
        // A tiny compaction threshold: snapshots happen all along.
        let store = EmbeddedStore::open_with(dir.path(), 3, 2_000).unwrap();
        seed(&store, &key, dec!(100)).await;
        for i in 0..50 {
            debit(&store, &key, Some(&format!("op{i}")), dec!(1.5))
                .await
                .unwrap();
        }
        store.flush().await.unwrap();
        debit(&store, &key, Some("op-last"), dec!(0.25))
            .await
            .unwrap();
    }
    let store = EmbeddedStore::open_with(dir.path(), 3, 2_000).unwrap();
    assert_eq!(money(&store, &key).await, dec!(24.75));
    // The newest ops are remembered across the restart.
    debit(&store, &key, Some("op-last"), dec!(0.25))
        .await
        .unwrap();
    debit(&store, &key, Some("op49"), dec!(1.5)).await.unwrap();
    assert_eq!(money(&store, &key).await, dec!(24.75));
}

/// The op-only records (no key) in the store's snapshot.
fn ops_in_snapshot(dir: &std::path::Path) -> usize {
    let bytes = std::fs::read(dir.join("accounts.snapshot")).unwrap();
    rater::store::frames::Frames::new(&bytes)
        .map(|payload| serde_json::from_slice::<serde_json::Value>(payload).unwrap())
        .filter(|record| record["k"] == "")
        .count()
}

#[tokio::test]
async fn embedded_store_keeps_the_newest_ops_across_compaction_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (old, key) = (AccountKey::new("t", "old"), AccountKey::new("t", "a"));
    let open = || EmbeddedStore::open_with(dir.path(), 5, 2_000).unwrap();
    let mut replies = Vec::new();
    {
        let store = open();
        seed(&store, &old, dec!(10)).await;
        seed(&store, &key, dec!(100)).await;
        // The old account's record in each snapshot carries this op; once
        // forgotten, it must stay forgotten (and not push out newer ones).
        debit(&store, &old, Some("op-old"), dec!(1)).await.unwrap();
        for i in 0..50 {
            let op = format!("op{i}");
            replies.push(debit(&store, &key, Some(&op), dec!(1)).await.unwrap());
        }
        store.flush().await.unwrap();
        assert_eq!(ops_in_snapshot(dir.path()), 5);
    }
    for generation in 0..2 {
        let store = open();
        assert_eq!(
            money(&store, &key).await,
            dec!(50),
            "generation {generation}"
        );
        // The five newest ops give their first replies and change nothing...
        for (i, first) in replies.iter().enumerate().skip(45) {
            let again = debit(&store, &key, Some(&format!("op{i}")), dec!(1)).await;
            assert_eq!(&again.unwrap(), first, "op{i}");
        }
        assert_eq!(money(&store, &key).await, dec!(50));
        store.flush().await.unwrap();
        assert_eq!(ops_in_snapshot(dir.path()), 5);
    }
    // ...and older ones are forgotten: a retry runs again.
    let store = open();
    debit(&store, &key, Some("op44"), dec!(1)).await.unwrap();
    debit(&store, &old, Some("op-old"), dec!(1)).await.unwrap();
    assert_eq!(money(&store, &key).await, dec!(49));
    assert_eq!(money(&store, &old).await, dec!(8));
}

/// Retries across snapshots taken while debits are in flight, and a restart:
/// every op in the log when a snapshot truncates it is in that snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_store_retries_across_concurrent_compaction_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let open = || Arc::new(EmbeddedStore::open_with(dir.path(), 10_000, 4_000).unwrap());
    let keys: Vec<AccountKey> = (0..8)
        .map(|n| AccountKey::new("t", &n.to_string()))
        .collect();
    let op = |k: usize, i: usize| format!("interval:{k}:*default:{i}");
    let store = open();
    for key in &keys {
        seed(&*store, key, dec!(100)).await;
    }
    let flusher = {
        let store = store.clone();
        tokio::spawn(async move {
            for _ in 0..20 {
                store.flush().await.unwrap();
                tokio::task::yield_now().await;
            }
        })
    };
    let mut tasks = Vec::new();
    for (k, key) in keys.iter().enumerate() {
        let (store, key) = (store.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            let mut replies = Vec::new();
            for i in 0..60 {
                replies.push(
                    debit(&*store, &key, Some(&op(k, i)), dec!(1))
                        .await
                        .unwrap(),
                );
            }
            replies
        }));
    }
    let mut replies = Vec::new();
    for task in tasks {
        replies.push(task.await.unwrap());
    }
    flusher.await.unwrap();
    drop(store);
    let store = open();
    for (k, key) in keys.iter().enumerate() {
        for (i, first) in replies[k].iter().enumerate() {
            let again = debit(&*store, key, Some(&op(k, i)), dec!(1)).await.unwrap();
            assert_eq!(&again, first, "{}", op(k, i));
        }
        assert_eq!(money(&*store, key).await, dec!(40));
    }
}

#[tokio::test]
async fn embedded_store_cuts_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let key = AccountKey::new("t", "a");
    {
        let store = EmbeddedStore::open(dir.path()).unwrap();
        seed(&store, &key, dec!(10)).await;
        debit(&store, &key, None, dec!(1)).await.unwrap();
    }
    let log = dir.path().join("accounts.log");
    let mut bytes = std::fs::read(&log).unwrap();
    bytes.extend_from_slice(&[200, 1, 0, 0, 1, 2, 3]);
    std::fs::write(&log, &bytes).unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    assert_eq!(money(&store, &key).await, dec!(9));
    debit(&store, &key, None, dec!(1)).await.unwrap();
    drop(store);
    let store = EmbeddedStore::open(dir.path()).unwrap();
    assert_eq!(money(&store, &key).await, dec!(8));
}

#[tokio::test]
async fn one_process_per_store_directory() {
    let dir = tempfile::tempdir().unwrap();
    let _first = EmbeddedStore::open(dir.path()).unwrap();
    let e = EmbeddedStore::open(dir.path()).err().unwrap();
    assert!(e.to_string().contains("in use"), "{e}");
}

/// A change for an account that does not exist, failing or not, leaves
/// nothing in memory: a client sending many cannot grow the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_store_keeps_no_trace_of_changes_to_missing_accounts() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let key = AccountKey::new("t", "real");
    seed(&*store, &key, dec!(100)).await;
    let slots = store.slots();
    assert_eq!(slots, 1);
    let tasks: Vec<_> = (0..4)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..50_000 {
                    let missing = AccountKey::new("t", &format!("missing-{t}-{i}"));
                    let e = debit(&*store, &missing, None, dec!(1)).await.unwrap_err();
                    assert_eq!(e, AccountError::AccountNotFound);
                    // The same key again and again, with an op id, from
                    // several tasks at once.
                    let same = AccountKey::new("t", "ghost");
                    let op = format!("op-{t}-{i}");
                    assert!(debit(&*store, &same, Some(&op), dec!(1)).await.is_err());
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(store.slots(), slots);
    assert_eq!(store.list("t", None, 0, None).await.unwrap().len(), 1);
    // A removed account leaves no slot either, and the real one is intact.
    let gone = AccountKey::new("t", "gone");
    seed(&*store, &gone, dec!(1)).await;
    assert_eq!(store.slots(), 2);
    store
        .update(&gone, None, &mut |acc| {
            *acc = None;
            Ok(serde_json::Value::Null)
        })
        .await
        .unwrap();
    assert_eq!(store.slots(), 1);
    assert!(store.get(&gone).await.unwrap().is_none());
    assert_eq!(money(&*store, &key).await, dec!(100));
    // Concurrent debits of one real account still never overdraw.
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (store, key) = (store.clone(), key.clone());
            tokio::spawn(async move {
                for _ in 0..20 {
                    let _ = debit(&*store, &key, None, dec!(1)).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(money(&*store, &key).await, dec!(0));
}
