//! The queue between the callers of a log and the one thread that writes
//! and fsyncs it in groups, shared by the embedded account store's log and
//! the session controller's journal.
//!
//! An fsync costs far more CPU than a write (~0.1 ms on a virtual disk),
//! so a log that fsyncs each change alone spends most of its time there
//! when changes come one at a time. Here each item says whether someone
//! is in a hurry for it: an urgent item is committed at once (with
//! whatever is queued), one that may wait is held until an urgent one
//! comes or the oldest has waited `soon`. The writer sleeps meanwhile and
//! is woken only by an urgent item (or the first item of an empty queue):
//! a batch of a hundred items costs one or two wake-ups, not a hundred.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub struct CommitQueue<T> {
    state: Mutex<State<T>>,
    wake: Condvar,
}

struct State<T> {
    items: Vec<T>,
    /// When the oldest queued item came.
    since: Option<Instant>,
    urgent: bool,
    closed: bool,
    /// What the writer waits for: any item (idle), or an urgent one.
    waiting: Waiting,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Waiting {
    No,
    Any,
    Urgent,
}

impl<T> Default for CommitQueue<T> {
    fn default() -> Self {
        CommitQueue {
            state: Mutex::new(State {
                items: Vec::new(),
                since: None,
                urgent: false,
                closed: false,
                waiting: Waiting::No,
            }),
            wake: Condvar::new(),
        }
    }
}

impl<T> CommitQueue<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // Nothing panics holding the lock; a poisoned queue is still whole.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `item` (`urgent`: commit it at once); hands it back once
    /// the queue is closed.
    pub fn push(&self, item: T, urgent: bool) -> Result<(), T> {
        let mut state = self.lock();
        if state.closed {
            return Err(item);
        }
        state.urgent |= urgent;
        state.since.get_or_insert_with(Instant::now);
        state.items.push(item);
        let wake = match state.waiting {
            Waiting::Any => true,
            Waiting::Urgent => urgent,
            Waiting::No => false,
        };
        if wake {
            state.waiting = Waiting::No;
        }
        drop(state);
        if wake {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// No more items: the writer takes what is queued, then stops.
    pub fn close(&self) {
        self.lock().closed = true;
        self.wake.notify_one();
    }

    /// Waits for the next batch that is due (an urgent item is queued, or
    /// the oldest has waited `soon`) and moves up to `max` items into
    /// `batch`, in order; false once closed and empty. With `gather`, an
    /// urgent batch that comes within `busy` of the last one
    /// (`last_commit`) first waits `gather` for others to join it.
    pub fn next_batch(
        &self,
        batch: &mut Vec<T>,
        max: usize,
        soon: Duration,
        gather: Option<(Duration, Duration, Option<Instant>)>,
    ) -> bool {
        let mut state = self.lock();
        loop {
            if state.items.is_empty() {
                if state.closed {
                    return false;
                }
                state.waiting = Waiting::Any;
                state = self.wake.wait(state).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            let now = Instant::now();
            let due = state.since.map_or(now, |t| t + soon);
            if state.urgent || state.closed || due <= now {
                break;
            }
            state.waiting = Waiting::Urgent;
            state = match self.wake.wait_timeout(state, due - now) {
                Ok((s, _)) => s,
                Err(p) => p.into_inner().0,
            };
        }
        state.waiting = Waiting::No;
        if let Some((busy, gather, Some(last))) = gather {
            if state.urgent && last.elapsed() < busy {
                // Under load: let others' items join this fsync.
                drop(state);
                std::thread::sleep(gather);
                state = self.lock();
            }
        }
        if state.items.len() <= max {
            batch.append(&mut state.items);
            state.since = None;
            state.urgent = false;
        } else {
            // The rest is due as well: it goes at once, in the next batch.
            batch.extend(state.items.drain(..max));
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn an_item_that_may_wait_waits_and_an_urgent_one_takes_it_along() {
        let q = Arc::new(CommitQueue::default());
        q.push(1, false).unwrap();
        let started = Instant::now();
        let mut batch = vec![];
        assert!(q.next_batch(&mut batch, 10, Duration::from_millis(30), None));
        assert_eq!(batch, [1]);
        assert!(started.elapsed() >= Duration::from_millis(25));
        batch.clear();
        q.push(2, false).unwrap();
        let writer = {
            let q = q.clone();
            std::thread::spawn(move || {
                let mut batch = vec![];
                let started = Instant::now();
                q.next_batch(&mut batch, 10, Duration::from_secs(10), None);
                (batch, started.elapsed())
            })
        };
        std::thread::sleep(Duration::from_millis(20));
        q.push(3, true).unwrap();
        let (batch, waited) = writer.join().unwrap();
        assert_eq!(batch, [2, 3]);
        assert!(waited < Duration::from_secs(5));
    }

    #[test]
    fn closing_hands_over_the_rest_then_stops() {
        let q = CommitQueue::default();
        for i in 0..5 {
            q.push(i, false).unwrap();
        }
        q.close();
        assert_eq!(q.push(9, true), Err(9));
        let mut batch = vec![];
        assert!(q.next_batch(&mut batch, 3, Duration::from_secs(10), None));
        assert_eq!(batch, [0, 1, 2]);
        assert!(q.next_batch(&mut batch, 3, Duration::from_secs(10), None));
        assert_eq!(batch, [0, 1, 2, 3, 4]);
        assert!(!q.next_batch(&mut batch, 3, Duration::from_secs(10), None));
    }
}
