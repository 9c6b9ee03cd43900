//! `Responder.GetCost` (and the seed's `Responder.Get`): the cost of a call
//! descriptor under the live tariff plan, as a CGRateS CallCost.

use crate::api::descriptor::decode_descriptor;
use crate::rpc::{ApiError, Params, RegistryBuilder};
use crate::state::AppState;
use chrono::Utc;
use rater::CallCost;

pub fn register(r: &mut RegistryBuilder) {
    r.sync(&["Responder.GetCost", "Responder.Get"], get_cost);
}

fn get_cost(state: &AppState, params: Params<'_>) -> Result<CallCost, ApiError> {
    let obj = params.obj("CallDescriptor")?;
    let req = decode_descriptor(&obj, &state.defaults, Utc::now)?;
    Ok(state.tariff().get_cost(&req.cd)?)
}
