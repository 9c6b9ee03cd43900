//! `SetTPTiming` / `GetTPTiming` / `GetTPTimingIds` / `RemTPTiming`:
//! `{TPid, TimingId, Years, Months, MonthDays, WeekDays, Time}` with the
//! strings of `Timings.csv` (`*any`, `1;2;3`, `08:00:00`).

use super::tp::{self, invalid, TpKind};
use crate::rpc::{ApiError, Obj, RegistryBuilder};
use crate::state::AppState;
use crate::stordb::records::{timing_row, TimingRec};
use crate::stordb::TpData;
use rater::loader::TIMINGS;
use std::collections::BTreeMap;

pub struct Timing;

impl TpKind for Timing {
    type Record = TimingRec;
    const KIND: &'static str = "Timing";
    const STRUCT: &'static str = "ApierTPTiming";
    const ID_FIELD: &'static str = "TimingId";
    const REQUIRED: &'static [&'static str] = &[];

    fn decode(obj: &Obj<'_>, _: &AppState) -> Result<(Option<String>, TimingRec), ApiError> {
        let rec = TimingRec {
            years: obj.str_or_number("Years")?.unwrap_or_default(),
            months: obj.str_or_number("Months")?.unwrap_or_default(),
            month_days: obj.str_or_number("MonthDays")?.unwrap_or_default(),
            week_days: obj.str_or_number("WeekDays")?.unwrap_or_default(),
            time: obj.string("Time")?,
        };
        timing_row("check", &rec).map_err(|(i, m)| invalid(TIMINGS[i], m))?;
        Ok((None, rec))
    }

    fn map(tp: &TpData) -> &BTreeMap<String, TimingRec> {
        &tp.timings
    }

    fn map_mut(tp: &mut TpData) -> &mut BTreeMap<String, TimingRec> {
        &mut tp.timings
    }
}

pub fn register(r: &mut RegistryBuilder) {
    tp::register::<Timing>(r);
}
