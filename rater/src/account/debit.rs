//! Paying a rated call from an account's balances.
//!
//! Balances that may pay (enabled, not expired, category and destination
//! filters matching) are ordered by destination precision, then weight.
//! Unit balances of the call's type pay first (free when their rating
//! subject is empty or `*zero<step>`, else also charged in money at that
//! subject's rates), then monetary balances; an increment is paid whole by
//! one balance; a Blocker that cannot pay stops the search. What cannot be
//! paid fails the whole debit with `INSUFFICIENT_CREDIT`, unless the account
//! allows negative, when the default monetary balance goes below zero.
//! The result lists every balance touched and by how much, so a refund
//! restores the exact values.

use super::balance::{Balance, BalanceType};
use super::error::AccountError;
use super::model::Account;
use crate::callcost::{CallCost, Timespan};
use crate::tariff::TariffPlan;
use chrono::{DateTime, TimeDelta, Utc};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// What one balance paid (positive) or got back (negative).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Charge {
    pub balance_uuid: String,
    #[serde(rename = "BalanceID")]
    pub balance_id: String,
    pub balance_type: BalanceType,
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    pub amount: Decimal,
}

/// The outcome of a debit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Debited {
    pub charges: Vec<Charge>,
}

impl Debited {
    /// Money taken, all monetary balances together.
    pub fn money(&self) -> Decimal {
        self.total(BalanceType::Monetary)
    }

    pub fn total(&self, kind: BalanceType) -> Decimal {
        self.charges
            .iter()
            .filter(|c| c.balance_type == kind)
            .map(|c| c.amount)
            .sum()
    }
}

/// Where a charge goes: an existing balance, or a `*default` one to create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Existing(BalanceType, usize),
    NewDefault,
}

#[derive(Debug, Clone)]
struct Slot {
    target: Target,
    value: Decimal,
    blocker: bool,
    free_step: Option<TimeDelta>,
    rated_subject: Option<String>,
}

/// The balances that may pay one call, in paying order, with scratch values.
#[derive(Debug, Clone)]
pub struct Candidates {
    units: Vec<Slot>,
    money: Vec<Slot>,
    /// The money slot that goes negative when the account allows it.
    default_money: Slot,
    allow_negative: bool,
}

/// What the call is, for choosing balances.
#[derive(Debug, Clone, Copy)]
pub struct CallContext<'a> {
    pub category: &'a str,
    pub destination: &'a str,
    pub tor: &'a str,
    pub now: DateTime<Utc>,
}

fn ordered(
    account: &Account,
    plan: &TariffPlan,
    kind: BalanceType,
    call: &CallContext<'_>,
) -> Vec<Slot> {
    let mut found: Vec<(usize, Decimal, Slot)> = account
        .balances(kind)
        .iter()
        .enumerate()
        .filter(|(_, b)| {
            !b.disabled && !b.is_expired_at(call.now) && b.matches_category(call.category)
        })
        .filter_map(|(i, b)| {
            let precision = b.destination_precision(&plan.destinations, call.destination)?;
            let (free_step, rated_subject) = match b.free_unit_step() {
                Ok(step) => (step, None),
                Err(subject) => (None, Some(subject.to_string())),
            };
            Some((
                precision,
                b.weight,
                Slot {
                    target: Target::Existing(kind, i),
                    value: b.value,
                    blocker: b.blocker,
                    free_step,
                    rated_subject,
                },
            ))
        })
        .collect();
    found.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
    found.into_iter().map(|(_, _, s)| s).collect()
}

/// Chooses and orders the balances of `account` that may pay `call`.
pub fn candidates(account: &Account, plan: &TariffPlan, call: &CallContext<'_>) -> Candidates {
    let unit_kind = BalanceType::for_tor(call.tor);
    let units = ordered(account, plan, unit_kind, call);
    let money = ordered(account, plan, BalanceType::Monetary, call);
    let default_index = account
        .balances(BalanceType::Monetary)
        .iter()
        .position(|b| b.id == "*default")
        .or_else(|| match money.first().map(|s| s.target) {
            Some(Target::Existing(_, i)) => Some(i),
            _ => None,
        });
    let default_money = Slot {
        target: default_index.map_or(Target::NewDefault, |i| {
            Target::Existing(BalanceType::Monetary, i)
        }),
        value: Decimal::ZERO,
        blocker: false,
        free_step: None,
        rated_subject: None,
    };
    Candidates {
        units,
        money,
        default_money,
        allow_negative: account.allow_negative,
    }
}

/// Prices `duration` of a timespan at another subject's rates (for rated unit balances).
pub type Rerate<'a> = dyn Fn(&str, &Timespan, TimeDelta) -> Result<Decimal, AccountError> + 'a;

/// The whole part of a non-negative quotient, saturating.
fn whole(q: Decimal) -> u64 {
    q.floor()
        .to_u64()
        .unwrap_or(if q.is_sign_negative() { 0 } else { u64::MAX })
}

fn secs(d: TimeDelta) -> Decimal {
    Decimal::from(d.num_nanoseconds().unwrap_or(i64::MAX)) / Decimal::from(1_000_000_000i64)
}

/// Pending charges during allocation, keyed by target.
#[derive(Default)]
struct Ledger(Vec<(Target, Decimal)>);

impl Ledger {
    fn add(&mut self, target: Target, amount: Decimal) {
        if amount.is_zero() {
            return;
        }
        match self.0.iter_mut().find(|(t, _)| *t == target) {
            Some((_, a)) => *a += amount,
            None => self.0.push((target, amount)),
        }
    }
}

impl Candidates {
    /// Pays `count` items of `cost` from money; returns the last slot used.
    fn pay_money(
        &mut self,
        cost: Decimal,
        mut count: u64,
        ledger: &mut Ledger,
    ) -> Result<Option<Target>, AccountError> {
        if count == 0 || cost.is_zero() {
            return Ok(None);
        }
        let mut last = None;
        for slot in self.money.iter_mut() {
            if slot.value >= cost {
                let m = whole(slot.value / cost).min(count);
                let amount = cost * Decimal::from(m);
                slot.value -= amount;
                ledger.add(slot.target, amount);
                count -= m;
                last = Some(slot.target);
            }
            if count == 0 || slot.blocker {
                break;
            }
        }
        if count == 0 {
            return Ok(last);
        }
        self.go_negative(cost * Decimal::from(count), ledger)
            .map(Some)
    }

    fn go_negative(
        &mut self,
        amount: Decimal,
        ledger: &mut Ledger,
    ) -> Result<Target, AccountError> {
        if !self.allow_negative {
            return Err(AccountError::InsufficientCredit);
        }
        let target = self.default_money.target;
        if let Some(slot) = self.money.iter_mut().find(|s| s.target == target) {
            slot.value -= amount;
        }
        ledger.add(target, amount);
        Ok(target)
    }

    /// Takes a rounding correction (positive: more to pay) near `last`.
    fn settle_rounding(
        &mut self,
        correction: Decimal,
        last: Option<Target>,
        ledger: &mut Ledger,
    ) -> Result<(), AccountError> {
        if correction.is_zero() {
            return Ok(());
        }
        let slot = last
            .and_then(|t| {
                self.money
                    .iter()
                    .position(|s| s.target == t && s.value >= correction)
            })
            .or_else(|| self.money.iter().position(|s| s.value >= correction));
        match slot {
            Some(i) => {
                self.money[i].value -= correction;
                ledger.add(self.money[i].target, correction);
                Ok(())
            }
            None => self.go_negative(correction, ledger).map(|_| ()),
        }
    }

    /// Works out who pays `cc`, changing only the scratch values.
    fn allocate(&mut self, cc: &CallCost, rerate: &Rerate<'_>) -> Result<Ledger, AccountError> {
        let mut ledger = Ledger::default();
        if cc.connect_fee > Decimal::ZERO {
            self.pay_money(cc.connect_fee, 1, &mut ledger)?;
        }
        for ts in &cc.timespans {
            let mut money_raw = Decimal::ZERO;
            let mut last = None;
            for inc in &ts.increments {
                let mut left = inc.compress_factor;
                let mut blocked = false;
                let mut rated: Vec<(Decimal, u64)> = Vec::new();
                for slot in self.units.iter_mut() {
                    if left == 0 {
                        break;
                    }
                    let per = match slot.free_step {
                        Some(step) => {
                            let steps = (inc.duration.num_nanoseconds().unwrap_or(0) as u128)
                                .div_ceil(step.num_nanoseconds().unwrap_or(1).max(1) as u128);
                            secs(step) * Decimal::from(steps as u64)
                        }
                        None => secs(inc.duration),
                    };
                    let m = if per.is_zero() {
                        left
                    } else {
                        whole(slot.value / per).min(left)
                    };
                    if m > 0 {
                        let used = per * Decimal::from(m);
                        slot.value -= used;
                        ledger.add(slot.target, used);
                        left -= m;
                        if let Some(subject) = &slot.rated_subject {
                            rated.push((rerate(subject, ts, inc.duration)?, m));
                        }
                    }
                    if left > 0 && slot.blocker {
                        blocked = true;
                        break;
                    }
                }
                for (cost, m) in rated {
                    money_raw += cost * Decimal::from(m);
                    if let Some(t) = self.pay_money(cost, m, &mut ledger)? {
                        last = Some(t);
                    }
                }
                if left == 0 {
                    continue;
                }
                money_raw += inc.cost * Decimal::from(left);
                if blocked {
                    last = Some(self.go_negative(inc.cost * Decimal::from(left), &mut ledger)?);
                } else if let Some(t) = self.pay_money(inc.cost, left, &mut ledger)? {
                    last = Some(t);
                }
            }
            let rating = &ts.rate_interval.rating;
            self.settle_rounding(rating.round(money_raw) - money_raw, last, &mut ledger)?;
        }
        Ok(ledger)
    }

    /// Money the balances hold (positive values only), for estimates.
    pub fn money_available(&self) -> Decimal {
        self.money.iter().map(|s| s.value.max(Decimal::ZERO)).sum()
    }

    /// Whether any unit balance may pay (estimates from money alone are then too low).
    pub fn has_units(&self) -> bool {
        self.units.iter().any(|s| s.value > Decimal::ZERO)
    }

    /// Whether these balances could pay `cc` (nothing changes).
    pub fn can_pay(&self, cc: &CallCost, rerate: &Rerate<'_>) -> bool {
        self.clone().allocate(cc, rerate).is_ok()
    }
}

fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn apply(account: &mut Account, ledger: Ledger) -> Debited {
    let mut charges = Vec::with_capacity(ledger.0.len());
    for (target, amount) in ledger.0 {
        let balance = match target {
            Target::Existing(kind, i) => match account
                .balance_map
                .get_mut(&kind)
                .and_then(|v| v.get_mut(i))
            {
                Some(b) => (kind, b),
                None => continue,
            },
            Target::NewDefault => {
                let list = account
                    .balance_map
                    .entry(BalanceType::Monetary)
                    .or_default();
                if !list.iter().any(|b| b.id == "*default") {
                    list.push(Balance::new(&new_uuid(), "*default", Decimal::ZERO));
                }
                let b = list
                    .iter_mut()
                    .find(|b| b.id == "*default")
                    .expect("just ensured");
                (BalanceType::Monetary, b)
            }
        };
        let (kind, b) = balance;
        b.value -= amount;
        charges.push(Charge {
            balance_uuid: b.uuid.clone(),
            balance_id: b.id.clone(),
            balance_type: kind,
            amount,
        });
    }
    Debited { charges }
}

/// Debits the whole of `cc` from `account`, or changes nothing.
pub fn debit_call(
    account: &mut Account,
    plan: &TariffPlan,
    call: &CallContext<'_>,
    cc: &CallCost,
    rerate: &Rerate<'_>,
) -> Result<Debited, AccountError> {
    if account.disabled {
        return Err(AccountError::AccountDisabled);
    }
    let ledger = candidates(account, plan, call).allocate(cc, rerate)?;
    Ok(apply(account, ledger))
}

/// Gives back exactly what `charges` took. A balance removed since is recreated.
pub fn refund(account: &mut Account, charges: &[Charge]) {
    for c in charges {
        match account.balance_by_uuid_mut(&c.balance_uuid) {
            Some(b) => b.value += c.amount,
            None => account.push_balance(
                c.balance_type,
                Balance::new(&c.balance_uuid, &c.balance_id, c.amount),
            ),
        }
    }
}
