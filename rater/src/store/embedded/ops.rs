//! The operations remembered for idempotent retries, shared by the store
//! (which looks retries up) and the log writer (which puts them in every
//! snapshot). Each op is held once: its id (one `Arc<str>`, in both the
//! index and the queue) and its op-only log record, framed as on disk (one
//! exactly sized `Arc<[u8]>`); a retry's reply is decoded from that record.
//! At most `max` are kept, oldest forgotten first.
//!
//! Ops are numbered as they are remembered, and the store queues an op's
//! log record while still holding this structure's lock, so the log holds
//! them in number order: the writer, knowing the number after the last op
//! it wrote, snapshots exactly the retained ops that are in the log.
//!
//! Memory per op, for an interval debit's id (~77 bytes) and reply (~250
//! bytes): the id, 16 + 77 bytes; the record (8-byte frame header, then
//! the JSON entry with the id again and the reply), 16 + ~346 bytes; an
//! index slot (id handle, number, control byte: 25 bytes) and a queue slot
//! (two handles: 32 bytes), both tables up to half empty — about 540 bytes
//! in all at 20,000 ops, plus the allocator's overhead for two blocks
//! (see the test below). Before, the same op cost ~1,700 bytes.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

pub(super) type SharedOps = Arc<Mutex<Ops>>;

pub(super) struct Ops {
    /// Each retained op's number; its place in `queue` is that minus `first()`.
    index: HashMap<Arc<str>, u64>,
    /// The retained ops, oldest first: id and op-only record.
    queue: VecDeque<(Arc<str>, Arc<[u8]>)>,
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
        Ops {
            index: HashMap::new(),
            queue: VecDeque::new(),
            next: 0,
            max,
        }
    }

    fn first(&self) -> u64 {
        self.next - self.queue.len() as u64
    }

    pub fn contains(&self, id: &str) -> bool {
        self.index.contains_key(id)
    }

    /// Remembers an op's record, forgetting the oldest beyond the bound,
    /// and returns its number — unless the id is remembered already: then
    /// the first reply stands and this returns None.
    pub fn remember(&mut self, id: &str, record: Arc<[u8]>) -> Option<u64> {
        if self.contains(id) {
            return None;
        }
        let id: Arc<str> = Arc::from(id);
        let n = self.next;
        self.index.insert(id.clone(), n);
        self.queue.push_back((id, record));
        self.next += 1;
        while self.queue.len() > self.max {
            if let Some((old, _)) = self.queue.pop_front() {
                self.index.remove(&old);
            }
        }
        Some(n)
    }

    /// The number the next op will get; every op numbered below it has
    /// been remembered.
    pub fn next(&self) -> u64 {
        self.next
    }

    /// A remembered op's record (a handle: decode its reply with
    /// [`super::record::reply_in`] after letting go of the lock).
    pub fn record(&self, id: &str) -> Option<Arc<[u8]>> {
        let n = *self.index.get(id)?;
        let place = usize::try_from(n - self.first()).ok()?;
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
            .map(|(id, record)| 2 * arc_header + id.len() + record.len())
            .sum();
        blocks
            + self.index.capacity() * (size_of::<(Arc<str>, u64)>() + 1)
            + self.queue.capacity() * size_of::<(Arc<str>, Arc<[u8]>)>()
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
    /// shared record costs about a third of the three copies it replaced
    /// (~1,700 bytes per op).
    #[test]
    fn an_interval_debit_op_costs_about_540_bytes() {
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
        assert!((450..700).contains(&per_op), "{per_op} bytes per op");
    }
}
