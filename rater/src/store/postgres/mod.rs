//! The PostgreSQL account store, for several tollgate nodes sharing
//! accounts, with group commit (`batch.rs`): a few committers per store,
//! each account's changes going to one of them by hash, each committer
//! putting whatever is queued — changes of different accounts, and several
//! changes of one account in arrival order — into one transaction. The
//! transaction first takes a transaction-scoped advisory lock on each of
//! its accounts (so concurrent changes of one account, from any node,
//! queue up — including the creation of an account that does not exist
//! yet), then reads the rows, applies the changes and writes the rows back
//! with their idempotency records, and commits; each change is answered
//! after the commit, with its own result. Under READ COMMITTED each
//! statement after the locks sees every commit made before they were
//! granted, so no change is computed from a stale balance: no overdraft,
//! no lost debit, and no retries needed.
//!
//! The isolation level is set on every transaction (READ COMMITTED), never
//! left to the database's `default_transaction_isolation`: under REPEATABLE
//! READ the snapshot would be taken before the locks are granted and most
//! concurrent changes of one account would fail with a serialization error.
//!
//! A batch is attempted again (up to [`MAX_ATTEMPTS`] times, with a short
//! growing pause, within [`REQUEST_DEADLINE`]) when the database says the
//! transaction was rolled back and may succeed if repeated (SQLSTATE 40001
//! serialization failure, 40P01 deadlock), or when the connection is lost
//! before `COMMIT` was sent (a terminated backend, a restarted server: the
//! pool then opens a new connection). A connection lost during `COMMIT`
//! leaves the outcome unknown: a change is repeated only when it carries
//! an op id, whose record makes the repeat answer the first reply if the
//! commit landed. A change that fails (insufficient credit…) is only that
//! change's answer.
//!
//! Requests fail fast when the server is away: connecting, waiting for a
//! pooled connection and recycling one each give up after
//! [`POOL_TIMEOUT`], and a change or read is answered within
//! [`REQUEST_DEADLINE`] (an error if need be) whatever the server does.
//! The pool reconnects by itself when the server is back.
//!
//! Every error names its cause: the SQLSTATE and the server's message (and
//! detail), or the client-side chain (`error connecting to server:
//! Connection refused`), in the log and in the `SERVER_ERROR` text.
//!
//! The schema is pgschema's, migrated at connect.
//!
//! Idempotency records older than the retention
//! ([`PgOptions::ops_retention`], `store.ops_retention` in the server's
//! config, default 24 h) are deleted by a background task every quarter of
//! the retention (at least every second, at most every hour).

mod batch;
mod failure;
pub use failure::{describe_pg, describe_pool};

use super::{AccountStore, Change};
use crate::account::{Account, AccountError, AccountKey};
use async_trait::async_trait;
use batch::{Applied, Request, ToCaller};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use failure::{backoff, db_err, pg_err, pool_err, DbFailure};
use serde_json::Value;
use std::hash::{Hash, Hasher};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_postgres::NoTls;

/// Attempts of one change before its error is answered.
pub const MAX_ATTEMPTS: u32 = 5;

/// Connections the store keeps open at most.
pub const POOL_SIZE: usize = 16;

/// Committers per store (each with one batch, so one connection, in
/// flight). Fewer committers make larger transactions: with 64 clients
/// through HAProxy (`integration/load/cluster_bench.sh`), 2 gave 17,500
/// debits/s on one node and 8,200 over three, against 10,900 and 5,900
/// with 8 (and 16,900 and 5,100 with 4).
pub const COMMITTERS: usize = 2;

/// Connecting (when the URL sets no `connect_timeout`), waiting for a
/// pooled connection, and recycling one each give up after this.
pub const POOL_TIMEOUT: Duration = Duration::from_secs(2);

/// A change or a read is answered within this, retries included.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(3);

/// `SELECT 1` of [`PostgresStore::ping`] must answer within this.
pub const PING_TIMEOUT: Duration = Duration::from_secs(1);

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
    /// The committers' queues; an account's changes go to
    /// `committers[hash(id) % len]`.
    committers: Vec<mpsc::UnboundedSender<Request>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
    }
}

fn decode(data: &str) -> Result<Account, AccountError> {
    serde_json::from_str(data)
        .map_err(|e| AccountError::Store(format!("corrupt account record: {e}")))
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user:pass@host:port/db`) and
    /// migrates the schema ([`pgschema::migrate`]), with the default options.
    pub async fn connect(url: &str) -> Result<Self, AccountError> {
        Self::connect_with(url, PgOptions::default()).await
    }

    /// Connects with `options`: migrates the schema, starts the
    /// committers and the pruning of idempotency records (on the current
    /// tokio runtime; stopped when the store is dropped).
    pub async fn connect_with(url: &str, options: PgOptions) -> Result<Self, AccountError> {
        let mut config: tokio_postgres::Config = url.parse().map_err(pg_err)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(POOL_TIMEOUT);
        }
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_TIMEOUT))
            .create_timeout(Some(POOL_TIMEOUT))
            .recycle_timeout(Some(POOL_TIMEOUT))
            .build()
            .map_err(db_err)?;
        // Brings the schema up to date (one node at a time), or refuses a
        // database ahead of this build.
        pgschema::migrate(url)
            .await
            .map_err(|e| AccountError::Store(e.to_string()))?;
        let mut committers = Vec::with_capacity(COMMITTERS);
        let mut tasks = Vec::with_capacity(COMMITTERS + 1);
        for _ in 0..COMMITTERS {
            let (tx, rx) = mpsc::unbounded_channel();
            committers.push(tx);
            tasks.push(tokio::spawn(batch::committer(pool.clone(), rx)));
        }
        if !options.ops_retention.is_zero() {
            tasks.push(tokio::spawn(prune_forever(pool.clone(), options)));
        }
        Ok(PostgresStore {
            pool,
            committers,
            tasks,
        })
    }

    /// Forgets idempotency records older than `age`; returns how many.
    pub async fn prune_ops(&self, age: Duration) -> Result<u64, AccountError> {
        prune(&self.pool, age).await
    }

    /// Whether the server answers `SELECT 1` within [`PING_TIMEOUT`]; the
    /// error names the cause.
    pub async fn ping(&self) -> Result<(), String> {
        let ping = async {
            let client = self
                .pool
                .get()
                .await
                .map_err(|e| DbFailure::of_pool(&e).text)?;
            client
                .simple_query("SELECT 1")
                .await
                .map_err(|e| DbFailure::of_pg(&e).text)?;
            Ok(())
        };
        tokio::time::timeout(PING_TIMEOUT, ping)
            .await
            .unwrap_or_else(|_| Err(DbFailure::timed_out(PING_TIMEOUT).text))
    }

    /// The committer of account `id`.
    fn committer(&self, id: &str) -> &mpsc::UnboundedSender<Request> {
        let mut hasher = rustc_hash::FxHasher::default();
        id.hash(&mut hasher);
        &self.committers[(hasher.finish() % self.committers.len() as u64) as usize]
    }

    /// Runs a read, again on a fresh connection if one was lost, answering
    /// within [`REQUEST_DEADLINE`].
    async fn read<T, F, Fut>(&self, what: &str, f: F) -> Result<T, AccountError>
    where
        F: Fn(deadpool_postgres::Object) -> Fut,
        Fut: std::future::Future<Output = Result<T, DbFailure>>,
    {
        let deadline = Instant::now() + REQUEST_DEADLINE;
        let mut attempt = 1;
        loop {
            let result = tokio::time::timeout_at(deadline, async {
                match self.pool.get().await {
                    Ok(client) => f(client).await,
                    Err(e) => Err(DbFailure::of_pool(&e)),
                }
            })
            .await
            .unwrap_or_else(|_| Err(DbFailure::timed_out(REQUEST_DEADLINE)));
            match result {
                Ok(v) => return Ok(v),
                Err(e)
                    if e.connection
                        && attempt < MAX_ATTEMPTS
                        && Instant::now() + backoff(attempt) < deadline =>
                {
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
                    row.map(|r| r.try_get(0))
                        .transpose()
                        .map_err(|e| DbFailure::of_pg(&e))
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
                    rows.iter()
                        .map(|r| r.try_get(0))
                        .collect::<Result<_, _>>()
                        .map_err(|e| DbFailure::of_pg(&e))
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
        let (caller, mut turns) = mpsc::unbounded_channel();
        self.committer(&id)
            .send(Request {
                id,
                tenant: key.tenant.clone(),
                op: op.map(str::to_owned),
                caller,
                arrived: Instant::now(),
            })
            .map_err(|_| AccountError::Store("postgres: the store is closed".into()))?;
        // The change runs here, on the value its committer hands over, as
        // often as its batch is attempted; the answer comes after the commit.
        while let Some(message) = turns.recv().await {
            match message {
                ToCaller::Turn { mut value, back } => {
                    let applied = change(&mut value).and_then(|reply| Applied::new(value, reply));
                    back.answer(applied);
                }
                ToCaller::Done(answer) => return answer,
            }
        }
        Err(AccountError::Store(
            "postgres: the store's committer stopped".into(),
        ))
    }

    async fn healthy(&self) -> Result<(), String> {
        self.ping().await
    }

    async fn flush(&self) -> Result<(), AccountError> {
        Ok(())
    }
}
