//! `Responder.*`: the 2012 rating and balance API.

pub mod get_cost;
