//! A small durable map for session state and call records: every `put` is
//! appended to a checksummed file and fsynced (in groups, by one writer
//! thread) before it returns, so a session persisted before a crash is
//! there after it. The file is rewritten from the live map when it grows.

use rater::store::frames::{self, Frames};
use serde_json::Value;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use thiserror::Error;
use tokio::sync::oneshot;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("session journal: {0}")]
pub struct JournalError(pub String);

const REWRITE_AT: u64 = 32 << 20;

struct Put {
    bytes: Vec<u8>,
    ack: oneshot::Sender<Result<(), String>>,
}

pub struct Journal {
    /// Values as compact JSON text: a `Value` tree costs several times more.
    map: Arc<Mutex<HashMap<String, Box<str>>>>,
    tx: Mutex<mpsc::Sender<Put>>,
    path: PathBuf,
}

fn frame(key: &str, value: &Option<Value>) -> Vec<u8> {
    frame_text(&serde_json::to_string(&(key, value)).unwrap_or_default())
}

/// Frames an already serialized `[key, value]` payload.
fn frame_text(payload: &str) -> Vec<u8> {
    let mut out = Vec::new();
    frames::frame(payload.as_bytes(), &mut out);
    out
}

/// Replays records into `map`; returns the length of the valid prefix.
fn replay(buf: &[u8], map: &mut HashMap<String, Box<str>>) -> usize {
    let mut frames = Frames::new(buf);
    let mut valid = 0;
    while let Some(payload) = frames.next() {
        let Ok((key, value)) = serde_json::from_slice::<(String, Option<Value>)>(payload) else {
            break;
        };
        match value {
            Some(v) => map.insert(key, v.to_string().into_boxed_str()),
            None => map.remove(&key),
        };
        valid = frames.valid_len();
    }
    valid
}

impl Journal {
    /// Opens (or creates) the journal file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Journal, JournalError> {
        let path = path.as_ref().to_path_buf();
        let err = |e: std::io::Error| JournalError(format!("{}: {e}", path.display()));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(err(e)),
        };
        let mut map = HashMap::new();
        let valid = replay(&bytes, &mut map) as u64;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(err)?;
        file.set_len(valid).map_err(err)?;
        file.seek(SeekFrom::Start(valid)).map_err(err)?;
        let map = Arc::new(Mutex::new(map));
        let (tx, rx) = mpsc::channel::<Put>();
        let (writer_map, writer_path) = (map.clone(), path.clone());
        std::thread::Builder::new()
            .name("tollgate-sessions-journal".into())
            .spawn(move || write_loop(rx, file, valid, writer_map, writer_path))
            .map_err(err)?;
        Ok(Journal {
            map,
            tx: Mutex::new(tx),
            path,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stores (Some) or deletes (None) `key`, durably.
    pub async fn put(&self, key: &str, value: Option<Value>) -> Result<(), JournalError> {
        let bytes = frame(key, &value);
        let (ack, done) = oneshot::channel();
        {
            // Update the map and queue the record together, so the file's order is the map's.
            let mut map = self
                .map
                .lock()
                .map_err(|_| JournalError("poisoned".into()))?;
            match value {
                Some(v) => map.insert(key.to_string(), v.to_string().into_boxed_str()),
                None => map.remove(key),
            };
            let tx = self
                .tx
                .lock()
                .map_err(|_| JournalError("poisoned".into()))?;
            tx.send(Put { bytes, ack })
                .map_err(|_| JournalError("writer stopped".into()))?;
        }
        match done.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(JournalError(e)),
            Err(_) => Err(JournalError("writer stopped".into())),
        }
    }

    pub fn get(&self, key: &str) -> Option<Value> {
        let text = self.map.lock().ok()?.get(key)?.clone();
        serde_json::from_str(&text).ok()
    }

    /// Whether `key` is present (without decoding it).
    pub fn contains(&self, key: &str) -> bool {
        self.map.lock().is_ok_and(|m| m.contains_key(key))
    }

    /// Every entry whose key starts with `prefix`.
    pub fn scan(&self, prefix: &str) -> Vec<(String, Value)> {
        let Ok(map) = self.map.lock() else {
            return vec![];
        };
        let mut out: Vec<_> = map
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .filter_map(|(k, v)| Some((k.clone(), serde_json::from_str(v).ok()?)))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

fn write_loop(
    rx: mpsc::Receiver<Put>,
    mut file: File,
    mut len: u64,
    map: Arc<Mutex<HashMap<String, Box<str>>>>,
    path: PathBuf,
) {
    let mut buf = Vec::new();
    let mut acks = Vec::new();
    let mut failed: Option<String> = None;
    while let Ok(first) = rx.recv() {
        buf.clear();
        buf.extend_from_slice(&first.bytes);
        acks.push(first.ack);
        while let Ok(more) = rx.try_recv() {
            buf.extend_from_slice(&more.bytes);
            acks.push(more.ack);
        }
        let result = match &failed {
            Some(e) => Err(e.clone()),
            None => file
                .write_all(&buf)
                .and_then(|_| file.sync_data())
                .map_err(|e| format!("{}: {e}", path.display())),
        };
        if let Err(e) = &result {
            tracing::error!(error = %e, "session journal write failed");
            failed = Some(e.clone());
        }
        len += buf.len() as u64;
        for ack in acks.drain(..) {
            let _ = ack.send(result.clone());
        }
        if failed.is_none() && len > REWRITE_AT {
            match rewrite(&path, &map) {
                Ok((f, l)) => (file, len) = (f, l),
                Err(e) => {
                    tracing::warn!(error = %e, "session journal rewrite failed; it keeps growing")
                }
            }
        }
    }
}

/// Writes the live map to a new file and renames it over the old one.
fn rewrite(path: &Path, map: &Mutex<HashMap<String, Box<str>>>) -> std::io::Result<(File, u64)> {
    let tmp = path.with_extension("tmp");
    // Copy under the lock (every `put` waits on it), frame outside it,
    // straight from the stored text.
    let entries: Vec<(String, Box<str>)> = match map.lock() {
        Ok(map) => map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        Err(_) => return Err(std::io::Error::other("journal map poisoned")),
    };
    let mut bytes = Vec::new();
    for (k, v) in &entries {
        let key = serde_json::to_string(k).unwrap_or_default();
        bytes.extend_from_slice(&frame_text(&format!("[{key},{v}]")));
    }
    let mut f = File::create(&tmp)?;
    f.write_all(&bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    let mut f = OpenOptions::new().read(true).write(true).open(path)?;
    f.seek(SeekFrom::End(0))?;
    Ok((f, bytes.len() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn durable_across_reopen_and_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sessions.journal");
        {
            let j = Journal::open(&path).unwrap();
            j.put("session:a", Some(json!({"n": 1}))).await.unwrap();
            j.put("session:b", Some(json!({"n": 2}))).await.unwrap();
            j.put("session:a", None).await.unwrap();
            j.put("cdr:b", Some(json!({"cost": 1.5}))).await.unwrap();
        }
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(&[9, 9, 9]);
        std::fs::write(&path, bytes).unwrap();
        let j = Journal::open(&path).unwrap();
        assert_eq!(j.get("session:a"), None);
        assert_eq!(
            j.scan("session:"),
            vec![("session:b".to_string(), json!({"n": 2}))]
        );
        assert_eq!(j.get("cdr:b"), Some(json!({"cost": 1.5})));
        j.put("session:c", Some(json!(3))).await.unwrap();
        drop(j);
        assert_eq!(Journal::open(&path).unwrap().scan("session:").len(), 2);
    }
}

#[cfg(test)]
mod rewrite_tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn a_rewritten_journal_reads_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let j = Journal::open(&path).unwrap();
        j.put("session:\"quoted\"", Some(json!({"a": [1, 2.5, "x"]})))
            .await
            .unwrap();
        j.put("cdr:b", Some(json!({"Cost": 0.7}))).await.unwrap();
        rewrite(&path, &j.map).unwrap();
        drop(j);
        let j = Journal::open(&path).unwrap();
        assert_eq!(
            j.get("session:\"quoted\""),
            Some(json!({"a": [1, 2.5, "x"]}))
        );
        assert_eq!(j.get("cdr:b"), Some(json!({"Cost": 0.7})));
    }
}
