//! Where live sessions and call records are kept: the node's own
//! [`Journal`] (one node, `store.type = "embedded"`), or PostgreSQL (a
//! cluster, `store.type = "postgres"`), where every node reads every
//! switch's sessions and records and only the node holding a switch's
//! lease (see [`crate::lease`]) may write its sessions.
//!
//! The controller sees one interface either way; reads that fail on
//! PostgreSQL are errors here, and each caller decides what a failed read
//! means for it (see the callers' comments).

pub(crate) mod pg;

use crate::journal::{Commit, Journal, JournalError};
use crate::record::{Cdr, SessionRecord};
pub use pg::PgSessions;
use std::sync::Arc;
use thiserror::Error;
use tracing::warn;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum StoreError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// PostgreSQL failed or could not be reached; the text names the cause.
    #[error("session store: {0}")]
    Db(String),
    /// This node's lease on the switch has ended: another node may own it,
    /// and nothing of its calls may be written from here.
    #[error("switch {0} is not controlled by this node (its lease ended)")]
    NotOwner(String),
}

/// A session and the node that last wrote it.
pub struct Stored {
    pub rec: SessionRecord,
    pub node_id: Arc<str>,
}

pub enum SessionStore {
    Journal { journal: Journal, node_id: Arc<str> },
    Postgres(Arc<PgSessions>),
}

fn session_key(uuid: &str) -> String {
    format!("session:{uuid}")
}

fn cdr_key(uuid: &str) -> String {
    format!("cdr:{uuid}")
}

fn parse<T: serde::de::DeserializeOwned>(key: &str, v: serde_json::Value) -> Option<T> {
    match serde_json::from_value(v) {
        Ok(t) => Some(t),
        Err(e) => {
            warn!(%key, error = %e, "an unreadable entry in the session journal is skipped");
            None
        }
    }
}

impl SessionStore {
    /// The journal, when sessions are on this node's disk.
    pub fn journal(&self) -> Option<&Journal> {
        match self {
            SessionStore::Journal { journal, .. } => Some(journal),
            SessionStore::Postgres(_) => None,
        }
    }

    /// Stores (Some) or forgets (None) the session of call `uuid` on
    /// switch `alias`, durably. On PostgreSQL only while this node holds
    /// the switch's lease.
    pub async fn put_session(
        &self,
        uuid: &str,
        alias: &str,
        rec: Option<&SessionRecord>,
    ) -> Result<(), StoreError> {
        self.put_session_with(uuid, alias, rec, Commit::Now).await
    }

    /// As [`SessionStore::put_session`], for a caller that can wait a few
    /// milliseconds: the journal may hold the write (up to
    /// [`crate::journal::SOON`]) to share an fsync with other calls'.
    pub async fn put_session_soon(
        &self,
        uuid: &str,
        alias: &str,
        rec: Option<&SessionRecord>,
    ) -> Result<(), StoreError> {
        self.put_session_with(uuid, alias, rec, Commit::Soon).await
    }

    async fn put_session_with(
        &self,
        uuid: &str,
        alias: &str,
        rec: Option<&SessionRecord>,
        commit: Commit,
    ) -> Result<(), StoreError> {
        match self {
            SessionStore::Journal { journal, .. } => {
                Ok(journal.put_json(&session_key(uuid), rec, commit).await?)
            }
            SessionStore::Postgres(pg) => pg.put_session(uuid, alias, rec).await,
        }
    }

    pub async fn session(&self, uuid: &str) -> Result<Option<SessionRecord>, StoreError> {
        match self {
            SessionStore::Journal { journal, .. } => {
                let key = session_key(uuid);
                Ok(journal.get(&key).and_then(|v| parse(&key, v)))
            }
            SessionStore::Postgres(pg) => pg.session(uuid).await,
        }
    }

    pub async fn has_session(&self, uuid: &str) -> Result<bool, StoreError> {
        match self {
            SessionStore::Journal { journal, .. } => Ok(journal.contains(&session_key(uuid))),
            SessionStore::Postgres(pg) => pg.has_session(uuid).await,
        }
    }

    /// The sessions of switch `alias`, by uuid.
    pub async fn sessions_of(
        &self,
        alias: &str,
    ) -> Result<Vec<(String, SessionRecord)>, StoreError> {
        match self {
            SessionStore::Journal { journal, .. } => Ok(journal
                .scan("session:")
                .into_iter()
                .filter_map(|(key, v)| {
                    let rec: SessionRecord = parse(&key, v)?;
                    let uuid = key.strip_prefix("session:")?.to_string();
                    (*rec.origin_host == *alias).then_some((uuid, rec))
                })
                .collect()),
            SessionStore::Postgres(pg) => pg.sessions_of(alias).await,
        }
    }

    /// Every session of every switch (in a cluster, of every node).
    pub async fn all_sessions(&self) -> Result<Vec<Stored>, StoreError> {
        match self {
            SessionStore::Journal { journal, node_id } => Ok(journal
                .scan("session:")
                .into_iter()
                .filter_map(|(key, v)| {
                    Some(Stored {
                        rec: parse(&key, v)?,
                        node_id: node_id.clone(),
                    })
                })
                .collect()),
            SessionStore::Postgres(pg) => pg.all_sessions().await,
        }
    }

    /// Stores call `uuid`'s record (a record written again replaces it).
    pub async fn put_cdr(&self, uuid: &str, cdr: &Cdr) -> Result<(), StoreError> {
        match self {
            // No one is kept waiting by a record a few milliseconds late.
            SessionStore::Journal { journal, .. } => Ok(journal
                .put_json(&cdr_key(uuid), Some(cdr), Commit::Soon)
                .await?),
            SessionStore::Postgres(pg) => pg.put_cdr(uuid, cdr).await,
        }
    }

    /// Stores call `uuid`'s record and forgets its session: in the
    /// journal one write (both seen at once, the record kept first if a
    /// crash cuts it), on PostgreSQL the record, then the session.
    pub async fn put_cdr_forget_session(
        &self,
        uuid: &str,
        alias: &str,
        cdr: &Cdr,
    ) -> Result<(), StoreError> {
        match self {
            SessionStore::Journal { journal, .. } => Ok(journal
                .put_then_delete(&cdr_key(uuid), cdr, &session_key(uuid), Commit::Soon)
                .await?),
            SessionStore::Postgres(pg) => {
                pg.put_cdr(uuid, cdr).await?;
                pg.put_session(uuid, alias, None).await
            }
        }
    }

    pub async fn cdr(&self, uuid: &str) -> Result<Option<Cdr>, StoreError> {
        match self {
            SessionStore::Journal { journal, .. } => {
                let key = cdr_key(uuid);
                Ok(journal.get(&key).and_then(|v| parse(&key, v)))
            }
            SessionStore::Postgres(pg) => pg.cdr(uuid).await,
        }
    }

    pub async fn has_cdr(&self, uuid: &str) -> Result<bool, StoreError> {
        match self {
            SessionStore::Journal { journal, .. } => Ok(journal.contains(&cdr_key(uuid))),
            SessionStore::Postgres(pg) => pg.has_cdr(uuid).await,
        }
    }
}
