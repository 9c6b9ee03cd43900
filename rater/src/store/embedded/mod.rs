//! The embedded account store: accounts in memory, every change appended
//! to a checksummed write-ahead log and fsynced (in groups) before it is
//! acknowledged; on start, the last snapshot plus the log rebuild the
//! state, and a torn tail from a crash is cut off. The replies of the
//! latest operations are kept for idempotent retries (see [`ops`]). One
//! process owns a store directory at a time (an exclusive file lock).
//!
//! Reads see only durable states. Each account's `Slot` holds two:
//! `latest`, which the next change of the account builds on, set under
//! the slot's lock as soon as a change has run and queued its record; and
//! `durable`, which `get` and `list` return, set by the writer after the
//! group commit that holds the record, before it answers anyone (see
//! `writer`). So no client sees a state that a crash could take back,
//! and whoever a change is acknowledged to sees it (or a later one).
//! Holding the account's lock across the fsync would hide those states
//! too, but would give each change of a busy account (a prepaid account
//! with many calls) its own fsync; this way its changes still share group
//! commits. A change built on a state not yet durable is acknowledged
//! only after that state is: the writer answers in log order, and after a
//! failed write refuses everything, so both fail.

mod ops;
mod record;
#[cfg(test)]
mod tests;
mod writer;

use super::{AccountStore, Change};
use crate::account::{Account, AccountError, AccountKey};
use async_trait::async_trait;
use dashmap::DashMap;
use ops::{lock, Ops, SharedOps};
use record::{decode_all, op_record, reply_in, Entry};
use serde_json::Value;
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Mutex as AsyncMutex;
use writer::{encoded, open_log, Writer, WriterState, LOG_FILE, SNAPSHOT_FILE};

/// Operation replies kept for idempotent retries (oldest forgotten first).
pub const DEFAULT_MAX_OPS: usize = 20_000;
/// Log size that triggers a snapshot.
pub const DEFAULT_COMPACT_AT: u64 = 64 << 20;

/// One account in memory (or the transient place of a change to a
/// missing one).
struct Slot {
    /// The latest state, durable or on its way to disk: what the next
    /// change builds on. Held for the whole of a change, not its commit.
    latest: AsyncMutex<Option<Arc<Account>>>,
    /// The latest durable state: what reads return. Set by the writer.
    durable: Mutex<Option<Arc<Account>>>,
}

impl Slot {
    fn new(state: Option<Arc<Account>>) -> Arc<Self> {
        Arc::new(Slot {
            latest: AsyncMutex::new(state.clone()),
            durable: Mutex::new(state),
        })
    }

    fn durable(&self) -> MutexGuard<'_, Option<Arc<Account>>> {
        // Only ever replaced whole: a panic elsewhere leaves it consistent.
        self.durable.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// No account, durable or on its way (for a caller not holding `latest`).
    fn is_empty(&self) -> bool {
        self.latest.try_lock().is_ok_and(|latest| latest.is_none()) && self.durable().is_none()
    }
}

/// A state for readers once its record is on disk: the writer applies it
/// after the group commit, and holds the slot until then.
pub(super) struct Publish {
    slot: Arc<Slot>,
    state: Option<Arc<Account>>,
}

impl Publish {
    pub(super) fn apply(self) {
        *self.slot.durable() = self.state;
    }
}

pub struct EmbeddedStore {
    dir: PathBuf,
    accounts: DashMap<AccountKey, Arc<Slot>>,
    /// Shared with the writer, which snapshots them.
    ops: SharedOps,
    writer: Writer,
    _lock: File,
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> AccountError {
    AccountError::Store(format!("{what} {}: {e}", path.display()))
}

impl EmbeddedStore {
    /// Opens (creating if needed) the store in `dir`.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, AccountError> {
        Self::open_with(dir, DEFAULT_MAX_OPS, DEFAULT_COMPACT_AT)
    }

    pub fn open_with(
        dir: impl AsRef<Path>,
        max_ops: usize,
        compact_at: u64,
    ) -> Result<Self, AccountError> {
        Self::open_hooked(dir, max_ops, compact_at, None)
    }

    fn open_hooked(
        dir: impl AsRef<Path>,
        max_ops: usize,
        compact_at: u64,
        hook: writer::Hook,
    ) -> Result<Self, AccountError> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|e| io_err("creating", &dir, e))?;
        let lock_path = dir.join("LOCK");
        let lock = File::create(&lock_path).map_err(|e| io_err("creating", &lock_path, e))?;
        lock.try_lock().map_err(|_| {
            AccountError::Store(format!(
                "{} is in use by another tollgate process",
                dir.display()
            ))
        })?;
        let mut entries = Vec::new();
        let snapshot = dir.join(SNAPSHOT_FILE);
        match std::fs::read(&snapshot) {
            Ok(bytes) => entries.extend(decode_all(&bytes).0),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("reading", &snapshot, e)),
        }
        let from_snapshot = entries.len();
        let log_path = dir.join(LOG_FILE);
        let log_bytes = match std::fs::read(&log_path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io_err("reading", &log_path, e)),
        };
        let (log_entries, valid) = decode_all(&log_bytes);
        if valid < log_bytes.len() {
            tracing::warn!(
                cut = log_bytes.len() - valid,
                "cutting a torn tail off the account log"
            );
        }
        entries.extend(log_entries);

        let accounts = DashMap::new();
        let mut latest = HashMap::new();
        let mut ops = Ops::new(max_ops);
        for (i, entry) in entries.into_iter().enumerate() {
            // A snapshot's account record repeats the op of its last change,
            // which the snapshot's op records hold unless it was forgotten.
            let remembers = i >= from_snapshot || entry.account.is_none();
            if let Some((id, reply)) = entry.op.as_ref().filter(|_| remembers) {
                if !ops.contains(id) {
                    ops.remember(id, op_record(id, reply));
                }
            }
            let Some(key) = AccountKey::parse(&entry.key) else {
                continue;
            };
            if entry.account.is_some() {
                latest.insert(entry.key.clone(), encoded(&entry));
                accounts.insert(key, Slot::new(entry.account.map(Arc::new)));
            } else {
                latest.remove(&entry.key);
                accounts.remove(&key);
            }
        }
        let log = open_log(&dir, valid as u64).map_err(|e| io_err("opening", &log_path, e))?;
        // A new log and a new store directory are names in their parent
        // directories: durable only once those are fsynced too.
        sync_dirs(&dir).map_err(|e| io_err("syncing", &dir, e))?;
        let state = WriterState {
            latest,
            ops_written: ops.next(),
            ops: Arc::new(Mutex::new(ops)),
        };
        let ops = state.ops.clone();
        let writer = Writer::start(&dir, log, valid as u64, state, compact_at, hook)
            .map_err(|e| io_err("starting the writer for", &dir, e))?;
        Ok(EmbeddedStore {
            dir,
            accounts,
            ops,
            writer,
            _lock: lock,
        })
    }

    /// The directory this store lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn slot(&self, key: &AccountKey) -> Arc<Slot> {
        if let Some(slot) = self.accounts.get(key) {
            return slot.clone();
        }
        self.accounts
            .entry(key.clone())
            .or_insert_with(|| Slot::new(None))
            .clone()
    }

    /// Forgets `key`'s slot when it holds no account, durable or not, and
    /// nothing else holds the slot: no other task (each waiter has its own
    /// clone) and no pending record (the writer holds a clone until it has
    /// published it). Called after a change that left no account, failed
    /// or not, by its task once it has let go of the slot's lock, so that
    /// changes for accounts that do not exist leave nothing in memory. A
    /// task that looks the key up after this makes a fresh slot, which is
    /// equivalent: both say "no account", and every record of the old one
    /// is on disk, so the log keeps the key's order.
    fn release_if_empty(&self, key: &AccountKey, slot: &Arc<Slot>) {
        // The map's reference and ours; the shard's write lock makes the
        // check and the removal one step against `slot()`'s clones.
        self.accounts.remove_if(key, |_, s| {
            Arc::ptr_eq(s, slot) && Arc::strong_count(s) == 2 && s.is_empty()
        });
    }

    /// How many account slots are in memory (accounts, plus the
    /// transient slot of a change in progress, and of a removal until it is
    /// on disk); for tests and metrics.
    pub fn slots(&self) -> usize {
        self.accounts.len()
    }

    /// A remembered op's reply, decoded outside the ops' lock.
    fn reply_of(&self, op: &str) -> Option<Value> {
        let record = lock(&self.ops).record(op)?;
        reply_in(&record)
    }
}

/// Waits for the writer's answer: on disk, or why not.
async fn durable(ack: writer::Ack) -> Result<(), AccountError> {
    match ack.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(AccountError::Store(e)),
        Err(_) => Err(AccountError::Store(
            "the account log writer has stopped".into(),
        )),
    }
}

#[async_trait]
impl AccountStore for EmbeddedStore {
    async fn get(&self, key: &AccountKey) -> Result<Option<Account>, AccountError> {
        let durable = self.accounts.get(key).and_then(|s| s.durable().clone());
        Ok(durable.as_deref().cloned())
    }

    async fn list(
        &self,
        tenant: &str,
        ids: Option<&[String]>,
        offset: usize,
        limit: Option<usize>,
    ) -> Result<Vec<Account>, AccountError> {
        let mut keys: Vec<AccountKey> = self
            .accounts
            .iter()
            .map(|e| e.key().clone())
            .filter(|k| k.tenant == tenant && ids.is_none_or(|ids| ids.contains(&k.account)))
            .collect();
        keys.sort();
        // Page before cloning: a small page of many accounts copies only
        // the page (a slot with no durable account is passed over).
        let limit = limit.unwrap_or(usize::MAX);
        let mut out = Vec::new();
        let mut skipped = 0;
        for key in keys {
            if out.len() >= limit {
                break;
            }
            let Some(account) = self.accounts.get(&key).and_then(|s| s.durable().clone()) else {
                continue;
            };
            if skipped < offset {
                skipped += 1;
                continue;
            }
            out.push(Account::clone(&account));
        }
        Ok(out)
    }

    async fn update(
        &self,
        key: &AccountKey,
        op: Option<&str>,
        change: &mut Change<'_>,
    ) -> Result<Value, AccountError> {
        let slot = self.slot(key);
        let mut latest = slot.latest.lock().await;
        if let Some(reply) = op.and_then(|op| self.reply_of(op)) {
            // A retry may come while the first attempt's record is still on
            // its way to disk: answer only once it is there, and never if
            // writing it failed.
            let empty = latest.is_none();
            drop(latest);
            if empty {
                self.release_if_empty(key, &slot);
            }
            return durable(self.writer.barrier()).await.map(|()| reply);
        }
        let mut next = latest.as_deref().cloned();
        let reply = match change(&mut next) {
            Ok(reply) => reply,
            Err(e) => {
                let empty = latest.is_none();
                drop(latest);
                if empty {
                    self.release_if_empty(key, &slot);
                }
                return Err(e);
            }
        };
        let entry = Entry {
            key: key.to_string(),
            account: next,
            op: op.map(|op| (op.to_string(), reply.clone())),
        };
        let bytes = encoded(&entry);
        let removed = entry.account.is_none();
        let state = entry.account.map(Arc::new);
        let publish = Publish {
            slot: slot.clone(),
            state: state.clone(),
        };
        // Queue while holding the account's lock: the log keeps this
        // account's order. An op is remembered first, and queued under the
        // ops' lock, so the log holds ops in the order they are numbered
        // and a snapshot finds every op the log holds (see `ops`).
        let soon = super::may_commit_soon();
        let ack = match op {
            Some(id) => {
                let record = op_record(id, &reply);
                let mut ops = lock(&self.ops);
                let n = ops.remember(id, record);
                self.writer
                    .append(entry.key, removed, n, bytes, publish, soon)
            }
            None => self
                .writer
                .append(entry.key, removed, None, bytes, publish, soon),
        };
        // The next change builds on this one now; readers see it once the
        // writer has published it.
        *latest = state;
        drop(latest);
        let result = durable(ack).await.map(|()| reply);
        if removed {
            // The writer has published the removal and let go of the slot.
            self.release_if_empty(key, &slot);
        }
        result
    }

    async fn flush(&self) -> Result<(), AccountError> {
        durable(self.writer.compact()).await
    }
}

/// Fsyncs `dir` (its entries: the log, the lock, the snapshot) and its
/// parent (the entry of `dir` itself, which may have just been created).
fn sync_dirs(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()?;
    match dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => File::open(parent)?.sync_all(),
        _ => Ok(()),
    }
}
