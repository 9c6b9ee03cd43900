//! StorDb in files on this node: each TPid is one JSON file,
//! `<store.path>/stordb/<TPid>.json` (characters other than
//! `A-Z a-z 0-9 _ -` in the TPid are written `%XX`). Every change writes
//! the whole file to `<name>.tmp`, fsyncs it, renames it over the old one
//! and fsyncs the folder, all before the API answers `OK`: a crash leaves
//! either the old or the new file, never half of one. The in-memory copy is
//! replaced only after the file is durable, so a failed write changes
//! nothing.

use super::{StorDbError, TpData};
use crate::rpc::ApiError;
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The tariff-plan records of every TPid, mirrored on disk.
#[derive(Debug)]
pub struct FileStorDb {
    dir: PathBuf,
    tps: Mutex<BTreeMap<String, TpData>>,
}

/// The file name of a TPid.
pub fn file_name(tpid: &str) -> String {
    let mut name = String::with_capacity(tpid.len() + 5);
    for b in tpid.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            name.push(b as char);
        } else {
            name.push_str(&format!("%{b:02X}"));
        }
    }
    name.push_str(".json");
    name
}

impl FileStorDb {
    /// Opens (creating if needed) the folder and reads every stored TPid.
    /// Blocking.
    pub fn open(dir: &Path) -> Result<FileStorDb, StorDbError> {
        let err = |message: String| StorDbError {
            path: dir.display().to_string(),
            message,
        };
        fs::create_dir_all(dir).map_err(|e| err(format!("cannot create: {e}")))?;
        let mut tps = BTreeMap::new();
        for entry in fs::read_dir(dir).map_err(|e| err(e.to_string()))? {
            let path = entry.map_err(|e| err(e.to_string()))?.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let text =
                fs::read_to_string(&path).map_err(|e| err(format!("{}: {e}", path.display())))?;
            let tp: TpData =
                serde_json::from_str(&text).map_err(|e| err(format!("{}: {e}", path.display())))?;
            tps.insert(tp.tpid.clone(), tp);
        }
        Ok(FileStorDb {
            dir: dir.to_path_buf(),
            tps: Mutex::new(tps),
        })
    }

    /// The folder the files live in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, TpData>> {
        self.tps.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every TPid holding records, sorted.
    pub fn tpids(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// Reads one TPid, `None` when it has no record.
    pub fn read<R>(&self, tpid: &str, f: impl FnOnce(&TpData) -> R) -> Option<R> {
        self.lock().get(tpid).map(f)
    }

    /// Changes one TPid: `f` edits a copy, which is written durably and
    /// only then becomes current. If `f` or the write fails nothing changes.
    /// A TPid left without records is deleted. Blocking (fsync).
    pub fn update<R>(
        &self,
        tpid: &str,
        f: impl FnOnce(&mut TpData) -> Result<R, ApiError>,
    ) -> Result<R, ApiError> {
        let mut tps = self.lock();
        let mut tp = tps.get(tpid).cloned().unwrap_or_else(|| TpData {
            tpid: tpid.to_string(),
            ..TpData::default()
        });
        let result = f(&mut tp)?;
        let path = self.dir.join(file_name(tpid));
        if tp.is_empty() {
            match fs::remove_file(&path) {
                Ok(()) => sync_dir(&self.dir).map_err(ApiError::server)?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(ApiError::server(format!("stordb: {e}"))),
            }
            tps.remove(tpid);
        } else {
            let json = serde_json::to_vec_pretty(&tp).map_err(ApiError::server)?;
            write_durably(&self.dir, &path, &json)
                .map_err(|e| ApiError::server(format!("stordb {}: {e}", path.display())))?;
            tps.insert(tpid.to_string(), tp);
        }
        Ok(result)
    }

    /// Makes sure everything acknowledged is on disk. Every change is
    /// already fsynced before it is acknowledged, so this only syncs the
    /// folder once more. Blocking.
    pub fn flush(&self) -> std::io::Result<()> {
        let _tps = self.lock();
        sync_dir(&self.dir)
    }
}

/// temp file + fsync + rename + fsync of the folder.
fn write_durably(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stordb::records::DestinationRec;

    #[test]
    fn file_names_are_safe() {
        assert_eq!(file_name("SAMPLE_TP"), "SAMPLE_TP.json");
        assert_eq!(file_name("../x y"), "%2E%2E%2Fx%20y.json");
    }

    #[test]
    fn changes_survive_reopen_and_failures_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let db = FileStorDb::open(dir.path()).unwrap();
        db.update("TP", |tp| {
            tp.destinations.insert(
                "D".into(),
                DestinationRec {
                    prefixes: vec!["0256".into()],
                },
            );
            Ok(())
        })
        .unwrap();
        let err = db.update("TP", |tp| {
            tp.destinations.clear();
            Err::<(), _>(ApiError::Duplicate)
        });
        assert_eq!(err, Err(ApiError::Duplicate));
        let again = FileStorDb::open(dir.path()).unwrap();
        assert_eq!(again.tpids(), vec!["TP".to_string()]);
        assert_eq!(
            again.read("TP", |tp| tp.destinations["D"].prefixes.clone()),
            Some(vec!["0256".to_string()])
        );
        again
            .update("TP", |tp| {
                tp.destinations.clear();
                Ok(())
            })
            .unwrap();
        assert!(FileStorDb::open(dir.path()).unwrap().tpids().is_empty());
    }
}
