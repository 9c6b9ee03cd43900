//! The session controller: starts a connection per configured switch,
//! resumes persisted sessions, and answers what the API asks about
//! sessions and call records. Shutting down leaves calls up: the switch
//! keeps enforcing each call's limit, and a restart resumes them.

use crate::actor::CallMsg;
use crate::clock::Clock;
use crate::config::SessionsConfig;
use crate::journal::{Journal, JournalError};
use crate::metrics::Metrics;
use crate::record::{Cdr, SessionRecord};
use crate::shared::Shared;
use dashmap::DashMap;
use rater::engine::Engine;
use std::path::Path;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Which call records to return.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CdrFilter {
    pub tenants: Vec<String>,
    pub accounts: Vec<String>,
    pub origin_ids: Vec<String>,
    pub offset: usize,
    pub limit: Option<usize>,
}

pub struct Controller {
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    tasks: std::sync::Mutex<Vec<JoinHandle<()>>>,
}

impl Controller {
    /// Opens the session journal at `journal_path` and starts following the switches.
    pub fn start(
        engine: Arc<Engine>,
        cfg: SessionsConfig,
        journal_path: &Path,
    ) -> Result<Controller, JournalError> {
        let journal = Journal::open(journal_path)?;
        let shared = Arc::new(Shared {
            engine,
            clock: Clock::new(cfg.clock_speed),
            cfg,
            journal,
            metrics: Metrics::default(),
            calls: DashMap::new(),
        });
        let (shutdown, rx) = watch::channel(false);
        let tasks: Vec<_> = shared
            .cfg
            .switches
            .iter()
            .map(|sw| tokio::spawn(crate::switch::run(shared.clone(), sw.clone(), rx.clone())))
            .collect();
        Ok(Controller {
            shared,
            shutdown,
            tasks: std::sync::Mutex::new(tasks),
        })
    }

    /// Live sessions, as persisted.
    pub fn active_sessions(&self) -> Vec<SessionRecord> {
        self.shared
            .journal
            .scan("session:")
            .into_iter()
            .filter_map(|(_, v)| serde_json::from_value(v).ok())
            .collect()
    }

    /// Call records matching `filter`, oldest answer first.
    pub fn cdrs(&self, filter: &CdrFilter) -> Vec<Cdr> {
        let keep = |list: &[String], v: &str| list.is_empty() || list.iter().any(|x| x == v);
        let mut out: Vec<Cdr> = self
            .shared
            .journal
            .scan("cdr:")
            .into_iter()
            .filter_map(|(_, v)| serde_json::from_value::<Cdr>(v).ok())
            .filter(|c| {
                keep(&filter.tenants, &c.tenant)
                    && keep(&filter.accounts, &c.account)
                    && keep(&filter.origin_ids, &c.origin_id)
            })
            .collect();
        out.sort_by(|a, b| {
            a.answer_time
                .cmp(&b.answer_time)
                .then(a.cgr_id.cmp(&b.cgr_id))
        });
        out.into_iter()
            .skip(filter.offset)
            .take(filter.limit.unwrap_or(usize::MAX))
            .collect()
    }

    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// Stops following the switches without touching any call.
    pub async fn shutdown(&self) {
        let _ = self.shutdown.send(true);
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        for task in tasks {
            let _ = task.await;
        }
        let calls: Vec<_> = self
            .shared
            .calls
            .iter()
            .map(|c| c.mailbox.clone())
            .collect();
        for mailbox in calls {
            let _ = mailbox.send(CallMsg::Stop);
        }
    }
}
