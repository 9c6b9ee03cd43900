//! `SetTPDestination` / `GetTPDestination` / `GetTPDestinationIds` /
//! `RemTPDestination`: `{TPid, DestinationId, Prefixes}`.

use super::tp::{self, invalid, TpKind};
use crate::rpc::{ApiError, Obj, RegistryBuilder};
use crate::state::AppState;
use crate::stordb::records::DestinationRec;
use crate::stordb::TpData;
use std::collections::BTreeMap;

pub struct Destination;

impl TpKind for Destination {
    type Record = DestinationRec;
    const KIND: &'static str = "Destination";
    const STRUCT: &'static str = "TPDestination";
    const ID_FIELD: &'static str = "DestinationId";
    const REQUIRED: &'static [&'static str] = &["Prefixes"];

    fn decode(obj: &Obj<'_>, _: &AppState) -> Result<(Option<String>, DestinationRec), ApiError> {
        let prefixes = obj.strings("Prefixes")?;
        for (i, p) in prefixes.iter().enumerate() {
            if p.trim().is_empty() {
                return Err(invalid(format!("Prefixes[{i}]"), "must not be empty"));
            }
        }
        let mut prefixes: Vec<String> =
            prefixes.into_iter().map(|p| p.trim().to_string()).collect();
        prefixes.dedup();
        Ok((None, DestinationRec { prefixes }))
    }

    fn map(tp: &TpData) -> &BTreeMap<String, DestinationRec> {
        &tp.destinations
    }

    fn map_mut(tp: &mut TpData) -> &mut BTreeMap<String, DestinationRec> {
        &mut tp.destinations
    }
}

pub fn register(r: &mut RegistryBuilder) {
    tp::register::<Destination>(r);
}
