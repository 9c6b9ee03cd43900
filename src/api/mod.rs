//! Every method the server answers, one file each, and the registry that
//! lists them.
//!
//! Adding a method: write `src/api/<service>/<method>.rs` with a
//! `pub fn register(r: &mut RegistryBuilder)` that calls `r.sync(…)`,
//! `r.blocking(…)` or `r.asynchronous(…)` with its names, then add one line
//! to [`registry`]. Decode call descriptors with
//! [`descriptor::decode_descriptor`] and answer errors as
//! [`ApiError`](crate::rpc::ApiError).

pub mod apier;
pub mod apiers;
pub mod descriptor;
pub mod responder;
pub mod sessions;

use crate::rpc::{Registry, RegistryBuilder};

/// Services the TP API answers under: the 2013 name and the modern one.
/// Requests rating more usage than this run on the blocking pool, so that
/// a long one (up to `limits.max_usage`) never holds a runtime worker while
/// the short ones every call makes stay inline.
pub fn inline_usage() -> chrono::TimeDelta {
    chrono::TimeDelta::hours(1)
}

/// Runs `fut` to its end: here when `heavy` is false, else on a thread of
/// the blocking pool (rating and debit allocation are CPU work that grows
/// with the usage asked for).
pub async fn off_workers_if<T, F>(heavy: bool, fut: F) -> Result<T, crate::rpc::ApiError>
where
    F: std::future::Future<Output = Result<T, crate::rpc::ApiError>> + Send + 'static,
    T: Send + 'static,
{
    if !heavy {
        return fut.await;
    }
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || handle.block_on(fut))
        .await
        .unwrap_or_else(|e| Err(crate::rpc::ApiError::server(format!("method failed: {e}"))))
}

pub const APIER_SERVICES: [&str; 2] = ["ApierV1", "APIerSv1"];

/// The registry of every implemented method.
pub fn registry() -> Registry {
    let mut r = RegistryBuilder::new();
    responder::get_cost::register(&mut r);
    responder::debit::register(&mut r);
    responder::max_session_time::register(&mut r);
    responder::budget::register(&mut r);
    apiers::balances::register(&mut r);
    apiers::accounts::register(&mut r);
    sessions::register(&mut r);
    apier::tp_destination::register(&mut r);
    apier::tp_timing::register(&mut r);
    apier::tp_rate::register(&mut r);
    apier::tp_destination_rate::register(&mut r);
    apier::tp_rating_plan::register(&mut r);
    apier::tp_rating_profile::register(&mut r);
    apier::get_tp_ids::register(&mut r);
    apier::load_tariff_plan::register(&mut r);
    r.build()
}
