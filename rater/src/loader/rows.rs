//! Tariff-plan records as read from CSV (or built over the API), before
//! their references are resolved. Values are already parsed and checked
//! one by one; `compile` checks how they refer to each other.

use super::error::Origin;
use crate::destinations::Destinations;
use crate::duration::parse_duration;
use crate::rounding::RoundingMethod;
use crate::tariff::MaxCostStrategy;
use crate::timing::Timing;
use chrono::{DateTime, NaiveDateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use std::str::FromStr;

/// A record with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Row<T> {
    pub origin: Origin,
    pub data: T,
}

pub const DESTINATIONS: &[&str] = &["Id", "Prefix"];
pub const TIMINGS: &[&str] = &["Id", "Years", "Months", "MonthDays", "WeekDays", "Time"];
pub const RATES: &[&str] = &[
    "Id",
    "ConnectFee",
    "Rate",
    "RateUnit",
    "RateIncrement",
    "GroupIntervalStart",
];
pub const DESTINATION_RATES: &[&str] = &[
    "Id",
    "DestinationId",
    "RatesTag",
    "RoundingMethod",
    "RoundingDecimals",
    "MaxCost",
    "MaxCostStrategy",
];
pub const RATING_PLANS: &[&str] = &["Id", "DestinationRatesId", "TimingTag", "Weight"];
pub const RATING_PROFILES: &[&str] = &[
    "Tenant",
    "Category",
    "Subject",
    "ActivationTime",
    "RatingPlanId",
    "RatesFallbackSubject",
];

/// One group of a rate.
#[derive(Debug, Clone, PartialEq)]
pub struct RateRow {
    pub id: String,
    pub connect_fee: Decimal,
    pub rate: Decimal,
    pub rate_unit: TimeDelta,
    pub rate_increment: TimeDelta,
    pub group_interval_start: TimeDelta,
}

/// A destination charged with a rate.
#[derive(Debug, Clone, PartialEq)]
pub struct DestinationRateRow {
    pub id: String,
    /// A destination id, or `*any`.
    pub destination_id: String,
    pub rates_tag: String,
    pub rounding_method: RoundingMethod,
    pub rounding_decimals: u32,
    /// Zero means no cap.
    pub max_cost: Decimal,
    pub max_cost_strategy: Option<MaxCostStrategy>,
}

/// A set of destination rates valid during a timing.
#[derive(Debug, Clone, PartialEq)]
pub struct RatingPlanRow {
    pub id: String,
    pub destination_rates_id: String,
    pub timing_tag: String,
    pub weight: Decimal,
}

/// A rating plan activated for a subject.
#[derive(Debug, Clone, PartialEq)]
pub struct RatingProfileRow {
    pub tenant: String,
    pub category: String,
    pub subject: String,
    pub activation_time: DateTime<Utc>,
    pub rating_plan_id: String,
    pub fallback_subjects: Vec<String>,
}

/// Every record of a tariff plan. Destinations go straight into their
/// prefix index: they refer to nothing, and a plan may have millions.
#[derive(Debug, Clone, Default)]
pub struct TariffPlanData {
    pub destinations: Destinations,
    pub timings: Vec<Row<Timing>>,
    pub rates: Vec<Row<RateRow>>,
    pub destination_rates: Vec<Row<DestinationRateRow>>,
    pub rating_plans: Vec<Row<RatingPlanRow>>,
    pub rating_profiles: Vec<Row<RatingProfileRow>>,
    pub accounts: AccountPlanData,
}

type FieldResult<T> = Result<T, (usize, String)>;

fn decimal(fields: &[&str], i: usize) -> FieldResult<Decimal> {
    let s = fields[i];
    if s.is_empty() {
        return Ok(Decimal::ZERO);
    }
    Decimal::from_str(s)
        .or_else(|_| Decimal::from_scientific(s))
        .map_err(|_| (i, format!("{s:?} is not a number")))
}

fn non_negative(fields: &[&str], i: usize) -> FieldResult<Decimal> {
    let v = decimal(fields, i)?;
    if v.is_sign_negative() && !v.is_zero() {
        return Err((i, format!("{v} must not be negative")));
    }
    Ok(v)
}

fn duration(fields: &[&str], i: usize) -> FieldResult<TimeDelta> {
    let d = parse_duration(fields[i]).map_err(|e| (i, e.to_string()))?;
    if d < TimeDelta::zero() {
        return Err((i, format!("{:?} must not be negative", fields[i])));
    }
    Ok(d)
}

fn id(fields: &[&str], i: usize) -> FieldResult<String> {
    if fields[i].is_empty() {
        return Err((i, "must not be empty".to_string()));
    }
    Ok(fields[i].to_string())
}

impl RateRow {
    pub fn parse(f: &[&str]) -> FieldResult<Self> {
        let row = RateRow {
            id: id(f, 0)?,
            connect_fee: non_negative(f, 1)?,
            rate: decimal(f, 2)?,
            rate_unit: duration(f, 3)?,
            rate_increment: duration(f, 4)?,
            group_interval_start: duration(f, 5)?,
        };
        if row.rate_unit.is_zero() {
            return Err((3, "RateUnit must be greater than 0s".into()));
        }
        if row.rate_increment.is_zero() {
            return Err((4, "RateIncrement must be greater than 0s".into()));
        }
        Ok(row)
    }
}

impl DestinationRateRow {
    pub fn parse(f: &[&str]) -> FieldResult<Self> {
        let rounding_decimals: u32 = if f[4].is_empty() {
            4
        } else {
            f[4].parse()
                .ok()
                .filter(|d| *d <= 20)
                .ok_or_else(|| (4, format!("{:?} is not a number of decimals (0..20)", f[4])))?
        };
        let max_cost_strategy = match f[6] {
            "" => None,
            "*free" => Some(MaxCostStrategy::Free),
            "*disconnect" => Some(MaxCostStrategy::Disconnect),
            other => {
                return Err((
                    6,
                    format!("unknown strategy {other:?} (expected *free or *disconnect)"),
                ))
            }
        };
        let max_cost = non_negative(f, 5)?;
        if !max_cost.is_zero() && max_cost_strategy.is_none() {
            return Err((
                6,
                "a MaxCost needs a MaxCostStrategy (*free or *disconnect)".into(),
            ));
        }
        Ok(DestinationRateRow {
            id: id(f, 0)?,
            destination_id: id(f, 1)?,
            rates_tag: id(f, 2)?,
            rounding_method: RoundingMethod::from_str(f[3]).map_err(|e| (3, e))?,
            rounding_decimals,
            max_cost,
            max_cost_strategy,
        })
    }
}

impl RatingPlanRow {
    pub fn parse(f: &[&str]) -> FieldResult<Self> {
        Ok(RatingPlanRow {
            id: id(f, 0)?,
            destination_rates_id: id(f, 1)?,
            timing_tag: id(f, 2)?,
            weight: decimal(f, 3)?,
        })
    }
}

impl RatingProfileRow {
    pub fn parse(f: &[&str], tz: Tz) -> FieldResult<Self> {
        Ok(RatingProfileRow {
            tenant: id(f, 0)?,
            category: id(f, 1)?,
            subject: id(f, 2)?,
            activation_time: parse_activation_time(f[3], tz).map_err(|e| (3, e))?,
            rating_plan_id: id(f, 4)?,
            fallback_subjects: f[5]
                .split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        })
    }
}

/// RFC 3339, or a local `YYYY-MM-DD[T ]HH:MM:SS` in the plan's zone, or
/// `*asap` (taken as the Unix epoch, so the plan covers every call).
pub fn parse_activation_time(s: &str, tz: Tz) -> Result<DateTime<Utc>, String> {
    if s.is_empty() || s == "*asap" {
        return Ok(DateTime::<Utc>::UNIX_EPOCH);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(s, fmt) {
            if let Some(t) = tz.from_local_datetime(&naive).earliest() {
                return Ok(t.with_timezone(&Utc));
            }
        }
    }
    Err(format!(
        "{s:?} is not a time (expected RFC 3339 such as 2012-01-01T00:00:00Z, or *asap)"
    ))
}

pub const ACTIONS: &[&str] = &[
    "ActionsId",
    "Action",
    "ExtraParameters",
    "Filter",
    "BalanceId",
    "BalanceType",
    "Categories",
    "DestinationIds",
    "RatingSubject",
    "SharedGroup",
    "ExpiryTime",
    "TimingIds",
    "Units",
    "BalanceWeight",
    "BalanceBlocker",
    "BalanceDisabled",
    "Weight",
];
pub const ACTION_PLANS: &[&str] = &["Id", "ActionsId", "TimingId", "Weight"];
pub const ACTION_TRIGGERS: &[&str] = &[
    "Tag",
    "UniqueId",
    "ThresholdType",
    "ThresholdValue",
    "Recurrent",
    "MinSleep",
    "ExpiryTime",
    "ActivationTime",
    "BalanceTag",
    "BalanceType",
    "BalanceCategories",
    "BalanceDestinationIds",
    "BalanceRatingSubject",
    "BalanceSharedGroup",
    "BalanceExpiryTime",
    "BalanceTimingIds",
    "BalanceWeight",
    "BalanceBlocker",
    "BalanceDisabled",
    "ActionsTag",
    "Weight",
];
pub const ACCOUNT_ACTIONS: &[&str] = &[
    "Tenant",
    "Account",
    "ActionPlanId",
    "ActionTriggersId",
    "AllowNegative",
    "Disabled",
];
pub const VOLUME_DISCOUNTS: &[&str] = &["Tenant", "Account", "VolumeSeconds", "DiscountPercent"];

fn boolean(fields: &[&str], i: usize) -> FieldResult<bool> {
    match fields[i] {
        "" | "false" | "FALSE" | "False" | "0" => Ok(false),
        "true" | "TRUE" | "True" | "1" => Ok(true),
        other => Err((i, format!("{other:?} is not true or false"))),
    }
}

/// One row of `ActionPlans.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionPlanRow {
    pub id: String,
    pub timing: crate::actions::ActionTiming,
}

/// Account-side records.
#[derive(Debug, Clone, Default)]
pub struct AccountPlanData {
    pub actions: Vec<Row<crate::actions::Action>>,
    pub action_plans: Vec<Row<ActionPlanRow>>,
    pub action_triggers: Vec<Row<crate::actions::ActionTrigger>>,
    pub account_actions: Vec<Row<crate::actions::AccountActions>>,
    pub volume_discounts: Vec<Row<crate::actions::VolumeDiscount>>,
}

pub fn parse_action(f: &[&str], tz: Tz) -> FieldResult<crate::actions::Action> {
    use crate::account::BalanceType;
    let expiry = match f[10] {
        "" | "*unlimited" => None,
        s => Some(parse_activation_time(s, tz).map_err(|e| (10, e))?),
    };
    Ok(crate::actions::Action {
        id: id(f, 0)?,
        kind: f[1].parse().map_err(|e| (1, e))?,
        balance_id: f[4].to_string(),
        balance_type: if f[5].is_empty() {
            None
        } else {
            Some(BalanceType::from_str(f[5]).map_err(|e| (5, e))?)
        },
        categories: f[6].to_string(),
        destination_ids: f[7].to_string(),
        rating_subject: f[8].to_string(),
        expiry,
        units: decimal(f, 12)?,
        balance_weight: decimal(f, 13)?,
        blocker: boolean(f, 14)?,
        disabled: boolean(f, 15)?,
        weight: decimal(f, 16)?,
    })
}

pub fn parse_action_plan(f: &[&str]) -> FieldResult<ActionPlanRow> {
    Ok(ActionPlanRow {
        id: id(f, 0)?,
        timing: crate::actions::ActionTiming {
            actions_id: id(f, 1)?,
            timing_id: if f[2].is_empty() {
                "*asap".into()
            } else {
                f[2].to_string()
            },
            weight: decimal(f, 3)?,
        },
    })
}

pub fn parse_action_trigger(f: &[&str]) -> FieldResult<crate::actions::ActionTrigger> {
    let threshold_type = match f[2] {
        "*received_call_seconds" => crate::actions::ThresholdType::ReceivedCallSeconds,
        other => {
            return Err((
                2,
                format!(
                "threshold type {other:?} is not supported (tollgate knows *received_call_seconds)"
            ),
            ))
        }
    };
    Ok(crate::actions::ActionTrigger {
        id: id(f, 0)?,
        threshold_type,
        threshold_value: non_negative(f, 3)?,
        actions_id: id(f, 19)?,
        weight: decimal(f, 20)?,
    })
}

pub fn parse_account_actions(f: &[&str]) -> FieldResult<crate::actions::AccountActions> {
    Ok(crate::actions::AccountActions {
        key: crate::account::AccountKey::new(&id(f, 0)?, &id(f, 1)?),
        action_plan_id: f[2].to_string(),
        action_triggers_id: f[3].to_string(),
        allow_negative: boolean(f, 4)?,
        disabled: boolean(f, 5)?,
    })
}

pub fn parse_volume_discount(f: &[&str]) -> FieldResult<crate::actions::VolumeDiscount> {
    let percent = non_negative(f, 3)?;
    if percent > Decimal::ONE_HUNDRED {
        return Err((3, format!("{percent} is more than 100 percent")));
    }
    Ok(crate::actions::VolumeDiscount {
        tenant: id(f, 0)?,
        account: id(f, 1)?,
        volume_seconds: non_negative(f, 2)?,
        percent,
    })
}
