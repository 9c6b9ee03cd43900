//! The in-memory part of the journal: every live key and where its latest
//! record is, plus the file those locations point into.

use super::record;
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::ops::Bound;
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Where a record is: its whole frame, header included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Loc {
    pub offset: u64,
    pub len: u32,
}

impl Loc {
    pub fn end(self) -> u64 {
        self.offset + u64::from(self.len)
    }
}

pub(super) struct Index {
    /// Sorted, so a prefix scan visits only its own keys (`session:` keys
    /// are few next to the `cdr:` keys that pile up).
    pub keys: BTreeMap<Box<str>, Loc>,
    /// The file `keys` point into, for positioned reads.
    pub file: Arc<File>,
    /// Bytes of the records `keys` point to; the rest of the file is dead.
    pub live: u64,
    pub rewrites: u64,
    /// Records put while a rewrite copied, appended to its copy.
    pub caught_up: u64,
}

/// The index for reading (a panic elsewhere leaves it consistent: every
/// change is one map operation).
pub(super) fn read(index: &RwLock<Index>) -> RwLockReadGuard<'_, Index> {
    index.read().unwrap_or_else(PoisonError::into_inner)
}

pub(super) fn write(index: &RwLock<Index>) -> RwLockWriteGuard<'_, Index> {
    index.write().unwrap_or_else(PoisonError::into_inner)
}

impl Index {
    fn new(file: Arc<File>) -> Index {
        Index {
            keys: BTreeMap::new(),
            file,
            live: 0,
            rewrites: 0,
            caught_up: 0,
        }
    }

    /// Opens (or creates) the file at `path`, replays it into an index and
    /// cuts it at the end of its valid prefix, whose length it returns.
    pub fn load(path: &Path) -> io::Result<(Index, u64)> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        // The journal's name (and its directory's, if just created) is
        // durable only once the directories holding them are fsynced.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)?.sync_all()?;
            if let Some(up) = dir.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::File::open(up)?.sync_all()?;
            }
        }
        let file = Arc::new(file);
        let mut index = Index::new(file.clone());
        let len = record::replay(&file, |loc, payload| {
            let Some((key, live)) = record::parse_head(payload) else {
                return false;
            };
            index.apply(&key, loc, live);
            true
        })?;
        file.set_len(len)?;
        Ok((index, len))
    }

    /// Points `key` at its new record at `loc`, or drops it for a tombstone.
    pub fn apply(&mut self, key: &str, loc: Loc, live: bool) {
        let old = if !live {
            self.keys.remove(key)
        } else if let Some(at) = self.keys.get_mut(key) {
            Some(std::mem::replace(at, loc))
        } else {
            self.keys.insert(key.into(), loc)
        };
        self.live -= old.map_or(0, |old| u64::from(old.len));
        if live {
            self.live += u64::from(loc.len);
        }
    }

    /// The keys starting with `prefix` and their locations, sorted.
    pub fn with_prefix(&self, prefix: &str) -> Vec<(String, Loc)> {
        self.keys
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(key, _)| key.starts_with(prefix))
            .map(|(key, loc)| (key.to_string(), *loc))
            .collect()
    }

    /// Every key and location, for a rewrite.
    pub fn snapshot(&self) -> Vec<(Box<str>, Loc)> {
        self.keys.iter().map(|(k, loc)| (k.clone(), *loc)).collect()
    }

    /// Switches to a rewritten file and its locations in one step; returns
    /// the old map, to be dropped outside the lock.
    pub fn replace(
        &mut self,
        file: Arc<File>,
        keys: BTreeMap<Box<str>, Loc>,
        live: u64,
    ) -> BTreeMap<Box<str>, Loc> {
        self.file = file;
        self.live = live;
        self.rewrites += 1;
        std::mem::replace(&mut self.keys, keys)
    }
}
