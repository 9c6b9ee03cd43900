//! "StorDb": tariff-plan records built over the `ApierV1` TP API, kept by
//! tariff plan id (TPid) until `LoadTariffPlanFromStorDb` compiles them
//! into the live plan.
//!
//! Two backends, chosen by `store.type`:
//!
//! - embedded ([`files`]): one JSON file per TPid under
//!   `<store.path>/stordb/`, written durably (temp, fsync, rename, fsync
//!   of the folder) before the API answers `OK`;
//! - postgres ([`postgres`]): one row per TPid in `tollgate_tp`, the same
//!   JSON document, shared by every node of a cluster; nothing of it on the
//!   node's disk, nothing cached: each read is a query and each change one
//!   transaction committed before `OK`.
//!
//! Either way a failed change changes nothing, and every method is `async`
//! and never blocks a runtime worker (the file backend writes on the
//! blocking pool).

pub mod files;
pub mod postgres;
pub mod records;

use crate::config::Store;
use crate::rpc::ApiError;
pub use files::{file_name, FileStorDb};
pub use postgres::PgStorDb;
pub use records::TpData;
use std::path::Path;
use std::sync::Arc;
use thiserror::Error;

/// Longest TPid accepted (it becomes a file name).
pub const MAX_TPID_LEN: usize = 64;

/// The StorDb cannot be opened or read.
#[derive(Debug, Error)]
#[error("stordb {path}: {message}")]
pub struct StorDbError {
    pub path: String,
    pub message: String,
}

/// The tariff-plan records of every TPid.
#[derive(Debug)]
pub enum StorDb {
    /// Files on this node (`store.type = "embedded"`).
    Files(Arc<FileStorDb>),
    /// PostgreSQL, shared by the nodes (`store.type = "postgres"`).
    Postgres(PgStorDb),
}

fn check_tpid(tpid: &str) -> Result<(), ApiError> {
    if tpid.len() > MAX_TPID_LEN {
        return Err(ApiError::server(format!(
            "TPid longer than {MAX_TPID_LEN} characters"
        )));
    }
    Ok(())
}

fn joined<T>(r: Result<Result<T, ApiError>, tokio::task::JoinError>) -> Result<T, ApiError> {
    r.unwrap_or_else(|e| Err(ApiError::server(format!("stordb: {e}"))))
}

impl StorDb {
    /// Opens the StorDb `store` names: the embedded store's
    /// `<path>/stordb` folder, or the PostgreSQL database.
    pub async fn open(store: &Store) -> Result<StorDb, StorDbError> {
        match store {
            Store::Embedded { path } => {
                let dir = path.join("stordb");
                let opened = tokio::task::spawn_blocking(move || FileStorDb::open(&dir)).await;
                let files = opened.map_err(|e| StorDbError {
                    path: path.join("stordb").display().to_string(),
                    message: e.to_string(),
                })??;
                Ok(StorDb::Files(Arc::new(files)))
            }
            Store::Postgres { url, .. } => Ok(StorDb::Postgres(PgStorDb::connect(url).await?)),
        }
    }

    /// Opens the file backend in `dir`. Blocking.
    pub fn open_dir(dir: &Path) -> Result<StorDb, StorDbError> {
        Ok(StorDb::Files(Arc::new(FileStorDb::open(dir)?)))
    }

    /// The folder of the file backend; `None` with PostgreSQL.
    pub fn dir(&self) -> Option<&Path> {
        match self {
            StorDb::Files(files) => Some(files.dir()),
            StorDb::Postgres(_) => None,
        }
    }

    /// Every TPid holding records, sorted.
    pub async fn tpids(&self) -> Result<Vec<String>, ApiError> {
        match self {
            StorDb::Files(files) => Ok(files.tpids()),
            StorDb::Postgres(pg) => pg.tpids().await,
        }
    }

    /// Reads one TPid; `None` when it has no record.
    pub async fn read<R>(
        &self,
        tpid: &str,
        f: impl FnOnce(&TpData) -> R,
    ) -> Result<Option<R>, ApiError> {
        match self {
            StorDb::Files(files) => Ok(files.read(tpid, f)),
            StorDb::Postgres(pg) => Ok(pg.read(tpid).await?.as_ref().map(f)),
        }
    }

    /// A copy of one TPid's records.
    pub async fn snapshot(&self, tpid: &str) -> Result<Option<TpData>, ApiError> {
        match self {
            StorDb::Files(files) => Ok(files.read(tpid, Clone::clone)),
            StorDb::Postgres(pg) => pg.read(tpid).await,
        }
    }

    /// Changes one TPid: `f` edits a copy, which is stored durably (file
    /// fsynced, or transaction committed) and only then becomes current.
    /// If `f` or the write fails nothing changes. A TPid left without
    /// records is deleted.
    pub async fn update<R, F>(&self, tpid: &str, f: F) -> Result<R, ApiError>
    where
        F: FnOnce(&mut TpData) -> Result<R, ApiError> + Send + 'static,
        R: Send + 'static,
    {
        check_tpid(tpid)?;
        match self {
            StorDb::Files(files) => {
                let (files, tpid) = (files.clone(), tpid.to_string());
                joined(tokio::task::spawn_blocking(move || files.update(&tpid, f)).await)
            }
            StorDb::Postgres(pg) => pg.update(tpid, f).await,
        }
    }

    /// Makes sure everything acknowledged is durable: the StorDb part of
    /// the shutdown hook. Every change already is before it is
    /// acknowledged; the file backend syncs its folder once more.
    pub async fn flush(&self) -> Result<(), String> {
        match self {
            StorDb::Files(files) => {
                let files = files.clone();
                tokio::task::spawn_blocking(move || files.flush())
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())
            }
            StorDb::Postgres(_) => Ok(()),
        }
    }
}
