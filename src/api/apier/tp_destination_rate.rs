//! `SetTPDestinationRate` / `GetTPDestinationRate` /
//! `GetTPDestinationRateIds` / `RemTPDestinationRate`:
//! `{TPid, DestinationRateId, DestinationRates: [{DestinationId, RateId,
//! RoundingMethod, RoundingDecimals, MaxCost, MaxCostStrategy}]}`.
//! An absent `RoundingDecimals` is 4, as an empty CSV column.

use super::tp::{self, invalid, require_in, TpKind};
use crate::rpc::{ApiError, Obj, RegistryBuilder};
use crate::state::AppState;
use crate::stordb::records::{destination_rate_row, DestinationRateItem, DestinationRateRec};
use crate::stordb::TpData;
use rater::loader::DESTINATION_RATES;
use std::collections::BTreeMap;

pub struct DestinationRate;

impl TpKind for DestinationRate {
    type Record = DestinationRateRec;
    const KIND: &'static str = "DestinationRate";
    const STRUCT: &'static str = "TPDestinationRate";
    const ID_FIELD: &'static str = "DestinationRateId";
    const REQUIRED: &'static [&'static str] = &["DestinationRates"];

    fn decode(
        obj: &Obj<'_>,
        _: &AppState,
    ) -> Result<(Option<String>, DestinationRateRec), ApiError> {
        let mut items: Vec<DestinationRateItem> = Vec::new();
        for (i, d) in obj
            .objects("DestinationRates", "DestinationRate")?
            .iter()
            .enumerate()
        {
            require_in(d, "DestinationRates", i, &["DestinationId", "RateId"])?;
            let item = DestinationRateItem {
                destination_id: d.string("DestinationId")?,
                rate_id: d.string("RateId")?,
                rounding_method: d.string("RoundingMethod")?,
                rounding_decimals: d.i64("RoundingDecimals")?.unwrap_or(4),
                max_cost: d.decimal("MaxCost")?.unwrap_or_default().normalize(),
                max_cost_strategy: d.string("MaxCostStrategy")?,
            };
            destination_rate_row("check", &item).map_err(|(c, m)| {
                invalid(format!("DestinationRates[{i}].{}", DESTINATION_RATES[c]), m)
            })?;
            if items
                .iter()
                .any(|o| o.destination_id == item.destination_id)
            {
                return Err(invalid(
                    format!("DestinationRates[{i}].DestinationId"),
                    format!("{:?} appears twice", item.destination_id),
                ));
            }
            items.push(item);
        }
        Ok((
            None,
            DestinationRateRec {
                destination_rates: items,
            },
        ))
    }

    fn map(tp: &TpData) -> &BTreeMap<String, DestinationRateRec> {
        &tp.destination_rates
    }

    fn map_mut(tp: &mut TpData) -> &mut BTreeMap<String, DestinationRateRec> {
        &mut tp.destination_rates
    }
}

pub fn register(r: &mut RegistryBuilder) {
    tp::register::<DestinationRate>(r);
}
