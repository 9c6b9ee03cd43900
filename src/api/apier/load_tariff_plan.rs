//! `ApierV1.LoadTariffPlanFromStorDb {"TPid"}` and
//! `ApierV1.LoadTariffPlanFromFolder {"FolderPath"}`: compile a whole plan
//! aside, then swap it in atomically. A plan that does not compile changes
//! nothing and answers `SERVER_ERROR: <the loader's message>` (which names
//! the file, line and column). `DryRun: true` compiles without swapping.
//! Without `FolderPath`, the folder is the configured `tariffplan`.

use crate::api::APIER_SERVICES;
use crate::rpc::{ApiError, Params, RegistryBuilder};
use crate::state::AppState;
use crate::stordb::records::to_plan_data;
use serde_json::value::RawValue;
use std::path::PathBuf;
use std::sync::Arc;

pub fn register(r: &mut RegistryBuilder) {
    let names = |method: &str| -> Vec<String> {
        APIER_SERVICES
            .iter()
            .map(|s| format!("{s}.{method}"))
            .collect()
    };
    let stordb = names("LoadTariffPlanFromStorDb");
    let stordb: Vec<&str> = stordb.iter().map(String::as_str).collect();
    r.asynchronous(&stordb, from_stordb);
    let folder = names("LoadTariffPlanFromFolder");
    let folder: Vec<&str> = folder.iter().map(String::as_str).collect();
    r.blocking(&folder, from_folder);
}

fn loader_error(e: rater::LoadError) -> ApiError {
    ApiError::Invalid(e.to_string())
}

fn plan_error(e: crate::state::PlanError) -> ApiError {
    match e {
        crate::state::PlanError::Load(e) => loader_error(e),
        crate::state::PlanError::Accounts(e) => ApiError::from_words(e),
    }
}

/// Reads the TPid from StorDb, then compiles and swaps on the blocking
/// pool (compiling is CPU work that grows with the plan).
async fn from_stordb(state: Arc<AppState>, raw: Box<RawValue>) -> Result<&'static str, ApiError> {
    let obj = Params::new(&raw).obj("AttrLoadTpFromStorDb")?;
    obj.require(&["TPid"])?;
    let tpid = obj.string("TPid")?;
    let dry_run = obj.bool("DryRun")?.unwrap_or(false);
    let tp = state
        .stordb
        .snapshot(&tpid)
        .await?
        .ok_or(ApiError::NotFound)?;
    tokio::task::spawn_blocking(move || {
        let tz = state.config.general.timezone;
        let data = to_plan_data(&tp, tz).map_err(loader_error)?;
        if dry_run {
            rater::loader::compile(data, tz).map_err(loader_error)?;
            return Ok("OK");
        }
        state.load_plan_data(data).map_err(plan_error)?;
        Ok("OK")
    })
    .await
    .unwrap_or_else(|e| Err(ApiError::server(format!("method failed: {e}"))))
}

fn from_folder(state: &AppState, params: Params<'_>) -> Result<&'static str, ApiError> {
    let obj = params.obj("AttrLoadTpFromFolder")?;
    // tollgate's extension: no `FolderPath` reloads the configured
    // `tariffplan` folder (the console's reload button).
    let dir = match obj.str("FolderPath")?.filter(|p| !p.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => match &state.config.tariffplan {
            Some(configured) => configured.clone(),
            None => obj.require(&["FolderPath"]).map(|()| PathBuf::new())?,
        },
    };
    if !dir.is_dir() {
        return Err(ApiError::Invalid(format!(
            "FolderPath: {} is not a folder",
            dir.display()
        )));
    }
    if obj.bool("DryRun")?.unwrap_or(false) {
        rater::load_folder(&dir, state.config.general.timezone).map_err(loader_error)?;
        return Ok("OK");
    }
    state.load_plan_folder(&dir).map_err(plan_error)?;
    Ok("OK")
}
