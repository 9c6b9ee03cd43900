//! `Responder.*`: the 2012 rating and balance API.

pub mod callcost_json;
pub mod get_cost;
