//! The log's records: an account's new state and an op's reply, as JSON
//! in the checksummed framing of [`crate::store::frames`].

use crate::account::Account;
use crate::store::frames::{self, Frames};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

/// What one record says: an account's new state (None: removed) and,
/// for an idempotent operation, its id and reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    #[serde(rename = "k")]
    pub key: String,
    #[serde(rename = "a")]
    pub account: Option<Account>,
    #[serde(rename = "o", default, skip_serializing_if = "Option::is_none")]
    pub op: Option<(String, Value)>,
}

/// An op-only record as [`Entry`] writes it (no key, no account), from
/// borrowed parts.
#[derive(Serialize)]
struct OpOnly<'a> {
    k: &'static str,
    a: Option<()>,
    o: (&'a str, &'a Value),
}

pub fn encode(entry: &Entry, out: &mut Vec<u8>) {
    encode_with(entry, out);
}

fn encode_with(value: &impl Serialize, out: &mut Vec<u8>) {
    frames::frame_with(out, |out| {
        serde_json::to_writer(out, value).expect("serializing to a Vec cannot fail")
    });
}

/// A framed record holding only an op's reply (no account), sized exactly:
/// what snapshots keep of an op.
pub fn op_record(id: &str, reply: &Value) -> Arc<[u8]> {
    let mut out = Vec::with_capacity(id.len() + 512);
    let op = OpOnly {
        k: "",
        a: None,
        o: (id, reply),
    };
    encode_with(&op, &mut out);
    Arc::from(out)
}

/// Just the op id of a record (the rest is skipped, not built).
#[derive(Deserialize)]
struct OpId<'a> {
    #[serde(borrow)]
    o: (std::borrow::Cow<'a, str>, serde::de::IgnoredAny),
}

/// The op id in the first record of `framed` (borrowed unless escaped).
pub fn op_id_in(framed: &[u8]) -> Option<std::borrow::Cow<'_, str>> {
    let payload = Frames::new(framed).next()?;
    serde_json::from_slice::<OpId>(payload).ok().map(|r| r.o.0)
}

/// The op reply in the first record of `framed`.
pub fn reply_in(framed: &[u8]) -> Option<Value> {
    let payload = Frames::new(framed).next()?;
    serde_json::from_slice::<Entry>(payload)
        .ok()?
        .op
        .map(|(_, reply)| reply)
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

    #[test]
    fn op_records_are_entries_without_account() {
        let reply = serde_json::json!({"left": "1.5", "n": [1, 2]});
        let record = op_record("op-1", &reply);
        let mut expected = Vec::new();
        encode(
            &Entry {
                key: String::new(),
                account: None,
                op: Some(("op-1".into(), reply.clone())),
            },
            &mut expected,
        );
        assert_eq!(&record[..], &expected[..]);
        assert_eq!(reply_in(&record), Some(reply.clone()));
        assert_eq!(reply_in(&record[..record.len() - 1]), None);
        assert_eq!(op_id_in(&record).as_deref(), Some("op-1"));
        assert_eq!(op_id_in(&record[..record.len() - 1]), None);
        // An id JSON escapes is read back as it was.
        let odd = "op \"1\"\\\n\u{7f}é";
        assert_eq!(op_id_in(&op_record(odd, &reply)).as_deref(), Some(odd));
    }
}
