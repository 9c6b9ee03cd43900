//! The writer thread: the only one that appends to the file or changes the
//! index. It writes each batch of queued records at once and fsyncs it
//! (group commit), points the index at the records, then acknowledges them.
//!
//! When most of the file is dead, it is rewritten without stopping the
//! puts: a thread of its own copies the live records (as of one moment,
//! the file's length then) to `<path>.tmp` while the writer goes on
//! appending to the old file; once the copy is done, the writer (between
//! two batches) appends to it the records put since, byte for byte, fsyncs
//! it, renames it over the file and points the index at it. Puts wait only
//! for that last step (a few milliseconds), not for the whole copy, which
//! at 1,500 calls/s held every put for tens of milliseconds (the call
//! records waiting for the archive are most of what is live). At shutdown
//! a rewrite under way is finished, and one that is due is made.

use super::index::{self, Index, Loc};
use super::{record, JournalError};
use rater::store::commit_queue::{CommitQueue, Gather};
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;

/// What a rewrite's copy hands back: the new file, its index and length.
type Copied = (File, BTreeMap<Box<str>, Loc>, u64);

/// A rewrite under way (see the module's doc).
struct Rewrite {
    /// The old file's length when the copy began: it copies the live
    /// records below.
    from: u64,
    /// Each record appended since, in file order: key, live, length.
    tail: Vec<(Box<str>, bool, u32)>,
    copy: JoinHandle<io::Result<Copied>>,
}
use std::time::Duration;
use tokio::sync::oneshot;

/// When a put is committed. Every put is acknowledged only once durable;
/// what differs is how long the writer may hold it to share an fsync
/// (which costs far more CPU than the write: ~0.1 ms on a virtual disk,
/// so an fsync per put was most of what a call cost).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Commit {
    /// Someone is in a hurry (a call waits in the park): committed at once,
    /// after a short gather when the journal is busy ([`Gather`]).
    Now,
    /// Committed with the next urgent put, or within [`SOON`]: for writes
    /// whose caller can wait a few milliseconds (a debit's record, the
    /// answer, the end of a call).
    Soon,
}

/// How long a [`Commit::Soon`] put waits at most for an fsync.
pub const SOON: Duration = Duration::from_millis(10);

/// One record to append.
pub(super) struct Put {
    pub key: String,
    /// False for a tombstone.
    pub live: bool,
    pub bytes: Vec<u8>,
    /// A second record written right after this one, in the same write
    /// and the same commit (key, live, bytes): both become visible at once.
    pub then: Option<(String, bool, Vec<u8>)>,
    pub commit: Commit,
    pub ack: oneshot::Sender<Result<(), String>>,
}

/// The journal's end of the writer: dropping it lets the writer finish
/// (including a rewrite under way) and waits for it, so the file is left
/// alone once the journal is gone.
pub(super) struct Handle {
    queue: Arc<CommitQueue<Put>>,
    thread: Option<JoinHandle<()>>,
}

impl Handle {
    pub fn send(&self, put: Put) -> Result<(), JournalError> {
        let urgent = put.commit == Commit::Now;
        self.queue
            .push(put, urgent)
            .map_err(|_| JournalError("writer stopped".into()))
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.queue.close();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Starts the writer appending at `len`, the end of `index.file`.
pub(super) fn start(
    index: Arc<RwLock<Index>>,
    len: u64,
    path: PathBuf,
    rewrite_at: u64,
) -> io::Result<Handle> {
    let queue = Arc::new(CommitQueue::gathering(Gather::UNDER_LOAD));
    let rx = queue.clone();
    let file = index::read(&index).file.clone();
    let mut writer = Writer {
        file,
        len,
        index,
        path,
        rewrite_at,
        hold_until: 0,
        failed: None,
        rewriting: None,
    };
    let thread = std::thread::Builder::new()
        .name("tollgate-sessions-journal".into())
        .spawn(move || writer.run(&rx))?;
    Ok(Handle {
        queue,
        thread: Some(thread),
    })
}

struct Writer {
    /// The current file (the index's), appended to at `len`.
    file: Arc<File>,
    len: u64,
    index: Arc<RwLock<Index>>,
    path: PathBuf,
    rewrite_at: u64,
    /// No rewrite is tried before the file is this long (after one failed).
    hold_until: u64,
    /// Once a write failed, what is on disk is unknown: every put fails.
    failed: Option<String>,
    rewriting: Option<Rewrite>,
}

impl Writer {
    fn run(&mut self, queue: &CommitQueue<Put>) {
        let mut batch = Vec::new();
        // Under load, an urgent put waits a moment for others to share its
        // fsync (`Gather::UNDER_LOAD`); an idle journal commits at once.
        while queue.next_batch(&mut batch, usize::MAX, SOON) {
            let result = self.commit(&batch);
            for put in batch.drain(..) {
                let _ = put.ack.send(result.clone());
            }
            if self
                .rewriting
                .as_ref()
                .is_some_and(|r| r.copy.is_finished())
            {
                self.finish_rewrite();
            }
            if self.rewriting.is_none() && self.should_rewrite() {
                self.start_rewrite();
            }
        }
        // Closed: the file is left compact (nobody waits on puts now).
        if self.rewriting.is_some() {
            self.finish_rewrite();
        }
        if self.should_rewrite() {
            self.start_rewrite();
            self.finish_rewrite();
        }
    }

    /// Appends and fsyncs `batch`, then points the index at its records.
    fn commit(&mut self, batch: &[Put]) -> Result<(), String> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let mut buf = Vec::with_capacity(batch.iter().map(|p| p.bytes.len() + 64).sum());
        for put in batch {
            buf.extend_from_slice(&put.bytes);
            if let Some((_, _, bytes)) = &put.then {
                buf.extend_from_slice(bytes);
            }
        }
        let written = self.file.write_all_at(&buf, self.len);
        if let Err(e) = written.and_then(|()| self.file.sync_data()) {
            return Err(self.fail(e));
        }
        self.index_batch(batch);
        Ok(())
    }

    fn index_batch(&mut self, batch: &[Put]) {
        let mut index = index::write(&self.index);
        let records = batch.iter().flat_map(|put| {
            std::iter::once((&put.key, put.live, &put.bytes)).chain(
                put.then
                    .iter()
                    .map(|(key, live, bytes)| (key, *live, bytes)),
            )
        });
        for (key, live, bytes) in records {
            let loc = Loc {
                offset: self.len,
                len: bytes.len() as u32,
            };
            index.apply(key, loc, live);
            self.len = loc.end();
            if let Some(r) = &mut self.rewriting {
                r.tail.push((key.as_str().into(), live, loc.len));
            }
        }
    }

    /// Stops all writes: after a failed write or sync, what the file holds is unknown.
    fn fail(&mut self, e: io::Error) -> String {
        let e = format!("{}: {e}", self.path.display());
        tracing::error!(error = %e, "session journal write failed; refusing writes from now on");
        self.failed = Some(e.clone());
        e
    }

    /// Whether the file is long and more than half of it dead.
    fn should_rewrite(&self) -> bool {
        let live = index::read(&self.index).live;
        self.failed.is_none()
            && self.len > self.rewrite_at.max(self.hold_until)
            && self.len - live > self.len / 2
    }

    fn rewrite_failed(&mut self, e: io::Error) {
        tracing::warn!(error = %e, path = %self.path.display(), "session journal rewrite failed; it keeps growing");
        self.hold_until = self.len.saturating_add(self.rewrite_at);
    }

    /// Starts copying the live records to `<path>.tmp` on a thread of its
    /// own; puts go on meanwhile.
    fn start_rewrite(&mut self) {
        let live = index::read(&self.index).snapshot();
        let (old, tmp) = (self.file.clone(), tmp_path(&self.path));
        let copy = std::thread::Builder::new()
            .name("tollgate-journal-rewrite".into())
            .spawn(move || copy_live(&old, live, &tmp));
        match copy {
            Ok(copy) => {
                self.rewriting = Some(Rewrite {
                    from: self.len,
                    tail: Vec::new(),
                    copy,
                })
            }
            Err(e) => self.rewrite_failed(e),
        }
    }

    /// Waits for the copy, appends to it what was put since, and switches
    /// the file and the index to it.
    fn finish_rewrite(&mut self) {
        let Some(rewrite) = self.rewriting.take() else {
            return;
        };
        let copied = rewrite
            .copy
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the copy's thread panicked")));
        let tmp = tmp_path(&self.path);
        let done = match (&self.failed, copied) {
            (Some(e), _) => Err(io::Error::other(e.clone())),
            (None, Ok(copy)) => self.catch_up(copy, rewrite.from, rewrite.tail, &tmp),
            (None, Err(e)) => Err(e),
        };
        if let Err(e) = done {
            let _ = fs::remove_file(&tmp);
            if self.failed.is_none() {
                self.rewrite_failed(e);
            }
        }
    }

    /// Appends the records put since `from` (`tail`) to the copy, as they
    /// are in the old file, fsyncs it and renames it over the file.
    fn catch_up(
        &mut self,
        (file, mut keys, copied): Copied,
        from: u64,
        tail: Vec<(Box<str>, bool, u32)>,
        tmp: &Path,
    ) -> io::Result<()> {
        let mut buf = vec![0; (self.len - from).min(1 << 20) as usize];
        let mut at = from;
        while at < self.len {
            let n = buf.len().min((self.len - at) as usize);
            self.file.read_exact_at(&mut buf[..n], at)?;
            file.write_all_at(&buf[..n], copied + (at - from))?;
            at += n as u64;
        }
        file.sync_data()?;
        let mut len = copied;
        let caught_up = tail.len() as u64;
        for (key, live, rec) in tail {
            let loc = Loc {
                offset: len,
                len: rec,
            };
            match live {
                true => keys.insert(key, loc),
                false => keys.remove(&key),
            };
            len = loc.end();
        }
        fs::rename(tmp, &self.path)?;
        self.switch_to(Arc::new(file), keys, len);
        index::write(&self.index).caught_up += caught_up;
        if let Err(e) = sync_dir(&self.path) {
            // Unsynced, the rename may be lost in a crash, and with it
            // every record appended to the new file.
            self.fail(e);
        }
        Ok(())
    }

    fn switch_to(&mut self, file: Arc<File>, keys: BTreeMap<Box<str>, Loc>, len: u64) {
        let live = keys.values().map(|loc| u64::from(loc.len)).sum();
        let old = index::write(&self.index).replace(file.clone(), keys, live);
        drop(old);
        self.file = file;
        self.len = len;
    }
}

/// Writes the records at `live` (sorted by key) from `old` to a new file at
/// `tmp` and fsyncs it; returns it, its index and its length. A corrupt
/// record is logged and left out (copied, it would end replay there).
fn copy_live(
    old: &File,
    live: Vec<(Box<str>, Loc)>,
    tmp: &Path,
) -> io::Result<(File, BTreeMap<Box<str>, Loc>, u64)> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(tmp)?;
    let mut out = BufWriter::with_capacity(1 << 20, &file);
    let mut keys = Vec::with_capacity(live.len());
    let mut len = 0;
    for (key, loc) in live {
        let frame = match record::read_frame(old, loc) {
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                tracing::warn!(key = &*key, offset = loc.offset, error = %e, "session journal rewrite drops a corrupt record");
                continue;
            }
            frame => frame?,
        };
        out.write_all(&frame)?;
        keys.push((
            key,
            Loc {
                offset: len,
                len: loc.len,
            },
        ));
        len += u64::from(loc.len);
    }
    out.flush()?;
    drop(out);
    file.sync_all()?;
    // `keys` is sorted, so this builds the map without sorting.
    Ok((file, keys.into_iter().collect(), len))
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    tmp.into()
}

fn sync_dir(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => File::open(dir)?.sync_all(),
        _ => File::open(".")?.sync_all(),
    }
}
