//! `Responder.*`: the 2012 rating and balance API.

pub mod budget;
pub mod callcost_json;
pub mod debit;
pub mod get_cost;
pub mod max_session_time;
