//! The log's records: an account's new state and an op's reply, as JSON
//! in the checksummed framing of [`crate::store::frames`].

use crate::account::Account;
use crate::store::frames::{self, Frames};
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

pub fn encode(entry: &Entry, out: &mut Vec<u8>) {
    frames::frame_with(out, |out| {
        serde_json::to_writer(out, entry).expect("serializing to a Vec cannot fail")
    });
}

/// Decodes records from `buf`; returns them and the length of the valid
/// prefix (a record that does not parse ends it like a torn one).
pub fn decode_all(buf: &[u8]) -> (Vec<Entry>, usize) {
    let mut entries = Vec::new();
    let mut frames = Frames::new(buf);
    let mut valid = 0;
    while let Some(payload) = frames.next() {
        match serde_json::from_slice::<Entry>(payload) {
            Ok(e) => entries.push(e),
            Err(_) => break,
        }
        valid = frames.valid_len();
    }
    (entries, valid)
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
