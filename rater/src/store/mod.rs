//! Where accounts live. One trait, two stores passing one test suite:
//! `embedded` (the default: a write-ahead log with group commit, no server)
//! and `postgres` (several tollgate nodes sharing accounts).
//!
//! Every change goes through [`AccountStore::update`]: the change runs on
//! the current value under that account's exclusive lock, and its result
//! is durable before `update` returns — so an acknowledged debit is never
//! lost and two debits of one account never see the same balance. Reads
//! (`get`, `list`) return only durable states (on disk, or committed):
//! never a change still on its way, which a crash could take back.

pub mod commit_queue;
pub mod embedded;
pub mod frames;
pub mod postgres;

use crate::account::{Account, AccountError, AccountKey};
use async_trait::async_trait;
use serde_json::Value;

tokio::task_local! {
    static COMMIT_SOON: bool;
}

/// Runs `f` with its store changes marked as able to wait a few
/// milliseconds for their commit (still durable before `update` returns):
/// a store that commits in groups may hold them to share one fsync with
/// others (the embedded store, up to [`embedded::SOON`]); the others
/// ignore it. For changes no one waits on at once, like a running call's
/// next interval debit.
pub async fn commit_soon<F: std::future::Future>(f: F) -> F::Output {
    COMMIT_SOON.scope(true, f).await
}

/// Whether the change being made may wait (see [`commit_soon`]).
pub fn may_commit_soon() -> bool {
    COMMIT_SOON.try_with(|soon| *soon).unwrap_or(false)
}

/// Identifies one operation for idempotency (CGRateS `CgrID`/`OriginID` plus `RunID`).
pub type OpId = String;

/// A change to one account: gets the current value (None when absent),
/// may replace it (Some) or remove it (None), and returns the reply that
/// an identical retry will get again.
pub type Change<'a> = dyn FnMut(&mut Option<Account>) -> Result<Value, AccountError> + Send + 'a;

#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    /// The account, if it exists, as last made durable.
    async fn get(&self, key: &AccountKey) -> Result<Option<Account>, AccountError>;

    /// Accounts of `tenant` (all, or those named), ordered by id, paged;
    /// durable states, like `get`.
    async fn list(
        &self,
        tenant: &str,
        ids: Option<&[String]>,
        offset: usize,
        limit: Option<usize>,
    ) -> Result<Vec<Account>, AccountError>;

    /// Applies `change` atomically and durably. With an `op` already
    /// applied, returns its first reply and changes nothing. A change that
    /// returns an error changes nothing and records nothing.
    async fn update(
        &self,
        key: &AccountKey,
        op: Option<&str>,
        change: &mut Change<'_>,
    ) -> Result<Value, AccountError>;

    /// Makes everything acknowledged so far durable and compact (on shutdown).
    async fn flush(&self) -> Result<(), AccountError>;

    /// Whether the store can serve requests now (for a health check): the
    /// error says why not. Stores that need no server are always healthy.
    async fn healthy(&self) -> Result<(), String> {
        Ok(())
    }
}

/// Opens the store a config names.
pub async fn open(kind: &StoreConfig) -> Result<std::sync::Arc<dyn AccountStore>, AccountError> {
    Ok(match kind {
        StoreConfig::Embedded { path } => std::sync::Arc::new(embedded::EmbeddedStore::open(path)?),
        StoreConfig::Postgres { url, options } => {
            std::sync::Arc::new(postgres::PostgresStore::connect_with(url, *options).await?)
        }
    })
}

/// Which store, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    Embedded {
        path: std::path::PathBuf,
    },
    Postgres {
        url: String,
        options: postgres::PgOptions,
    },
}
