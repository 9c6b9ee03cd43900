//! Accounts as CGRateS shows them: `BalanceMap` with every balance field
//! CGRateS clients read, and the short `AccountSummary` of debit replies.

use crate::account::{Account, BalanceType};
use serde_json::{json, Map, Value};

const NEVER: &str = "0001-01-01T00:00:00Z";

fn filter_map(m: &std::collections::BTreeMap<String, bool>) -> Value {
    Value::Object(
        m.iter()
            .map(|(k, v)| (k.clone(), Value::Bool(*v)))
            .collect(),
    )
}

/// `APIerSv2.GetAccount`'s shape.
pub fn account_json(a: &Account) -> Value {
    let mut map = Map::new();
    for (kind, balances) in &a.balance_map {
        let list: Vec<Value> = balances
            .iter()
            .map(|b| {
                json!({
                    "Uuid": b.uuid,
                    "ID": b.id,
                    "Value": crate::engine::json::number(b.value),
                    "ExpirationDate": b.expiration_date.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)).unwrap_or_else(|| NEVER.into()),
                    "Weight": number(b.weight),
                    "DestinationIDs": filter_map(&b.destination_ids),
                    "RatingSubject": b.rating_subject,
                    "Categories": filter_map(&b.categories),
                    "SharedGroups": {},
                    "Timings": null,
                    "TimingIDs": {},
                    "Disabled": b.disabled,
                    "Factor": null,
                    "Blocker": b.blocker,
                })
            })
            .collect();
        map.insert(kind.as_str().to_string(), Value::Array(list));
    }
    json!({
        "ID": a.id,
        "BalanceMap": map,
        "UnitCounters": null,
        "ActionTriggers": null,
        "AllowNegative": a.allow_negative,
        "Disabled": a.disabled,
        "Counters": {
            "VolumeDiscountSeconds": number(a.counters.volume_discount_seconds),
            "ReceivedCallSeconds": number(a.counters.received_call_seconds),
        },
    })
}

/// The `AccountSummary` CGRateS attaches to debit replies.
pub fn account_summary(a: &Account) -> Value {
    let (tenant, id) = a.id.split_once(':').unwrap_or(("", &a.id));
    let balances: Vec<Value> = BalanceType::ALL
        .iter()
        .flat_map(|kind| a.balances(*kind).iter().map(move |b| (kind, b)))
        .map(|(kind, b)| {
            json!({"UUID": b.uuid, "ID": b.id, "Type": kind.as_str(), "Value": number(b.value), "Disabled": b.disabled})
        })
        .collect();
    json!({
        "Tenant": tenant,
        "ID": id,
        "BalanceSummaries": balances,
        "AllowNegative": a.allow_negative,
        "Disabled": a.disabled,
    })
}

/// A decimal as an exact JSON number.
pub fn number(d: rust_decimal::Decimal) -> Value {
    serde_json::to_value(Exact(d)).unwrap_or(Value::Null)
}

struct Exact(rust_decimal::Decimal);

impl serde::Serialize for Exact {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        rust_decimal::serde::arbitrary_precision::serialize(&self.0.normalize(), s)
    }
}

/// Reads a JSON number (or numeric string) back into a decimal, exactly.
pub fn decimal(v: &Value) -> Option<rust_decimal::Decimal> {
    match v {
        Value::Number(n) => {
            let s = n.to_string();
            s.parse()
                .ok()
                .or_else(|| rust_decimal::Decimal::from_scientific(&s).ok())
        }
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}
