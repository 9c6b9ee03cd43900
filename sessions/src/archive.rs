//! The call-record archive: call records leave the session journal once
//! older than `sessions.cdr_retention`, into append-only JSON-lines files,
//! one per hour of settlement (`<dir>/YYYY-MM-DD/HH.jsonl`), so neither
//! memory nor the journal grows with the calls ever made, and operators can
//! ship or delete whole hours with ordinary tools.
//!
//! Moving is append, fsync, then delete from the journal. A crash in
//! between leaves a record in both; the next move to that hour first reads
//! which records the hour's file already holds, so none is written twice.

use crate::record::Cdr;
use chrono::{DateTime, Datelike, Timelike, Utc};
use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub struct Archive {
    dir: PathBuf,
    /// The ids in the hour file last appended to (read from it once, then
    /// kept up to date), so a record is never appended twice.
    last: Mutex<Option<(PathBuf, HashSet<String>)>>,
}

impl Archive {
    pub fn new(dir: impl Into<PathBuf>) -> Archive {
        Archive {
            dir: dir.into(),
            last: Mutex::new(None),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of the hour in which `at` falls.
    pub fn hour_file(&self, at: DateTime<Utc>) -> PathBuf {
        self.dir
            .join(format!(
                "{:04}-{:02}-{:02}",
                at.year(),
                at.month(),
                at.day()
            ))
            .join(format!("{:02}.jsonl", at.hour()))
    }

    /// Appends `cdrs`, all settled in the hour of `hour`, to that hour's
    /// file and syncs it; records the file holds already are skipped.
    pub fn append(&self, hour: DateTime<Utc>, cdrs: &[Cdr]) -> std::io::Result<()> {
        let path = self.hour_file(hour);
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if last.as_ref().map(|(p, _)| p) != Some(&path) {
            let ids = load_hour(&path)?;
            *last = Some((path.clone(), ids));
        }
        let Some((_, ids)) = last.as_mut() else {
            return Ok(());
        };
        let result = self.write(&path, ids, cdrs);
        if result.is_err() {
            // The file may end in part of a line now: read it afresh (and
            // cut that part) before the next append.
            *last = None;
        }
        result
    }

    fn write(&self, path: &Path, ids: &mut HashSet<String>, cdrs: &[Cdr]) -> std::io::Result<()> {
        let mut out = Vec::new();
        let mut added = Vec::new();
        for cdr in cdrs {
            if ids.contains(&cdr.cgr_id) || added.contains(&&cdr.cgr_id) {
                continue;
            }
            serde_json::to_writer(&mut out, cdr).map_err(std::io::Error::other)?;
            out.push(b'\n');
            added.push(&cdr.cgr_id);
        }
        if out.is_empty() {
            return Ok(());
        }
        if let Some(day) = path.parent() {
            std::fs::create_dir_all(day)?;
        }
        let mut file = OpenOptions::new().create(true).append(true).open(path)?;
        file.write_all(&out)?;
        file.sync_data()?;
        // The names must survive a crash too: the hour file in its day, the
        // day in the archive, the archive in its parent. A few syncs per
        // move (once a minute at most) cost nothing and need no memory of
        // which ones were done.
        let mut dir = path.parent();
        while let Some(d) = dir {
            File::open(d)?.sync_all()?;
            if d == self.dir {
                if let Some(parent) = d.parent().filter(|p| !p.as_os_str().is_empty()) {
                    File::open(parent)?.sync_all()?;
                }
                break;
            }
            dir = d.parent();
        }
        ids.extend(added.into_iter().cloned());
        Ok(())
    }

    /// Every archived record, oldest hour first, until `visit` breaks;
    /// hours wholly outside `stored` (Unix ns, start included, end
    /// excluded) are not read.
    pub fn for_each(
        &self,
        stored: (Option<i64>, Option<i64>),
        mut visit: impl FnMut(Cdr) -> ControlFlow<()>,
    ) -> std::io::Result<()> {
        for path in self.hour_files()? {
            if let Some(hour) = hour_of(&path).and_then(|h| h.timestamp_nanos_opt()) {
                let next = hour.saturating_add(3_600_000_000_000);
                if stored.0.is_some_and(|s| next <= s) || stored.1.is_some_and(|e| hour >= e) {
                    continue;
                }
            }
            let mut stop = false;
            read_lines(&path, |line| match serde_json::from_str::<Cdr>(line) {
                Ok(cdr) => {
                    stop = visit(cdr).is_break();
                    !stop
                }
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "unreadable call record line skipped");
                    true
                }
            })?;
            if stop {
                break;
            }
        }
        Ok(())
    }

    /// The hour files, in time order (their names sort by time).
    fn hour_files(&self) -> std::io::Result<Vec<PathBuf>> {
        let mut files = Vec::new();
        for day in sorted_entries(&self.dir)? {
            if day.is_dir() {
                files.extend(
                    sorted_entries(&day)?
                        .into_iter()
                        .filter(|f| f.extension().is_some_and(|e| e == "jsonl")),
                );
            }
        }
        Ok(files)
    }
}

/// The hour a file of this archive holds (`…/YYYY-MM-DD/HH.jsonl`).
fn hour_of(path: &Path) -> Option<DateTime<Utc>> {
    let hour: u32 = path.file_stem()?.to_str()?.parse().ok()?;
    let day = path.parent()?.file_name()?.to_str()?;
    let date = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(hour, 0, 0)?.and_utc())
}

fn sorted_entries(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<Vec<_>, _>>()?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => vec![],
        Err(e) => return Err(e),
    };
    out.sort();
    Ok(out)
}

/// Calls `line` for every complete line of `path` (a torn last line, from
/// a crash during an append, is not a line) until it returns false;
/// returns the length of the complete lines read.
fn read_lines(path: &Path, mut line: impl FnMut(&str) -> bool) -> std::io::Result<u64> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut reader = BufReader::new(file);
    let mut buf = String::new();
    let mut complete = 0u64;
    loop {
        buf.clear();
        let n = reader.read_line(&mut buf)?;
        if n == 0 || !buf.ends_with('\n') {
            return Ok(complete);
        }
        complete += n as u64;
        if !line(buf.trim_end()) {
            return Ok(complete);
        }
    }
}

/// The ids of the records in an hour file, after cutting off a torn last
/// line (so the next append starts on a line of its own).
fn load_hour(path: &Path) -> std::io::Result<HashSet<String>> {
    #[derive(serde::Deserialize)]
    struct Id {
        #[serde(rename = "CGRID")]
        cgr_id: String,
    }
    let mut ids = HashSet::new();
    let complete = read_lines(path, |line| {
        if let Ok(id) = serde_json::from_str::<Id>(line) {
            ids.insert(id.cgr_id);
        }
        true
    })?;
    match std::fs::metadata(path) {
        Ok(meta) if meta.len() > complete => {
            tracing::warn!(file = %path.display(), cut = meta.len() - complete, "cutting a torn line off a call record file");
            let file = OpenOptions::new().write(true).open(path)?;
            file.set_len(complete)?;
            file.sync_all()?;
        }
        _ => {}
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use rust_decimal::Decimal;

    fn cdr(id: &str, at: DateTime<Utc>) -> Cdr {
        Cdr {
            cgr_id: id.into(),
            run_id: "*default".into(),
            origin_host: "fs1".into(),
            origin_id: id.into(),
            request_type: "*prepaid".into(),
            tenant: "cgrates.org".into(),
            category: "call".into(),
            account: "1001".into(),
            subject: "1001".into(),
            destination: "1002".into(),
            setup_time: None,
            answer_time: Some(at),
            usage: 1_000_000_000,
            cost: Decimal::ONE,
            charges: vec![],
            unpaid: false,
            disconnect_cause: "NORMAL_CLEARING".into(),
            extra_info: String::new(),
            order_id: at.timestamp_nanos_opt().unwrap(),
            estimated: false,
        }
    }

    fn ids(a: &Archive) -> Vec<String> {
        let mut out = vec![];
        a.for_each((None, None), |c| {
            out.push(c.cgr_id);
            ControlFlow::Continue(())
        })
        .unwrap();
        out
    }

    #[test]
    fn hours_in_time_order_and_no_record_twice() {
        let dir = tempfile::tempdir().unwrap();
        let a = Archive::new(dir.path());
        let t9 = Utc.with_ymd_and_hms(2026, 11, 21, 9, 15, 0).unwrap();
        let t10 = Utc.with_ymd_and_hms(2026, 11, 21, 10, 5, 0).unwrap();
        a.append(t10, &[cdr("c", t10)]).unwrap();
        a.append(t9, &[cdr("a", t9), cdr("b", t9), cdr("a", t9)])
            .unwrap();
        assert_eq!(ids(&a), ["a", "b", "c"]);
        assert!(dir.path().join("2026-11-21/09.jsonl").exists());
        // A new archive (a restart) reads what the hour holds before appending.
        let again = Archive::new(dir.path());
        again.append(t9, &[cdr("b", t9), cdr("d", t9)]).unwrap();
        assert_eq!(ids(&again), ["a", "b", "d", "c"]);
        // Stopping early.
        let mut first = vec![];
        again
            .for_each((None, None), |c| {
                first.push(c.cgr_id);
                ControlFlow::Break(())
            })
            .unwrap();
        assert_eq!(first, ["a"]);
    }

    #[test]
    fn hours_outside_the_asked_times_are_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let a = Archive::new(dir.path());
        let t9 = Utc.with_ymd_and_hms(2026, 11, 21, 9, 15, 0).unwrap();
        let t10 = Utc.with_ymd_and_hms(2026, 11, 21, 10, 5, 0).unwrap();
        a.append(t9, &[cdr("a", t9)]).unwrap();
        a.append(t10, &[cdr("b", t10)]).unwrap();
        let ten = Utc.with_ymd_and_hms(2026, 11, 21, 10, 0, 0).unwrap();
        let ns = |t: DateTime<Utc>| t.timestamp_nanos_opt();
        let read = |stored| {
            let mut out = vec![];
            a.for_each(stored, |c| {
                out.push(c.cgr_id);
                ControlFlow::Continue(())
            })
            .unwrap();
            out
        };
        assert_eq!(read((ns(ten), None)), ["b"]);
        assert_eq!(read((None, ns(ten))), ["a"]);
        assert_eq!(read((ns(t9), ns(t10))), ["a", "b"]);
    }

    #[test]
    fn a_torn_line_is_cut_before_the_next_append() {
        let dir = tempfile::tempdir().unwrap();
        let t = Utc.with_ymd_and_hms(2026, 11, 21, 9, 15, 0).unwrap();
        Archive::new(dir.path()).append(t, &[cdr("a", t)]).unwrap();
        let path = Archive::new(dir.path()).hour_file(t);
        let mut torn = std::fs::read(&path).unwrap();
        let whole = torn.len();
        torn.extend_from_slice(b"{\"CGRID\":\"b\",\"Ru");
        std::fs::write(&path, &torn).unwrap();
        let a = Archive::new(dir.path());
        assert_eq!(ids(&a), ["a"]);
        a.append(t, &[cdr("b", t)]).unwrap();
        assert_eq!(ids(&a), ["a", "b"]);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(text.len() > whole && !text.contains("\"Ru{"));
    }

    #[test]
    fn after_a_failed_append_the_file_is_read_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let t = Utc.with_ymd_and_hms(2026, 11, 21, 9, 15, 0).unwrap();
        let a = Archive::new(dir.path());
        a.append(t, &[cdr("a", t)]).unwrap();
        let path = a.hour_file(t);
        let good = std::fs::read(&path).unwrap();
        // The append fails (here: the file cannot be opened) ...
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        assert!(a.append(t, &[cdr("b", t)]).is_err());
        // ... after writing part of a line.
        std::fs::remove_dir(&path).unwrap();
        let mut torn = good.clone();
        torn.extend_from_slice(b"{\"CGRID\":\"b\",\"Ru");
        std::fs::write(&path, &torn).unwrap();
        // The retry starts on a line of its own: both records read back.
        a.append(t, &[cdr("b", t)]).unwrap();
        assert_eq!(ids(&a), ["a", "b"]);
    }

    #[test]
    fn records_round_trip_with_their_order_id() {
        let dir = tempfile::tempdir().unwrap();
        let t = Utc.with_ymd_and_hms(2026, 11, 21, 9, 15, 0).unwrap();
        let a = Archive::new(dir.path());
        a.append(t, &[cdr("a", t)]).unwrap();
        let mut got = vec![];
        a.for_each((None, None), |c| {
            got.push(c);
            ControlFlow::Continue(())
        })
        .unwrap();
        assert_eq!(got, [cdr("a", t)]);
        assert_eq!(got[0].stored_at(), t);
    }
}
