//! Account operations on a rated call: Debit, MaxDebit, RefundIncrements
//! and GetMaxSessionTime, each a pure function of (plan, account, call)
//! that either changes the account whole or not at all. The store decides
//! when the change is durable; these functions never do I/O.

use super::debit::{debit_call, refund, CallContext, Charge, Debited, Rerate};
use super::error::AccountError;
use super::maxsession::{MaxSessionMethod, Prober};
use super::model::Account;
use crate::callcost::CallCost;
use crate::descriptor::CallDescriptor;
use crate::tariff::TariffPlan;
use chrono::TimeDelta;
use rust_decimal::Decimal;

/// A call's price and who paid it.
#[derive(Debug, Clone, PartialEq)]
pub struct CallDebit {
    pub cost: CallCost,
    pub debited: Debited,
}

/// Prices spans of a call at `subject`'s rates, for unit balances with a rating subject.
pub fn rerate_for<'a>(
    plan: &'a TariffPlan,
    cd: &'a CallDescriptor,
) -> impl Fn(&str, &crate::Timespan, TimeDelta) -> Result<Decimal, AccountError> + 'a {
    move |subject, ts, duration| {
        let mut sub = cd.clone();
        sub.subject = subject.to_string();
        sub.time_start = ts.time_start;
        sub.time_end = ts.time_start + duration;
        sub.loop_index = 1;
        sub.duration_index = ts.duration_index - ts.duration() + duration;
        Ok(plan.get_cost(&sub)?.unrounded_cost)
    }
}

/// Scales every cost of a priced call by `(100 - percent) / 100`, re-rounding each span.
pub fn apply_discount(cc: &mut CallCost, percent: Decimal) {
    if percent.is_zero() {
        return;
    }
    let factor = (Decimal::ONE_HUNDRED - percent.min(Decimal::ONE_HUNDRED)) / Decimal::ONE_HUNDRED;
    let mut total = cc.connect_fee * factor;
    cc.connect_fee *= factor;
    cc.unrounded_cost = cc.connect_fee;
    for ts in &mut cc.timespans {
        for inc in &mut ts.increments {
            inc.cost *= factor;
        }
        ts.unrounded_cost *= factor;
        ts.cost = ts.rate_interval.rating.round(ts.unrounded_cost);
        cc.unrounded_cost += ts.unrounded_cost;
        total += ts.cost;
    }
    cc.cost = total.normalize();
}

fn context(cd: &CallDescriptor) -> CallContext<'_> {
    CallContext {
        category: &cd.category,
        destination: &cd.destination,
        tor: &cd.tor,
        now: cd.time_start,
    }
}

/// Debits the whole call or fails with `INSUFFICIENT_CREDIT`, changing nothing.
pub fn debit(
    plan: &TariffPlan,
    account: &mut Account,
    cd: &CallDescriptor,
    discount: Decimal,
) -> Result<CallDebit, AccountError> {
    if account.disabled {
        return Err(AccountError::AccountDisabled);
    }
    // Nothing used, nothing to rate: CGRateS answers a zero-usage debit
    // with an empty cost, whatever the destination.
    if cd.duration().is_zero() {
        return Ok(CallDebit {
            cost: CallCost::empty(cd),
            debited: Debited::default(),
        });
    }
    let mut cost = plan.get_cost(cd)?;
    apply_discount(&mut cost, discount);
    let rerate = rerate_for(plan, cd);
    let debited = debit_call(account, plan, &context(cd), &cost, &rerate)?;
    Ok(CallDebit { cost, debited })
}

/// The longest duration up to the descriptor's that `account` can pay.
pub fn max_session_time(
    plan: &TariffPlan,
    account: &Account,
    cd: &CallDescriptor,
    method: MaxSessionMethod,
    discount: Decimal,
) -> Result<TimeDelta, AccountError> {
    if account.disabled {
        return Err(AccountError::AccountDisabled);
    }
    let rerate = rerate_for(plan, cd);
    let adjust = move |cc: &mut CallCost| apply_discount(cc, discount);
    let rerate: &Rerate<'_> = &rerate;
    Prober::new(plan, account, cd, rerate, &adjust).run(method, cd.duration())
}

/// Debits as much of the call as the account can pay (possibly nothing).
pub fn max_debit(
    plan: &TariffPlan,
    account: &mut Account,
    cd: &CallDescriptor,
    discount: Decimal,
) -> Result<CallDebit, AccountError> {
    let allowed = max_session_time(plan, account, cd, MaxSessionMethod::Exact, discount)?;
    let mut part = cd.clone();
    if allowed < cd.duration() {
        part.time_end = part.time_start + allowed;
        part.duration_index = cd.elapsed_at_start() + allowed;
    }
    debit(plan, account, &part, discount)
}

/// Gives back what an earlier debit took.
pub fn refund_charges(account: &mut Account, charges: &[Charge]) {
    refund(account, charges)
}
