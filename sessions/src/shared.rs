//! State every call task and switch connection shares.

use crate::actor::CallMsg;
use crate::clock::Clock;
use crate::config::SessionsConfig;
use crate::journal::Journal;
use crate::metrics::Metrics;
use dashmap::DashMap;
use rater::engine::Engine;
use std::sync::Arc;
use tokio::sync::mpsc;

/// A live call task and the switch it is on.
pub(crate) struct CallEntry {
    pub alias: String,
    pub tx: mpsc::Sender<CallMsg>,
}

pub(crate) struct Shared {
    pub engine: Arc<Engine>,
    pub cfg: SessionsConfig,
    pub clock: Clock,
    pub journal: Journal,
    pub metrics: Metrics,
    pub calls: DashMap<String, CallEntry>,
}
