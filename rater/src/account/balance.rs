//! Balances: typed amounts of credit (money, voice seconds, SMS, data,
//! generic units) with the filters that decide which calls they may pay.

use crate::destinations::Destinations;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// What a balance counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum BalanceType {
    #[serde(rename = "*monetary")]
    Monetary,
    /// Seconds of voice.
    #[serde(rename = "*voice")]
    Voice,
    #[serde(rename = "*sms")]
    Sms,
    #[serde(rename = "*data")]
    Data,
    #[serde(rename = "*generic")]
    Generic,
}

impl BalanceType {
    pub const ALL: [BalanceType; 5] = [
        BalanceType::Monetary,
        BalanceType::Voice,
        BalanceType::Sms,
        BalanceType::Data,
        BalanceType::Generic,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BalanceType::Monetary => "*monetary",
            BalanceType::Voice => "*voice",
            BalanceType::Sms => "*sms",
            BalanceType::Data => "*data",
            BalanceType::Generic => "*generic",
        }
    }

    /// The unit balance type that pays a record of type `tor` (`*voice` when unknown or empty).
    pub fn for_tor(tor: &str) -> BalanceType {
        match tor {
            "*sms" => BalanceType::Sms,
            "*data" => BalanceType::Data,
            "*generic" => BalanceType::Generic,
            _ => BalanceType::Voice,
        }
    }
}

impl fmt::Display for BalanceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BalanceType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        BalanceType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("unknown balance type {s:?}"))
    }
}

/// A balance. Filters left empty match everything.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Balance {
    pub uuid: String,
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    pub value: Decimal,
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    pub weight: Decimal,
    /// None: never expires.
    pub expiration_date: Option<DateTime<Utc>>,
    /// Destination ids: `true` includes, `false` excludes (written `!ID`).
    #[serde(rename = "DestinationIDs")]
    pub destination_ids: BTreeMap<String, bool>,
    pub categories: BTreeMap<String, bool>,
    /// Empty or `*zero<step>`: units are free; otherwise units are rated with this subject.
    pub rating_subject: String,
    pub blocker: bool,
    pub disabled: bool,
}

impl Balance {
    /// A plain balance of `value` with no filters.
    pub fn new(uuid: &str, id: &str, value: Decimal) -> Self {
        Balance {
            uuid: uuid.to_string(),
            id: id.to_string(),
            value,
            weight: Decimal::ZERO,
            expiration_date: None,
            destination_ids: BTreeMap::new(),
            categories: BTreeMap::new(),
            rating_subject: String::new(),
            blocker: false,
            disabled: false,
        }
    }

    pub fn is_expired_at(&self, now: DateTime<Utc>) -> bool {
        self.expiration_date.is_some_and(|t| t <= now)
    }

    pub fn matches_category(&self, category: &str) -> bool {
        self.categories.is_empty() || self.categories.get(category).copied().unwrap_or(false)
    }

    /// Whether the balance may pay for `number`, and how specific the
    /// match is (the matched prefix length; 0 for an unfiltered balance).
    pub fn destination_precision(
        &self,
        destinations: &Destinations,
        number: &str,
    ) -> Option<usize> {
        if self.destination_ids.is_empty() {
            return Some(0);
        }
        let mut included = None;
        for (prefix, ids) in destinations.matches(number) {
            for id in ids {
                match self.destination_ids.get(&**destinations.name(*id)) {
                    Some(false) => return None,
                    Some(true) if included.is_none() => included = Some(prefix.len()),
                    _ => {}
                }
            }
        }
        // Only exclusions listed: everything else is allowed.
        if included.is_none() && self.destination_ids.values().all(|v| !v) {
            return Some(0);
        }
        included
    }

    /// For a unit balance: the step its free units are consumed in, if free
    /// (`""` → none, `*zero1s`, `*zero60s` …), or `Err(subject)` if rated.
    pub fn free_unit_step(&self) -> Result<Option<chrono::TimeDelta>, &str> {
        let s = self.rating_subject.as_str();
        if s.is_empty() {
            return Ok(None);
        }
        if let Some(step) = s.strip_prefix("*zero") {
            return Ok(crate::duration::parse_duration(step)
                .ok()
                .filter(|d| *d > chrono::TimeDelta::zero()));
        }
        Err(s)
    }
}

/// Parses `A;B;!C` into a filter map.
pub fn parse_filter(s: &str) -> BTreeMap<String, bool> {
    s.split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty() && *p != "*any")
        .map(|p| match p.strip_prefix('!') {
            Some(excluded) => (excluded.to_string(), false),
            None => (p.to_string(), true),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn dests() -> Destinations {
        let mut d = Destinations::default();
        d.add("RO", "40");
        d.add("RO_MOB", "407");
        d.add("DE", "49");
        d
    }

    #[test]
    fn destination_filters_with_exclusions() {
        let d = dests();
        let mut b = Balance::new("u", "b", dec!(1));
        assert_eq!(b.destination_precision(&d, "40721"), Some(0));
        b.destination_ids = parse_filter("RO");
        assert_eq!(b.destination_precision(&d, "40721"), Some(2));
        assert_eq!(b.destination_precision(&d, "4930"), None);
        b.destination_ids = parse_filter("RO;!RO_MOB");
        assert_eq!(b.destination_precision(&d, "40721"), None);
        assert_eq!(b.destination_precision(&d, "40256"), Some(2));
        b.destination_ids = parse_filter("!DE");
        assert_eq!(b.destination_precision(&d, "4930"), None);
        assert_eq!(b.destination_precision(&d, "40256"), Some(0));
    }

    #[test]
    fn categories_and_expiry() {
        let mut b = Balance::new("u", "b", dec!(1));
        assert!(b.matches_category("call"));
        b.categories = parse_filter("call;sms");
        assert!(b.matches_category("sms"));
        assert!(!b.matches_category("data"));
        let now = Utc::now();
        assert!(!b.is_expired_at(now));
        b.expiration_date = Some(now);
        assert!(b.is_expired_at(now));
    }

    #[test]
    fn free_and_rated_unit_balances() {
        let mut b = Balance::new("u", "b", dec!(1));
        assert_eq!(b.free_unit_step(), Ok(None));
        b.rating_subject = "*zero60s".into();
        assert_eq!(b.free_unit_step(), Ok(Some(chrono::TimeDelta::seconds(60))));
        b.rating_subject = "special".into();
        assert_eq!(b.free_unit_step(), Err("special"));
    }
}
