//! StorDb in PostgreSQL, shared by every node of a cluster: one row per
//! TPid in `tollgate_tp`, `data` holding the same JSON document the file
//! backend writes to `<TPid>.json`.
//!
//! Nothing is cached on the node: every read is a query, so a record set
//! through one node is read (and loaded) through any other at once. Each
//! change is one READ COMMITTED transaction: the row is locked with
//! `SELECT … FOR UPDATE` (a TPid without a row gets one inserted first,
//! which locks it as well; two nodes creating the same TPid at once queue
//! on the insert), the change is applied to the decoded document, and the
//! row is written (or deleted when no record is left) and committed before
//! the API answers `OK`. A failed change rolls back and changes nothing.

use super::{StorDbError, TpData};
use crate::rpc::ApiError;
use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use std::error::Error as StdError;
use std::future::Future;
use std::time::Duration;
use tokio_postgres::{IsolationLevel, NoTls};

/// The longest a StorDb request may wait for the database, connecting
/// included; then it answers `SERVER_ERROR`.
pub const OP_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a new connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Takes the row of one TPid when another node may be creating it: how
/// many times the select-then-insert dance is tried.
const LOCK_ATTEMPTS: usize = 8;

/// The TP records of every TPid, in PostgreSQL.
pub struct PgStorDb {
    pool: Pool,
}

impl std::fmt::Debug for PgStorDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStorDb").finish_non_exhaustive()
    }
}

/// A database error's cause: SQLSTATE and message, or the client-side chain.
pub fn pg_text(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} (SQLSTATE {})", db.message(), db.code().code());
    }
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn pool_text(e: &PoolError) -> String {
    match e {
        PoolError::Backend(pg) => pg_text(pg),
        PoolError::Timeout(_) => "timed out waiting for a database connection".into(),
        other => other.to_string(),
    }
}

fn pg_err(e: tokio_postgres::Error) -> ApiError {
    ApiError::server(format!("stordb: {}", pg_text(&e)))
}

fn pool_err(e: PoolError) -> ApiError {
    ApiError::server(format!("stordb: {}", pool_text(&e)))
}

/// `fut`, bounded by [`OP_TIMEOUT`].
async fn bounded<T>(fut: impl Future<Output = Result<T, ApiError>>) -> Result<T, ApiError> {
    tokio::time::timeout(OP_TIMEOUT, fut)
        .await
        .unwrap_or_else(|_| {
            Err(ApiError::server(format!(
                "stordb: no answer from the database within {}s",
                OP_TIMEOUT.as_secs()
            )))
        })
}

fn decode(tpid: &str, data: &str) -> Result<TpData, ApiError> {
    serde_json::from_str(data)
        .map_err(|e| ApiError::server(format!("stordb: corrupt record of TPid {tpid:?}: {e}")))
}

fn encode(tp: &TpData) -> Result<String, ApiError> {
    serde_json::to_string_pretty(tp).map_err(ApiError::server)
}

/// The URL without its password, for messages.
fn display_url(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(h) => h.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .unwrap_or_default();
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{host}:{port}/{}",
        config.get_dbname().unwrap_or("")
    )
}

impl PgStorDb {
    /// Connects to `url` and makes sure the table exists.
    pub async fn connect(url: &str) -> Result<PgStorDb, StorDbError> {
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| StorDbError {
            path: "postgres".into(),
            message: pg_text(&e),
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let err = |message: String| StorDbError {
            path: display_url(&config),
            message,
        };
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                // A connection is checked before it is handed out, so one
                // broken by a database restart is replaced, not used.
                recycling_method: RecyclingMethod::Verified,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(4)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(OP_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| err(e.to_string()))?;
        Ok(PgStorDb { pool })
    }

    /// Every TPid holding records, sorted by bytes (as the file backend).
    pub async fn tpids(&self) -> Result<Vec<String>, ApiError> {
        bounded(async {
            let client = self.pool.get().await.map_err(pool_err)?;
            let rows = client
                .query(
                    "SELECT tpid FROM tollgate_tp ORDER BY tpid COLLATE \"C\"",
                    &[],
                )
                .await
                .map_err(pg_err)?;
            rows.iter()
                .map(|r| r.try_get::<_, String>(0).map_err(pg_err))
                .collect()
        })
        .await
    }

    /// The records of one TPid, `None` when it has none.
    pub async fn read(&self, tpid: &str) -> Result<Option<TpData>, ApiError> {
        bounded(async {
            let client = self.pool.get().await.map_err(pool_err)?;
            let row = client
                .query_opt("SELECT data FROM tollgate_tp WHERE tpid = $1", &[&tpid])
                .await
                .map_err(pg_err)?;
            match row {
                None => Ok(None),
                Some(row) => {
                    let data: &str = row.try_get(0).map_err(pg_err)?;
                    decode(tpid, data).map(Some)
                }
            }
        })
        .await
    }

    /// Changes one TPid in one transaction, committed before it returns.
    /// If `f` fails, the transaction rolls back and nothing changes.
    pub async fn update<R>(
        &self,
        tpid: &str,
        f: impl FnOnce(&mut TpData) -> Result<R, ApiError>,
    ) -> Result<R, ApiError> {
        bounded(async {
            let mut client = self.pool.get().await.map_err(pool_err)?;
            let tx = client
                .build_transaction()
                .isolation_level(IsolationLevel::ReadCommitted)
                .start()
                .await
                .map_err(pg_err)?;
            let mut current = None;
            for _ in 0..LOCK_ATTEMPTS {
                let row = tx
                    .query_opt(
                        "SELECT data FROM tollgate_tp WHERE tpid = $1 FOR UPDATE",
                        &[&tpid],
                    )
                    .await
                    .map_err(pg_err)?;
                if let Some(row) = row {
                    let data: &str = row.try_get(0).map_err(pg_err)?;
                    current = Some(decode(tpid, data)?);
                    break;
                }
                // No row: insert an empty one, which this transaction then
                // holds. Should another node insert it first, the insert
                // waits for that commit and does nothing; select again.
                let empty = TpData {
                    tpid: tpid.to_string(),
                    ..TpData::default()
                };
                let inserted = tx
                    .execute(
                        "INSERT INTO tollgate_tp (tpid, data) VALUES ($1, $2) \
                         ON CONFLICT (tpid) DO NOTHING",
                        &[&tpid, &encode(&empty)?],
                    )
                    .await
                    .map_err(pg_err)?;
                if inserted == 1 {
                    current = Some(empty);
                    break;
                }
            }
            let mut tp = current.ok_or_else(|| {
                ApiError::server(format!(
                    "stordb: TPid {tpid:?} is being created and removed by other nodes; try again"
                ))
            })?;
            // On an error the transaction is dropped: rolled back.
            let result = f(&mut tp)?;
            if tp.is_empty() {
                tx.execute("DELETE FROM tollgate_tp WHERE tpid = $1", &[&tpid])
                    .await
                    .map_err(pg_err)?;
            } else {
                tx.execute(
                    "UPDATE tollgate_tp SET data = $2, updated = now() WHERE tpid = $1",
                    &[&tpid, &encode(&tp)?],
                )
                .await
                .map_err(pg_err)?;
            }
            tx.commit().await.map_err(pg_err)?;
            Ok(result)
        })
        .await
    }
}
