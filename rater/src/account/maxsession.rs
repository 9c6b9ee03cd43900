//! How long a call may last on an account's credit.
//!
//! `step_down` is the 2012 rule: the requested duration, then 90 %, 80 % …
//! 10 % of it, the first the account can pay in full, else 0. `exact` is
//! the longest whole-second duration the account can pay, found by binary
//! search over durations (each probe prices the call once and runs the
//! debit allocation on scratch values); it is never shorter than
//! `step_down`'s answer because every `step_down` candidate it could pay
//! is within the searched range and payability only falls as calls grow.

use super::debit::{candidates, CallContext, Candidates, Rerate};
use super::error::AccountError;
use super::model::Account;
use crate::descriptor::CallDescriptor;
use crate::tariff::TariffPlan;
use chrono::TimeDelta;
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// Which search answers GetMaxSessionTime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaxSessionMethod {
    #[default]
    StepDown,
    Exact,
}

impl FromStr for MaxSessionMethod {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "step_down" => Ok(MaxSessionMethod::StepDown),
            "exact" => Ok(MaxSessionMethod::Exact),
            other => Err(format!(
                "unknown max session method {other:?} (expected step_down or exact)"
            )),
        }
    }
}

/// Tests durations of one call against one account.
pub struct Prober<'a> {
    plan: &'a TariffPlan,
    cd: CallDescriptor,
    balances: Candidates,
    rerate: &'a Rerate<'a>,
    /// Adjusts a priced call before it is paid (volume discount).
    adjust: &'a dyn Fn(&mut crate::CallCost),
}

impl<'a> Prober<'a> {
    pub fn new(
        plan: &'a TariffPlan,
        account: &Account,
        cd: &CallDescriptor,
        rerate: &'a Rerate<'a>,
        adjust: &'a dyn Fn(&mut crate::CallCost),
    ) -> Self {
        let call = CallContext {
            category: &cd.category,
            destination: &cd.destination,
            tor: &cd.tor,
            now: cd.time_start,
        };
        Prober {
            plan,
            balances: candidates(account, plan, &call),
            cd: cd.clone(),
            rerate,
            adjust,
        }
    }

    fn price(&mut self, duration: TimeDelta) -> Result<crate::CallCost, AccountError> {
        self.cd.time_end = self.cd.time_start + duration;
        let mut cc = self.plan.get_cost(&self.cd)?;
        (self.adjust)(&mut cc);
        Ok(cc)
    }

    /// Whether the account can pay for `duration` of the call.
    pub fn can_pay(&mut self, duration: TimeDelta) -> Result<bool, AccountError> {
        let cc = self.price(duration)?;
        self.payable(&cc, duration)
    }

    fn payable(&self, cc: &crate::CallCost, duration: TimeDelta) -> Result<bool, AccountError> {
        if let Some(limit) = cc.max_cost_reached_at {
            if limit < self.cd.elapsed_at_start() + duration {
                return Ok(false);
            }
        }
        Ok(self.balances.can_pay(cc, self.rerate))
    }

    /// The 2012 rule: 100 %, 90 % … 10 % of `requested`.
    pub fn step_down(&mut self, requested: TimeDelta) -> Result<TimeDelta, AccountError> {
        let nanos = requested.num_nanoseconds().unwrap_or(i64::MAX);
        for tenths in (1..=10).rev() {
            let d = TimeDelta::nanoseconds(nanos / 10 * tenths + nanos % 10 * tenths / 10);
            if self.can_pay(d)? {
                return Ok(d);
            }
        }
        Ok(TimeDelta::zero())
    }

    /// The longest payable duration up to `requested`, to the second.
    pub fn exact(&mut self, requested: TimeDelta) -> Result<TimeDelta, AccountError> {
        if requested <= TimeDelta::zero() {
            // Still refuses an unrated destination.
            self.can_pay(TimeDelta::zero())?;
            return Ok(TimeDelta::zero());
        }
        let full = self.price(requested)?;
        if self.payable(&full, requested)? {
            return Ok(requested);
        }
        // Invariant: lo is payable (0 always is), hi is not.
        let whole = requested.num_seconds();
        let (mut lo, mut hi) = (0i64, whole);
        // Money-only accounts: where the money runs out along the priced
        // call is almost always the answer; two probes confirm it.
        if !self.balances.has_units() {
            let guess = estimate(&full, self.balances.money_available())
                .num_seconds()
                .clamp(0, whole);
            if guess < whole && self.can_pay(TimeDelta::seconds(guess))? {
                if !self.can_pay(TimeDelta::seconds(guess + 1))? {
                    return Ok(TimeDelta::seconds(guess));
                }
                lo = guess + 1;
            } else if guess > 0 {
                hi = guess.min(hi);
            }
        }
        if TimeDelta::seconds(whole) < requested && hi == whole {
            // `requested` has a fraction: its whole seconds are still untested.
            if self.can_pay(TimeDelta::seconds(whole))? {
                return Ok(TimeDelta::seconds(whole));
            }
        }
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.can_pay(TimeDelta::seconds(mid))? {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Ok(TimeDelta::seconds(lo))
    }

    pub fn run(
        &mut self,
        method: MaxSessionMethod,
        requested: TimeDelta,
    ) -> Result<TimeDelta, AccountError> {
        match method {
            MaxSessionMethod::StepDown => self.step_down(requested),
            MaxSessionMethod::Exact => self.exact(requested),
        }
    }
}

/// How far along a priced call `money` lasts, paying increments in order
/// (connect fee first). Ignores how money is split across balances and
/// per-span rounding; callers verify the answer.
fn estimate(cc: &crate::CallCost, money: rust_decimal::Decimal) -> TimeDelta {
    use rust_decimal::prelude::ToPrimitive;
    let mut budget = money - cc.connect_fee;
    let mut elapsed = TimeDelta::zero();
    if budget < rust_decimal::Decimal::ZERO {
        return elapsed;
    }
    for ts in &cc.timespans {
        for inc in &ts.increments {
            let affordable = if inc.cost.is_zero() {
                inc.compress_factor
            } else {
                (budget / inc.cost)
                    .floor()
                    .to_u64()
                    .unwrap_or(0)
                    .min(inc.compress_factor)
            };
            budget -= inc.cost * rust_decimal::Decimal::from(affordable);
            elapsed += inc.duration * affordable as i32;
            if affordable < inc.compress_factor {
                return elapsed;
            }
        }
    }
    elapsed
}
