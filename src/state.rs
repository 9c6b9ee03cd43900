//! The engine state every method reads: the configuration, the engine (live
//! tariff plan and account store), StorDb and the session controller.
//!
//! The live plan sits in an `ArcSwap`: a request takes a snapshot with one
//! atomic load and rates against it to the end, while a reload compiles a
//! complete new plan aside and swaps the pointer. No request ever sees half
//! a plan, and a plan that fails to compile changes nothing.

use crate::api::descriptor::Defaults;
use crate::config::Config;
use crate::config::{MaxSessionTime, OnRaterError};
use crate::health::Health;
use crate::stordb::{StorDb, StorDbError};
use arc_swap::Guard;
use rater::account::{AccountError, MaxSessionMethod};
use rater::engine::Engine;
use rater::loader::{compile, TariffPlanData};
use rater::{LoadError, TariffPlan};
use sessions::{Controller, RaterErrorPolicy, SessionsConfig, Storage, SwitchConfig};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use thiserror::Error;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Why the server cannot start with this configuration.
#[derive(Debug, Error)]
pub enum StartError {
    #[error("tariffplan {path}: {error}")]
    TariffPlan { path: String, error: LoadError },
    #[error(transparent)]
    StorDb(#[from] StorDbError),
    #[error("database schema: {0}")]
    Schema(#[from] pgschema::SchemaError),
    #[error("store: {0}")]
    Store(AccountError),
    #[error(transparent)]
    Sessions(#[from] sessions::StoreError),
    #[error("cluster.node_id: {0}")]
    NodeId(String),
}

/// Why a tariff plan was not put in force.
#[derive(Debug, Error)]
pub enum PlanError {
    /// The plan is wrong; nothing changed.
    #[error("{0}")]
    Load(#[from] LoadError),
    /// The plan is in force but an account it provisions could not be created.
    #[error("{0}")]
    Accounts(#[from] AccountError),
}

/// Shared by every connection and method, behind an `Arc`.
pub struct AppState {
    pub config: Config,
    /// Request defaults from `general`.
    pub defaults: Defaults,
    /// The live tariff plan and the account store.
    pub engine: Arc<Engine>,
    /// Tariff-plan records of the TP API, durable.
    pub stordb: StorDb,
    /// The prepaid call controller, when switches are configured.
    pub sessions: Option<Controller>,
    /// This node's id ([`Config::node_id`]), computed once at start-up.
    pub node_id: String,
    /// What `GET /health` answers: draining, store reachable.
    pub health: Health,
    /// Serializes plan loads so that they swap in the order they finish.
    load_lock: Mutex<()>,
    loads: AtomicU64,
    /// When the live plan was put in force (Unix ms).
    loaded_at: std::sync::atomic::AtomicI64,
    /// Runs the timed action plans; told to stop at shutdown.
    scheduler: Mutex<Option<(watch::Sender<bool>, JoinHandle<()>)>>,
}

/// The session controller's settings from the config.
pub fn sessions_config(config: &Config) -> SessionsConfig {
    let s = &config.sessions;
    let std = |d: chrono::TimeDelta| d.to_std().unwrap_or_default();
    SessionsConfig {
        debit_interval: std(s.debit_interval),
        max_call_duration: std(s.max_call_duration),
        min_call_duration: std(s.min_call_duration),
        limit_grace: std(s.limit_grace),
        max_session_method: max_session_method(config),
        default_tenant: config.general.default_tenant.clone(),
        default_category: config.general.default_category.clone(),
        default_request_type: config.general.default_request_type.clone(),
        low_balance_warning: s
            .low_balance_warning
            .as_ref()
            .map(|w| sessions::LowBalanceWarning {
                threshold: w.threshold,
                file: w.file.clone(),
            }),
        on_rater_error: match s.on_rater_error {
            OnRaterError::Hangup => RaterErrorPolicy::Hangup,
            OnRaterError::Continue => RaterErrorPolicy::Continue,
        },
        reject_in_dialplan: s.reject_in_dialplan,
        clock_speed: s.clock_speed,
        cdr_retention: std(s.cdr_retention),
        cdr_wait: std(s.cdr_wait),
        switches: config
            .freeswitch
            .iter()
            .map(|f| SwitchConfig {
                address: f.address.clone(),
                password: f.password.clone(),
                alias: f.alias.clone(),
            })
            .collect(),
        node_id: config.node_id(),
        node_http: config.listen.http.map(|a| a.to_string()),
        switch_lease: config.cluster.switch_lease,
    }
}

/// A node that follows switches on PostgreSQL names itself in their
/// leases: two nodes with one id would both think they hold a switch. The
/// default id (`<hostname>:<listen.rpc_json port>`) is unique only with a
/// fixed port.
fn check_node_id(config: &Config) -> Result<(), StartError> {
    let shared = matches!(config.store, crate::config::Store::Postgres { .. });
    let ephemeral = config.listen.rpc_json.is_none_or(|a| a.port() == 0);
    if shared && !config.freeswitch.is_empty() && config.cluster.node_id.is_none() && ephemeral {
        return Err(StartError::NodeId(format!(
            "a node following switches on PostgreSQL needs an id of its own: set cluster.node_id, or give listen.rpc_json a fixed port (the default id would be {})",
            config.node_id()
        )));
    }
    Ok(())
}

fn max_session_method(config: &Config) -> MaxSessionMethod {
    match config.sessions.max_session_time {
        MaxSessionTime::StepDown => MaxSessionMethod::StepDown,
        MaxSessionTime::Exact => MaxSessionMethod::Exact,
    }
}

impl AppState {
    /// Loads the start-up tariff plan, opens the stores, provisions the
    /// plan's new accounts, starts the timed action plans and the session
    /// controller.
    pub async fn open(config: Config) -> Result<AppState, StartError> {
        check_node_id(&config)?;
        let tz = config.general.timezone;
        let dir = config.tariffplan.clone();
        let plan = tokio::task::spawn_blocking(move || -> Result<_, StartError> {
            match &dir {
                Some(dir) => rater::load_folder(dir, tz).map_err(|error| StartError::TariffPlan {
                    path: dir.display().to_string(),
                    error,
                }),
                None => Ok(TariffPlan::empty(tz)),
            }
        })
        .await
        .expect("start-up task")?;
        // The schema first, one node at a time (a database ahead of this
        // build stops the start here, with the reason).
        if let crate::config::Store::Postgres { url, .. } = &config.store {
            let applied = pgschema::migrate(url).await?;
            if !applied.migrations.is_empty() {
                tracing::info!(migrations = ?applied.migrations, version = applied.version, "database schema migrated");
            }
        }
        let stordb = StorDb::open(&config.store).await?;
        let store = rater::store::open(&config.store.account_store())
            .await
            .map_err(StartError::Store)?;
        let engine = Arc::new(Engine::new(
            TariffPlan::empty(tz),
            store,
            max_session_method(&config),
        ));
        let created = engine.install_plan(plan).await.map_err(StartError::Store)?;
        if created > 0 {
            tracing::info!(created, "accounts provisioned from the tariff plan");
        }
        let sessions = if config.freeswitch.is_empty() {
            None
        } else {
            let storage = match &config.store {
                crate::config::Store::Postgres { url, .. } => Storage::Postgres(url.clone()),
                crate::config::Store::Embedded { path } => {
                    Storage::Journal(path.join("sessions.journal"))
                }
            };
            Some(Controller::start(
                engine.clone(),
                sessions_config(&config),
                &storage,
            )?)
        };
        let (stop, stopped) = watch::channel(false);
        let scheduler = tokio::spawn(engine.clone().run_scheduler(stopped));
        let health = Health::default();
        if let crate::config::Store::Postgres { .. } = &config.store {
            health.watch_store(engine.store().clone());
        }
        Ok(AppState {
            node_id: config.node_id(),
            health,
            defaults: Defaults::from_config(&config),
            config,
            engine,
            stordb,
            sessions,
            load_lock: Mutex::new(()),
            loads: AtomicU64::new(0),
            loaded_at: std::sync::atomic::AtomicI64::new(chrono::Utc::now().timestamp_millis()),
            scheduler: Mutex::new(Some((stop, scheduler))),
        })
    }

    /// The live tariff plan: a cheap snapshot that stays valid however long
    /// it is held, even across a reload.
    pub fn tariff(&self) -> Guard<Arc<TariffPlan>> {
        self.engine.plan_guard()
    }

    /// Compiles `data` completely, then puts it in force. Blocking: call it
    /// from the blocking pool of the server's runtime.
    pub fn load_plan_data(&self, data: TariffPlanData) -> Result<(), PlanError> {
        let _serial = self.load_lock.lock().unwrap_or_else(|p| p.into_inner());
        let plan = compile(data, self.config.general.timezone)?;
        self.install(plan)
    }

    /// Loads a CGRateS tariff-plan folder, then puts it in force. Blocking.
    pub fn load_plan_folder(&self, dir: &Path) -> Result<(), PlanError> {
        let _serial = self.load_lock.lock().unwrap_or_else(|p| p.into_inner());
        let plan = rater::load_folder(dir, self.config.general.timezone)?;
        self.install(plan)
    }

    fn install(&self, plan: TariffPlan) -> Result<(), PlanError> {
        let created = tokio::runtime::Handle::current().block_on(self.engine.install_plan(plan))?;
        self.loads.fetch_add(1, Ordering::Relaxed);
        self.loaded_at
            .store(chrono::Utc::now().timestamp_millis(), Ordering::Relaxed);
        tracing::info!(created, "tariff plan swapped in");
        Ok(())
    }

    /// When the live plan was put in force.
    pub fn plan_loaded_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        chrono::DateTime::from_timestamp_millis(self.loaded_at.load(Ordering::Relaxed))
    }

    /// Tariff plans swapped in since start-up.
    pub fn plan_loads(&self) -> u64 {
        self.loads.load(Ordering::Relaxed)
    }

    /// THE SHUTDOWN HOOK. The server calls it exactly once, after the
    /// listeners stopped accepting and every in-flight request was answered,
    /// just before the process exits: the session controller lets go of the
    /// calls (they stay up, limited by the switch), then the stores flush.
    pub async fn shutdown(&self) -> Result<(), String> {
        self.health.stop();
        if let Some(sessions) = &self.sessions {
            sessions.shutdown().await;
        }
        let scheduler = self
            .scheduler
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some((stop, task)) = scheduler {
            let _ = stop.send(true);
            let _ = task.await;
        }
        self.stordb
            .flush()
            .await
            .map_err(|e| format!("flushing stordb: {e}"))?;
        self.engine
            .flush()
            .await
            .map_err(|e| format!("flushing the account store: {e}"))
    }
}
