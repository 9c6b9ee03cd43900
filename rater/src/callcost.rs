//! The answer of the cost engine, shaped as CGRateS's CallCost so clients
//! read it unchanged: timespans with their rate interval and compressed
//! increments. Durations serialize as integer nanoseconds (Go's encoding).

use crate::tariff::{MaxCostStrategy, RateInterval, RatingPlan};
use crate::timing::Timing;
use chrono::{DateTime, TimeDelta, Utc};
use rust_decimal::Decimal;
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};
use std::sync::Arc;

/// `Decimal` as a JSON number, exactly.
pub(crate) mod money {
    pub use rust_decimal::serde::arbitrary_precision::serialize;
}

/// The cost of a call or of a piece of one.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CallCost {
    pub category: String,
    pub tenant: String,
    pub subject: String,
    pub account: String,
    pub destination: String,
    #[serde(rename = "ToR")]
    pub tor: String,
    /// Connect fee (if charged) plus each timespan's rounded cost.
    #[serde(serialize_with = "money::serialize")]
    pub cost: Decimal,
    /// The connect fee included in `cost` (0 when LoopIndex > 0).
    #[serde(serialize_with = "money::serialize")]
    pub connect_fee: Decimal,
    /// Rated duration (increment-rounded), in nanoseconds.
    #[serde(with = "crate::duration::serde_nanos")]
    pub rated_usage: TimeDelta,
    pub timespans: Vec<Timespan>,
    /// The cost before any rounding (connect fee included).
    #[serde(skip)]
    pub unrounded_cost: Decimal,
    /// Elapsed call time at which a `*disconnect` MaxCost is reached, if it is.
    #[serde(skip)]
    pub max_cost_reached_at: Option<TimeDelta>,
}

impl CallCost {
    /// The cost of nothing: no timespans, zero.
    pub fn empty(cd: &crate::CallDescriptor) -> Self {
        CallCost {
            category: cd.category.clone(),
            tenant: cd.tenant.clone(),
            subject: cd.rating_subject().to_string(),
            account: if cd.account.is_empty() {
                cd.subject.clone()
            } else {
                cd.account.clone()
            },
            destination: cd.destination.clone(),
            tor: if cd.tor.is_empty() {
                "*voice".into()
            } else {
                cd.tor.clone()
            },
            cost: Decimal::ZERO,
            connect_fee: Decimal::ZERO,
            rated_usage: TimeDelta::zero(),
            timespans: vec![],
            unrounded_cost: Decimal::ZERO,
            max_cost_reached_at: None,
        }
    }

    /// Total rated duration.
    pub fn duration(&self) -> TimeDelta {
        self.rated_usage
    }
}

/// A stretch of the call charged under one rate interval and rate group.
#[derive(Debug, Clone, PartialEq)]
pub struct Timespan {
    pub time_start: DateTime<Utc>,
    pub time_end: DateTime<Utc>,
    /// Cost of this span rounded by its rating.
    pub cost: Decimal,
    pub unrounded_cost: Decimal,
    pub rate_interval: Arc<RateInterval>,
    /// Index of the rate group used.
    pub rate_group: usize,
    /// Elapsed call time at `time_end`.
    pub duration_index: TimeDelta,
    pub increments: Vec<Increment>,
    pub matched_subject: Arc<str>,
    pub matched_prefix: Arc<str>,
    pub matched_destination: Arc<str>,
    pub rating_plan: Arc<RatingPlan>,
}

impl Timespan {
    pub fn duration(&self) -> TimeDelta {
        self.time_end - self.time_start
    }
}

/// `CompressFactor` equal increments of `Duration`, each costing `Cost`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Increment {
    #[serde(with = "crate::duration::serde_nanos")]
    pub duration: TimeDelta,
    #[serde(serialize_with = "money::serialize")]
    pub cost: Decimal,
    pub compress_factor: u64,
}

impl Serialize for Timespan {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("TimeSpan", 11)?;
        st.serialize_field("TimeStart", &self.time_start)?;
        st.serialize_field("TimeEnd", &self.time_end)?;
        st.serialize_field("Cost", &Money(self.cost))?;
        st.serialize_field("RateInterval", &RateIntervalView(&self.rate_interval))?;
        st.serialize_field("DurationIndex", &nanos(self.duration_index))?;
        st.serialize_field("Increments", &self.increments)?;
        st.serialize_field("RoundIncrement", &Option::<()>::None)?;
        st.serialize_field("MatchedSubject", &*self.matched_subject)?;
        st.serialize_field("MatchedPrefix", &*self.matched_prefix)?;
        st.serialize_field("MatchedDestId", &*self.matched_destination)?;
        st.serialize_field("RatingPlanId", &self.rating_plan.id)?;
        st.serialize_field("CompressFactor", &1)?;
        st.end()
    }
}

fn nanos(d: TimeDelta) -> i64 {
    d.num_nanoseconds().unwrap_or(i64::MAX)
}

struct Money(Decimal);

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        money::serialize(&self.0, s)
    }
}

struct RateIntervalView<'a>(&'a RateInterval);

impl Serialize for RateIntervalView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let ri = self.0;
        let rating = &ri.rating;
        let mut st = s.serialize_struct("RateInterval", 3)?;
        st.serialize_field("Timing", &*ri.timing as &Timing)?;
        st.serialize_field(
            "Rating",
            &RatingView {
                connect_fee: Money(rating.connect_fee()),
                rounding_method: rating.rounding_method.as_str(),
                rounding_decimals: rating.rounding_decimals,
                max_cost: Money(rating.max_cost.map(|m| m.amount).unwrap_or_default()),
                max_cost_strategy: rating
                    .max_cost
                    .map(|m| m.strategy)
                    .map(MaxCostStrategy::as_str)
                    .unwrap_or(""),
                rates: &rating.rate.groups,
            },
        )?;
        st.serialize_field("Weight", &Money(ri.weight))?;
        st.end()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RatingView<'a> {
    connect_fee: Money,
    rounding_method: &'static str,
    rounding_decimals: u32,
    max_cost: Money,
    max_cost_strategy: &'static str,
    rates: &'a [crate::tariff::RateGroup],
}
