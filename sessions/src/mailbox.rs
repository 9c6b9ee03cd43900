//! A call's mailbox: that call's events, in order, for its task.
//!
//! A tokio mpsc channel costs about 700 bytes per call before its first
//! message (a block of 32 slots and cache-padded counters); with 10,000
//! calls up that was the largest part of what a call cost. A call gets
//! three or four messages in its life, so a queue behind a mutex and a
//! [`Notify`] do the same job in about a hundred bytes. The queue is
//! unbounded, but only one switch's events for one call ever land in it;
//! emptied, it lets go of its buffer.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use tokio::sync::Notify;

pub(crate) struct Mailbox<T> {
    state: Mutex<State<T>>,
    notify: Notify,
}

struct State<T> {
    queue: VecDeque<T>,
    /// The receiving task has ended: sends are refused.
    closed: bool,
}

impl<T> Default for Mailbox<T> {
    fn default() -> Self {
        Mailbox {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                closed: false,
            }),
            notify: Notify::new(),
        }
    }
}

impl<T> Mailbox<T> {
    fn state(&self) -> MutexGuard<'_, State<T>> {
        // No code path panics while holding the lock; a poisoned queue is still whole.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `msg`, or hands it back if the receiver has closed.
    pub fn send(&self, msg: T) -> Result<(), T> {
        let mut state = self.state();
        if state.closed {
            return Err(msg);
        }
        state.queue.push_back(msg);
        drop(state);
        self.notify.notify_one();
        Ok(())
    }

    /// The next message, waiting for one. Cancel-safe: a message is only
    /// taken out of the queue by a call that returns it.
    pub async fn recv(&self) -> T {
        loop {
            if let Some(msg) = self.take() {
                return msg;
            }
            self.notify.notified().await;
        }
    }

    /// The next message, if one is queued.
    fn take(&self) -> Option<T> {
        let mut state = self.state();
        let msg = state.queue.pop_front()?;
        // A waiting call holds no buffer (80 bytes with the allocator's;
        // a call gets a message every few seconds at most).
        if state.queue.is_empty() {
            state.queue = VecDeque::new();
        }
        Some(msg)
    }

    /// Refuses further sends and returns what was queued and never received.
    pub fn close(&self) -> VecDeque<T> {
        let mut state = self.state();
        state.closed = true;
        std::mem::take(&mut state.queue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn delivers_in_order_across_tasks() {
        let mb = Arc::new(Mailbox::default());
        let rx = mb.clone();
        let reader = tokio::spawn(async move {
            let mut got = vec![];
            for _ in 0..1000 {
                got.push(rx.recv().await);
            }
            got
        });
        for i in 0..1000 {
            mb.send(i).unwrap();
            if i % 100 == 0 {
                tokio::task::yield_now().await;
            }
        }
        assert_eq!(reader.await.unwrap(), (0..1000).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_cancelled_recv_loses_nothing() {
        let mb = Mailbox::default();
        // Poll a receive once (it waits), then give it up; the messages
        // sent afterwards are all still there.
        tokio::select! {
            biased;
            _ = mb.recv() => panic!("nothing was sent"),
            _ = std::future::ready(()) => {}
        }
        mb.send("a").unwrap();
        mb.send("b").unwrap();
        assert_eq!(mb.recv().await, "a");
        assert_eq!(mb.recv().await, "b");
    }

    #[tokio::test]
    async fn an_emptied_queue_lets_go_of_its_buffer() {
        let mb = Mailbox::default();
        mb.send(1).unwrap();
        mb.send(2).unwrap();
        assert_eq!(mb.recv().await, 1);
        assert!(mb.state().queue.capacity() > 0);
        assert_eq!(mb.recv().await, 2);
        assert_eq!(mb.state().queue.capacity(), 0);
    }

    #[test]
    fn closing_refuses_sends_and_returns_the_rest() {
        let mb = Mailbox::default();
        mb.send(1).unwrap();
        mb.send(2).unwrap();
        assert_eq!(mb.close(), VecDeque::from([1, 2]));
        assert_eq!(mb.send(3), Err(3));
    }

    #[test]
    fn an_idle_mailbox_is_small() {
        // The point of this module: compare with a tokio channel's ~700 bytes.
        assert!(std::mem::size_of::<Mailbox<crate::actor::CallMsg>>() <= 112);
    }
}
