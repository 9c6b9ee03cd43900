//! The file's records: `[key, value]` JSON payloads (`value` null for a
//! tombstone) in [`frames`]: writing them, reading one back at a known
//! place, and replaying a whole file without keeping the values.

use super::index::Loc;
use super::JournalError;
use rater::store::frames::{self, Frames};
use serde::de::IgnoredAny;
use serde_json::Value;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// Length and checksum, before every payload.
const HEADER: usize = 8;

/// How much of the file replay reads at a time.
const CHUNK: usize = 1 << 20;

/// The framed record storing (Some) or deleting (None) `key`.
pub(super) fn frame<T: serde::Serialize>(
    key: &str,
    value: Option<&T>,
) -> Result<Vec<u8>, JournalError> {
    let mut out = Vec::with_capacity(256);
    let mut failed = None;
    frames::frame_with(&mut out, |out| {
        if let Err(e) = serde_json::to_writer(out, &(key, value)) {
            failed = Some(e);
        }
    });
    if let Some(e) = failed {
        return Err(JournalError(format!("{key}: {e}")));
    }
    if out.len() - HEADER > frames::MAX_PAYLOAD {
        // Written, it could not be read back, and replay would stop at it.
        return Err(JournalError(format!(
            "{key}: record of {} bytes is too large",
            out.len()
        )));
    }
    Ok(out)
}

/// The key of a `[key, value]` payload and whether it has a value (is not
/// a tombstone), without building the value.
pub(super) fn parse_head(payload: &[u8]) -> Option<(String, bool)> {
    let (key, value) = serde_json::from_slice::<(String, Option<IgnoredAny>)>(payload).ok()?;
    Some((key, value.is_some()))
}

/// The whole frame at `loc`; `InvalidData` if it is not one intact record.
pub(super) fn read_frame(file: &File, loc: Loc) -> io::Result<Vec<u8>> {
    let mut buf = vec![0; loc.len as usize];
    file.read_exact_at(&mut buf, loc.offset)?;
    let intact = {
        let mut frames = Frames::new(&buf);
        frames.next().is_some() && frames.valid_len() == buf.len()
    };
    match intact {
        true => Ok(buf),
        false => Err(invalid("bad length or checksum")),
    }
}

/// `key`'s value from its record at `loc`; None, logged, if that cannot
/// be read.
pub(super) fn read_value(file: &File, key: &str, loc: Loc) -> Option<Value> {
    match decode(file, key, loc) {
        Ok(value) => Some(value),
        Err(e) => {
            tracing::warn!(key, offset = loc.offset, error = %e, "session journal record unreadable; treated as absent");
            None
        }
    }
}

fn decode(file: &File, key: &str, loc: Loc) -> io::Result<Value> {
    let frame = read_frame(file, loc)?;
    let (stored, value) = serde_json::from_slice::<(String, Option<Value>)>(&frame[HEADER..])?;
    match value {
        Some(value) if stored == key => Ok(value),
        _ => Err(invalid("not a value of this key")),
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// Calls `each` with the location and payload of every intact record from
/// the start of `file`, in order, until it returns false. Returns the
/// length of the valid prefix: where the first torn or corrupt record (or
/// the one `each` refused) starts, or the file's end.
pub(super) fn replay(file: &File, mut each: impl FnMut(Loc, &[u8]) -> bool) -> io::Result<u64> {
    // `buf` holds the file from offset `start`, read a chunk at a time.
    let (mut buf, mut start) = (Vec::new(), 0u64);
    loop {
        let (used, refused) = consume(&buf, start, &mut each);
        if refused || !incomplete(&buf[used..]) {
            return Ok(start + used as u64);
        }
        buf.drain(..used);
        start += used as u64;
        if !fill(file, &mut buf, start)? {
            return Ok(start);
        }
    }
}

/// Feeds the intact records at the start of `buf` (at file offset `start`)
/// to `each`; returns the bytes they span and whether `each` refused one.
fn consume(buf: &[u8], start: u64, each: &mut impl FnMut(Loc, &[u8]) -> bool) -> (usize, bool) {
    let mut frames = Frames::new(buf);
    let mut used = 0;
    while let Some(payload) = frames.next() {
        let end = frames.valid_len();
        let loc = Loc {
            offset: start + used as u64,
            len: (end - used) as u32,
        };
        if !each(loc, payload) {
            return (used, true);
        }
        used = end;
    }
    (used, false)
}

/// Whether `rest` (where [`Frames`] stopped) may be a record not yet read
/// whole, rather than a corrupt one.
fn incomplete(rest: &[u8]) -> bool {
    let Some(len) = rest.get(..4).and_then(|b| <[u8; 4]>::try_from(b).ok()) else {
        return true;
    };
    let len = u32::from_le_bytes(len) as usize;
    len <= frames::MAX_PAYLOAD && rest.len() < HEADER + len
}

/// Appends to `buf` (which holds the file from `start`) up to [`CHUNK`]
/// more bytes; false at the end of the file.
fn fill(file: &File, buf: &mut Vec<u8>, start: u64) -> io::Result<bool> {
    let old = buf.len();
    buf.resize(old + CHUNK, 0);
    let read = file.read_at(&mut buf[old..], start + old as u64);
    buf.truncate(old + *read.as_ref().unwrap_or(&0));
    Ok(read? > 0)
}
