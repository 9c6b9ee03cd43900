//! `Responder.GetCost` (and the seed's `Responder.Get`): the cost of a call
//! descriptor under the live tariff plan, as a CGRateS CallCost.

use super::callcost_json::write_call_cost;
use crate::api::descriptor::decode_descriptor;
use crate::rpc::{ApiError, Params, RegistryBuilder};
use crate::state::AppState;
use chrono::Utc;

pub fn register(r: &mut RegistryBuilder) {
    r.sync_json(&["Responder.GetCost", "Responder.Get"], get_cost);
}

fn get_cost(state: &AppState, params: Params<'_>, out: &mut Vec<u8>) -> Result<(), ApiError> {
    let obj = params.obj("CallDescriptor")?;
    let req = decode_descriptor(&obj, &state.defaults, Utc::now)?;
    let cost = state.tariff().get_cost(&req.cd)?;
    write_call_cost(out, &cost);
    Ok(())
}
