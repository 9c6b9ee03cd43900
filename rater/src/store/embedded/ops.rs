//! The operations remembered for idempotent retries, shared by the store
//! (which looks retries up) and the log writer (which puts them in every
//! snapshot). Each op is held once, as its op-only log record framed as
//! on disk (one exactly sized `Arc<[u8]>`), which holds its id and its
//! reply: a retry's reply is decoded from it, and so is the id that a
//! lookup checks. The index holds only numbers, found by the id's hash
//! (kept beside each record), so two ids with the same hash are still
//! told apart. At most `max` are kept, oldest forgotten first.
//!
//! Ops are numbered as they are remembered, and the store queues an op's
//! log record while still holding this structure's lock, so the log holds
//! them in number order: the writer, knowing the number after the last op
//! it wrote, snapshots exactly the retained ops that are in the log.
//!
//! Memory per op, for an interval debit's id (~77 bytes) and reply (~250
//! bytes): the record (8-byte frame header, then the JSON entry with the
//! id and the reply), 16 + ~346 bytes; a queue slot (hash and record
//! handle: 24 bytes, room for `max` made once) and an index slot (number
//! and control byte: 9 bytes, the table up to 7/8 full) — about 400 bytes
//! in all at 20,000 ops, plus the allocator's overhead for one block
//! (see the test below). Holding the id apart as well (in the index and
//! the queue) cost ~540 bytes; three copies of it and the reply ~1,700.

use super::record::op_id_in;
use hashbrown::HashTable;
use std::collections::hash_map::RandomState;
use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, MutexGuard};

pub(super) type SharedOps = Arc<Mutex<Ops>>;

/// Room made at once for up to this many ops (a larger bound grows as
/// needed).
const PREALLOCATE: usize = 1 << 16;

pub(super) struct Ops {
    /// Each retained op's number, found by its id's hash; its place in
    /// `queue` is that minus `first()`.
    index: HashTable<u64>,
    /// The retained ops, oldest first: the id's hash and the op-only record.
    queue: VecDeque<(u64, Arc<[u8]>)>,
    hasher: RandomState,
    /// Tests: every id gets the same hash.
    #[cfg(test)]
    all_collide: bool,
    /// The number the next op gets (how many have been remembered).
    next: u64,
    max: usize,
}

/// Locks the shared ops (a panic elsewhere while holding the lock leaves
/// them consistent: every change is a few infallible steps).
pub(super) fn lock(ops: &SharedOps) -> MutexGuard<'_, Ops> {
    ops.lock().unwrap_or_else(|e| e.into_inner())
}

impl Ops {
    pub fn new(max: usize) -> Self {
        let room = max.min(PREALLOCATE);
        Ops {
            index: HashTable::with_capacity(room),
            queue: VecDeque::with_capacity(room),
            hasher: RandomState::new(),
            #[cfg(test)]
            all_collide: false,
            next: 0,
            max,
        }
    }

    fn first(&self) -> u64 {
        self.next - self.queue.len() as u64
    }

    /// The place in `queue` of the op with this id and hash.
    fn find(&self, id: &str, hash: u64) -> Option<usize> {
        let first = self.first();
        let queue = &self.queue;
        let n = self.index.find(hash, |&n| {
            let (h, record) = &queue[(n - first) as usize];
            *h == hash && op_id_in(record).as_deref() == Some(id)
        })?;
        Some((n - first) as usize)
    }

    fn hash(&self, id: &str) -> u64 {
        #[cfg(test)]
        if self.all_collide {
            return 7;
        }
        self.hasher.hash_one(id)
    }

    pub fn contains(&self, id: &str) -> bool {
        self.find(id, self.hash(id)).is_some()
    }

    /// Remembers an op's record (which must be `id`'s: see
    /// [`super::record::op_record`]), forgetting the oldest beyond the
    /// bound, and returns its number — unless the id is remembered
    /// already: then the first reply stands and this returns None.
    pub fn remember(&mut self, id: &str, record: Arc<[u8]>) -> Option<u64> {
        debug_assert_eq!(op_id_in(&record).as_deref(), Some(id));
        let hash = self.hash(id);
        if self.find(id, hash).is_some() {
            return None;
        }
        let n = self.next;
        if self.max == 0 {
            self.next += 1;
            return Some(n);
        }
        while self.queue.len() >= self.max {
            self.forget_oldest();
        }
        self.queue.push_back((hash, record));
        self.next += 1;
        let first = self.first();
        let queue = &self.queue;
        self.index
            .insert_unique(hash, n, |&m| queue[(m - first) as usize].0);
        Some(n)
    }

    fn forget_oldest(&mut self) {
        let first = self.first();
        let Some((hash, _)) = self.queue.pop_front() else {
            return;
        };
        if let Ok(entry) = self.index.find_entry(hash, |&n| n == first) {
            entry.remove();
        }
    }

    /// The number the next op will get; every op numbered below it has
    /// been remembered.
    pub fn next(&self) -> u64 {
        self.next
    }

    /// A remembered op's record (a handle: decode its reply with
    /// [`super::record::reply_in`] after letting go of the lock).
    pub fn record(&self, id: &str) -> Option<Arc<[u8]>> {
        let place = self.find(id, self.hash(id))?;
        self.queue.get(place).map(|(_, record)| record.clone())
    }

    /// The records (handles, not copies) of the retained ops numbered
    /// below `upto`, oldest first.
    pub fn records_below(&self, upto: u64) -> Vec<Arc<[u8]>> {
        let count = usize::try_from(upto.saturating_sub(self.first())).unwrap_or(usize::MAX);
        self.queue
            .iter()
            .take(count)
            .map(|(_, record)| record.clone())
            .collect()
    }

    /// Heap bytes held (blocks' contents, not the allocator's overhead).
    #[cfg(test)]
    fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        let arc_header = 2 * size_of::<usize>();
        let blocks: usize = self
            .queue
            .iter()
            .map(|(_, record)| arc_header + record.len())
            .sum();
        // The table's buckets: a power of two holding up to 7/8 of it.
        let buckets = (self.index.capacity() * 8 / 7).next_power_of_two();
        blocks
            + buckets * (size_of::<u64>() + 1)
            + self.queue.capacity() * size_of::<(u64, Arc<[u8]>)>()
    }
}

#[cfg(test)]
mod tests {
    use super::super::record::{op_record, reply_in};
    use super::*;
    use serde_json::{json, Value};

    impl Ops {
        fn reply(&self, id: &str) -> Option<Value> {
            reply_in(&self.record(id)?)
        }
    }

    fn reply(n: u64) -> Value {
        json!({ "n": n })
    }

    fn remember(ops: &mut Ops, id: &str, n: u64) -> Option<u64> {
        ops.remember(id, op_record(id, &reply(n)))
    }

    #[test]
    fn bounded_oldest_forgotten_first_and_first_reply_stands() {
        let mut ops = Ops::new(3);
        for n in 0..5 {
            assert_eq!(remember(&mut ops, &format!("op{n}"), n), Some(n));
        }
        assert_eq!(ops.next(), 5);
        assert!(!ops.contains("op1"));
        assert_eq!(ops.reply("op1"), None);
        for n in 2..5 {
            assert_eq!(ops.reply(&format!("op{n}")), Some(reply(n)));
        }
        // A second record for a remembered id changes nothing.
        assert_eq!(remember(&mut ops, "op3", 99), None);
        assert_eq!(ops.reply("op3"), Some(reply(3)));
        assert_eq!(ops.next(), 5);
        assert_eq!(ops.index.len(), 3);
        assert_eq!(ops.queue.len(), 3);
    }

    /// Ids are told apart by the id their record holds, not by the hash:
    /// with every id hashed alike, the ops behave as ever.
    #[test]
    fn ids_with_the_same_hash_are_told_apart() {
        let mut ops = Ops::new(3);
        ops.all_collide = true;
        for n in 0..5 {
            assert_eq!(remember(&mut ops, &format!("op{n}"), n), Some(n));
        }
        for n in 0..2 {
            assert!(!ops.contains(&format!("op{n}")));
        }
        for n in 2..5 {
            assert_eq!(ops.reply(&format!("op{n}")), Some(reply(n)));
        }
        assert_eq!(remember(&mut ops, "op4", 99), None);
        assert_eq!(remember(&mut ops, "op1", 1), Some(5));
        assert!(!ops.contains("op2"));
        assert_eq!(ops.reply("op1"), Some(reply(1)));
        assert_eq!(ops.index.len(), 3);
    }

    #[test]
    fn an_id_that_json_escapes_is_found() {
        let mut ops = Ops::new(3);
        let id = "op \"quoted\" \\ and\nnewline";
        assert_eq!(remember(&mut ops, id, 1), Some(0));
        assert!(ops.contains(id));
        assert_eq!(ops.reply(id), Some(reply(1)));
        assert_eq!(remember(&mut ops, id, 2), None);
    }

    #[test]
    fn records_below_takes_only_ops_numbered_below() {
        let mut ops = Ops::new(3);
        for n in 0..5 {
            remember(&mut ops, &format!("op{n}"), n);
        }
        let replies = |upto| -> Vec<Value> {
            ops.records_below(upto)
                .iter()
                .map(|r| reply_in(r).unwrap())
                .collect()
        };
        assert_eq!(replies(0), Vec::<Value>::new());
        assert_eq!(replies(2), Vec::<Value>::new());
        assert_eq!(replies(3), vec![reply(2)]);
        assert_eq!(replies(5), vec![reply(2), reply(3), reply(4)]);
        assert_eq!(replies(9), replies(5));
    }

    #[test]
    fn zero_bound_keeps_nothing() {
        let mut ops = Ops::new(0);
        assert_eq!(remember(&mut ops, "a", 1), Some(0));
        assert!(!ops.contains("a"));
        assert_eq!(ops.records_below(1).len(), 0);
    }

    /// An interval debit's op at the load the bound is sized for: the
    /// record alone, found by its id's hash, costs less than the record and
    /// the id apart (~540 bytes per op), about a quarter of the three
    /// copies before that (~1,700).
    #[test]
    fn an_interval_debit_op_costs_about_400_bytes() {
        let max = 20_000;
        let mut ops = Ops::new(max);
        let reply = json!({
            "cost": "0.0123456789", "usage": 30_000_000_000u64, "left": "12.3456789012",
            "charges": [{"rating": "RT_0256_EVENING", "increments": 30, "amount": "0.0123456789"}],
            "balance": "*monetary:*default", "at": "2026-11-22T10:00:00Z", "to": "2026-11-22T10:00:30Z",
        });
        assert!((230..270).contains(&reply.to_string().len()));
        for n in 0..max + 100 {
            let id = format!(
                "interval:{}:*default:{}:{}",
                uuid::Uuid::new_v4(),
                n % 40,
                1_795_000_000_000_000_000u64 + n as u64
            );
            ops.remember(&id, op_record(&id, &reply));
        }
        let per_op = ops.heap_bytes() / max;
        assert!((360..440).contains(&per_op), "{per_op} bytes per op");
    }
}
