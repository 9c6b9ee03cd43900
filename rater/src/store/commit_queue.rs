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
//!
//! Under load, urgent items come one at a time faster than fsyncs end
//! (1,500 calls/s parking: one every 0.7 ms, each urgent in both logs),
//! and each would get an fsync of its own. With [`Gather`], a lone urgent
//! item that comes while the log is busy first waits a moment for company
//! (at 1,500 calls/s the parks under 1 ms went from about a third to about
//! half; the fsyncs per call moved within the noise, `docs/profile.md`).
//! A batch that already has company goes at once, so callers in a closed
//! loop (many RPC debits at a time) are not slowed down.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub struct CommitQueue<T> {
    state: Mutex<State<T>>,
    wake: Condvar,
    gather: Option<Gather>,
}

/// How an urgent batch waits for others to share its fsync under load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gather {
    /// The log counts as busy while its last commit ended within this.
    pub busy: Duration,
    /// How long a small urgent batch then waits, at most.
    pub wait: Duration,
    /// A batch of this many urgent items has company: it goes at once (and
    /// a wait ends as soon as the queue holds this many). Items that may
    /// wait do not count: they are queued most of the time under load.
    pub enough: usize,
}

impl Gather {
    /// What both of tollgate's logs use: a lone urgent item waits up to
    /// half a millisecond for one more (at 1,500 calls/s the next park's
    /// comes within that about half the time), well within the 5 ms a
    /// park may take.
    pub const UNDER_LOAD: Gather = Gather {
        busy: Duration::from_millis(5),
        wait: Duration::from_micros(500),
        enough: 2,
    };
}

struct State<T> {
    items: Vec<T>,
    /// When the oldest queued item came.
    since: Option<Instant>,
    /// How many of the queued items are urgent.
    urgent: usize,
    closed: bool,
    /// What the writer waits for: any item (idle), or an urgent one.
    waiting: Waiting,
    /// When the writer last came back for a batch after taking one: when
    /// its last commit ended.
    last_commit: Option<Instant>,
    /// Whether the writer holds a batch (is committing it).
    committing: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Waiting {
    No,
    Any,
    Urgent,
    /// Gathering: woken once the queue holds this many urgent items.
    Company(usize),
}

impl<T> Default for CommitQueue<T> {
    fn default() -> Self {
        CommitQueue {
            state: Mutex::new(State {
                items: Vec::new(),
                since: None,
                urgent: 0,
                closed: false,
                waiting: Waiting::No,
                last_commit: None,
                committing: false,
            }),
            wake: Condvar::new(),
            gather: None,
        }
    }
}

impl<T> CommitQueue<T> {
    /// A queue whose small urgent batches wait for company under load.
    pub fn gathering(gather: Gather) -> Self {
        CommitQueue {
            gather: Some(gather),
            ..CommitQueue::default()
        }
    }

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
        state.urgent += usize::from(urgent);
        state.since.get_or_insert_with(Instant::now);
        state.items.push(item);
        let wake = match state.waiting {
            Waiting::Any => true,
            Waiting::Urgent => urgent,
            Waiting::Company(enough) => state.urgent >= enough,
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
    /// `batch`, in order; false once closed and empty. The writer calls it
    /// again once it has committed the batch before.
    pub fn next_batch(&self, batch: &mut Vec<T>, max: usize, soon: Duration) -> bool {
        let mut state = self.lock();
        if std::mem::take(&mut state.committing) {
            state.last_commit = Some(Instant::now());
        }
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
            if state.urgent > 0 || state.closed || due <= now {
                break;
            }
            state.waiting = Waiting::Urgent;
            state = match self.wake.wait_timeout(state, due - now) {
                Ok((s, _)) => s,
                Err(p) => p.into_inner().0,
            };
        }
        if let Some(gather) = self.gather {
            state = self.gather(state, gather);
        }
        state.waiting = Waiting::No;
        state.committing = true;
        if state.items.len() <= max {
            batch.append(&mut state.items);
            state.since = None;
            state.urgent = 0;
        } else {
            // The rest is due as well: it goes at once, in the next batch.
            batch.extend(state.items.drain(..max));
            state.urgent = state.urgent.min(state.items.len());
        }
        true
    }

    /// Under load, lets a small urgent batch wait up to `gather.wait` for
    /// others to join it (it goes as soon as it has company).
    fn gather<'a>(
        &'a self,
        mut state: MutexGuard<'a, State<T>>,
        gather: Gather,
    ) -> MutexGuard<'a, State<T>> {
        let busy = state
            .last_commit
            .is_some_and(|last| last.elapsed() < gather.busy);
        if state.urgent == 0 || state.closed || !busy {
            return state;
        }
        let until = Instant::now() + gather.wait;
        while state.urgent < gather.enough && !state.closed {
            let now = Instant::now();
            if now >= until {
                break;
            }
            state.waiting = Waiting::Company(gather.enough);
            state = match self.wake.wait_timeout(state, until - now) {
                Ok((s, _)) => s,
                Err(p) => p.into_inner().0,
            };
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn an_item_that_may_wait_waits_and_an_urgent_one_takes_it_along() {
        let q = Arc::new(CommitQueue::<u32>::default());
        q.push(1, false).unwrap();
        let started = Instant::now();
        let mut batch = vec![];
        assert!(q.next_batch(&mut batch, 10, Duration::from_millis(30)));
        assert_eq!(batch, [1]);
        assert!(started.elapsed() >= Duration::from_millis(25));
        batch.clear();
        q.push(2, false).unwrap();
        let writer = next_on_thread(&q);
        std::thread::sleep(Duration::from_millis(20));
        q.push(3, true).unwrap();
        let (batch, waited) = writer.join().unwrap();
        assert_eq!(batch, [2, 3]);
        assert!(waited < Duration::from_secs(5));
    }

    fn gathering(wait: Duration) -> Arc<CommitQueue<u32>> {
        Arc::new(CommitQueue::gathering(Gather {
            busy: Duration::from_secs(60),
            wait,
            enough: 3,
        }))
    }

    /// Takes one batch on another thread (the writer): what it got and how
    /// long it waited.
    fn next_on_thread(q: &Arc<CommitQueue<u32>>) -> std::thread::JoinHandle<(Vec<u32>, Duration)> {
        let q = q.clone();
        std::thread::spawn(move || {
            let mut batch = vec![];
            let started = Instant::now();
            q.next_batch(&mut batch, 10, Duration::from_secs(60));
            (batch, started.elapsed())
        })
    }

    #[test]
    fn an_idle_log_commits_an_urgent_item_at_once() {
        let q = gathering(Duration::from_secs(60));
        q.push(1, true).unwrap();
        let mut batch = vec![];
        let started = Instant::now();
        assert!(q.next_batch(&mut batch, 10, Duration::from_secs(60)));
        assert_eq!(batch, [1]);
        assert!(started.elapsed() < Duration::from_secs(30));
    }

    #[test]
    fn under_load_a_lone_urgent_item_waits_for_company() {
        let q = gathering(Duration::from_millis(50));
        let mut batch = vec![];
        q.push(1, true).unwrap();
        assert!(q.next_batch(&mut batch, 10, Duration::from_secs(60)));
        // The writer comes back from that commit: the log is busy now.
        let writer = next_on_thread(&q);
        q.push(2, true).unwrap();
        let (batch, waited) = writer.join().unwrap();
        assert_eq!(batch, [2]);
        assert!(waited >= Duration::from_millis(45), "{waited:?}");
    }

    #[test]
    fn under_load_company_ends_the_wait() {
        let q = gathering(Duration::from_secs(60));
        let mut batch = vec![];
        q.push(1, true).unwrap();
        assert!(q.next_batch(&mut batch, 10, Duration::from_secs(60)));
        let writer = next_on_thread(&q);
        q.push(2, true).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        // Items that may wait are no company: they are queued most of the time.
        q.push(3, false).unwrap();
        q.push(4, false).unwrap();
        q.push(5, true).unwrap();
        q.push(6, true).unwrap();
        let (batch, waited) = writer.join().unwrap();
        assert_eq!(batch, [2, 3, 4, 5, 6]);
        assert!(waited < Duration::from_secs(30), "{waited:?}");
        // A batch that already has company goes at once.
        for i in 7..10 {
            q.push(i, true).unwrap();
        }
        let (batch, waited) = next_on_thread(&q).join().unwrap();
        assert_eq!(batch, [7, 8, 9]);
        assert!(waited < Duration::from_secs(30), "{waited:?}");
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
        assert!(q.next_batch(&mut batch, 3, Duration::from_secs(10)));
        assert_eq!(batch, [0, 1, 2]);
        assert!(q.next_batch(&mut batch, 3, Duration::from_secs(10)));
        assert_eq!(batch, [0, 1, 2, 3, 4]);
        assert!(!q.next_batch(&mut batch, 3, Duration::from_secs(10)));
    }
}
