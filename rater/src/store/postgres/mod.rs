//! The PostgreSQL account store, for several tollgate nodes sharing
//! accounts. Each change is one transaction that first takes a
//! transaction-scoped advisory lock on the account (so concurrent changes
//! of one account, from any node, queue up — including the creation of an
//! account that does not exist yet), then reads the row, applies the
//! change and writes it back with its idempotency record, and commits.
//! Under READ COMMITTED each statement after the lock sees every commit
//! made before the lock was granted, so no change is computed from a stale
//! balance: no overdraft, no lost debit, and no retries needed.
//!
//! The isolation level is set on every transaction (READ COMMITTED), never
//! left to the database's `default_transaction_isolation`: under REPEATABLE
//! READ the snapshot would be taken before the lock is granted and most
//! concurrent changes of one account would fail with a serialization error.
//!
//! A change is attempted again (up to [`MAX_ATTEMPTS`] times, with a short
//! growing pause) when the database says the transaction was rolled back
//! and may succeed if repeated (SQLSTATE 40001 serialization failure,
//! 40P01 deadlock), or when the connection is lost before `COMMIT` was
//! sent (a terminated backend, a restarted server: the pool then opens a
//! new connection). A connection lost during `COMMIT` leaves the outcome
//! unknown: the change is repeated only when it carries an op id, whose
//! record makes the repeat answer the first reply if the commit landed.
//!
//! Every error names its cause: the SQLSTATE and the server's message (and
//! detail), or the client-side chain (`error connecting to server:
//! Connection refused`), in the log and in the `SERVER_ERROR` text.
//!
//! Idempotency records older than the retention
//! ([`PgOptions::ops_retention`], `store.ops_retention` in the server's
//! config, default 24 h) are deleted by a background task every quarter of
//! the retention (at least every second, at most every hour).

use super::{AccountStore, Change};
use crate::account::{Account, AccountError, AccountKey};
use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use serde_json::Value;
use std::error::Error as StdError;
use std::time::Duration;
use tokio_postgres::error::SqlState;
use tokio_postgres::{IsolationLevel, NoTls};

/// Attempts of one change before its error is answered.
pub const MAX_ATTEMPTS: u32 = 5;

/// Default retention of idempotency records.
pub const DEFAULT_OPS_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// Settings of the PostgreSQL store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgOptions {
    /// Idempotency records older than this are deleted; a retry of an op
    /// older than this is applied again. Zero disables pruning.
    pub ops_retention: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            ops_retention: DEFAULT_OPS_RETENTION,
        }
    }
}

impl PgOptions {
    /// How often the pruning task runs.
    pub fn prune_every(&self) -> Duration {
        (self.ops_retention / 4).clamp(Duration::from_secs(1), Duration::from_secs(3600))
    }
}

pub struct PostgresStore {
    pool: Pool,
    pruner: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        if let Some(task) = self.pruner.take() {
            task.abort();
        }
    }
}

/// A failure of the database or of the connection to it, with its cause.
#[derive(Debug)]
struct DbFailure {
    /// The SQLSTATE, when the server reported the error.
    code: Option<SqlState>,
    /// Whether the connection itself failed (lost, refused, timed out).
    connection: bool,
    text: String,
}

impl DbFailure {
    fn of_pg(e: &tokio_postgres::Error) -> Self {
        if let Some(db) = e.as_db_error() {
            let mut text = format!(
                "postgres: {} {}: {}",
                db.severity(),
                db.code().code(),
                db.message()
            );
            if let Some(detail) = db.detail() {
                text.push_str(&format!(" (detail: {detail})"));
            }
            let class = &db.code().code()[..2];
            return DbFailure {
                code: Some(db.code().clone()),
                // 08: connection exception; 57P0x: the server is shutting
                // down or this backend was terminated.
                connection: class == "08" || db.code().code().starts_with("57P0"),
                text,
            };
        }
        DbFailure {
            code: None,
            connection: true,
            text: format!("postgres: {}", chain(e)),
        }
    }

    fn of_pool(e: &deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(pg) => DbFailure::of_pg(pg),
            other => DbFailure {
                code: None,
                connection: true,
                text: format!("postgres pool: {}", chain(other)),
            },
        }
    }

    /// The transaction was rolled back and may succeed if repeated.
    fn rolled_back_retryable(&self) -> bool {
        matches!(
            &self.code,
            Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
        )
    }

    fn into_error(self) -> AccountError {
        AccountError::Store(self.text)
    }
}

/// `e: cause: cause …`, without repeating a cause already in the text.
fn chain(e: &(dyn StdError + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

fn pg_err(e: tokio_postgres::Error) -> AccountError {
    DbFailure::of_pg(&e).into_error()
}

fn pool_err(e: deadpool_postgres::PoolError) -> AccountError {
    DbFailure::of_pool(&e).into_error()
}

fn db_err(e: impl std::fmt::Display) -> AccountError {
    AccountError::Store(format!("postgres: {e}"))
}

fn decode(data: &str) -> Result<Account, AccountError> {
    serde_json::from_str(data)
        .map_err(|e| AccountError::Store(format!("corrupt account record: {e}")))
}

/// Where an attempt of a change failed.
enum Failed {
    /// The change itself refused (insufficient credit…): answered as is.
    Change(AccountError),
    /// Before COMMIT was sent: nothing was committed.
    Before(DbFailure),
    /// During COMMIT: the outcome is unknown unless the server answered.
    Commit(DbFailure),
}

/// The pause before attempt `n` (1-based) is repeated.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(5u64 << attempt.min(6))
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user:pass@host:port/db`) and
    /// migrates the schema ([`pgschema::migrate`]), with the default options.
    pub async fn connect(url: &str) -> Result<Self, AccountError> {
        Self::connect_with(url, PgOptions::default()).await
    }

    /// Connects with `options`; starts the pruning of idempotency records
    /// (on the current tokio runtime; stopped when the store is dropped).
    pub async fn connect_with(url: &str, options: PgOptions) -> Result<Self, AccountError> {
        let config: tokio_postgres::Config = url.parse().map_err(pg_err)?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(16)
            .build()
            .map_err(db_err)?;
        // Brings the schema up to date (one node at a time), or refuses a
        // database ahead of this build.
        pgschema::migrate(url)
            .await
            .map_err(|e| AccountError::Store(e.to_string()))?;
        let pruner = (!options.ops_retention.is_zero()).then(|| {
            let pool = pool.clone();
            tokio::spawn(prune_forever(pool, options))
        });
        Ok(PostgresStore { pool, pruner })
    }

    /// Forgets idempotency records older than `age`; returns how many.
    pub async fn prune_ops(&self, age: Duration) -> Result<u64, AccountError> {
        prune(&self.pool, age).await
    }

    /// One attempt of a change: one transaction.
    async fn attempt(
        &self,
        id: &str,
        key: &AccountKey,
        op: Option<&str>,
        change: &mut Change<'_>,
    ) -> Result<Value, Failed> {
        let before = |e: tokio_postgres::Error| Failed::Before(DbFailure::of_pg(&e));
        let mut client = self
            .pool
            .get()
            .await
            .map_err(|e| Failed::Before(DbFailure::of_pool(&e)))?;
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::ReadCommitted)
            .start()
            .await
            .map_err(before)?;
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 7220319))",
            &[&id],
        )
        .await
        .map_err(before)?;
        if let Some(op) = op {
            if let Some(row) = tx
                .query_opt("SELECT reply FROM tollgate_ops WHERE id = $1", &[&op])
                .await
                .map_err(before)?
            {
                let reply: &str = row.get(0);
                return serde_json::from_str(reply).map_err(|e| Failed::Change(db_err(e)));
            }
        }
        let row = tx
            .query_opt("SELECT data FROM tollgate_accounts WHERE id = $1", &[&id])
            .await
            .map_err(before)?;
        let mut value = row
            .map(|r| decode(r.get(0)))
            .transpose()
            .map_err(Failed::Change)?;
        let reply = change(&mut value).map_err(Failed::Change)?;
        match &value {
            Some(account) => {
                let data = serde_json::to_string(account).map_err(|e| Failed::Change(db_err(e)))?;
                tx.execute(
                    "INSERT INTO tollgate_accounts (id, tenant, data) VALUES ($1, $2, $3) \
                     ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data",
                    &[&id, &key.tenant, &data],
                )
                .await
                .map_err(before)?;
            }
            None => {
                tx.execute("DELETE FROM tollgate_accounts WHERE id = $1", &[&id])
                    .await
                    .map_err(before)?;
            }
        }
        if let Some(op) = op {
            tx.execute(
                "INSERT INTO tollgate_ops (id, reply) VALUES ($1, $2)",
                &[&op, &reply.to_string()],
            )
            .await
            .map_err(before)?;
        }
        tx.commit()
            .await
            .map_err(|e| Failed::Commit(DbFailure::of_pg(&e)))?;
        Ok(reply)
    }

    /// Runs a read, once more on a fresh connection if the first was lost.
    async fn read<T, F, Fut>(&self, what: &str, f: F) -> Result<T, AccountError>
    where
        F: Fn(deadpool_postgres::Object) -> Fut,
        Fut: std::future::Future<Output = Result<T, DbFailure>>,
    {
        let mut attempt = 1;
        loop {
            let result = match self.pool.get().await {
                Ok(client) => f(client).await,
                Err(e) => Err(DbFailure::of_pool(&e)),
            };
            match result {
                Ok(v) => return Ok(v),
                Err(e) if e.connection && attempt < MAX_ATTEMPTS => {
                    tracing::warn!(what, attempt, error = %e.text, "postgres read failed, retrying");
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
                Err(e) => {
                    tracing::error!(what, error = %e.text, "postgres read failed");
                    return Err(e.into_error());
                }
            }
        }
    }
}

async fn prune(pool: &Pool, age: Duration) -> Result<u64, AccountError> {
    let client = pool.get().await.map_err(pool_err)?;
    client
        .execute(
            "DELETE FROM tollgate_ops WHERE created < now() - make_interval(secs => $1)",
            &[&age.as_secs_f64()],
        )
        .await
        .map_err(pg_err)
}

async fn prune_forever(pool: Pool, options: PgOptions) {
    let mut tick = tokio::time::interval(options.prune_every());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match prune(&pool, options.ops_retention).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(deleted = n, "pruned idempotency records"),
            Err(e) => tracing::warn!(error = %e, "pruning idempotency records failed"),
        }
    }
}

#[async_trait]
impl AccountStore for PostgresStore {
    async fn get(&self, key: &AccountKey) -> Result<Option<Account>, AccountError> {
        let id = key.to_string();
        let data: Option<String> = self
            .read("get", |client| {
                let id = id.clone();
                async move {
                    let row = client
                        .query_opt("SELECT data FROM tollgate_accounts WHERE id = $1", &[&id])
                        .await
                        .map_err(|e| DbFailure::of_pg(&e))?;
                    Ok(row.map(|r| r.get(0)))
                }
            })
            .await?;
        data.as_deref().map(decode).transpose()
    }

    async fn list(
        &self,
        tenant: &str,
        ids: Option<&[String]>,
        offset: usize,
        limit: Option<usize>,
    ) -> Result<Vec<Account>, AccountError> {
        let full: Option<Vec<String>> =
            ids.map(|ids| ids.iter().map(|a| format!("{tenant}:{a}")).collect());
        let limit = limit.map(|l| l as i64).unwrap_or(i64::MAX);
        let offset = offset as i64;
        let rows: Vec<String> = self
            .read("list", |client| {
                let full = full.clone();
                async move {
                    let rows = client
                        .query(
                            "SELECT data FROM tollgate_accounts WHERE tenant = $1 AND ($2::text[] IS NULL OR id = ANY($2)) \
                             ORDER BY id OFFSET $3 LIMIT $4",
                            &[&tenant, &full, &offset, &limit],
                        )
                        .await
                        .map_err(|e| DbFailure::of_pg(&e))?;
                    Ok(rows.iter().map(|r| r.get(0)).collect())
                }
            })
            .await?;
        rows.iter().map(|d| decode(d)).collect()
    }

    async fn update(
        &self,
        key: &AccountKey,
        op: Option<&str>,
        change: &mut Change<'_>,
    ) -> Result<Value, AccountError> {
        let id = key.to_string();
        let mut attempt = 1;
        loop {
            let failure = match self.attempt(&id, key, op, change).await {
                Ok(reply) => return Ok(reply),
                Err(Failed::Change(e)) => return Err(e),
                Err(Failed::Before(f)) => {
                    let again = f.rolled_back_retryable() || f.connection;
                    (f, again)
                }
                // Lost during COMMIT: repeat only what its op id makes safe.
                Err(Failed::Commit(f)) => {
                    let again = f.rolled_back_retryable() || (f.connection && op.is_some());
                    (f, again)
                }
            };
            match failure {
                (f, true) if attempt < MAX_ATTEMPTS => {
                    tracing::warn!(
                        account = %id,
                        attempt,
                        sqlstate = f.code.as_ref().map(SqlState::code),
                        error = %f.text,
                        "postgres change failed, retrying"
                    );
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
                (f, _) => {
                    tracing::error!(
                        account = %id,
                        attempt,
                        sqlstate = f.code.as_ref().map(SqlState::code),
                        error = %f.text,
                        "postgres change failed"
                    );
                    return Err(f.into_error());
                }
            }
        }
    }

    async fn flush(&self) -> Result<(), AccountError> {
        Ok(())
    }
}
