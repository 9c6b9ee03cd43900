//! `ApierV1.GetTPIds`: every TPid holding records in StorDb, sorted;
//! `NOT_FOUND` when there is none.

use crate::api::APIER_SERVICES;
use crate::rpc::{ApiError, RegistryBuilder};
use crate::state::AppState;
use serde_json::value::RawValue;
use std::sync::Arc;

pub fn register(r: &mut RegistryBuilder) {
    let names: Vec<String> = APIER_SERVICES
        .iter()
        .map(|s| format!("{s}.GetTPIds"))
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    r.asynchronous(&names, get_tp_ids);
}

async fn get_tp_ids(state: Arc<AppState>, _raw: Box<RawValue>) -> Result<Vec<String>, ApiError> {
    let ids = state.stordb.tpids().await?;
    if ids.is_empty() {
        return Err(ApiError::NotFound);
    }
    Ok(ids)
}
