//! The log's record framing: `len u32 LE | crc32 u32 LE | payload`.
//! A record is applied only if whole and its checksum matches, so a crash
//! mid-write leaves at most a torn tail, which recovery cuts off.

use crate::account::Account;
use serde::{Deserialize, Serialize};

/// What one record says: an account's new state (None: removed) and,
/// for an idempotent operation, its id and reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    #[serde(rename = "k")]
    pub key: String,
    #[serde(rename = "a")]
    pub account: Option<Account>,
    #[serde(rename = "o", default, skip_serializing_if = "Option::is_none")]
    pub op: Option<(String, serde_json::Value)>,
}

/// Largest record accepted on recovery (a corrupt length must not allocate gigabytes).
pub const MAX_RECORD: usize = 64 << 20;

pub fn encode(entry: &Entry, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0u8; 8]);
    serde_json::to_writer(&mut *out, entry).expect("serializing to a Vec cannot fail");
    let len = (out.len() - start - 8) as u32;
    let crc = crc32fast::hash(&out[start + 8..]);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Decodes records from `buf`; returns them and the length of the valid prefix.
pub fn decode_all(buf: &[u8]) -> (Vec<Entry>, usize) {
    let mut entries = Vec::new();
    let mut pos = 0;
    while buf.len() - pos >= 8 {
        let len = u32::from_le_bytes([buf[pos], buf[pos + 1], buf[pos + 2], buf[pos + 3]]) as usize;
        let crc = u32::from_le_bytes([buf[pos + 4], buf[pos + 5], buf[pos + 6], buf[pos + 7]]);
        if len > MAX_RECORD || buf.len() - pos - 8 < len {
            break;
        }
        let payload = &buf[pos + 8..pos + 8 + len];
        if crc32fast::hash(payload) != crc {
            break;
        }
        match serde_json::from_slice::<Entry>(payload) {
            Ok(e) => entries.push(e),
            Err(_) => break,
        }
        pos += 8 + len;
    }
    (entries, pos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::AccountKey;

    fn entry(n: u32) -> Entry {
        Entry {
            key: format!("t:{n}"),
            account: Some(Account::new(&AccountKey::new("t", &n.to_string()))),
            op: Some((format!("op{n}"), serde_json::json!({"n": n}))),
        }
    }

    #[test]
    fn round_trip_and_torn_tails() {
        let mut buf = Vec::new();
        for n in 0..3 {
            encode(&entry(n), &mut buf);
        }
        let (all, len) = decode_all(&buf);
        assert_eq!(all.len(), 3);
        assert_eq!(len, buf.len());
        assert_eq!(all[2], entry(2));
        // Every cut inside the last record keeps exactly the first two.
        let two = {
            let mut b = Vec::new();
            encode(&entry(0), &mut b);
            encode(&entry(1), &mut b);
            b.len()
        };
        for cut in two..buf.len() {
            let (some, valid) = decode_all(&buf[..cut]);
            assert_eq!(some.len(), 2, "cut at {cut}");
            assert_eq!(valid, two);
        }
        // A flipped byte in the payload stops replay there.
        let mut bad = buf.clone();
        bad[two + 12] ^= 0xff;
        assert_eq!(decode_all(&bad).0.len(), 2);
    }
}
