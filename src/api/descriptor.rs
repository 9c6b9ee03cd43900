//! The call descriptor of a request: the fields of CGRateS's modern
//! `CallDescriptor` and of the 2012 API, mapped onto
//! [`rater::CallDescriptor`]. Every method that takes a call descriptor
//! (GetCost, Debit, MaxDebit, GetMaxSessionTime, …) decodes it here, with
//! [`decode_descriptor`].
//!
//! | field | meaning |
//! | --- | --- |
//! | `Tenant`, 2012 `CstmId` | tenant; default `general.default_tenant` |
//! | `Category` | category; default: the 2012 `TOR`, else `general.default_category` |
//! | `TOR`/`Tor` (any case but `ToR`) | 2012 type of record: a number (`"Tor":0`) or a plain string is the category when `Category` is absent; a string starting with `*` is the modern ToR |
//! | `ToR` | type of record (`*voice`…); default `*voice` |
//! | `Subject`, `Account` | rating subject and account; each defaults to the other |
//! | `Destination`, 2012 `DestinationPrefix` | dialled number |
//! | `TimeStart` | RFC 3339; default now |
//! | `TimeEnd` | RFC 3339; default `TimeStart` + `DurationIndex` (0 when absent) |
//! | `LoopIndex` | ≥ 0; only piece 0 pays the connect fee |
//! | `DurationIndex` | elapsed call time at `TimeEnd`, Go nanoseconds |
//! | `MaxCostSoFar` | cost of earlier pieces, exact |
//! | `Amount` | amount for the debit methods, exact |
//! | `CgrID`, `RunID`, `DryRun`, `DenyNegativeAccount`, `ForceDuration`, `PerformRounding` | carried for the account methods |
//! | `Direction`, `FallbackSubject`, `RatingInfos`, `Increments`, `ExtraFields`, `MaxRate`, `MaxRateUnit` | accepted and ignored |

use crate::config::Config;
use crate::rpc::params::json_kind;
use crate::rpc::{ApiError, Obj};
use chrono::{DateTime, TimeDelta, Utc};
use rater::CallDescriptor;
use rust_decimal::Decimal;

/// Request defaults, from the `general` section of the config.
#[derive(Debug, Clone, PartialEq)]
pub struct Defaults {
    pub tenant: String,
    pub category: String,
    pub request_type: String,
    /// `limits.max_usage`: the longest usage a request may ask for.
    pub max_usage: TimeDelta,
}

impl Defaults {
    pub fn from_config(config: &Config) -> Self {
        Defaults {
            tenant: config.general.default_tenant.clone(),
            category: config.general.default_category.clone(),
            request_type: config.general.default_request_type.clone(),
            max_usage: config.limits.max_usage,
        }
    }
}

/// A decoded call descriptor: what the rater rates, plus the fields the
/// account methods need.
#[derive(Debug, Clone, PartialEq)]
pub struct DescriptorRequest {
    pub cd: CallDescriptor,
    /// `Amount` (money for DebitBalance, units for DebitSMS/DebitSeconds…).
    pub amount: Option<Decimal>,
    pub cgr_id: String,
    pub run_id: String,
    pub dry_run: bool,
    pub deny_negative_account: bool,
    pub force_duration: bool,
    pub perform_rounding: bool,
    /// Whether `TimeEnd` (or `DurationIndex`) was given, as opposed to defaulted.
    pub has_time_end: bool,
}

/// Decodes a call descriptor from a request object. `now` is used when
/// `TimeStart` is absent.
pub fn decode_descriptor(
    obj: &Obj<'_>,
    defaults: &Defaults,
    now: impl FnOnce() -> DateTime<Utc>,
) -> Result<DescriptorRequest, ApiError> {
    let tenant = match obj.str("Tenant")? {
        Some(t) if !t.is_empty() => t,
        _ => obj
            .str("CstmId")?
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| defaults.tenant.clone()),
    };
    let (tor, tor_category) = type_of_record(obj)?;
    let category = obj
        .str("Category")?
        .filter(|c| !c.is_empty())
        .or(tor_category)
        .unwrap_or_else(|| defaults.category.clone());
    let mut subject = obj.string("Subject")?;
    let mut account = obj.string("Account")?;
    if account.is_empty() {
        account = subject.clone();
    } else if subject.is_empty() {
        subject = account.clone();
    }
    let destination = match obj.str("Destination")? {
        Some(d) if !d.is_empty() => d,
        _ => obj.string("DestinationPrefix")?,
    };
    let time_start = match obj.time("TimeStart")? {
        Some(t) => t,
        None => now(),
    };
    let duration_index = TimeDelta::nanoseconds(obj.i64("DurationIndex")?.unwrap_or(0));
    // Bound the work before doing any: rating is linear in the usage.
    check_usage(duration_index, defaults)?;
    let (time_end, has_time_end) = match obj.time("TimeEnd")? {
        Some(t) => (t, true),
        None => (
            time_start
                .checked_add_signed(duration_index)
                .ok_or_else(|| ApiError::Invalid("DurationIndex: out of range".into()))?,
            !duration_index.is_zero(),
        ),
    };
    check_usage(time_end - time_start, defaults)?;
    let loop_index = match obj.i64("LoopIndex")? {
        None => 0,
        Some(i) => u32::try_from(i).map_err(|_| {
            ApiError::BadRequest(format!("LoopIndex: {i} is not a non-negative integer"))
        })?,
    };
    let cd = CallDescriptor {
        category,
        tenant,
        subject,
        account,
        destination,
        tor: tor.unwrap_or_else(|| "*voice".to_string()),
        time_start,
        time_end,
        loop_index,
        duration_index,
        max_cost_so_far: obj.decimal("MaxCostSoFar")?.unwrap_or_default(),
    };
    Ok(DescriptorRequest {
        cd,
        amount: obj.decimal("Amount")?,
        cgr_id: obj.string("CgrID")?,
        run_id: obj.string("RunID")?,
        dry_run: obj.bool("DryRun")?.unwrap_or(false),
        deny_negative_account: obj.bool("DenyNegativeAccount")?.unwrap_or(false),
        force_duration: obj.bool("ForceDuration")?.unwrap_or(false),
        perform_rounding: obj.bool("PerformRounding")?.unwrap_or(false),
        has_time_end,
    })
}

/// Refuses a usage longer than `limits.max_usage` with `MAX_USAGE_EXCEEDED`.
pub fn check_usage(usage: TimeDelta, defaults: &Defaults) -> Result<(), ApiError> {
    if usage > defaults.max_usage {
        tracing::debug!(
            usage_s = usage.num_seconds(),
            max_s = defaults.max_usage.num_seconds(),
            "usage over limits.max_usage"
        );
        return Err(ApiError::MaxUsageExceeded);
    }
    Ok(())
}

/// The modern `ToR` and the 2012 `TOR` (a category), from every key that
/// equals "tor" ignoring case.
fn type_of_record(obj: &Obj<'_>) -> Result<(Option<String>, Option<String>), ApiError> {
    let mut tor = None;
    let mut category = None;
    for (key, raw) in obj.entries() {
        if !key.eq_ignore_ascii_case("tor") {
            continue;
        }
        match json_kind(raw) {
            "null" => {}
            "number" => category = Some(raw.get().to_string()),
            "string" => {
                let s: String = serde_json::from_str(raw.get())
                    .map_err(|e| ApiError::BadRequest(e.to_string()))?;
                if s.is_empty() {
                } else if key == "ToR" || s.starts_with('*') {
                    tor = Some(s);
                } else {
                    category = Some(s);
                }
            }
            found => {
                return Err(ApiError::WrongType {
                    field: format!("CallDescriptor.{key}"),
                    found,
                    expected: "string",
                })
            }
        }
    }
    Ok((tor, category))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::value::RawValue;

    fn defaults() -> Defaults {
        Defaults {
            tenant: "cgrates.org".into(),
            category: "call".into(),
            request_type: "*prepaid".into(),
            max_usage: TimeDelta::hours(72),
        }
    }

    fn decode(json: &str) -> Result<DescriptorRequest, ApiError> {
        let raw: &RawValue = serde_json::from_str(json).unwrap();
        let obj = Obj::parse(raw, "CallDescriptor").unwrap();
        decode_descriptor(&obj, &defaults(), || {
            "2020-01-01T00:00:00Z".parse().unwrap()
        })
    }

    #[test]
    fn the_2012_snippet() {
        let r = decode(r#"{"Tor":0, "CstmId": "vdf", "Subject": "rif", "DestinationPrefix": "0256", "TimeStart": "2012-02-02T17:30:00Z", "TimeEnd": "2012-02-02T18:30:00Z"}"#).unwrap();
        assert_eq!(r.cd.tenant, "vdf");
        assert_eq!(r.cd.category, "0");
        assert_eq!(r.cd.subject, "rif");
        assert_eq!(r.cd.account, "rif");
        assert_eq!(r.cd.destination, "0256");
        assert_eq!(r.cd.tor, "*voice");
        assert_eq!(r.cd.duration(), TimeDelta::hours(1));
    }

    #[test]
    fn modern_fields_and_defaults() {
        let r = decode(r#"{"Account":"1001","Destination":"+49151","ToR":"*voice","Direction":"*out","DurationIndex":30000000000,"LoopIndex":1,"Amount":0.30,"DryRun":true,"Category":null}"#).unwrap();
        assert_eq!(r.cd.tenant, "cgrates.org");
        assert_eq!(r.cd.category, "call");
        assert_eq!(r.cd.subject, "1001");
        assert_eq!(r.cd.duration(), TimeDelta::seconds(30));
        assert_eq!(r.cd.loop_index, 1);
        assert_eq!(r.amount.unwrap().to_string(), "0.30");
        assert!(r.dry_run && r.has_time_end);
        let r = decode(r#"{"Subject":"x","Category":"sms","TOR":"0"}"#).unwrap();
        assert_eq!(r.cd.category, "sms");
        assert!(!r.has_time_end);
    }

    #[test]
    fn bad_types_are_refused() {
        assert!(decode(r#"{"Tenant":1}"#).is_err());
        assert!(decode(r#"{"LoopIndex":-1}"#).is_err());
        assert!(decode(r#"{"TimeStart":"yesterday"}"#).is_err());
        assert!(decode(r#"{"Tor":[1]}"#).is_err());
    }
}
