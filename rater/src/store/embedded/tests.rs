//! What reads and later changes see while a change is on its way to disk.
//! A hook in the writer holds a group commit open (or fails it), so each
//! test can look at the store between a change being applied and its
//! commit finishing, without timing anything.

use super::{writer, EmbeddedStore, DEFAULT_COMPACT_AT, DEFAULT_MAX_OPS};
use crate::account::{Account, AccountError, AccountKey, Balance, BalanceType};
use crate::store::AccountStore;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};
use tokio::sync::{mpsc as tokio_mpsc, oneshot};
use tokio::task::JoinHandle;

/// Holds the writer's group commits while closed: each one reports that
/// it has its batch, then waits for the test's answer (write it, or fail).
struct Gate {
    closed: Arc<AtomicBool>,
    held: tokio_mpsc::UnboundedReceiver<()>,
    answer: std_mpsc::Sender<std::io::Result<()>>,
}

impl Gate {
    fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    fn open(&self) {
        self.closed.store(false, Ordering::Release);
    }

    /// Returns once the writer holds a group commit at the gate.
    async fn held(&mut self) {
        self.held.recv().await.expect("the writer is running");
    }

    /// Lets the held commit go on (`Ok`) or fail with `result`'s error.
    fn answer(&self, result: std::io::Result<()>) {
        self.answer.send(result).expect("the writer is waiting");
    }
}

fn gated(dir: &Path) -> (Arc<EmbeddedStore>, Gate) {
    let closed = Arc::new(AtomicBool::new(false));
    let (held_tx, held) = tokio_mpsc::unbounded_channel();
    let (answer, answers) = std_mpsc::channel();
    let is_closed = closed.clone();
    let hook: writer::Hook = Some(Box::new(move || {
        if !is_closed.load(Ordering::Acquire) {
            return Ok(());
        }
        let _ = held_tx.send(());
        // A test that is gone (failed) lets the commit through.
        answers.recv().unwrap_or(Ok(()))
    }));
    let store = EmbeddedStore::open_hooked(dir, DEFAULT_MAX_OPS, DEFAULT_COMPACT_AT, hook).unwrap();
    let gate = Gate {
        closed,
        held,
        answer,
    };
    (Arc::new(store), gate)
}

fn account(key: &AccountKey, money: Decimal) -> Account {
    let mut a = Account::new(key);
    a.push_balance(BalanceType::Monetary, Balance::new("b1", "main", money));
    a
}

async fn create(store: &EmbeddedStore, key: &AccountKey, money: Decimal) {
    store
        .update(key, None, &mut |acc| {
            *acc = Some(account(key, money));
            Ok(Value::Null)
        })
        .await
        .unwrap();
}

async fn money(store: &EmbeddedStore, key: &AccountKey) -> Option<Decimal> {
    let acc = store.get(key).await.unwrap();
    acc.map(|a| a.total(BalanceType::Monetary))
}

async fn listed(store: &EmbeddedStore, tenant: &str) -> Vec<(String, Decimal)> {
    let all = store.list(tenant, None, 0, None).await.unwrap();
    all.iter()
        .map(|a| (a.id.clone(), a.total(BalanceType::Monetary)))
        .collect()
}

type Task = JoinHandle<Result<Value, AccountError>>;

/// Debits `amount` in a task; the receiver gets the balance the change
/// started from as soon as the change has run (before its commit).
fn spawn_debit(
    store: &Arc<EmbeddedStore>,
    key: &AccountKey,
    amount: Decimal,
) -> (Task, oneshot::Receiver<Decimal>) {
    let (seen_tx, seen) = oneshot::channel();
    let (store, key) = (store.clone(), key.clone());
    let task = tokio::spawn(async move {
        let mut seen_tx = Some(seen_tx);
        store
            .update(&key, None, &mut |acc| {
                let acc = acc.as_mut().ok_or(AccountError::AccountNotFound)?;
                let balances = acc
                    .balance_map
                    .get_mut(&BalanceType::Monetary)
                    .ok_or(AccountError::AccountNotFound)?;
                let b = &mut balances[0];
                if let Some(tx) = seen_tx.take() {
                    let _ = tx.send(b.value);
                }
                b.value -= amount;
                Ok(json!({ "left": b.value.to_string() }))
            })
            .await
    });
    (task, seen)
}

/// Between a change being applied and its group commit, `get` and `list`
/// return the state before it — a changed balance, or a new account —
/// and once the change is acknowledged, they return it.
#[tokio::test]
async fn a_change_is_invisible_to_reads_until_its_commit_is_durable() {
    let dir = tempfile::tempdir().unwrap();
    let (store, mut gate) = gated(dir.path());
    let a = AccountKey::new("t", "a");
    create(&store, &a, dec!(10)).await;

    gate.close();
    let (debit, _) = spawn_debit(&store, &a, dec!(1));
    gate.held().await;
    // Applied in memory, not on disk: a process dying now would come back
    // with 10, so no reader may see 9.
    assert_eq!(money(&store, &a).await, Some(dec!(10)));
    assert_eq!(listed(&store, "t").await, [("t:a".to_string(), dec!(10))]);

    // A new account on its way to disk is not there yet either.
    let b = AccountKey::new("t", "b");
    let (created_tx, created) = oneshot::channel();
    let creation = {
        let (store, b) = (store.clone(), b.clone());
        tokio::spawn(async move {
            let mut created_tx = Some(created_tx);
            store
                .update(&b, None, &mut |acc| {
                    *acc = Some(account(&b, dec!(5)));
                    if let Some(tx) = created_tx.take() {
                        let _ = tx.send(());
                    }
                    Ok(Value::Null)
                })
                .await
        })
    };
    created.await.unwrap();
    assert_eq!(money(&store, &b).await, None);
    assert_eq!(listed(&store, "t").await, [("t:a".to_string(), dec!(10))]);

    gate.open();
    gate.answer(Ok(()));
    assert_eq!(debit.await.unwrap().unwrap(), json!({ "left": "9" }));
    // Acknowledged, so durable, so visible.
    assert_eq!(money(&store, &a).await, Some(dec!(9)));
    creation.await.unwrap().unwrap();
    assert_eq!(money(&store, &b).await, Some(dec!(5)));
    assert_eq!(
        listed(&store, "t").await,
        [("t:a".to_string(), dec!(9)), ("t:b".to_string(), dec!(5))]
    );
}

/// A second change of one account builds on the first before that is on
/// disk (so changes of a busy account still share group commits), is
/// acknowledged only after its own commit, and each commit shows readers
/// exactly what it made durable.
#[tokio::test]
async fn each_commit_shows_what_it_made_durable_and_no_more() {
    let dir = tempfile::tempdir().unwrap();
    let (store, mut gate) = gated(dir.path());
    let a = AccountKey::new("t", "a");
    create(&store, &a, dec!(10)).await;

    gate.close();
    let (first, _) = spawn_debit(&store, &a, dec!(1));
    gate.held().await;
    let (second, seen) = spawn_debit(&store, &a, dec!(1));
    // Ran on the first's result while the first's commit is held.
    assert_eq!(seen.await.unwrap(), dec!(9));
    assert_eq!(money(&store, &a).await, Some(dec!(10)));

    // The first commit finishes; the second (queued after it was held)
    // is the next one, held in turn.
    gate.answer(Ok(()));
    gate.held().await;
    assert_eq!(first.await.unwrap().unwrap(), json!({ "left": "9" }));
    assert!(!second.is_finished());
    assert_eq!(money(&store, &a).await, Some(dec!(9)));
    assert_eq!(listed(&store, "t").await, [("t:a".to_string(), dec!(9))]);

    gate.answer(Ok(()));
    assert_eq!(second.await.unwrap().unwrap(), json!({ "left": "8" }));
    assert_eq!(money(&store, &a).await, Some(dec!(8)));
}

/// When the commit of a change fails, a change built on it is never
/// acknowledged, and readers keep seeing the last durable state — what a
/// restart would come back with.
#[tokio::test]
async fn a_failed_commit_fails_what_builds_on_it_and_reads_keep_the_durable_state() {
    let dir = tempfile::tempdir().unwrap();
    let (store, mut gate) = gated(dir.path());
    let a = AccountKey::new("t", "a");
    create(&store, &a, dec!(10)).await;

    gate.close();
    let (first, _) = spawn_debit(&store, &a, dec!(1));
    gate.held().await;
    let (second, seen) = spawn_debit(&store, &a, dec!(1));
    assert_eq!(seen.await.unwrap(), dec!(9));
    gate.answer(Err(std::io::Error::other("the disk is gone")));
    assert!(first.await.unwrap().is_err());
    assert!(second.await.unwrap().is_err());
    assert_eq!(money(&store, &a).await, Some(dec!(10)));
    assert_eq!(listed(&store, "t").await, [("t:a".to_string(), dec!(10))]);
    // The store refuses further changes until restarted.
    let (third, _) = spawn_debit(&store, &a, dec!(1));
    assert!(third.await.unwrap().is_err());
    assert_eq!(money(&store, &a).await, Some(dec!(10)));
    drop(store);
    drop(gate);
    let reopened = EmbeddedStore::open(dir.path()).unwrap();
    assert_eq!(money(&reopened, &a).await, Some(dec!(10)));
}

/// A removal is seen once durable, and then leaves no slot behind.
#[tokio::test]
async fn a_removal_is_seen_once_durable() {
    let dir = tempfile::tempdir().unwrap();
    let (store, mut gate) = gated(dir.path());
    let a = AccountKey::new("t", "a");
    create(&store, &a, dec!(10)).await;

    gate.close();
    let removal = {
        let (store, a) = (store.clone(), a.clone());
        tokio::spawn(async move {
            store
                .update(&a, None, &mut |acc| {
                    *acc = None;
                    Ok(Value::Null)
                })
                .await
        })
    };
    gate.held().await;
    assert_eq!(money(&store, &a).await, Some(dec!(10)));
    assert_eq!(listed(&store, "t").await, [("t:a".to_string(), dec!(10))]);
    gate.open();
    gate.answer(Ok(()));
    removal.await.unwrap().unwrap();
    assert_eq!(money(&store, &a).await, None);
    assert_eq!(listed(&store, "t").await, Vec::<(String, Decimal)>::new());
    assert_eq!(store.slots(), 0);
}
