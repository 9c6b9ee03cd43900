//! Account provisioning from the tariff plan: CGRateS's `Actions.csv`,
//! `ActionPlans.csv`, `ActionTriggers.csv` and `AccountActions.csv`, plus
//! tollgate's `VolumeDiscounts.csv`. Actions change an account value; the
//! engine decides when they run (on plan load for new accounts, on
//! ResetUserBudget, when a trigger's threshold is reached).

use crate::account::balance::parse_filter;
use crate::account::{Account, AccountKey, Balance, BalanceType};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use std::str::FromStr;

/// What an action does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ActionKind {
    /// Adds units to the matching balance (creating it).
    Topup,
    /// Sets the matching balance to the units (creating it).
    TopupReset,
    /// Takes units from the matching balance.
    Debit,
    /// Sets the matching balance to minus the units.
    DebitReset,
    /// Zeroes the volume-discount and received-call counters.
    ResetCounters,
    EnableAccount,
    DisableAccount,
    AllowNegative,
    DenyNegative,
    /// Writes the account to the log.
    Log,
}

impl FromStr for ActionKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "*topup" => ActionKind::Topup,
            "*topup_reset" => ActionKind::TopupReset,
            "*debit" => ActionKind::Debit,
            "*debit_reset" => ActionKind::DebitReset,
            "*reset_counters" | "*reset_counter" => ActionKind::ResetCounters,
            "*enable_account" => ActionKind::EnableAccount,
            "*disable_account" => ActionKind::DisableAccount,
            "*allow_negative" => ActionKind::AllowNegative,
            "*deny_negative" => ActionKind::DenyNegative,
            "*log" => ActionKind::Log,
            other => return Err(format!("action {other:?} is not supported (tollgate knows *topup, *topup_reset, *debit, *debit_reset, *reset_counters, *enable_account, *disable_account, *allow_negative, *deny_negative, *log)")),
        })
    }
}

/// One row of `Actions.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    pub id: String,
    pub kind: ActionKind,
    pub balance_id: String,
    pub balance_type: Option<BalanceType>,
    pub categories: String,
    pub destination_ids: String,
    pub rating_subject: String,
    pub expiry: Option<DateTime<Utc>>,
    pub units: Decimal,
    pub balance_weight: Decimal,
    pub blocker: bool,
    pub disabled: bool,
    pub weight: Decimal,
}

impl Action {
    fn matches(&self, b: &Balance) -> bool {
        if !self.balance_id.is_empty() {
            return b.id == self.balance_id;
        }
        b.destination_ids == parse_filter(&self.destination_ids)
            && b.categories == parse_filter(&self.categories)
            && b.rating_subject == self.rating_subject
    }

    fn new_balance(&self, value: Decimal) -> Balance {
        let uuid = uuid::Uuid::new_v4().to_string();
        let id = if self.balance_id.is_empty() {
            uuid.clone()
        } else {
            self.balance_id.clone()
        };
        Balance {
            uuid,
            id,
            value,
            weight: self.balance_weight,
            expiration_date: self.expiry,
            destination_ids: parse_filter(&self.destination_ids),
            categories: parse_filter(&self.categories),
            rating_subject: self.rating_subject.clone(),
            blocker: self.blocker,
            disabled: self.disabled,
        }
    }

    /// Applies the action to `account`.
    pub fn apply(&self, account: &mut Account) {
        let kind = self.balance_type.unwrap_or(BalanceType::Monetary);
        let set = |account: &mut Account, f: &dyn Fn(&mut Decimal), initial: Decimal| {
            let list = account.balance_map.entry(kind).or_default();
            match list.iter_mut().find(|b| self.matches(b)) {
                Some(b) => f(&mut b.value),
                None => list.push(self.new_balance(initial)),
            }
        };
        match self.kind {
            ActionKind::Topup => set(account, &|v| *v += self.units, self.units),
            ActionKind::TopupReset => set(account, &|v| *v = self.units, self.units),
            ActionKind::Debit => set(account, &|v| *v -= self.units, -self.units),
            ActionKind::DebitReset => set(account, &|v| *v = -self.units, -self.units),
            ActionKind::ResetCounters => account.counters = Default::default(),
            ActionKind::EnableAccount => account.disabled = false,
            ActionKind::DisableAccount => account.disabled = true,
            ActionKind::AllowNegative => account.allow_negative = true,
            ActionKind::DenyNegative => account.allow_negative = false,
            ActionKind::Log => {
                tracing::info!(account = %account.id, "tariff-plan action *log: {}", serde_json::to_string(account).unwrap_or_default())
            }
        }
    }
}

/// A set of actions scheduled by an action plan.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionTiming {
    pub actions_id: String,
    /// `*asap` (run when the account is provisioned) or a timing id.
    pub timing_id: String,
    pub weight: Decimal,
}

impl ActionTiming {
    /// Whether this entry runs at a timing's starts (not once at provisioning).
    pub fn is_timed(&self) -> bool {
        self.timing_id != "*asap" && !self.timing_id.is_empty()
    }

    /// How an account records the runs of this entry of plan `plan_id`.
    pub fn run_key(&self, plan_id: &str) -> String {
        format!("{plan_id}:{}:{}", self.actions_id, self.timing_id)
    }
}

/// What a trigger watches. tollgate knows the received-call seconds counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThresholdType {
    /// AddRecievedCallSeconds reached the value: run the actions, reset the counter.
    ReceivedCallSeconds,
}

/// One row of `ActionTriggers.csv` that tollgate acts on.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionTrigger {
    pub id: String,
    pub threshold_type: ThresholdType,
    pub threshold_value: Decimal,
    pub actions_id: String,
    pub weight: Decimal,
}

/// One row of `AccountActions.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountActions {
    pub key: AccountKey,
    pub action_plan_id: String,
    pub action_triggers_id: String,
    pub allow_negative: bool,
    pub disabled: bool,
}

/// One row of `VolumeDiscounts.csv` (tollgate's own file).
#[derive(Debug, Clone, PartialEq)]
pub struct VolumeDiscount {
    pub tenant: String,
    /// An account, or `*any`.
    pub account: String,
    pub volume_seconds: Decimal,
    pub percent: Decimal,
}
