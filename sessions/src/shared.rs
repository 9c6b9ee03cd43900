//! State every call task and switch connection shares.

use crate::actor::CallMsg;
use crate::archive::Archive;
use crate::archiver::Pending;
use crate::clock::Clock;
use crate::config::SessionsConfig;
use crate::mailbox::Mailbox;
use crate::metrics::Metrics;
use crate::store::SessionStore;
use crate::switch::Commands;
use dashmap::DashMap;
use rater::engine::Engine;
use std::sync::Arc;

/// A live call task and the switch it is on.
pub(crate) struct CallEntry {
    pub alias: Arc<str>,
    pub mailbox: Arc<Mailbox<CallMsg>>,
}

pub(crate) struct Shared {
    pub engine: Arc<Engine>,
    pub cfg: SessionsConfig,
    pub clock: Clock,
    /// Sessions and call records (the journal, or PostgreSQL).
    pub store: SessionStore,
    pub metrics: Metrics,
    /// Live calls by uuid (the key shares the task's copy of the uuid).
    pub calls: DashMap<Arc<str>, CallEntry>,
    /// Where call records go once older than `cfg.cdr_retention`.
    pub archive: Arc<Archive>,
    /// Call records in the journal, oldest first, waiting to be archived.
    pub pending_cdrs: Pending,
    /// Each switch's command connections, once it has connected: a CDR
    /// posted for a session without a task starts one on its switch.
    pub pools: DashMap<Arc<str>, Commands>,
    /// Call records being corrected from a late CDR (one at a time each).
    pub correcting: DashMap<String, ()>,
    /// The live feed (see [`crate::live`]).
    pub live: tokio::sync::broadcast::Sender<crate::live::LiveEvent>,
    /// One copy of the strings calls hold alike (see [`CallInfo`]).
    ///
    /// [`CallInfo`]: crate::callinfo::CallInfo
    pub names: crate::intern::Interner,
}

impl Shared {
    /// Stops the tasks of the calls on switch `alias` (every call when
    /// `None`), leaving the calls up and their sessions persisted.
    pub(crate) fn stop_calls(&self, alias: Option<&str>) {
        let calls: Vec<_> = self
            .calls
            .iter()
            .filter(|c| alias.is_none_or(|a| *c.alias == *a))
            .map(|c| c.mailbox.clone())
            .collect();
        for mailbox in calls {
            let _ = mailbox.send(CallMsg::Stop);
        }
    }
}
