//! The PostgreSQL store as its users expect it: explicit isolation, errors
//! with their cause, recovery from lost connections, pruned idempotency
//! records. Each test works in a database of its own on the cluster of
//! TOLLGATE_TEST_PG_URL (skipped when unset, a failure under CI).

mod support;

use rater::account::{AccountError, AccountKey, BalanceType};
use rater::store::postgres::{PgOptions, PostgresStore};
use rater::store::AccountStore;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::sync::Arc;
use std::time::Duration;
use support::{pg_url, seed};
use tokio_postgres::NoTls;

/// A fresh database on the test cluster; dropped with the guard.
struct Db {
    admin_url: String,
    name: String,
    url: String,
}

async fn admin(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(conn);
    client
}

impl Db {
    async fn create() -> Option<Db> {
        let admin_url = pg_url()?;
        let name = format!("tollgate_{}", uuid::Uuid::new_v4().simple());
        admin(&admin_url)
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let (base, _) = admin_url.rsplit_once('/').unwrap();
        let url = format!("{base}/{name}");
        Some(Db {
            admin_url,
            name,
            url,
        })
    }

    /// Terminates every connection to this database but the caller's.
    async fn terminate_backends(&self) -> i64 {
        let row = admin(&self.admin_url)
            .await
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE datname = $1 AND pid <> pg_backend_pid()",
                &[&self.name],
            )
            .await
            .unwrap();
        row.get(0)
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Best effort, on a thread of its own: Drop cannot await.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let _ = admin(&admin_url)
                    .await
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
            });
        })
        .join();
    }
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

async fn money(store: &dyn AccountStore, key: &AccountKey) -> Decimal {
    store
        .get(key)
        .await
        .unwrap()
        .unwrap()
        .total(BalanceType::Monetary)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn under_a_repeatable_read_default_640_concurrent_debits_all_succeed() {
    let Some(db) = Db::create().await else { return };
    admin(&db.admin_url)
        .await
        .batch_execute(&format!(
            "ALTER DATABASE {} SET default_transaction_isolation = 'repeatable read'",
            db.name
        ))
        .await
        .unwrap();
    let store = Arc::new(PostgresStore::connect(&db.url).await.unwrap());
    let key = AccountKey::new("t", "rr");
    seed(&*store, &key, dec!(1000)).await;
    // 640 concurrent debits of one account: all succeed, the balance is exact.
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let (store, key) = (store.clone(), key.clone());
            tokio::spawn(async move {
                for j in 0..10 {
                    debit(&*store, &key, Some(&format!("rr-{i}-{j}")), dec!(0.5))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(money(&*store, &key).await, dec!(680));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn errors_carry_their_sqlstate_and_message() {
    let Some(db) = Db::create().await else { return };
    let store = PostgresStore::connect(&db.url).await.unwrap();
    let key = AccountKey::new("t", "e");
    seed(&store, &key, dec!(10)).await;
    admin(&db.url)
        .await
        .batch_execute(
            "CREATE FUNCTION no_writes() RETURNS trigger AS $$ \
             BEGIN RAISE EXCEPTION 'no writes today' USING DETAIL = 'maintenance'; END $$ LANGUAGE plpgsql; \
             CREATE TRIGGER no_writes BEFORE UPDATE ON tollgate_accounts FOR EACH ROW EXECUTE FUNCTION no_writes();",
        )
        .await
        .unwrap();
    let e = debit(&store, &key, None, dec!(1)).await.unwrap_err();
    let text = e.to_string();
    assert!(
        text.starts_with("SERVER_ERROR: postgres: ERROR P0001: no writes today"),
        "{text}"
    );
    assert!(text.contains("maintenance"), "{text}");
    assert_eq!(money(&store, &key).await, dec!(10));
    // A server that is not there: the client-side cause is named.
    let e = PostgresStore::connect("postgres://postgres@127.0.0.1:1/none")
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("postgres") && e.to_lowercase().contains("refused"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn changes_succeed_after_the_backends_are_terminated() {
    let Some(db) = Db::create().await else { return };
    let store = Arc::new(PostgresStore::connect(&db.url).await.unwrap());
    let key = AccountKey::new("t", "lost");
    seed(&*store, &key, dec!(100)).await;
    for round in 0..5 {
        // Fill the pool with connections, then kill them all.
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let (store, key) = (store.clone(), key.clone());
                tokio::spawn(async move {
                    debit(&*store, &key, Some(&format!("a-{round}-{i}")), dec!(1))
                        .await
                        .unwrap();
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert!(db.terminate_backends().await > 0);
        // The very next change succeeds, and so do reads.
        debit(&*store, &key, Some(&format!("b-{round}")), dec!(1))
            .await
            .unwrap();
        assert!(store.get(&key).await.unwrap().is_some());
        db.terminate_backends().await;
        assert_eq!(store.list("t", None, 0, None).await.unwrap().len(), 1);
    }
    assert_eq!(money(&*store, &key).await, dec!(55));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_records_are_pruned_on_schedule() {
    let Some(db) = Db::create().await else { return };
    let options = PgOptions {
        ops_retention: Duration::from_secs(1),
    };
    assert_eq!(options.prune_every(), Duration::from_secs(1));
    let store = PostgresStore::connect_with(&db.url, options).await.unwrap();
    let key = AccountKey::new("t", "p");
    seed(&store, &key, dec!(10)).await;
    debit(&store, &key, Some("op-1"), dec!(1)).await.unwrap();
    let count = || async {
        let row = admin(&db.url)
            .await
            .query_one("SELECT count(*) FROM tollgate_ops", &[])
            .await
            .unwrap();
        row.get::<_, i64>(0)
    };
    assert_eq!(count().await, 1);
    // Gone within a few prune periods (polling, a generous ceiling).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while count().await > 0 {
        assert!(std::time::Instant::now() < deadline, "op never pruned");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The default keeps a day, and prune_ops by hand still works.
    assert_eq!(
        PgOptions::default().ops_retention,
        Duration::from_secs(86_400)
    );
    debit(&store, &key, Some("op-2"), dec!(1)).await.unwrap();
    assert_eq!(store.prune_ops(Duration::from_secs(3600)).await.unwrap(), 0);
    assert_eq!(money(&store, &key).await, dec!(8));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serialization_failures_are_retried_and_reported_when_they_persist() {
    let Some(db) = Db::create().await else { return };
    let store = PostgresStore::connect(&db.url).await.unwrap();
    let key = AccountKey::new("t", "s");
    seed(&store, &key, dec!(10)).await;
    // Every other write fails as a serialization failure would.
    admin(&db.url)
        .await
        .batch_execute(
            "CREATE SEQUENCE flaky; \
             CREATE FUNCTION flaky() RETURNS trigger AS $$ BEGIN \
               IF nextval('flaky') % 2 = 1 THEN \
                 RAISE EXCEPTION 'simulated conflict' USING ERRCODE = 'serialization_failure'; \
               END IF; RETURN NEW; END $$ LANGUAGE plpgsql; \
             CREATE TRIGGER flaky BEFORE UPDATE ON tollgate_accounts FOR EACH ROW EXECUTE FUNCTION flaky();",
        )
        .await
        .unwrap();
    for i in 0..5 {
        debit(&store, &key, Some(&format!("s-{i}")), dec!(1))
            .await
            .unwrap();
    }
    assert_eq!(money(&store, &key).await, dec!(5));
    // Failing every time: given up after the attempts, with the cause.
    admin(&db.url)
        .await
        .batch_execute(
            "CREATE OR REPLACE FUNCTION flaky() RETURNS trigger AS $$ BEGIN \
               RAISE EXCEPTION 'simulated conflict' USING ERRCODE = 'serialization_failure'; END $$ LANGUAGE plpgsql;",
        )
        .await
        .unwrap();
    let e = debit(&store, &key, None, dec!(1))
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(e, "SERVER_ERROR: postgres: ERROR 40001: simulated conflict");
    assert_eq!(money(&store, &key).await, dec!(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_migrates_and_refuses_a_database_ahead_of_this_build() {
    let Some(db) = Db::create().await else { return };
    drop(PostgresStore::connect(&db.url).await.unwrap());
    let versions: Vec<i32> = admin(&db.url)
        .await
        .query(
            "SELECT version FROM refinery_schema_history ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, [1, 2]);
    admin(&db.url)
        .await
        .batch_execute(
            "INSERT INTO refinery_schema_history (version, name, applied_on, checksum) \
             VALUES (3, 'future', '2030-01-01T00:00:00Z', '1')",
        )
        .await
        .unwrap();
    let e = PostgresStore::connect(&db.url)
        .await
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        e,
        "SERVER_ERROR: the database schema is at version 3, newer than this tollgate knows (2): \
         upgrade tollgate before starting it on this database"
    );
}
