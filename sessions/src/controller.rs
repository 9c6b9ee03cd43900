//! The session controller: starts a connection per configured switch,
//! resumes persisted sessions, archives old call records, and answers what
//! the API asks about sessions and call records. Shutting down leaves calls
//! up: the switch keeps enforcing each call's limit, and a restart resumes
//! them.

use crate::archive::Archive;
use crate::archiver;
use crate::callinfo::RequestType;
use crate::cdr_filter::CdrFilter;
use crate::cdr_intake::{CdrPostError, CdrVerdict};
use crate::clock::Clock;
use crate::config::SessionsConfig;
use crate::journal::Journal;
use crate::live::LiveEvent;
use crate::metrics::Metrics;
use crate::record::{ActiveSession, Cdr};
use crate::shared::Shared;
use crate::store::{PgSessions, SessionStore, StoreError};
use dashmap::DashMap;
use rater::engine::Engine;
use std::collections::HashSet;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::warn;

/// Why a call could not be ended on request.
#[derive(Debug, thiserror::Error)]
pub enum ForceDisconnectError {
    /// No live call by that id.
    #[error("NOT_FOUND")]
    NotFound,
    /// Its switch did not take the command.
    #[error("SERVER_ERROR: {0}")]
    Switch(String),
}

pub struct Controller {
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    tasks: std::sync::Mutex<Vec<JoinHandle<()>>>,
}

/// Where the controller keeps sessions and call records.
#[derive(Debug, Clone)]
pub enum Storage {
    /// The node's own session journal at this path (call records are
    /// archived in `cdrs/` beside it).
    Journal(PathBuf),
    /// PostgreSQL at this URL, shared with the other nodes of a cluster:
    /// each switch is followed only while this node holds its lease. The
    /// schema must be there (`pgschema::migrate`, run when the account
    /// store opens).
    Postgres(String),
}

impl Controller {
    /// Opens the session store and starts following the switches.
    pub fn start(
        engine: Arc<Engine>,
        cfg: SessionsConfig,
        storage: &Storage,
    ) -> Result<Controller, StoreError> {
        let node_id: Arc<str> = Arc::from(cfg.node_id.as_str());
        let (store, archive_dir) = match storage {
            Storage::Journal(path) => (
                SessionStore::Journal {
                    journal: Journal::open(path)?,
                    node_id,
                },
                path.parent().unwrap_or_else(|| Path::new(".")).join("cdrs"),
            ),
            Storage::Postgres(url) => (
                SessionStore::Postgres(Arc::new(PgSessions::connect(url, node_id)?)),
                // Never written: in PostgreSQL the table is the archive.
                PathBuf::from("cdrs"),
            ),
        };
        let shared = Arc::new(Shared {
            engine,
            clock: Clock::new(cfg.clock_speed),
            cfg,
            store,
            metrics: Metrics::default(),
            calls: DashMap::new(),
            archive: Arc::new(Archive::new(archive_dir)),
            pending_cdrs: Default::default(),
            pools: DashMap::new(),
            correcting: DashMap::new(),
            live: crate::live::channel(),
            names: Default::default(),
        });
        archiver::queue_journal(&shared);
        let (shutdown, rx) = watch::channel(false);
        let mut tasks: Vec<_> = shared
            .cfg
            .switches
            .iter()
            .map(|sw| match &shared.store {
                SessionStore::Postgres(pg) => tokio::spawn(crate::lease::run(
                    shared.clone(),
                    pg.clone(),
                    sw.clone(),
                    rx.clone(),
                )),
                SessionStore::Journal { .. } => {
                    tokio::spawn(crate::switch::run(shared.clone(), sw.clone(), rx.clone()))
                }
            })
            .collect();
        tasks.push(tokio::spawn(archiver::run(shared.clone(), rx.clone())));
        Ok(Controller {
            shared,
            shutdown,
            tasks: std::sync::Mutex::new(tasks),
        })
    }

    /// Runs a read of the store to its end: the journal's reads never
    /// wait; PostgreSQL's are driven by the runtime from this blocking
    /// thread (the API calls the listing methods off the async threads).
    fn block_on<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        match &self.shared.store {
            SessionStore::Journal { .. } => futures::executor::block_on(f),
            SessionStore::Postgres(_) => tokio::runtime::Handle::current().block_on(f),
        }
    }

    /// Live sessions as CGRateS shows them (`SessionSv1.GetActiveSessions`):
    /// in a cluster, those of every switch, each with the node that
    /// controls it. It reads files or the database: call it off the async
    /// threads.
    pub fn active_sessions(&self) -> Result<Vec<ActiveSession>, StoreError> {
        let all = self.block_on(self.shared.store.all_sessions())?;
        Ok(all
            .into_iter()
            // A call that ended unheard waits for its CDR, one being settled
            // is over: neither is up.
            .filter(|s| s.rec.gone.is_none() && s.rec.settling.is_none())
            .map(|s| {
                let interval = match s.rec.info.request_type {
                    RequestType::Prepaid => self.shared.cfg.debit_interval,
                    _ => Duration::ZERO,
                };
                let mut view = ActiveSession::of(&s.rec, interval);
                view.node_id = s.node_id;
                view
            })
            .collect())
    }

    /// Call records matching `filter`, oldest first: the archive's (by
    /// hour of storage), then the journal's (by `OrderID`); in a cluster,
    /// the table's. Asking by `origin_ids` for records still in the
    /// journal reads no archive file. It reads files or the database: call
    /// it off the async threads.
    pub fn cdrs(&self, filter: &CdrFilter) -> Result<Vec<Cdr>, StoreError> {
        match &self.shared.store {
            SessionStore::Postgres(pg) => self.block_on(pg.cdrs(filter)),
            SessionStore::Journal { journal, .. } => Ok(self.journal_cdrs(journal, filter)),
        }
    }

    fn journal_cdrs(&self, journal: &Journal, filter: &CdrFilter) -> Vec<Cdr> {
        let want = filter
            .offset
            .saturating_add(filter.limit.unwrap_or(usize::MAX));
        // The journal first, then the archive: a record archived in between
        // is found in both (and kept once), never in neither.
        // Each id once, however often it is asked for.
        let ids: std::collections::BTreeSet<&String> = filter.ids().iter().collect();
        let values: Vec<serde_json::Value> = match ids.is_empty() {
            true => journal.scan("cdr:").into_iter().map(|(_, v)| v).collect(),
            false => ids
                .iter()
                .filter_map(|id| journal.get(&format!("cdr:{id}")))
                .collect(),
        };
        let all_in_journal = !ids.is_empty() && values.len() == ids.len();
        let mut recent: Vec<Cdr> = values
            .into_iter()
            .filter_map(|v| serde_json::from_value::<Cdr>(v).ok())
            .filter(|c| filter.matches(c))
            .collect();
        recent.sort_by(|a, b| a.order_id.cmp(&b.order_id).then(a.cgr_id.cmp(&b.cgr_id)));
        let mut out = Vec::new();
        let mut archived = HashSet::new();
        if !all_in_journal {
            let stored = (filter.order_id.start, filter.order_id.end);
            let read = self.shared.archive.for_each(stored, |c| {
                if filter.matches(&c) && archived.insert(c.cgr_id.clone()) {
                    out.push(c);
                }
                match out.len() >= want {
                    true => ControlFlow::Break(()),
                    false => ControlFlow::Continue(()),
                }
            });
            if let Err(e) = read {
                warn!(error = %e, "reading the call record archive");
            }
        }
        if out.len() < want {
            out.extend(recent.into_iter().filter(|c| !archived.contains(&c.cgr_id)));
        }
        out.into_iter()
            .skip(filter.offset)
            .take(filter.limit.unwrap_or(usize::MAX))
            .collect()
    }

    /// Moves the call records older than the retention to the archive now
    /// (it also happens on its own, every minute at most); returns how many.
    pub async fn archive_due_cdrs(&self) -> Result<usize, String> {
        archiver::archive_due(&self.shared, chrono::Utc::now()).await
    }

    /// Takes a CDR the switch posted (`mod_json_cdr`): see [`cdr_intake`](crate::cdr_intake).
    /// Returns once what it changed is durable.
    pub async fn switch_cdr(
        &self,
        body: &[u8],
        content_type: Option<&str>,
    ) -> Result<CdrVerdict, CdrPostError> {
        let verdict = crate::cdr_intake::accept(&self.shared, body, content_type).await;
        match &verdict {
            Ok(v) => {
                self.shared
                    .metrics
                    .cdrs_posted
                    .fetch_add(1, Ordering::Relaxed);
                if *v == CdrVerdict::Settled {
                    self.shared
                        .metrics
                        .cdr_settlements
                        .fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(e) => crate::cdr_intake::log_refusal(e),
        }
        verdict
    }

    /// The live feed: every change of a session and every new call record
    /// from now on (see [`crate::live`]). Subscribe, then read
    /// [`Controller::active_sessions`] for the state to apply them to.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<LiveEvent> {
        self.shared.live.subscribe()
    }

    /// Hangs call `uuid` up on its switch (`SessionSv1.ForceDisconnect`,
    /// cause MANAGER_REQUEST); it is then settled as any call that ends.
    pub async fn force_disconnect(&self, uuid: &str) -> Result<(), ForceDisconnectError> {
        let live = self.shared.calls.get(uuid).map(|c| c.alias.clone());
        let alias = match live {
            Some(alias) => alias,
            None => match crate::switch::persisted(&self.shared, uuid).await {
                Some(rec) if rec.gone.is_none() && rec.settling.is_none() => rec.origin_host,
                _ => return Err(ForceDisconnectError::NotFound),
            },
        };
        let pool = self.shared.pools.get(&alias).map(|p| p.clone());
        let Some(pool) = pool else {
            return Err(ForceDisconnectError::Switch(
                crate::cdr_intake::not_here(&self.shared, &alias)
                    .await
                    .to_string(),
            ));
        };
        match pool
            .for_call(uuid)
            .uuid_kill(uuid, Some("MANAGER_REQUEST"))
            .await
        {
            Ok(()) => {
                tracing::info!(%uuid, "call ended by request");
                Ok(())
            }
            Err(esl::ApiError::NoSuchChannel) => Err(ForceDisconnectError::NotFound),
            Err(e) => Err(ForceDisconnectError::Switch(e.to_string())),
        }
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
        self.shared.stop_calls(None);
    }
}
