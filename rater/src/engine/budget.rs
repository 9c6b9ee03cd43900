//! The 2012 budget calls: DebitBalance (money), DebitSMS, DebitSeconds,
//! the volume-discount counter, the received-call bonus and ResetUserBudget.
//! Each answers with the remaining total of the balance type it touched
//! (or the counter), a number.

use super::json::number;
use super::{account_key, Engine};
use crate::account::{Account, AccountError, Balance, BalanceType};
use crate::descriptor::CallDescriptor;
use rust_decimal::Decimal;
use serde_json::Value;

/// Takes `amount` of `kind` from the balances that may pay for the call
/// (weight order, split across balances); a negative amount adds it.
fn take_units(
    account: &mut Account,
    plan: &crate::TariffPlan,
    cd: &CallDescriptor,
    kind: BalanceType,
    amount: Decimal,
) -> Result<(), AccountError> {
    if account.disabled {
        return Err(AccountError::AccountDisabled);
    }
    let default_id = if kind == BalanceType::Monetary {
        "*default"
    } else {
        kind.as_str()
    };
    if amount <= Decimal::ZERO {
        let list = account.balance_map.entry(kind).or_default();
        match list.iter_mut().find(|b| b.id == default_id) {
            Some(b) => b.value -= amount,
            None => list.push(Balance::new(
                &uuid::Uuid::new_v4().to_string(),
                default_id,
                -amount,
            )),
        }
        return Ok(());
    }
    let now = cd.time_start;
    let mut order: Vec<(usize, Decimal)> = account
        .balances(kind)
        .iter()
        .enumerate()
        .filter(|(_, b)| !b.disabled && !b.is_expired_at(now) && b.matches_category(&cd.category))
        .filter(|(_, b)| {
            cd.destination.is_empty()
                || b.destination_precision(&plan.destinations, &cd.destination)
                    .is_some()
        })
        .map(|(i, b)| (i, b.weight))
        .collect();
    order.sort_by_key(|o| std::cmp::Reverse(o.1));
    let available: Decimal = order
        .iter()
        .map(|(i, _)| account.balances(kind)[*i].value.max(Decimal::ZERO))
        .sum();
    if available < amount && !account.allow_negative {
        return Err(AccountError::InsufficientCredit);
    }
    let list = account.balance_map.entry(kind).or_default();
    let mut left = amount;
    for (i, _) in &order {
        let b = &mut list[*i];
        let take = left.min(b.value.max(Decimal::ZERO));
        b.value -= take;
        left -= take;
    }
    if left > Decimal::ZERO {
        match order.first() {
            Some((i, _)) => list[*i].value -= left,
            None => list.push(Balance::new(
                &uuid::Uuid::new_v4().to_string(),
                default_id,
                -left,
            )),
        }
    }
    Ok(())
}

impl Engine {
    async fn budget(
        &self,
        cd: &CallDescriptor,
        f: &mut (dyn FnMut(&crate::TariffPlan, &mut Account) -> Result<Value, AccountError> + Send),
    ) -> Result<Value, AccountError> {
        let plan = self.plan();
        let key = account_key(cd)?;
        self.store
            .update(&key, None, &mut |acc| {
                let acc = acc.as_mut().ok_or(AccountError::AccountNotFound)?;
                f(&plan, acc)
            })
            .await
    }

    fn amount(cd_amount: Option<Decimal>) -> Result<Decimal, AccountError> {
        cd_amount.ok_or_else(|| AccountError::MandatoryIeMissing("Amount".into()))
    }

    /// Takes `amount` of a balance type; answers the remaining total.
    pub async fn debit_units(
        &self,
        cd: &CallDescriptor,
        kind: BalanceType,
        amount: Option<Decimal>,
    ) -> Result<Value, AccountError> {
        let amount = Self::amount(amount)?;
        self.budget(cd, &mut |plan, acc| {
            take_units(acc, plan, cd, kind, amount)?;
            Ok(number(acc.total(kind)))
        })
        .await
    }

    /// Adds placed-call seconds to the volume-discount counter; answers the counter.
    pub async fn add_volume_discount_seconds(
        &self,
        cd: &CallDescriptor,
        amount: Option<Decimal>,
    ) -> Result<Value, AccountError> {
        let amount = Self::amount(amount)?;
        self.budget(cd, &mut |_, acc| {
            acc.counters.volume_discount_seconds += amount;
            Ok(number(acc.counters.volume_discount_seconds))
        })
        .await
    }

    pub async fn reset_volume_discount_seconds(
        &self,
        cd: &CallDescriptor,
    ) -> Result<Value, AccountError> {
        self.budget(cd, &mut |_, acc| {
            acc.counters.volume_discount_seconds = Decimal::ZERO;
            Ok(number(Decimal::ZERO))
        })
        .await
    }

    /// Adds received-call seconds; when a `*received_call_seconds` trigger's
    /// threshold is reached, runs its actions (the bonus) and resets the
    /// counter. Answers the counter.
    pub async fn add_received_call_seconds(
        &self,
        cd: &CallDescriptor,
        amount: Option<Decimal>,
    ) -> Result<Value, AccountError> {
        let amount = Self::amount(amount)?;
        let key = account_key(cd)?;
        self.budget(cd, &mut |plan, acc| {
            acc.counters.received_call_seconds += amount;
            let reached = plan
                .accounts
                .received_call_triggers(&key)
                .into_iter()
                .filter(|t| acc.counters.received_call_seconds >= t.threshold_value)
                .max_by(|a, b| a.threshold_value.cmp(&b.threshold_value));
            if let Some(trigger) = reached {
                for action in plan
                    .accounts
                    .actions
                    .get(&trigger.actions_id)
                    .into_iter()
                    .flatten()
                {
                    action.apply(acc);
                }
                acc.counters.received_call_seconds = Decimal::ZERO;
            }
            Ok(number(acc.counters.received_call_seconds))
        })
        .await
    }

    /// Balances back to what the tariff plan gives the account (counters kept).
    pub async fn reset_user_budget(&self, cd: &CallDescriptor) -> Result<Value, AccountError> {
        let key = account_key(cd)?;
        self.budget(cd, &mut |plan, acc| {
            let aa = plan.accounts.account(&key).ok_or(AccountError::NotFound)?;
            let fresh = plan.accounts.provision(aa);
            acc.balance_map = fresh.balance_map;
            Ok(Value::String("OK".into()))
        })
        .await
    }
}
