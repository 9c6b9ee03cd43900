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
use support::seed;
use tokio_postgres::NoTls;

/// A fresh database on the test cluster (`pgschema::testing`); dropped
/// with the guard.
struct Db(pgschema::testing::TestDb);

impl std::ops::Deref for Db {
    type Target = pgschema::testing::TestDb;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

async fn admin(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(conn);
    client
}

impl Db {
    async fn create() -> Option<Db> {
        pgschema::testing::TestDb::create().map(Db)
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

/// Two stores ("nodes") on one database, 128 tasks debiting 64 accounts
/// at random: no account overdrawn, each down by exactly what was
/// acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_debiting_64_accounts_never_overdraw_and_add_up() {
    let Some(db) = Db::create().await else { return };
    let nodes = [
        Arc::new(PostgresStore::connect(&db.url).await.unwrap()),
        Arc::new(PostgresStore::connect(&db.url).await.unwrap()),
    ];
    let keys: Arc<Vec<AccountKey>> = Arc::new(
        (0..64)
            .map(|i| AccountKey::new("t", &format!("a{i}")))
            .collect(),
    );
    let start = dec!(30);
    for key in keys.iter() {
        seed(&*nodes[0], key, start).await;
    }
    let tasks: Vec<_> = (0..128usize)
        .map(|t| {
            let (store, keys) = (nodes[t % 2].clone(), keys.clone());
            tokio::spawn(async move {
                let mut taken = vec![Decimal::ZERO; keys.len()];
                let mut refused = 0;
                for j in 0..40usize {
                    let a = (t * 7 + j * 13) % keys.len();
                    let amount = Decimal::new(7 + ((t + j) % 5) as i64, 1);
                    // Every third with an op id, as a session's debits have.
                    let op = (j % 3 == 0).then(|| format!("n-{t}-{j}"));
                    match debit(&*store, &keys[a], op.as_deref(), amount).await {
                        Ok(_) => taken[a] += amount,
                        Err(AccountError::InsufficientCredit) => refused += 1,
                        Err(e) => panic!("debit failed: {e}"),
                    }
                }
                (taken, refused)
            })
        })
        .collect();
    let mut taken = vec![Decimal::ZERO; keys.len()];
    let mut refused = 0;
    for t in tasks {
        let (mine, r) = t.await.unwrap();
        for (sum, x) in taken.iter_mut().zip(mine) {
            *sum += x;
        }
        refused += r;
    }
    // 5120 debits of 0.9 on average against 64 × 30: some are refused.
    assert!(refused > 0);
    for (i, key) in keys.iter().enumerate() {
        for node in &nodes {
            let left = money(&**node, key).await;
            assert!(left >= Decimal::ZERO, "{key} overdrawn: {left}");
            assert_eq!(left, start - taken[i], "{key}");
        }
    }
}

/// Changes of one account queued together: a refused change does not
/// abort the others, and a repeated op id answers its first reply and is
/// applied once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_answers_each_change_on_its_own() {
    let Some(db) = Db::create().await else { return };
    let store = Arc::new(PostgresStore::connect(&db.url).await.unwrap());
    let key = AccountKey::new("t", "mixed");
    seed(&*store, &key, dec!(100)).await;
    for round in 0..5 {
        let tasks: Vec<_> = (0..30)
            .map(|i| {
                let (store, key) = (store.clone(), key.clone());
                tokio::spawn(async move {
                    match i % 3 {
                        // Too big: refused, never applied.
                        0 => debit(&*store, &key, None, dec!(1000)).await,
                        // The same op id ten times: applied once.
                        1 => debit(&*store, &key, Some(&format!("same-{round}")), dec!(2)).await,
                        _ => debit(&*store, &key, None, dec!(1)).await,
                    }
                })
            })
            .collect();
        let mut same = Vec::new();
        for (i, t) in tasks.into_iter().enumerate() {
            let answer = t.await.unwrap();
            match i % 3 {
                0 => assert_eq!(answer, Err(AccountError::InsufficientCredit)),
                1 => same.push(answer.unwrap()),
                _ => assert!(answer.is_ok(), "{answer:?}"),
            }
        }
        assert!(same.iter().all(|r| *r == same[0]), "{same:?}");
    }
    // 5 rounds × (10 × 1 + 2 once).
    assert_eq!(money(&*store, &key).await, dec!(40));
}

/// A TCP relay between the store and the server that can refuse
/// connections (nothing listening), swallow them (accepted, never
/// answered) or relay them again, on the same port.
struct Relay {
    port: u16,
    target: std::net::SocketAddr,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    connections: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Relay {
    async fn start(server_url: &str) -> Relay {
        let config: tokio_postgres::Config = server_url.parse().unwrap();
        let host = match &config.get_hosts()[0] {
            tokio_postgres::config::Host::Tcp(h) => h.clone(),
            other => panic!("not a TCP host: {other:?}"),
        };
        let target = format!("{host}:{}", config.get_ports()[0]).parse().unwrap();
        let mut relay = Relay {
            port: 0,
            target,
            tasks: Vec::new(),
            connections: Default::default(),
        };
        relay.serve(true).await;
        relay
    }

    fn url(&self, db: &Db) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{}", self.port, db.name)
    }

    /// Listens on the port (a new one the first time): relaying, or holding
    /// each connection unanswered.
    async fn serve(&mut self, relay: bool) {
        self.stop().await;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .unwrap();
        self.port = listener.local_addr().unwrap().port();
        let (target, connections) = (self.target, self.connections.clone());
        self.tasks.push(tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let task = tokio::spawn(async move {
                    if !relay {
                        // Accepted, never answered.
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        drop(inbound);
                        return;
                    }
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                connections.lock().unwrap().push(task.abort_handle());
            }
        }));
    }

    /// Closes the listener and every connection: new ones are refused.
    async fn stop(&mut self) {
        self.abort();
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }

    fn abort(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        for c in self.connections.lock().unwrap().drain(..) {
            c.abort();
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.abort();
    }
}

/// The server going away: changes and reads fail within seconds naming
/// the cause, the health check says so, and all recover by themselves
/// when it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_the_server_away_requests_fail_fast_and_recover() {
    let Some(db) = Db::create().await else { return };
    let mut relay = Relay::start(&db.admin_url).await;
    let store = Arc::new(PostgresStore::connect(&relay.url(&db)).await.unwrap());
    let key = AccountKey::new("t", "away");
    seed(&*store, &key, dec!(10)).await;
    debit(&*store, &key, Some("away-0"), dec!(1)).await.unwrap();
    assert_eq!(store.healthy().await, Ok(()));

    // Refused: the connection's loss, then "Connection refused".
    relay.stop().await;
    let started = std::time::Instant::now();
    let e = debit(&*store, &key, Some("away-1"), dec!(1))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(e.starts_with("SERVER_ERROR: postgres"), "{e}");
    assert!(e.to_lowercase().contains("connection refused"), "{e}");
    let started = std::time::Instant::now();
    let e = store.get(&key).await.unwrap_err().to_string();
    assert!(started.elapsed() < Duration::from_secs(4));
    assert!(e.to_lowercase().contains("connection refused"), "{e}");
    let e = store.healthy().await.unwrap_err();
    assert!(e.to_lowercase().contains("connection refused"), "{e}");

    // Accepted but never answered: the deadline answers.
    relay.serve(false).await;
    let started = std::time::Instant::now();
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (store, key) = (store.clone(), key.clone());
            tokio::spawn(
                async move { debit(&*store, &key, Some(&format!("hang-{i}")), dec!(1)).await },
            )
        })
        .collect();
    for t in tasks {
        let e = t.await.unwrap().unwrap_err().to_string();
        assert!(e.starts_with("SERVER_ERROR: postgres"), "{e}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let started = std::time::Instant::now();
    assert!(store.healthy().await.is_err());
    assert!(started.elapsed() < Duration::from_millis(1500));

    // Back: everything works again, nothing was applied while away.
    relay.serve(true).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while store.healthy().await.is_err() {
        assert!(std::time::Instant::now() < deadline, "never recovered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    debit(&*store, &key, Some("away-2"), dec!(1)).await.unwrap();
    assert_eq!(money(&*store, &key).await, dec!(8));
}
