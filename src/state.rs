//! The engine state every method reads: the configuration, the live tariff
//! plan, StorDb, and (later) the account store.
//!
//! The live plan sits in an `ArcSwap`: a request takes a snapshot with one
//! atomic load and rates against it to the end, while a reload compiles a
//! complete new plan aside and swaps the pointer. No request ever sees half
//! a plan, and a plan that fails to compile changes nothing.

use crate::api::descriptor::Defaults;
use crate::config::Config;
use crate::stordb::{StorDb, StorDbError};
use arc_swap::{ArcSwap, Guard};
use rater::loader::{compile, TariffPlanData};
use rater::{LoadError, TariffPlan};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use thiserror::Error;

/// Why the server cannot start with this configuration.
#[derive(Debug, Error)]
pub enum StartError {
    #[error("tariffplan {path}: {error}")]
    TariffPlan { path: String, error: LoadError },
    #[error(transparent)]
    StorDb(#[from] StorDbError),
}

/// Shared by every connection and method, behind an `Arc`.
pub struct AppState {
    pub config: Config,
    /// Request defaults from `general`.
    pub defaults: Defaults,
    tariff: ArcSwap<TariffPlan>,
    /// Tariff-plan records of the TP API, durable.
    pub stordb: StorDb,
    /// Serializes plan loads so that they swap in the order they finish.
    load_lock: Mutex<()>,
    loads: AtomicU64,
}

impl AppState {
    /// Loads the start-up tariff plan and opens the stores.
    pub fn open(config: Config) -> Result<AppState, StartError> {
        let tz = config.general.timezone;
        let plan = match &config.tariffplan {
            Some(dir) => rater::load_folder(dir, tz).map_err(|error| StartError::TariffPlan {
                path: dir.display().to_string(),
                error,
            })?,
            None => TariffPlan::empty(tz),
        };
        let stordb = StorDb::open(&config.store.stordb_dir())?;
        Ok(AppState {
            defaults: Defaults::from_config(&config),
            config,
            tariff: ArcSwap::from_pointee(plan),
            stordb,
            load_lock: Mutex::new(()),
            loads: AtomicU64::new(0),
        })
    }

    /// The live tariff plan: a cheap snapshot that stays valid however long
    /// it is held, even across a reload.
    pub fn tariff(&self) -> Guard<Arc<TariffPlan>> {
        self.tariff.load()
    }

    /// Compiles `data` completely, then swaps it in. Blocking (CPU-heavy
    /// for large plans): call it from the blocking pool.
    pub fn load_plan_data(&self, data: TariffPlanData) -> Result<(), LoadError> {
        let _serial = self.load_lock.lock().unwrap_or_else(|p| p.into_inner());
        let plan = compile(data, self.config.general.timezone)?;
        self.swap(plan);
        Ok(())
    }

    /// Loads a CGRateS tariff-plan folder, then swaps it in. Blocking.
    pub fn load_plan_folder(&self, dir: &Path) -> Result<(), LoadError> {
        let _serial = self.load_lock.lock().unwrap_or_else(|p| p.into_inner());
        let plan = rater::load_folder(dir, self.config.general.timezone)?;
        self.swap(plan);
        Ok(())
    }

    fn swap(&self, plan: TariffPlan) {
        self.tariff.store(Arc::new(plan));
        self.loads.fetch_add(1, Ordering::Relaxed);
        tracing::info!("tariff plan swapped in");
    }

    /// Tariff plans swapped in since start-up.
    pub fn plan_loads(&self) -> u64 {
        self.loads.load(Ordering::Relaxed)
    }

    /// THE SHUTDOWN HOOK. The server calls it exactly once, after the
    /// listeners stopped accepting and every in-flight request was answered,
    /// just before the process exits. Flush and close stores here (the
    /// account store belongs here when it is wired). Blocking.
    pub fn shutdown_flush_store(&self) -> Result<(), String> {
        self.stordb
            .flush()
            .map_err(|e| format!("flushing stordb: {e}"))?;
        Ok(())
    }
}
