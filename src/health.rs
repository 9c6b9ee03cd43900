//! What `GET /health` answers: serving, draining (the node was told to
//! stop and is waiting for the load balancer to notice), or the store
//! cannot be reached. Reading it is two atomic loads, so load balancers may
//! ask as often as they like.
//!
//! With `store.type = "postgres"` a background task asks the account
//! store every second whether the database answers (`SELECT 1` through the
//! store's pool, bounded) and keeps the verdict in an `AtomicBool`. An
//! embedded store is on the node's own disk: it is always reachable.

use rater::store::AccountStore;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;

/// How often the store is probed, and how long one probe may take.
pub const PROBE_EVERY: Duration = Duration::from_secs(1);

/// The node's health, as `GET /health` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Serving.
    Ok,
    /// Stopping: still serving, but the balancer should send nothing new.
    Draining,
    /// The store did not answer the last probe.
    StoreUnavailable,
}

impl Status {
    /// The `status` field of `/health`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Draining => "draining",
            Status::StoreUnavailable => "store unavailable",
        }
    }
}

/// Draining flag and store verdict, shared with the probe task.
#[derive(Debug)]
pub struct Health {
    draining: AtomicBool,
    store_ok: Arc<AtomicBool>,
    probe: Mutex<Option<JoinHandle<()>>>,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            draining: AtomicBool::new(false),
            store_ok: Arc::new(AtomicBool::new(true)),
            probe: Mutex::new(None),
        }
    }
}

impl Health {
    /// The current status; draining wins over an unreachable store.
    pub fn status(&self) -> Status {
        if self.draining.load(Ordering::Relaxed) {
            Status::Draining
        } else if !self.store_ok.load(Ordering::Relaxed) {
            Status::StoreUnavailable
        } else {
            Status::Ok
        }
    }

    /// From now on `/health` answers `503 draining`.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Whether draining has started.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Whether the store answered its last probe.
    pub fn store_available(&self) -> bool {
        self.store_ok.load(Ordering::Relaxed)
    }

    /// Starts probing the PostgreSQL database at `url` every
    /// [`PROBE_EVERY`] (on the current runtime, until [`stop`](Self::stop)).
    /// A URL that does not parse marks the store unavailable.
    /// Asks `store` every second whether it is reachable
    /// ([`AccountStore::healthy`]: a `SELECT 1` on PostgreSQL through the
    /// store's own pool, bounded), until [`Health::stop`].
    pub fn watch_store(&self, store: Arc<dyn AccountStore>) {
        let task = tokio::spawn(probe_forever(store, self.store_ok.clone()));
        let old = self
            .probe
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .replace(task);
        if let Some(old) = old {
            old.abort();
        }
    }

    pub fn stop(&self) {
        let task = self.probe.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task {
            task.abort();
        }
    }
}

impl Drop for Health {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A probe connection and the task driving it.
async fn probe_forever(store: Arc<dyn AccountStore>, ok: Arc<AtomicBool>) {
    let mut ticker = tokio::time::interval(PROBE_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let verdict = tokio::time::timeout(PROBE_EVERY * 2, store.healthy())
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "no answer within {} ms",
                    (PROBE_EVERY * 2).as_millis()
                ))
            });
        let healthy = verdict.is_ok();
        if ok.swap(healthy, Ordering::Relaxed) != healthy {
            match verdict {
                Ok(()) => tracing::info!("store reachable again: /health answers 200"),
                Err(e) => tracing::warn!(error = %e, "store unreachable: /health answers 503"),
            }
        }
    }
}
