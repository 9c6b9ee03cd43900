//! The session journal: a durable map from `session:<uuid>` (a live call's
//! state, rewritten a few times per call) and `cdr:<uuid>` (an ended call's
//! record, kept until it moves to the archive, see [`crate::archive`]) to
//! JSON values, so a restart resumes live calls and settles the ones that
//! ended meanwhile.
//!
//! It is laid out like bitcask: the file holds the values and memory holds
//! only an index, each key and where its latest record is, so memory does
//! not grow with the values and a call record costs only its key once
//! written.
//!
//! - Every `put` appends a checksummed `[key, value]` record (framing
//!   shared with the account log, [`rater::store::frames`]); a delete
//!   appends `[key, null]`, a tombstone. One writer thread ([`writer`])
//!   appends and fsyncs in groups (whatever is queued during one fsync goes
//!   into the next), then points the index at the new records, then
//!   acknowledges: a `get` after `put` returned sees the new value, and the
//!   order of records in the file is the order of index updates. A put
//!   says how soon it must be committed ([`Commit`]): at once (a call waits
//!   on it), or within [`SOON`], so that under load one fsync serves many
//!   calls' puts (the fsync, not the write, is what costs CPU).
//! - `get` and `scan` look the keys up in the index, then read the records
//!   with positioned reads outside the lock and check them; a record that
//!   cannot be read is logged and treated as absent.
//! - When the file is large and mostly dead (overwritten and deleted
//!   records), the live records are copied to `<path>.tmp` while puts go
//!   on; the writer then appends the records put meanwhile, renames it
//!   over the file and swaps the index's locations and read handle in one
//!   step ([`writer`]). A reader still holding the old handle reads the
//!   old, unlinked file, which stays intact.
//! - Opening replays the file to rebuild the index, cutting it at the end
//!   of its valid prefix (a torn tail after a crash).

mod index;
mod record;
#[cfg(test)]
mod tests;
mod writer;

use index::Index;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use thiserror::Error;
use tokio::sync::oneshot;
pub use writer::{Commit, SOON};

#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("session journal: {0}")]
pub struct JournalError(pub String);

/// The file is rewritten once longer than this and more than half dead.
pub const REWRITE_AT: u64 = 32 << 20;

pub struct Journal {
    index: Arc<RwLock<Index>>,
    writer: writer::Handle,
    path: PathBuf,
}

impl Journal {
    /// Opens (or creates) the journal file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Journal, JournalError> {
        Journal::open_with(path, REWRITE_AT)
    }

    /// Like [`Journal::open`], rewriting the file once it is longer than
    /// `rewrite_at` bytes and more than half of it is dead.
    pub fn open_with(path: impl AsRef<Path>, rewrite_at: u64) -> Result<Journal, JournalError> {
        let path = path.as_ref().to_path_buf();
        let err = |e: std::io::Error| JournalError(format!("{}: {e}", path.display()));
        let (index, len) = Index::load(&path).map_err(err)?;
        let index = Arc::new(RwLock::new(index));
        let writer = writer::start(index.clone(), len, path.clone(), rewrite_at).map_err(err)?;
        Ok(Journal {
            index,
            writer,
            path,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stores (Some) or deletes (None) `key`, durably.
    pub async fn put(&self, key: &str, value: Option<Value>) -> Result<(), JournalError> {
        self.put_json(key, value.as_ref(), Commit::Now).await
    }

    /// Stores (Some) or deletes (None) `key`, durably, serialized straight
    /// from `value` (no JSON tree in between), committed as `commit` says.
    pub async fn put_json<T: serde::Serialize>(
        &self,
        key: &str,
        value: Option<&T>,
        commit: Commit,
    ) -> Result<(), JournalError> {
        let bytes = record::frame(key, value)?;
        self.send(key, value.is_some(), bytes, None, commit).await
    }

    /// Stores `key` and deletes `delete` in one write and one commit:
    /// readers see both or neither, and a crash keeps the first if any.
    pub async fn put_then_delete<T: serde::Serialize>(
        &self,
        key: &str,
        value: &T,
        delete: &str,
        commit: Commit,
    ) -> Result<(), JournalError> {
        let bytes = record::frame(key, Some(value))?;
        let tombstone = record::frame::<()>(delete, None)?;
        let then = Some((delete.to_string(), false, tombstone));
        self.send(key, true, bytes, then, commit).await
    }

    async fn send(
        &self,
        key: &str,
        live: bool,
        bytes: Vec<u8>,
        then: Option<(String, bool, Vec<u8>)>,
        commit: Commit,
    ) -> Result<(), JournalError> {
        let (ack, done) = oneshot::channel();
        self.writer.send(writer::Put {
            key: key.to_string(),
            live,
            bytes,
            then,
            commit,
            ack,
        })?;
        match done.await {
            Ok(result) => result.map_err(JournalError),
            Err(_) => Err(JournalError("writer stopped".into())),
        }
    }

    pub fn get(&self, key: &str) -> Option<Value> {
        let (file, loc) = {
            let index = index::read(&self.index);
            (index.file.clone(), *index.keys.get(key)?)
        };
        record::read_value(&file, key, loc)
    }

    /// Whether `key` is present (from the index alone, without reading it).
    pub fn contains(&self, key: &str) -> bool {
        index::read(&self.index).keys.contains_key(key)
    }

    /// Every entry whose key starts with `prefix`, sorted by key.
    pub fn scan(&self, prefix: &str) -> Vec<(String, Value)> {
        let (file, locs) = {
            let index = index::read(&self.index);
            (index.file.clone(), index.with_prefix(prefix))
        };
        locs.into_iter()
            .filter_map(|(key, loc)| {
                let value = record::read_value(&file, &key, loc)?;
                Some((key, value))
            })
            .collect()
    }

    /// How many times the file has been rewritten since it was opened.
    pub fn rewrites(&self) -> u64 {
        index::read(&self.index).rewrites
    }

    /// How many records were put while a rewrite copied the file (and
    /// appended to the copy when it was done).
    pub fn caught_up(&self) -> u64 {
        index::read(&self.index).caught_up
    }
}
