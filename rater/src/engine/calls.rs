//! Debit, MaxDebit, RefundIncrements and GetMaxSessionTime over the store.

use super::json::{account_summary, decimal};
use super::{account_key, Engine};
use crate::account::{ops, AccountError, AccountKey, Charge, MaxSessionMethod};
use crate::descriptor::CallDescriptor;
use chrono::TimeDelta;
use rust_decimal::Decimal;
use serde_json::Value;

/// Who a debit belongs to, for idempotency: CGRateS `CgrID` (or
/// `OriginID` with its `OriginHost`) and `RunID`, and for a session's
/// debits the step of the call they pay for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub cgr_id: String,
    pub run_id: String,
    /// A session's step: its interval debits are numbered from 0 (the
    /// authorization's reservation), and its settlement is one step of its
    /// own kind. The same step of the same call is the same request,
    /// whatever else changed after a restart (a later elapsed time, an
    /// estimated usage). `None` (API requests): the call's loop and
    /// duration index name the request, as in CGRateS.
    pub step: Option<u32>,
}

impl Origin {
    /// The op id of one request, scoped by the account it changes: the
    /// same origin, run and step is the same request retried.
    fn op(&self, kind: &str, key: &AccountKey, cd: &CallDescriptor) -> Option<String> {
        if self.cgr_id.is_empty() {
            return None;
        }
        let run = if self.run_id.is_empty() {
            "*default"
        } else {
            &self.run_id
        };
        let step = match self.step {
            Some(step) => step.to_string(),
            None => format!(
                "{}:{}",
                cd.loop_index,
                cd.duration_index.num_nanoseconds().unwrap_or(0)
            ),
        };
        Some(format!("{kind}:{key}:{}:{run}:{step}", self.cgr_id))
    }
}

/// A debit's reply: the CGRateS CallCost JSON (with `AccountSummary` and
/// tollgate's `Charges`) and the numbers a caller in process needs.
#[derive(Debug, Clone, PartialEq)]
pub struct DebitReply {
    pub json: Value,
    pub cost: Decimal,
    pub usage: TimeDelta,
    pub charges: Vec<Charge>,
    /// Interval debits that covered their interval: how much longer the
    /// credit left lasts for the rest of the call (JSON `More`, ns).
    pub more: Option<TimeDelta>,
}

impl DebitReply {
    fn from_json(json: Value) -> Result<Self, AccountError> {
        let bad = || AccountError::Store("unreadable debit reply".into());
        let cost = decimal(&json["Cost"]).ok_or_else(bad)?;
        let usage = TimeDelta::nanoseconds(json["RatedUsage"].as_i64().ok_or_else(bad)?);
        // Read in place (a `&Value` is a deserializer): no copy of the tree.
        let charges = serde::Deserialize::deserialize(&json["Charges"]).map_err(|_| bad())?;
        let more = json["More"].as_i64().map(TimeDelta::nanoseconds);
        Ok(DebitReply {
            json,
            cost,
            usage,
            charges,
            more,
        })
    }

    fn build(
        result: &ops::CallDebit,
        account: &crate::account::Account,
        shape: Shape,
    ) -> Result<Value, AccountError> {
        let mut json = match shape {
            Shape::CallCost => {
                let mut json = serde_json::to_value(&result.cost)
                    .map_err(|e| AccountError::Store(e.to_string()))?;
                json["AccountSummary"] = account_summary(account);
                json
            }
            Shape::Lean | Shape::Interval(_) => serde_json::json!({
                "Cost": super::json::number(result.cost.cost),
                "RatedUsage": result.cost.rated_usage.num_nanoseconds().unwrap_or(0),
                "Money": super::json::number(account.total(crate::account::BalanceType::Monetary)),
            }),
        };
        json["Charges"] = serde_json::to_value(&result.debited.charges)
            .map_err(|e| AccountError::Store(e.to_string()))?;
        Ok(json)
    }
}

/// How much of a debit the reply (and its idempotency record) keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// The whole CGRateS CallCost, for API clients.
    CallCost,
    /// Cost, usage, charges and the money left: what the session
    /// controller needs, a fraction of the memory per interval debit.
    Lean,
    /// Lean, plus (`More`) how much of the call's following piece, of
    /// this length, the credit left covers: a session's interval debit.
    Interval(TimeDelta),
}

impl Engine {
    async fn debit_with(
        &self,
        kind: &'static str,
        cd: &CallDescriptor,
        origin: &Origin,
        dry_run: bool,
        shape: Shape,
        run: fn(
            &crate::TariffPlan,
            &mut crate::account::Account,
            &CallDescriptor,
            Decimal,
        ) -> Result<ops::CallDebit, AccountError>,
    ) -> Result<DebitReply, AccountError> {
        let plan = self.plan();
        let key = account_key(cd)?;
        let mut apply = |acc: &mut Option<crate::account::Account>| {
            let acc = acc.as_mut().ok_or(AccountError::AccountNotFound)?;
            let discount = plan
                .accounts
                .discount(&key, acc.counters.volume_discount_seconds);
            let result = run(&plan, acc, cd, discount)?;
            let mut json = DebitReply::build(&result, acc, shape)?;
            let rest = match shape {
                Shape::Interval(rest) if rest > TimeDelta::zero() => Some(rest),
                _ => None,
            };
            if let Some(rest) = rest.filter(|_| result.cost.rated_usage >= cd.duration()) {
                // On the account as this debit leaves it, in the same change:
                // no second read, and no other call's debit in between.
                let discount = plan
                    .accounts
                    .discount(&key, acc.counters.volume_discount_seconds);
                let next = continuation(cd, rest);
                if let Ok(more) =
                    ops::max_session_time(&plan, acc, &next, MaxSessionMethod::Exact, discount)
                {
                    json["More"] = more.num_nanoseconds().unwrap_or(i64::MAX).into();
                }
            }
            Ok(json)
        };
        let json = if dry_run {
            let mut acc = self.store.get(&key).await?;
            apply(&mut acc)?
        } else {
            let op = origin.op(kind, &key, cd);
            self.store.update(&key, op.as_deref(), &mut apply).await?
        };
        DebitReply::from_json(json)
    }

    /// Responder.Debit: the whole call, or INSUFFICIENT_CREDIT and nothing.
    pub async fn debit(
        &self,
        cd: &CallDescriptor,
        origin: &Origin,
        dry_run: bool,
    ) -> Result<DebitReply, AccountError> {
        self.debit_with("debit", cd, origin, dry_run, Shape::CallCost, ops::debit)
            .await
    }

    /// Responder.MaxDebit: as much of the call as the credit covers.
    pub async fn max_debit(
        &self,
        cd: &CallDescriptor,
        origin: &Origin,
        dry_run: bool,
    ) -> Result<DebitReply, AccountError> {
        self.debit_with(
            "maxdebit",
            cd,
            origin,
            dry_run,
            Shape::CallCost,
            ops::max_debit,
        )
        .await
    }

    /// A session's interval debit: MaxDebit with a lean reply (cost, usage,
    /// charges, money left) kept for idempotency. When the interval is
    /// covered whole, the reply also says how much of the following `rest`
    /// of the call the credit left covers (`more`), worked out in the same
    /// store change.
    pub async fn interval_debit(
        &self,
        cd: &CallDescriptor,
        origin: &Origin,
        rest: TimeDelta,
    ) -> Result<DebitReply, AccountError> {
        self.debit_with(
            "interval",
            cd,
            origin,
            false,
            Shape::Interval(rest),
            ops::max_debit,
        )
        .await
    }

    /// Responder.RefundIncrements: gives back what a debit's charges took.
    pub async fn refund(
        &self,
        cd: &CallDescriptor,
        charges: &[Charge],
        origin: &Origin,
    ) -> Result<Value, AccountError> {
        let key = account_key(cd)?;
        let op = origin.op("refund", &key, cd);
        self.store
            .update(&key, op.as_deref(), &mut |acc| {
                let acc = acc.as_mut().ok_or(AccountError::AccountNotFound)?;
                ops::refund_charges(acc, charges);
                Ok(serde_json::json!({ "AccountSummary": account_summary(acc) }))
            })
            .await
    }

    /// Responder.GetMaxSessionTime: how long the call may last, up to its duration.
    pub async fn max_session_time(
        &self,
        cd: &CallDescriptor,
        method: Option<MaxSessionMethod>,
    ) -> Result<TimeDelta, AccountError> {
        let plan = self.plan();
        let key = account_key(cd)?;
        let account = self
            .store
            .get(&key)
            .await?
            .ok_or(AccountError::AccountNotFound)?;
        let discount = plan
            .accounts
            .discount(&key, account.counters.volume_discount_seconds);
        ops::max_session_time(
            &plan,
            &account,
            cd,
            method.unwrap_or(self.max_session_method),
            discount,
        )
    }
}

/// The piece of a call that follows `cd` and lasts `rest`: no connect
/// fee (not the first piece), rate groups continuing from `cd`'s end.
fn continuation(cd: &CallDescriptor, rest: TimeDelta) -> CallDescriptor {
    let mut next = cd.clone();
    next.time_start = cd.time_end;
    next.time_end = cd.time_end + rest;
    next.loop_index = cd.loop_index.saturating_add(1);
    next.duration_index = cd.elapsed_at_start() + cd.duration() + rest;
    next
}

/// How a call's final debit treats a shortfall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shortfall {
    /// Take what the credit covers and report the rest unpaid (prepaid).
    TakeWhatCovers,
    /// Bill it all, below zero if need be (postpaid).
    Force,
}

impl Engine {
    /// Ends a call in one atomic change: gives back everything its interval
    /// debits took (`advance`) and debits the real call whole, so the
    /// account pays exactly the real cost. Idempotent by `origin`. The
    /// reply's JSON carries `"Unpaid": true` when the credit fell short.
    pub async fn settle(
        &self,
        cd: &CallDescriptor,
        advance: &[Charge],
        origin: &Origin,
        shortfall: Shortfall,
    ) -> Result<DebitReply, AccountError> {
        let plan = self.plan();
        let key = account_key(cd)?;
        let op = origin.op("settle", &key, cd);
        let json = self
            .store
            .update(&key, op.as_deref(), &mut |acc| {
                let acc = acc.as_mut().ok_or(AccountError::AccountNotFound)?;
                ops::refund_charges(acc, advance);
                let discount = plan
                    .accounts
                    .discount(&key, acc.counters.volume_discount_seconds);
                let (result, unpaid) = match ops::debit(&plan, acc, cd, discount) {
                    Ok(r) => (r, false),
                    Err(AccountError::InsufficientCredit) if shortfall == Shortfall::Force => {
                        let allow = acc.allow_negative;
                        acc.allow_negative = true;
                        let r = ops::debit(&plan, acc, cd, discount);
                        acc.allow_negative = allow;
                        (r?, false)
                    }
                    Err(AccountError::InsufficientCredit) => {
                        (ops::max_debit(&plan, acc, cd, discount)?, true)
                    }
                    Err(e) => return Err(e),
                };
                let mut json = DebitReply::build(&result, acc, Shape::Lean)?;
                json["Unpaid"] = Value::Bool(unpaid);
                Ok(json)
            })
            .await?;
        DebitReply::from_json(json)
    }
}
