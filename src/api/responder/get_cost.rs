//! `Responder.GetCost` (and the seed's `Responder.Get`): the cost of a call
//! descriptor under the live tariff plan, as a CGRateS CallCost.

use super::callcost_json::write_call_cost;
use crate::api::descriptor::decode_descriptor;
use crate::api::inline_usage;
use crate::rpc::{ApiError, Params, Ran, RegistryBuilder};
use crate::state::AppState;
use chrono::Utc;

pub fn register(r: &mut RegistryBuilder) {
    r.sync_or_blocking(&["Responder.GetCost", "Responder.Get"], get_cost);
}

/// Rates inline up to [`inline_usage`]; longer calls (at most
/// `limits.max_usage`, checked by `decode_descriptor`) on the blocking pool.
fn get_cost(
    state: &AppState,
    params: Params<'_>,
    out: &mut Vec<u8>,
    inline: bool,
) -> Result<Ran, ApiError> {
    let obj = params.obj("CallDescriptor")?;
    let req = decode_descriptor(&obj, &state.defaults, Utc::now)?;
    if inline && req.cd.duration() > inline_usage() {
        return Ok(Ran::Offload);
    }
    let cost = state.tariff().get_cost(&req.cd)?;
    write_call_cost(out, &cost);
    Ok(Ran::Done)
}
