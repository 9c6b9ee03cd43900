//! Accounts: `tenant:account`, their balances by type, flags and the
//! counters of the 2012 budget calls. Serialized in CGRateS's shape.

use super::balance::{Balance, BalanceType};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// `tenant:account`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AccountKey {
    pub tenant: String,
    pub account: String,
}

impl AccountKey {
    pub fn new(tenant: &str, account: &str) -> Self {
        AccountKey {
            tenant: tenant.to_string(),
            account: account.to_string(),
        }
    }

    /// Parses `tenant:account` (the account may contain `:`).
    pub fn parse(id: &str) -> Option<Self> {
        let (tenant, account) = id.split_once(':')?;
        (!tenant.is_empty() && !account.is_empty()).then(|| AccountKey::new(tenant, account))
    }
}

impl fmt::Display for AccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.tenant, self.account)
    }
}

/// Counters kept per account by the 2012 budget calls.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Counters {
    /// Placed-call seconds counted toward volume discounts.
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    pub volume_discount_seconds: Decimal,
    /// Received-call seconds counted toward the received-call bonus.
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    pub received_call_seconds: Decimal,
}

/// An account and everything it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Account {
    /// `tenant:account`.
    #[serde(rename = "ID")]
    pub id: String,
    pub balance_map: BTreeMap<BalanceType, Vec<Balance>>,
    pub allow_negative: bool,
    pub disabled: bool,
    #[serde(default)]
    pub counters: Counters,
    /// Timed action-plan entries: the last start each one ran for (or was
    /// first seen at), so each start runs once (see `engine::schedule`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub plan_runs: BTreeMap<String, DateTime<Utc>>,
}

impl Account {
    pub fn new(key: &AccountKey) -> Self {
        Account {
            id: key.to_string(),
            balance_map: BTreeMap::new(),
            allow_negative: false,
            disabled: false,
            counters: Counters::default(),
            plan_runs: BTreeMap::new(),
        }
    }

    pub fn key(&self) -> Option<AccountKey> {
        AccountKey::parse(&self.id)
    }

    pub fn balances(&self, kind: BalanceType) -> &[Balance] {
        self.balance_map
            .get(&kind)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Sum of the enabled balances of a type.
    pub fn total(&self, kind: BalanceType) -> Decimal {
        self.balances(kind)
            .iter()
            .filter(|b| !b.disabled)
            .map(|b| b.value)
            .sum()
    }

    /// The balance with this UUID, anywhere.
    pub fn balance_by_uuid_mut(&mut self, uuid: &str) -> Option<&mut Balance> {
        self.balance_map
            .values_mut()
            .flat_map(|v| v.iter_mut())
            .find(|b| b.uuid == uuid)
    }

    /// The balance of `kind` with this ID.
    pub fn balance_by_id_mut(&mut self, kind: BalanceType, id: &str) -> Option<&mut Balance> {
        self.balance_map
            .get_mut(&kind)?
            .iter_mut()
            .find(|b| b.id == id)
    }

    /// Adds a balance (its UUID must be new).
    pub fn push_balance(&mut self, kind: BalanceType, balance: Balance) {
        self.balance_map.entry(kind).or_default().push(balance);
    }
}
