//! Tariff-plan records as the `ApierV1` TP API sends and answers them
//! (CGRateS field names), and their conversion to the rater's checked rows.
//!
//! Every record is checked when it is set, with the same row parsers the
//! CSV loader uses, so a record that is accepted can always be loaded; what
//! can still fail at load time is a reference (a rating plan naming a
//! timing nobody defined).

use rater::loader::{
    DestinationRateRow, Origin, RateRow, RatingPlanRow, RatingProfileRow, Row, TariffPlanData,
    DESTINATION_RATES, RATES, RATING_PLANS, RATING_PROFILES, TIMINGS,
};
use rater::timing::Timing;
use rater::LoadError;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

mod exact {
    pub use rust_decimal::serde::arbitrary_precision::{deserialize, serialize};
}

/// `Destinations.csv` rows of one destination id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DestinationRec {
    pub prefixes: Vec<String>,
}

/// One `Timings.csv` row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TimingRec {
    pub years: String,
    pub months: String,
    pub month_days: String,
    pub week_days: String,
    pub time: String,
}

/// One group of a rate. Durations are kept in Go notation (`60s`).
/// `RoundingMethod`, `RoundingDecimals` and `Weight` are the 2013 slot
/// fields: kept and answered, but rounding is applied from the
/// destination rate, as in `DestinationRates.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RateSlotRec {
    #[serde(with = "exact")]
    pub connect_fee: Decimal,
    #[serde(with = "exact")]
    pub rate: Decimal,
    pub rate_unit: String,
    pub rate_increment: String,
    pub group_interval_start: String,
    pub rounding_method: String,
    pub rounding_decimals: i64,
    #[serde(with = "exact")]
    pub weight: Decimal,
}

/// `Rates.csv` rows of one rate id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RateRec {
    pub rate_slots: Vec<RateSlotRec>,
}

/// One `DestinationRates.csv` row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DestinationRateItem {
    pub destination_id: String,
    pub rate_id: String,
    pub rounding_method: String,
    pub rounding_decimals: i64,
    #[serde(with = "exact")]
    pub max_cost: Decimal,
    pub max_cost_strategy: String,
}

/// `DestinationRates.csv` rows of one id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DestinationRateRec {
    pub destination_rates: Vec<DestinationRateItem>,
}

/// One `RatingPlans.csv` row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RatingPlanBinding {
    pub destination_rates_id: String,
    pub timing_id: String,
    #[serde(with = "exact")]
    pub weight: Decimal,
}

/// `RatingPlans.csv` rows of one id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RatingPlanRec {
    pub rating_plan_bindings: Vec<RatingPlanBinding>,
}

/// One `RatingProfiles.csv` row of a profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RatingPlanActivation {
    pub activation_time: String,
    pub rating_plan_id: String,
    /// Fallback subjects separated by `;`.
    pub fallback_subjects: String,
}

/// The rating profile of `Tenant:Category:Subject`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RatingProfileRec {
    pub load_id: String,
    pub direction: String,
    pub tenant: String,
    pub category: String,
    pub subject: String,
    pub rating_plan_activations: Vec<RatingPlanActivation>,
}

/// Every record of one tariff plan id, by record id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TpData {
    #[serde(rename = "TPid")]
    pub tpid: String,
    pub destinations: BTreeMap<String, DestinationRec>,
    pub timings: BTreeMap<String, TimingRec>,
    pub rates: BTreeMap<String, RateRec>,
    pub destination_rates: BTreeMap<String, DestinationRateRec>,
    pub rating_plans: BTreeMap<String, RatingPlanRec>,
    pub rating_profiles: BTreeMap<String, RatingProfileRec>,
}

impl TpData {
    pub fn is_empty(&self) -> bool {
        self.destinations.is_empty()
            && self.timings.is_empty()
            && self.rates.is_empty()
            && self.destination_rates.is_empty()
            && self.rating_plans.is_empty()
            && self.rating_profiles.is_empty()
    }
}

/// A row error: the column index within `columns` and its message.
pub type FieldError = (usize, String);

fn dec(d: &Decimal) -> String {
    d.normalize().to_string()
}

/// The checked rows of a timing.
pub fn timing_row(id: &str, t: &TimingRec) -> Result<Timing, FieldError> {
    Timing::parse(
        id,
        &t.years,
        &t.months,
        &t.month_days,
        &t.week_days,
        &t.time,
    )
    .map_err(|(i, m)| (i + 1, m))
}

/// The checked row of one rate slot.
pub fn rate_row(id: &str, s: &RateSlotRec) -> Result<RateRow, FieldError> {
    RateRow::parse(&[
        id,
        &dec(&s.connect_fee),
        &dec(&s.rate),
        &s.rate_unit,
        &s.rate_increment,
        &s.group_interval_start,
    ])
}

/// The checked row of one destination-rate item.
pub fn destination_rate_row(
    id: &str,
    d: &DestinationRateItem,
) -> Result<DestinationRateRow, FieldError> {
    let decimals = d.rounding_decimals.to_string();
    DestinationRateRow::parse(&[
        id,
        &d.destination_id,
        &d.rate_id,
        &d.rounding_method,
        &decimals,
        &dec(&d.max_cost),
        &d.max_cost_strategy,
    ])
}

/// The checked row of one rating-plan binding.
pub fn rating_plan_row(id: &str, b: &RatingPlanBinding) -> Result<RatingPlanRow, FieldError> {
    RatingPlanRow::parse(&[id, &b.destination_rates_id, &b.timing_id, &dec(&b.weight)])
}

/// The checked row of one rating-profile activation.
pub fn rating_profile_row(
    p: &RatingProfileRec,
    a: &RatingPlanActivation,
    tz: chrono_tz::Tz,
) -> Result<RatingProfileRow, FieldError> {
    RatingProfileRow::parse(
        &[
            &p.tenant,
            &p.category,
            &p.subject,
            &a.activation_time,
            &a.rating_plan_id,
            &a.fallback_subjects,
        ],
        tz,
    )
}

/// The rows of a whole stored tariff plan, ready for `rater::loader::compile`.
/// Origins read `<TPid>/Rates.csv line N`, N counting rows in id order.
pub fn to_plan_data(tp: &TpData, tz: chrono_tz::Tz) -> Result<TariffPlanData, LoadError> {
    let mut data = TariffPlanData::default();
    let origin = |file: &str, line: usize| Origin {
        file: Arc::from(format!("{}/{file}", tp.tpid)),
        line: line as u64,
    };
    for (id, d) in &tp.destinations {
        for p in &d.prefixes {
            data.destinations.add(id, p);
        }
    }
    for (line, (id, t)) in tp.timings.iter().enumerate() {
        let o = origin("Timings.csv", line + 1);
        let timing = timing_row(id, t).map_err(|(i, m)| LoadError::at(&o, TIMINGS, i, m))?;
        data.timings.push(Row {
            origin: o,
            data: timing,
        });
    }
    let mut line = 0;
    for (id, r) in &tp.rates {
        for s in &r.rate_slots {
            line += 1;
            let o = origin("Rates.csv", line);
            let row = rate_row(id, s).map_err(|(i, m)| LoadError::at(&o, RATES, i, m))?;
            data.rates.push(Row {
                origin: o,
                data: row,
            });
        }
    }
    line = 0;
    for (id, r) in &tp.destination_rates {
        for d in &r.destination_rates {
            line += 1;
            let o = origin("DestinationRates.csv", line);
            let row = destination_rate_row(id, d)
                .map_err(|(i, m)| LoadError::at(&o, DESTINATION_RATES, i, m))?;
            data.destination_rates.push(Row {
                origin: o,
                data: row,
            });
        }
    }
    line = 0;
    for (id, r) in &tp.rating_plans {
        for b in &r.rating_plan_bindings {
            line += 1;
            let o = origin("RatingPlans.csv", line);
            let row =
                rating_plan_row(id, b).map_err(|(i, m)| LoadError::at(&o, RATING_PLANS, i, m))?;
            data.rating_plans.push(Row {
                origin: o,
                data: row,
            });
        }
    }
    line = 0;
    for p in tp.rating_profiles.values() {
        for a in &p.rating_plan_activations {
            line += 1;
            let o = origin("RatingProfiles.csv", line);
            let row = rating_profile_row(p, a, tz)
                .map_err(|(i, m)| LoadError::at(&o, RATING_PROFILES, i, m))?;
            data.rating_profiles.push(Row {
                origin: o,
                data: row,
            });
        }
    }
    Ok(data)
}
