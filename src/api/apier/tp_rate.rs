//! `SetTPRate` / `GetTPRate` / `GetTPRateIds` / `RemTPRate`, as the
//! seed's `api_tprates` shows: `{TPid, RateId, RateSlots: [...]}`.
//!
//! A slot's durations may be sent in the 2013 integer-seconds form
//! (`RatedUnits`, `RateIncrements`, `GroupInterval`) or as Go durations
//! (`RateUnit`, `RateIncrement`, `GroupIntervalStart`, a number meaning
//! seconds); they are answered as Go durations (`"60s"`). A missing
//! `GroupIntervalStart` is `0s`.

use super::tp::{self, invalid, require_in, TpKind};
use crate::rpc::params::json_kind;
use crate::rpc::{ApiError, Obj, RegistryBuilder};
use crate::state::AppState;
use crate::stordb::records::{rate_row, RateRec, RateSlotRec};
use crate::stordb::TpData;
use chrono::TimeDelta;
use rater::duration::{format_duration, parse_duration};
use rater::loader::RATES;
use rater::RoundingMethod;
use std::collections::BTreeMap;

pub struct Rate;

/// A duration from `name` (Go syntax or seconds) or `seconds_name` (integer seconds).
fn duration(
    o: &Obj<'_>,
    name: &str,
    seconds_name: &str,
    at: &str,
) -> Result<Option<TimeDelta>, ApiError> {
    if let Some(raw) = o.get(name) {
        return match json_kind(raw) {
            "string" => parse_duration(&o.string(name)?)
                .map(Some)
                .map_err(|e| invalid(format!("{at}.{name}"), e)),
            _ => Ok(o.i64(name)?.map(TimeDelta::seconds)),
        };
    }
    Ok(o.i64(seconds_name)?.map(TimeDelta::seconds))
}

impl TpKind for Rate {
    type Record = RateRec;
    const KIND: &'static str = "Rate";
    const STRUCT: &'static str = "TPRate";
    const ID_FIELD: &'static str = "RateId";
    const REQUIRED: &'static [&'static str] = &["RateSlots"];

    fn decode(obj: &Obj<'_>, _: &AppState) -> Result<(Option<String>, RateRec), ApiError> {
        let mut slots: Vec<RateSlotRec> = Vec::new();
        for (i, s) in obj.objects("RateSlots", "RateSlot")?.iter().enumerate() {
            let at = format!("RateSlots[{i}]");
            let unit = duration(s, "RateUnit", "RatedUnits", &at)?;
            let increment = duration(s, "RateIncrement", "RateIncrements", &at)?;
            let missing: Vec<&str> = [("RateUnit", &unit), ("RateIncrement", &increment)]
                .iter()
                .filter(|(_, v)| v.is_none())
                .map(|(n, _)| *n)
                .collect();
            require_in(s, "RateSlots", i, &[])?;
            if !missing.is_empty() {
                return Err(tp::missing_in("RateSlots", i, &missing));
            }
            let start =
                duration(s, "GroupIntervalStart", "GroupInterval", &at)?.unwrap_or_default();
            let rounding_method = s.string("RoundingMethod")?;
            rounding_method
                .parse::<RoundingMethod>()
                .map_err(|e| invalid(format!("{at}.RoundingMethod"), e))?;
            let slot = RateSlotRec {
                connect_fee: s.decimal("ConnectFee")?.unwrap_or_default().normalize(),
                rate: s.decimal("Rate")?.unwrap_or_default().normalize(),
                rate_unit: format_duration(unit.unwrap_or_default()),
                rate_increment: format_duration(increment.unwrap_or_default()),
                group_interval_start: format_duration(start),
                rounding_method,
                rounding_decimals: s.i64("RoundingDecimals")?.unwrap_or(0),
                weight: s.decimal("Weight")?.unwrap_or_default().normalize(),
            };
            rate_row("check", &slot).map_err(|(c, m)| invalid(format!("{at}.{}", RATES[c]), m))?;
            if slots
                .iter()
                .any(|o| o.group_interval_start == slot.group_interval_start)
            {
                return Err(invalid(
                    format!("{at}.GroupIntervalStart"),
                    format!("another slot starts at {}", slot.group_interval_start),
                ));
            }
            slots.push(slot);
        }
        Ok((None, RateRec { rate_slots: slots }))
    }

    fn map(tp: &TpData) -> &BTreeMap<String, RateRec> {
        &tp.rates
    }

    fn map_mut(tp: &mut TpData) -> &mut BTreeMap<String, RateRec> {
        &mut tp.rates
    }
}

pub fn register(r: &mut RegistryBuilder) {
    tp::register::<Rate>(r);
}
