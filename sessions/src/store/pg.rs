//! Sessions and call records in PostgreSQL, shared by every node of a
//! cluster (tables `tollgate_sessions` and `tollgate_cdrs`, made by the
//! `pgschema` migrations).
//!
//! A session is written only by the node holding its switch's lease: the
//! write and the lease check are one statement, judged by the database's
//! clock, so a node whose lease has ended (it stalled, or lost the
//! database for longer than the lease) cannot overwrite what the switch's
//! new owner wrote. Call records are keyed by the call (`origin_id`), so a
//! call has one row whoever writes it; the settlement they record is keyed
//! by the call in the account store, so a record written twice says the
//! same thing.

use super::{StoreError, Stored};
use crate::cdr_filter::CdrFilter;
use crate::record::{Cdr, SessionRecord};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use futures::{pin_mut, TryStreamExt};
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::NoTls;

/// How long a request waits for a connection, or to open one, before it
/// fails: with PostgreSQL gone, callers get an error quickly.
const CONNECT_WAIT: Duration = Duration::from_secs(2);

pub struct PgSessions {
    pool: Pool,
    node_id: Arc<str>,
}

pub(crate) fn db_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Db(e.to_string())
}

/// A tokio-postgres error with the server's words when it has them (as
/// the account store names it).
pub(crate) fn pg_err(e: tokio_postgres::Error) -> StoreError {
    StoreError::Db(rater::store::postgres::describe_pg(&e))
}

/// The lease check every session write carries.
const HOLDS_LEASE: &str = "EXISTS (SELECT 1 FROM tollgate_switch_leases l \
     WHERE l.switch = $2 AND l.node_id = $3 AND l.expires > now())";

impl PgSessions {
    /// A pool on `url` (the schema must exist: see `pgschema::migrate`).
    pub fn connect(url: &str, node_id: Arc<str>) -> Result<PgSessions, StoreError> {
        let mut config: tokio_postgres::Config = url.parse().map_err(pg_err)?;
        config.connect_timeout(CONNECT_WAIT);
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(8)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_WAIT))
            .create_timeout(Some(CONNECT_WAIT))
            .recycle_timeout(Some(CONNECT_WAIT))
            .build()
            .map_err(db_err)?;
        Ok(PgSessions { pool, node_id })
    }

    pub fn node_id(&self) -> &Arc<str> {
        &self.node_id
    }

    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool
            .get()
            .await
            .map_err(|e| StoreError::Db(rater::store::postgres::describe_pool(&e)))
    }

    pub async fn put_session(
        &self,
        uuid: &str,
        alias: &str,
        rec: Option<&SessionRecord>,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        let node: &str = &self.node_id;
        let written = match rec {
            Some(rec) => {
                let data = serde_json::to_string(rec).map_err(db_err)?;
                let sql = format!(
                    "INSERT INTO tollgate_sessions (uuid, switch, node_id, data, updated) \
                     SELECT $1, $2, $3, $4, now() WHERE {HOLDS_LEASE} \
                     ON CONFLICT (uuid) DO UPDATE SET switch = EXCLUDED.switch, \
                     node_id = EXCLUDED.node_id, data = EXCLUDED.data, updated = now()"
                );
                client
                    .execute(&sql, &[&uuid, &alias, &node, &data])
                    .await
                    .map_err(pg_err)?
            }
            None => {
                let sql =
                    format!("DELETE FROM tollgate_sessions WHERE uuid = $1 AND {HOLDS_LEASE}");
                let n = client
                    .execute(&sql, &[&uuid, &alias, &node])
                    .await
                    .map_err(pg_err)?;
                if n == 0 {
                    // Nothing deleted: already gone (fine) or not ours to delete.
                    if crate::lease::holds(&client, alias, node).await? {
                        return Ok(());
                    }
                }
                n
            }
        };
        match written {
            0 => Err(StoreError::NotOwner(alias.to_string())),
            _ => Ok(()),
        }
    }

    pub async fn session(&self, uuid: &str) -> Result<Option<SessionRecord>, StoreError> {
        self.json_by_id("SELECT data FROM tollgate_sessions WHERE uuid = $1", uuid)
            .await
    }

    pub async fn has_session(&self, uuid: &str) -> Result<bool, StoreError> {
        self.exists(
            "SELECT EXISTS (SELECT 1 FROM tollgate_sessions WHERE uuid = $1)",
            uuid,
        )
        .await
    }

    /// The JSON in the one row `sql` selects for `id`, read as a `T`.
    async fn json_by_id<T: serde::de::DeserializeOwned>(
        &self,
        sql: &str,
        id: &str,
    ) -> Result<Option<T>, StoreError> {
        let client = self.client().await?;
        let row = client.query_opt(sql, &[&id]).await.map_err(pg_err)?;
        Ok(row.and_then(|r| read_json(id, r.get(0))))
    }

    /// The boolean `sql` answers for `id`.
    async fn exists(&self, sql: &str, id: &str) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let row = client.query_one(sql, &[&id]).await.map_err(pg_err)?;
        Ok(row.get(0))
    }

    pub async fn sessions_of(
        &self,
        alias: &str,
    ) -> Result<Vec<(String, SessionRecord)>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT uuid, data FROM tollgate_sessions WHERE switch = $1 ORDER BY uuid",
                &[&alias],
            )
            .await
            .map_err(pg_err)?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                let uuid: String = r.get(0);
                let rec = read_json(&uuid, r.get(1))?;
                Some((uuid, rec))
            })
            .collect())
    }

    /// Every session, each with the node that controls its switch now
    /// (the lease holder), or else the node that wrote it last.
    pub async fn all_sessions(&self) -> Result<Vec<Stored>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT s.uuid, s.data, COALESCE(l.node_id, s.node_id) FROM tollgate_sessions s \
                 LEFT JOIN tollgate_switch_leases l ON l.switch = s.switch ORDER BY s.uuid",
                &[],
            )
            .await
            .map_err(pg_err)?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                let uuid: String = r.get(0);
                let node: String = r.get(2);
                Some(Stored {
                    rec: read_json(&uuid, r.get(1))?,
                    node_id: Arc::from(node),
                })
            })
            .collect())
    }

    pub async fn put_cdr(&self, uuid: &str, cdr: &Cdr) -> Result<(), StoreError> {
        let client = self.client().await?;
        let data = serde_json::to_string(cdr).map_err(db_err)?;
        let time = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| t.to_rfc3339());
        let node: &str = &self.node_id;
        client
            .execute(
                "INSERT INTO tollgate_cdrs (origin_id, cgrid, run_id, origin_host, request_type, \
                 tenant, category, account, subject, destination, setup_time, answer_time, \
                 usage_ns, cost, disconnect_cause, extra_info, estimated, order_id, node_id, data) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, ($11::text)::timestamptz, \
                 ($12::text)::timestamptz, $13, ($14::text)::numeric, $15, $16, $17, $18, $19, $20) \
                 ON CONFLICT (origin_id) DO UPDATE SET cgrid = EXCLUDED.cgrid, \
                 run_id = EXCLUDED.run_id, origin_host = EXCLUDED.origin_host, \
                 request_type = EXCLUDED.request_type, tenant = EXCLUDED.tenant, \
                 category = EXCLUDED.category, account = EXCLUDED.account, \
                 subject = EXCLUDED.subject, destination = EXCLUDED.destination, \
                 setup_time = EXCLUDED.setup_time, answer_time = EXCLUDED.answer_time, \
                 usage_ns = EXCLUDED.usage_ns, cost = EXCLUDED.cost, \
                 disconnect_cause = EXCLUDED.disconnect_cause, extra_info = EXCLUDED.extra_info, \
                 estimated = EXCLUDED.estimated, order_id = EXCLUDED.order_id, \
                 node_id = EXCLUDED.node_id, data = EXCLUDED.data",
                &[
                    &uuid,
                    &cdr.cgr_id,
                    &cdr.run_id,
                    &cdr.origin_host,
                    &cdr.request_type,
                    &cdr.tenant,
                    &cdr.category,
                    &cdr.account,
                    &cdr.subject,
                    &cdr.destination,
                    &time(cdr.setup_time),
                    &time(cdr.answer_time),
                    &cdr.usage,
                    &cdr.cost.to_string(),
                    &cdr.disconnect_cause,
                    &cdr.extra_info,
                    &cdr.estimated,
                    &cdr.order_id,
                    &node,
                    &data,
                ],
            )
            .await
            .map_err(pg_err)?;
        Ok(())
    }

    pub async fn cdr(&self, uuid: &str) -> Result<Option<Cdr>, StoreError> {
        self.json_by_id("SELECT data FROM tollgate_cdrs WHERE origin_id = $1", uuid)
            .await
    }

    pub async fn has_cdr(&self, uuid: &str) -> Result<bool, StoreError> {
        self.exists(
            "SELECT EXISTS (SELECT 1 FROM tollgate_cdrs WHERE origin_id = $1)",
            uuid,
        )
        .await
    }

    /// The records `filter` matches, in the order they were stored. The
    /// database narrows by the indexed fields; every row is then checked
    /// by `filter` itself, and reading stops once the page is full.
    pub async fn cdrs(&self, filter: &CdrFilter) -> Result<Vec<Cdr>, StoreError> {
        let client = self.client().await?;
        let list = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
        let origin_ids = list(&filter.origin_ids);
        let cgr_ids = list(&filter.cgr_ids);
        let tenants = list(&filter.tenants);
        let accounts = list(&filter.accounts);
        let from = filter.order_id.start;
        let until = filter.order_id.end;
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 6] =
            [&origin_ids, &cgr_ids, &tenants, &accounts, &from, &until];
        let stream = client
            .query_raw(
                "SELECT origin_id, data FROM tollgate_cdrs \
                 WHERE ($1::text[] IS NULL OR origin_id = ANY($1)) \
                 AND ($2::text[] IS NULL OR cgrid = ANY($2)) \
                 AND ($3::text[] IS NULL OR tenant = ANY($3)) \
                 AND ($4::text[] IS NULL OR account = ANY($4)) \
                 AND ($5::bigint IS NULL OR order_id >= $5) \
                 AND ($6::bigint IS NULL OR order_id < $6) \
                 ORDER BY order_id, cgrid",
                params,
            )
            .await
            .map_err(pg_err)?;
        pin_mut!(stream);
        let want = filter
            .offset
            .saturating_add(filter.limit.unwrap_or(usize::MAX));
        let mut out = Vec::new();
        while out.len() < want {
            let Some(row) = stream.try_next().await.map_err(pg_err)? else {
                break;
            };
            let id: String = row.get(0);
            if let Some(cdr) = read_json::<Cdr>(&id, row.get(1)) {
                if filter.matches(&cdr) {
                    out.push(cdr);
                }
            }
        }
        Ok(out
            .into_iter()
            .skip(filter.offset)
            .take(filter.limit.unwrap_or(usize::MAX))
            .collect())
    }
}

fn read_json<T: serde::de::DeserializeOwned>(id: &str, text: &str) -> Option<T> {
    match serde_json::from_str(text) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(%id, error = %e, "an unreadable row in PostgreSQL is skipped");
            None
        }
    }
}
