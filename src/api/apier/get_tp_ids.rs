//! `ApierV1.GetTPIds`: every TPid holding records in StorDb, sorted;
//! `NOT_FOUND` when there is none.

use crate::api::APIER_SERVICES;
use crate::rpc::{ApiError, Params, RegistryBuilder};
use crate::state::AppState;

pub fn register(r: &mut RegistryBuilder) {
    let names: Vec<String> = APIER_SERVICES
        .iter()
        .map(|s| format!("{s}.GetTPIds"))
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    r.sync(&names, get_tp_ids);
}

fn get_tp_ids(state: &AppState, _params: Params<'_>) -> Result<Vec<String>, ApiError> {
    let ids = state.stordb.tpids();
    if ids.is_empty() {
        return Err(ApiError::NotFound);
    }
    Ok(ids)
}
