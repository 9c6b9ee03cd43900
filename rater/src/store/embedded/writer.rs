//! The log writer: one thread that appends records and fsyncs them in
//! batches (group commit). Everything queued while one fsync runs goes
//! into the next, so throughput grows with concurrency instead of
//! collapsing under the cost of a sync per debit. When the log grows past
//! a threshold, the writer writes a snapshot of the retained op records
//! (shared with the store, see [`super::ops`]) and the latest record of
//! each account, renames it into place, and starts the log afresh.
//!
//! After each successful fsync, and before answering anyone, the writer
//! publishes the batch's account states to the store's durable view (in
//! log order, so an account ends on its latest durable state): readers
//! see a change exactly when it is on disk, and an acknowledged change is
//! visible to whoever it was acknowledged to.

use super::ops::{lock, SharedOps};
use super::record::{encode, Entry};
use super::Publish;
use crate::store::commit_queue::{CommitQueue, Gather};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::oneshot;

pub const LOG_FILE: &str = "accounts.log";
pub const SNAPSHOT_FILE: &str = "accounts.snapshot";

/// How long a change made under [`crate::store::commit_soon`] may wait
/// for its fsync: a batch of only such changes is committed when its
/// oldest has waited this long, or at once when any other change comes.
/// (On a virtual disk an fsync costs ~0.1 ms of CPU; one per interval
/// debit was a large part of what a call cost.) Under load, an urgent
/// change waits a moment for others ([`Gather::UNDER_LOAD`]).
pub const SOON: std::time::Duration = std::time::Duration::from_millis(10);

/// Acknowledgement of a durable write, or why it failed.
pub type Ack = oneshot::Receiver<Result<(), String>>;

pub(super) enum Msg {
    Append {
        key: String,
        removed: bool,
        /// The number of the op this record remembers, if new (see `ops`).
        op: Option<u64>,
        bytes: Box<[u8]>,
        /// What readers may see once the record is on disk.
        publish: Publish,
        ack: oneshot::Sender<Result<(), String>>,
    },
    Compact {
        ack: oneshot::Sender<Result<(), String>>,
    },
    /// Answered with the result of the batch that holds everything queued
    /// before it: on disk, or the write failed.
    Barrier {
        ack: oneshot::Sender<Result<(), String>>,
    },
}

/// The writer's view: the latest record of every account and the retained
/// operation records, enough to write a snapshot at any log position.
pub(super) struct WriterState {
    pub latest: HashMap<String, Box<[u8]>>,
    pub ops: SharedOps,
    /// Ops numbered below this are in the log (the rest are on their way).
    pub ops_written: u64,
}

/// Runs before each group commit is written: tests hold a commit open
/// there, or fail it. Always None outside tests.
pub(super) type Hook = Option<Box<dyn FnMut() -> std::io::Result<()> + Send>>;

pub(super) struct Writer {
    queue: Arc<CommitQueue<Msg>>,
    pub failed: Arc<AtomicBool>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        // The thread commits what is queued, then ends.
        self.queue.close();
    }
}

impl Writer {
    pub fn start(
        dir: &Path,
        log: File,
        log_len: u64,
        state: WriterState,
        compact_at: u64,
        hook: Hook,
    ) -> std::io::Result<Self> {
        let queue = Arc::new(CommitQueue::gathering(Gather::UNDER_LOAD));
        let rx = queue.clone();
        let failed = Arc::new(AtomicBool::new(false));
        let mut job = Job {
            dir: dir.to_path_buf(),
            log,
            log_len,
            state,
            compact_at,
            failed: failed.clone(),
            hook,
        };
        std::thread::Builder::new()
            .name("tollgate-wal".into())
            .spawn(move || job.run(&rx))?;
        Ok(Writer { queue, failed })
    }

    /// Queues a record; once it is on disk, publishes `publish`, then
    /// fires the receiver.
    pub fn append(
        &self,
        key: String,
        removed: bool,
        op: Option<u64>,
        bytes: Box<[u8]>,
        publish: Publish,
        soon: bool,
    ) -> Ack {
        let (ack, rx) = oneshot::channel();
        if self.failed.load(Ordering::Acquire) {
            let _ = ack.send(Err(
                "the account log failed earlier; restart tollgate".into()
            ));
            return rx;
        }
        let msg = Msg::Append {
            key,
            removed,
            op,
            bytes,
            publish,
            ack,
        };
        if let Err(Msg::Append { ack, .. }) = self.queue.push(msg, !soon) {
            let _ = ack.send(Err("the account log writer has stopped".into()));
        }
        rx
    }

    /// Fires once everything queued before it is on disk (or failed).
    pub fn barrier(&self) -> Ack {
        let (ack, rx) = oneshot::channel();
        if let Err(Msg::Barrier { ack }) = self.queue.push(Msg::Barrier { ack }, true) {
            let _ = ack.send(Err("the account log writer has stopped".into()));
        }
        rx
    }

    /// Writes a snapshot and truncates the log.
    pub fn compact(&self) -> Ack {
        let (ack, rx) = oneshot::channel();
        if let Err(Msg::Compact { ack }) = self.queue.push(Msg::Compact { ack }, true) {
            let _ = ack.send(Err("the account log writer has stopped".into()));
        }
        rx
    }
}

struct Job {
    dir: PathBuf,
    log: File,
    log_len: u64,
    state: WriterState,
    compact_at: u64,
    failed: Arc<AtomicBool>,
    hook: Hook,
}

impl Job {
    fn run(&mut self, queue: &CommitQueue<Msg>) {
        let mut buf = Vec::with_capacity(1 << 20);
        let mut acks = Vec::new();
        let mut publishes = Vec::new();
        let mut compacts = Vec::new();
        let mut batch = Vec::new();
        // A batch of only changes that may wait is held up to SOON for
        // others to share its fsync; any other message commits at once.
        while queue.next_batch(&mut batch, 8192, SOON) {
            buf.clear();
            for msg in batch.drain(..) {
                match msg {
                    Msg::Append {
                        key,
                        removed,
                        op,
                        bytes,
                        publish,
                        ack,
                    } => {
                        buf.extend_from_slice(&bytes);
                        if removed {
                            self.state.latest.remove(&key);
                        } else {
                            self.state.latest.insert(key, bytes);
                        }
                        if let Some(n) = op {
                            self.state.ops_written = self.state.ops_written.max(n + 1);
                        }
                        publishes.push(publish);
                        acks.push(ack);
                    }
                    Msg::Compact { ack } => compacts.push(ack),
                    Msg::Barrier { ack } => acks.push(ack),
                }
            }
            let result = if self.failed.load(Ordering::Acquire) {
                Err("the account log failed earlier; restart tollgate".to_string())
            } else if buf.is_empty() {
                Ok(())
            } else {
                self.hook
                    .as_mut()
                    .map_or(Ok(()), |hook| hook())
                    .and_then(|_| self.log.write_all(&buf))
                    .and_then(|_| self.log.sync_data())
                    .map_err(|e| format!("writing the account log: {e}"))
            };
            if result.is_err() {
                self.failed.store(true, Ordering::Release);
                tracing::error!(error = ?result, "account log write failed; refusing further changes");
            }
            self.log_len += buf.len() as u64;
            // Published (and let go of: a slot held here is not released)
            // before anyone hears of the commit; never if it failed.
            for publish in publishes.drain(..) {
                if result.is_ok() {
                    publish.apply();
                }
            }
            for ack in acks.drain(..) {
                let _ = ack.send(result.clone());
            }
            if result.is_ok() && (self.log_len >= self.compact_at || !compacts.is_empty()) {
                let compacted = self
                    .snapshot()
                    .map_err(|e| format!("writing the account snapshot: {e}"));
                if let Err(e) = &compacted {
                    tracing::error!(error = %e, "snapshot failed; the log keeps growing");
                }
                for ack in compacts.drain(..) {
                    let _ = ack.send(compacted.clone());
                }
            } else {
                for ack in compacts.drain(..) {
                    let _ = ack.send(result.clone());
                }
            }
        }
    }

    /// Snapshot = the retained op records already in the log, then the
    /// latest record of each account (so replay ends on the latest
    /// states), fsynced, renamed, then the log truncated. A crash between
    /// rename and truncation only replays records that are already in the
    /// snapshot.
    fn snapshot(&mut self) -> std::io::Result<()> {
        let ops = lock(&self.state.ops).records_below(self.state.ops_written);
        let tmp = self.dir.join(format!("{SNAPSHOT_FILE}.tmp"));
        let mut out = std::io::BufWriter::new(File::create(&tmp)?);
        for bytes in &ops {
            out.write_all(bytes)?;
        }
        drop(ops);
        for bytes in self.state.latest.values() {
            out.write_all(bytes)?;
        }
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&tmp, self.dir.join(SNAPSHOT_FILE))?;
        File::open(&self.dir)?.sync_all()?;
        self.log.set_len(0)?;
        self.log.seek(SeekFrom::Start(0))?;
        self.log.sync_all()?;
        self.log_len = 0;
        Ok(())
    }
}

/// Opens the log for appending at `valid_len`, cutting any torn tail.
pub fn open_log(dir: &Path, valid_len: u64) -> std::io::Result<File> {
    let mut log = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join(LOG_FILE))?;
    if log.metadata()?.len() != valid_len {
        log.set_len(valid_len)?;
        log.sync_all()?;
    }
    log.seek(SeekFrom::Start(valid_len))?;
    Ok(log)
}

/// Encodes an entry into a buffer of exactly its size (the writer keeps
/// each account's latest record).
pub fn encoded(entry: &Entry) -> Box<[u8]> {
    let mut bytes = Vec::with_capacity(512);
    encode(entry, &mut bytes);
    bytes.into_boxed_slice()
}
