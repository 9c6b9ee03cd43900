//! The PostgreSQL account store, for several tollgate nodes sharing
//! accounts. Each change is one transaction that first takes a
//! transaction-scoped advisory lock on the account (so concurrent changes
//! of one account, from any node, queue up — including the creation of an
//! account that does not exist yet), then reads the row, applies the
//! change and writes it back with its idempotency record, and commits.
//! Under READ COMMITTED each statement after the lock sees every commit
//! made before the lock was granted, so no change is computed from a stale
//! balance: no overdraft, no lost debit, and no retries needed.

use super::{AccountStore, Change};
use crate::account::{Account, AccountError, AccountKey};
use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use serde_json::Value;
use tokio_postgres::NoTls;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS tollgate_accounts (
    id     TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    data   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tollgate_accounts_tenant ON tollgate_accounts (tenant, id);
CREATE TABLE IF NOT EXISTS tollgate_ops (
    id      TEXT PRIMARY KEY,
    reply   TEXT NOT NULL,
    created TIMESTAMPTZ NOT NULL DEFAULT now()
);
";

pub struct PostgresStore {
    pool: Pool,
}

fn db_err(e: impl std::fmt::Display) -> AccountError {
    AccountError::Store(format!("postgres: {e}"))
}

fn decode(data: &str) -> Result<Account, AccountError> {
    serde_json::from_str(data)
        .map_err(|e| AccountError::Store(format!("corrupt account record: {e}")))
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user:pass@host:port/db`) and creates the tables.
    pub async fn connect(url: &str) -> Result<Self, AccountError> {
        let config: tokio_postgres::Config = url.parse().map_err(db_err)?;
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
        let client = pool.get().await.map_err(db_err)?;
        // Two nodes starting at once may race on CREATE; serialize on a lock.
        client
            .batch_execute(&format!(
                "SELECT pg_advisory_lock(7220319); {SCHEMA} SELECT pg_advisory_unlock(7220319);"
            ))
            .await
            .map_err(db_err)?;
        Ok(PostgresStore { pool })
    }

    /// Forgets idempotency records older than `age` (call periodically).
    pub async fn prune_ops(&self, age: std::time::Duration) -> Result<u64, AccountError> {
        let client = self.pool.get().await.map_err(db_err)?;
        client
            .execute(
                "DELETE FROM tollgate_ops WHERE created < now() - make_interval(secs => $1)",
                &[&age.as_secs_f64()],
            )
            .await
            .map_err(db_err)
    }
}

#[async_trait]
impl AccountStore for PostgresStore {
    async fn get(&self, key: &AccountKey) -> Result<Option<Account>, AccountError> {
        let client = self.pool.get().await.map_err(db_err)?;
        let row = client
            .query_opt(
                "SELECT data FROM tollgate_accounts WHERE id = $1",
                &[&key.to_string()],
            )
            .await
            .map_err(db_err)?;
        row.map(|r| decode(r.get(0))).transpose()
    }

    async fn list(
        &self,
        tenant: &str,
        ids: Option<&[String]>,
        offset: usize,
        limit: Option<usize>,
    ) -> Result<Vec<Account>, AccountError> {
        let client = self.pool.get().await.map_err(db_err)?;
        let full: Option<Vec<String>> =
            ids.map(|ids| ids.iter().map(|a| format!("{tenant}:{a}")).collect());
        let limit = limit.map(|l| l as i64).unwrap_or(i64::MAX);
        let rows = client
            .query(
                "SELECT data FROM tollgate_accounts WHERE tenant = $1 AND ($2::text[] IS NULL OR id = ANY($2)) \
                 ORDER BY id OFFSET $3 LIMIT $4",
                &[&tenant, &full, &(offset as i64), &limit],
            )
            .await
            .map_err(db_err)?;
        rows.iter().map(|r| decode(r.get(0))).collect()
    }

    async fn update(
        &self,
        key: &AccountKey,
        op: Option<&str>,
        change: &mut Change<'_>,
    ) -> Result<Value, AccountError> {
        let mut client = self.pool.get().await.map_err(db_err)?;
        let tx = client.transaction().await.map_err(db_err)?;
        let id = key.to_string();
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 7220319))",
            &[&id],
        )
        .await
        .map_err(db_err)?;
        if let Some(op) = op {
            if let Some(row) = tx
                .query_opt("SELECT reply FROM tollgate_ops WHERE id = $1", &[&op])
                .await
                .map_err(db_err)?
            {
                let reply: &str = row.get(0);
                return serde_json::from_str(reply).map_err(db_err);
            }
        }
        let row = tx
            .query_opt("SELECT data FROM tollgate_accounts WHERE id = $1", &[&id])
            .await
            .map_err(db_err)?;
        let mut value = row.map(|r| decode(r.get(0))).transpose()?;
        let reply = change(&mut value)?;
        match &value {
            Some(account) => {
                let data = serde_json::to_string(account).map_err(db_err)?;
                tx.execute(
                    "INSERT INTO tollgate_accounts (id, tenant, data) VALUES ($1, $2, $3) \
                     ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data",
                    &[&id, &key.tenant, &data],
                )
                .await
                .map_err(db_err)?;
            }
            None => {
                tx.execute("DELETE FROM tollgate_accounts WHERE id = $1", &[&id])
                    .await
                    .map_err(db_err)?;
            }
        }
        if let Some(op) = op {
            tx.execute(
                "INSERT INTO tollgate_ops (id, reply) VALUES ($1, $2)",
                &[&op, &reply.to_string()],
            )
            .await
            .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(reply)
    }

    async fn flush(&self) -> Result<(), AccountError> {
        Ok(())
    }
}
