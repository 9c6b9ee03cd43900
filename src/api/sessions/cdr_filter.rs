//! `RPCCDRsFilter` (CGRateS's `GetCDRs` argument) into a [`CdrFilter`]:
//! the id, party and type lists, `DestinationPrefixes`, the `SetupTime…`,
//! `AnswerTime…`, `OrderID…`, `…Usage` and `…Cost` intervals, `Offset`
//! and `Limit`. A filter field tollgate does not apply (`NotTenants`,
//! `ExtraFields`, `OrderBy`…) is refused when it is set, rather than
//! answered as if it were absent; Go clients send them empty, which is fine.

use crate::rpc::params::Obj;
use crate::rpc::ApiError;
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use rater::duration::parse_duration;
use rust_decimal::Decimal;
use sessions::{CdrFilter, Interval};

/// Call records in one `GetCDRs` answer when the request sets no `Limit`
/// (an explicit `Limit` may be larger): the archive holds every call ever
/// made, and one answer must not hold them all. Page with `Offset`.
pub const DEFAULT_CDR_LIMIT: usize = 10_000;

const NOT_APPLIED: &[&str] = &[
    "NotCGRIDs",
    "NotRunIDs",
    "NotOriginIDs",
    "NotOriginHosts",
    "Sources",
    "NotSources",
    "NotToRs",
    "NotRequestTypes",
    "NotTenants",
    "NotCategories",
    "NotAccounts",
    "NotSubjects",
    "NotDestinationPrefixes",
    "Costs",
    "NotCosts",
    "ExtraFields",
    "NotExtraFields",
    "CreatedAtStart",
    "CreatedAtEnd",
    "UpdatedAtStart",
    "UpdatedAtEnd",
    "OrderBy",
];

/// The filter of a request without parameters.
pub fn everything() -> CdrFilter {
    CdrFilter {
        limit: Some(DEFAULT_CDR_LIMIT),
        ..Default::default()
    }
}

/// Reads the filter; times without a zone are read in `tz`.
pub fn parse(obj: &Obj<'_>, tz: Tz) -> Result<CdrFilter, ApiError> {
    for name in NOT_APPLIED {
        if let Some(raw) = obj.get(name) {
            if !matches!(raw.get(), "null" | "[]" | "{}" | "\"\"" | "false") {
                return Err(ApiError::Invalid(format!(
                    "NOT_IMPLEMENTED: the {name} filter"
                )));
            }
        }
    }
    Ok(CdrFilter {
        cgr_ids: obj.strings("CGRIDs")?,
        run_ids: obj.strings("RunIDs")?,
        tors: obj.strings("ToRs")?,
        origin_hosts: obj.strings("OriginHosts")?,
        origin_ids: obj.strings("OriginIDs")?,
        request_types: obj.strings("RequestTypes")?,
        tenants: obj.strings("Tenants")?,
        categories: obj.strings("Categories")?,
        accounts: obj.strings("Accounts")?,
        subjects: obj.strings("Subjects")?,
        destination_prefixes: obj.strings("DestinationPrefixes")?,
        setup_time: times(obj, "SetupTimeStart", "SetupTimeEnd", tz)?,
        answer_time: times(obj, "AnswerTimeStart", "AnswerTimeEnd", tz)?,
        order_id: Interval {
            start: obj.i64("OrderIDStart")?,
            end: obj.i64("OrderIDEnd")?,
        },
        usage: Interval {
            start: usage(obj, "MinUsage")?,
            end: usage(obj, "MaxUsage")?,
        },
        cost: cost(obj)?,
        offset: obj.i64("Offset")?.unwrap_or(0).max(0) as usize,
        limit: Some(
            obj.i64("Limit")?
                .filter(|l| *l > 0)
                .map_or(DEFAULT_CDR_LIMIT, |l| l as usize),
        ),
    })
}

/// An interval of times; an empty string is no bound (Go clients send one).
fn times(
    obj: &Obj<'_>,
    start: &str,
    end: &str,
    tz: Tz,
) -> Result<Interval<DateTime<Utc>>, ApiError> {
    Ok(Interval {
        start: time(obj, start, tz)?,
        end: time(obj, end, tz)?,
    })
}

/// RFC 3339, Unix seconds, or a date and time without zone read in `tz`
/// (as CGRateS reads them in its default time zone).
fn time(obj: &Obj<'_>, name: &str, tz: Tz) -> Result<Option<DateTime<Utc>>, ApiError> {
    let Some(text) = obj.str_or_number(name)? else {
        return Ok(None);
    };
    let s = text.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let bad = || ApiError::Invalid(format!("{name}: {s:?} is not a time"));
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    if let Ok(secs) = s.parse::<i64>() {
        return Utc
            .timestamp_opt(secs, 0)
            .single()
            .map(Some)
            .ok_or_else(bad);
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(local) = NaiveDateTime::parse_from_str(s, format) {
            return tz
                .from_local_datetime(&local)
                .earliest()
                .map(|t| Some(t.with_timezone(&Utc)))
                .ok_or_else(bad);
        }
    }
    Err(bad())
}

/// `MinCost`/`MaxCost`, with CGRateS's `MaxCost: -1`: alone it asks for
/// unrated records (tollgate has none: every record is priced), with a
/// `MinCost` for records costing at least that.
fn cost(obj: &Obj<'_>) -> Result<Interval<Decimal>, ApiError> {
    let (min, max) = (obj.decimal("MinCost")?, obj.decimal("MaxCost")?);
    Ok(match (min, max) {
        (Some(min), Some(max)) if max == -Decimal::ONE => Interval {
            start: Some(min),
            end: None,
        },
        // An empty interval: nothing matches.
        (None, Some(max)) if max == -Decimal::ONE => Interval {
            start: Some(Decimal::ZERO),
            end: Some(Decimal::ZERO),
        },
        (start, end) => Interval { start, end },
    })
}

/// A usage bound in nanoseconds: a number (ns), a string of digits (ns, as
/// CGRateS reads it) or a Go duration (`1m30s`).
fn usage(obj: &Obj<'_>, name: &str) -> Result<Option<i64>, ApiError> {
    let Some(text) = obj.str_or_number(name)? else {
        return Ok(None);
    };
    if text.is_empty() {
        return Ok(None);
    }
    if let Ok(ns) = text.parse::<i64>() {
        return Ok(Some(ns));
    }
    parse_duration(&text)
        .ok()
        .and_then(|d| d.num_nanoseconds())
        .map(Some)
        .ok_or_else(|| ApiError::Invalid(format!("{name}: {text:?} is not a duration")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::value::RawValue;

    fn filter(json: &str) -> Result<CdrFilter, ApiError> {
        let raw: Box<RawValue> = serde_json::from_str(json).unwrap();
        parse(
            &Obj::parse(&raw, "RPCCDRsFilter")?,
            "Europe/Bucharest".parse().unwrap(),
        )
    }

    #[test]
    fn times_zones_and_cost_special_cases() {
        let f = filter(r#"{"SetupTimeStart": "2026-11-21 09:00:00", "SetupTimeEnd": 1795280400}"#)
            .unwrap();
        // 09:00 in Bucharest (UTC+2) is 07:00 UTC.
        assert_eq!(
            f.setup_time.start.map(|t| t.to_rfc3339()).as_deref(),
            Some("2026-11-21T07:00:00+00:00")
        );
        assert_eq!(f.setup_time.end.map(|t| t.timestamp()), Some(1795280400));
        assert!(filter(r#"{"SetupTimeStart": "tuesday"}"#).is_err());
        let rated = filter(r#"{"MinCost": 0, "MaxCost": -1}"#).unwrap().cost;
        assert!(rated.contains(&Decimal::ZERO) && rated.contains(&Decimal::TEN));
        let unrated = filter(r#"{"MaxCost": -1}"#).unwrap().cost;
        assert!(!unrated.contains(&Decimal::ZERO) && !unrated.contains(&Decimal::ONE));
    }

    #[test]
    fn reads_cgrates_filters() {
        let f = filter(
            r#"{"Accounts": ["1001"], "DestinationPrefixes": ["+40"], "ToRs": ["*voice"],
                "AnswerTimeStart": "2026-11-21T09:00:00Z", "AnswerTimeEnd": "",
                "MinUsage": "1m", "MaxUsage": 3600000000000, "MinCost": 0.1,
                "OrderIDStart": 5, "Offset": 2, "Limit": 50}"#,
        )
        .unwrap();
        assert_eq!(f.accounts, ["1001"]);
        assert_eq!(f.destination_prefixes, ["+40"]);
        assert_eq!(f.tors, ["*voice"]);
        assert_eq!(
            f.answer_time.start.map(|t| t.to_rfc3339()).as_deref(),
            Some("2026-11-21T09:00:00+00:00")
        );
        assert_eq!(f.answer_time.end, None);
        assert_eq!(f.usage.start, Some(60_000_000_000));
        assert_eq!(f.usage.end, Some(3_600_000_000_000));
        assert_eq!(f.cost.start, Some(rust_decimal::Decimal::new(1, 1)));
        assert_eq!(f.order_id.start, Some(5));
        assert_eq!((f.offset, f.limit), (2, Some(50)));
        assert_eq!(
            filter(r#"{"MinUsage": "60000000000"}"#)
                .unwrap()
                .usage
                .start,
            Some(60_000_000_000)
        );
        assert_eq!(filter("{}").unwrap().limit, Some(DEFAULT_CDR_LIMIT));
        assert_eq!(everything().limit, Some(DEFAULT_CDR_LIMIT));
    }

    #[test]
    fn filters_it_cannot_apply_are_refused_unless_empty() {
        // What a Go client sends for fields it leaves unset.
        filter(r#"{"NotTenants": [], "ExtraFields": {}, "OrderBy": "", "Costs": null}"#).unwrap();
        let e = filter(r#"{"NotTenants": ["cgrates.org"]}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "SERVER_ERROR: NOT_IMPLEMENTED: the NotTenants filter"
        );
        let e = filter(r#"{"MinUsage": "a while"}"#).unwrap_err();
        assert!(e.to_string().contains("MinUsage"), "{e}");
    }
}
