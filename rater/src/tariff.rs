//! The compiled, immutable tariff plan the cost engine reads: rates with
//! their groups, ratings (a rate plus rounding and max cost), rating plans
//! indexed by destination, and rating profiles by `tenant:category:subject`.
//!
//! A `TariffPlan` is built whole by the loader and then only read, so a
//! server can swap a new one in atomically while requests are in flight.

use crate::destinations::{DestId, Destinations};
use crate::rounding::RoundingMethod;
use crate::timing::Timing;
use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use rustc_hash::FxHashMap;
use serde::Serialize;
use std::sync::Arc;

/// One group of a rate: from `group_interval_start` of elapsed call time on,
/// `value` per `rate_unit`, charged in whole `rate_increment`s.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RateGroup {
    #[serde(with = "crate::duration::serde_nanos")]
    pub group_interval_start: TimeDelta,
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    pub value: Decimal,
    #[serde(with = "crate::duration::serde_nanos")]
    pub rate_increment: TimeDelta,
    #[serde(with = "crate::duration::serde_nanos")]
    pub rate_unit: TimeDelta,
    #[serde(skip)]
    pub connect_fee: Decimal,
}

/// A rate (`Rates.csv` rows sharing an id), groups sorted by start.
#[derive(Debug, Clone, PartialEq)]
pub struct Rate {
    pub id: String,
    pub groups: Vec<RateGroup>,
}

impl Rate {
    /// Index of the group in force at `elapsed` call time.
    pub fn group_at(&self, elapsed: TimeDelta) -> usize {
        self.groups
            .iter()
            .rposition(|g| g.group_interval_start <= elapsed)
            .unwrap_or(0)
    }
}

/// What happens once a call's cost reaches `MaxCost`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum MaxCostStrategy {
    /// Whatever is used past MaxCost costs nothing.
    #[serde(rename = "*free")]
    Free,
    /// The call may not run past the point where its cost reaches MaxCost.
    #[serde(rename = "*disconnect")]
    Disconnect,
}

impl MaxCostStrategy {
    pub fn as_str(self) -> &'static str {
        match self {
            MaxCostStrategy::Free => "*free",
            MaxCostStrategy::Disconnect => "*disconnect",
        }
    }
}

/// A cap on the cost of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxCost {
    pub amount: Decimal,
    pub strategy: MaxCostStrategy,
}

/// How a destination is charged: a `DestinationRates.csv` row with its rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Rating {
    pub destination_rate_id: String,
    pub rate: Arc<Rate>,
    pub rounding_method: RoundingMethod,
    pub rounding_decimals: u32,
    pub max_cost: Option<MaxCost>,
}

impl Rating {
    /// The connect fee, taken from the rate's first group.
    pub fn connect_fee(&self) -> Decimal {
        self.rate
            .groups
            .first()
            .map(|g| g.connect_fee)
            .unwrap_or_default()
    }

    /// Rounds a cost the way this rating says.
    pub fn round(&self, cost: Decimal) -> Decimal {
        self.rounding_method.round(cost, self.rounding_decimals)
    }
}

/// A rating valid during a timing, with a weight to settle overlaps.
#[derive(Debug, Clone, PartialEq)]
pub struct RateInterval {
    pub timing: Arc<Timing>,
    pub weight: Decimal,
    pub rating: Arc<Rating>,
}

/// A rating plan: for each destination, the rate intervals that apply.
#[derive(Debug, Clone, PartialEq)]
pub struct RatingPlan {
    pub id: String,
    pub by_destination: FxHashMap<DestId, Vec<Arc<RateInterval>>>,
    /// Intervals of destination rates whose destination is `*any`.
    pub any_destination: Vec<Arc<RateInterval>>,
    /// The text `*any`, shared by every match of `any_destination`.
    pub any_name: Arc<str>,
}

impl RatingPlan {
    /// An empty plan named `id`.
    pub fn new(id: &str) -> Self {
        RatingPlan {
            id: id.to_string(),
            by_destination: FxHashMap::default(),
            any_destination: Vec::new(),
            any_name: Arc::from("*any"),
        }
    }
}

/// The destination a plan matched for a number.
#[derive(Debug, Clone, Copy)]
pub struct DestinationMatch<'a> {
    pub prefix: &'a Arc<str>,
    pub destination: &'a Arc<str>,
    pub intervals: &'a [Arc<RateInterval>],
}

impl RatingPlan {
    /// The longest prefix of `number` this plan rates, else its `*any` rates.
    pub fn match_destination<'a>(
        &'a self,
        destinations: &'a Destinations,
        number: &str,
    ) -> Option<DestinationMatch<'a>> {
        for (prefix, ids) in destinations.matches(number) {
            for id in ids {
                if let Some(intervals) = self.by_destination.get(id) {
                    return Some(DestinationMatch {
                        prefix,
                        destination: destinations.name(*id),
                        intervals,
                    });
                }
            }
        }
        if self.any_destination.is_empty() {
            return None;
        }
        Some(DestinationMatch {
            prefix: &self.any_name,
            destination: &self.any_name,
            intervals: &self.any_destination,
        })
    }
}

/// A rating plan taking effect at `at` for a profile.
#[derive(Debug, Clone)]
pub struct Activation {
    pub at: DateTime<Utc>,
    pub plan: Arc<RatingPlan>,
    /// Subjects to try, in order, when this plan does not rate a destination.
    pub fallback_subjects: Vec<String>,
}

/// The activations of one `tenant:category:subject`, sorted by time.
#[derive(Debug, Clone, Default)]
pub struct RatingProfile {
    /// `tenant:category:subject`, as reported in `MatchedSubject`.
    pub key: Arc<str>,
    pub activations: Vec<Activation>,
}

/// One entry of a destination-rates set: a destination (none for `*any`) and its rating.
pub type DestinationRating = (Option<DestId>, Arc<Rating>);

/// A whole, compiled tariff plan.
#[derive(Debug, Clone)]
pub struct TariffPlan {
    pub destinations: Destinations,
    pub timings: FxHashMap<String, Arc<Timing>>,
    pub rates: FxHashMap<String, Arc<Rate>>,
    pub destination_rates: FxHashMap<String, Vec<DestinationRating>>,
    pub rating_plans: FxHashMap<String, Arc<RatingPlan>>,
    pub profiles: FxHashMap<String, RatingProfile>,
    /// Zone in which timings (time of day, week days, midnight) are read.
    pub timezone: Tz,
    /// Accounts the plan provisions and their budget rules.
    pub accounts: AccountPlan,
}

impl TariffPlan {
    /// A fresh account as the plan provisions it at `now`: its `*asap`
    /// actions run, and it is enrolled in its timed entries from `now`.
    pub fn provision(
        &self,
        aa: &crate::actions::AccountActions,
        now: DateTime<Utc>,
    ) -> crate::account::Account {
        let mut account = self.accounts.provision(aa);
        self.enroll(&mut account, aa, now);
        account
    }

    /// Makes the account's timed-entry records those of its action plan:
    /// an entry it already has keeps its moment, a new one starts at `now`
    /// (starts before it are not its own), one of another plan is dropped
    /// (so rejoining that plan later starts afresh). Returns whether
    /// anything changed.
    pub fn enroll(
        &self,
        account: &mut crate::account::Account,
        aa: &crate::actions::AccountActions,
        now: DateTime<Utc>,
    ) -> bool {
        let keys: std::collections::BTreeSet<String> = self
            .accounts
            .action_plans
            .get(&aa.action_plan_id)
            .into_iter()
            .flatten()
            .filter(|t| t.is_timed())
            .map(|t| t.run_key(&aa.action_plan_id))
            .collect();
        let before = account.plan_runs.len();
        account.plan_runs.retain(|k, _| keys.contains(k));
        let mut changed = account.plan_runs.len() != before;
        for key in keys {
            if let std::collections::btree_map::Entry::Vacant(new) = account.plan_runs.entry(key) {
                new.insert(now);
                changed = true;
            }
        }
        changed
    }

    /// An empty plan: every rating request fails with `RATING_PLAN_NOT_FOUND`.
    pub fn empty(timezone: Tz) -> Self {
        TariffPlan {
            destinations: Destinations::default(),
            timings: FxHashMap::default(),
            rates: FxHashMap::default(),
            destination_rates: FxHashMap::default(),
            rating_plans: FxHashMap::default(),
            profiles: FxHashMap::default(),
            timezone,
            accounts: AccountPlan::default(),
        }
    }

    /// The profile key CGRateS uses, without the obsolete direction.
    pub fn profile_key(tenant: &str, category: &str, subject: &str) -> String {
        let mut key = String::with_capacity(tenant.len() + category.len() + subject.len() + 2);
        key.push_str(tenant);
        key.push(':');
        key.push_str(category);
        key.push(':');
        key.push_str(subject);
        key
    }

    /// The rating profile of a subject, if any.
    pub fn profile(&self, tenant: &str, category: &str, subject: &str) -> Option<&RatingProfile> {
        thread_local! {
            static KEY: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
        }
        KEY.with(|key| {
            let mut key = key.borrow_mut();
            key.clear();
            key.push_str(tenant);
            key.push(':');
            key.push_str(category);
            key.push(':');
            key.push_str(subject);
            self.profiles.get(key.as_str())
        })
    }
}

/// The account part of a tariff plan: provisioning and budget rules.
#[derive(Debug, Clone, Default)]
pub struct AccountPlan {
    /// Actions by id, heaviest first.
    pub actions: FxHashMap<String, Vec<crate::actions::Action>>,
    pub action_plans: FxHashMap<String, Vec<crate::actions::ActionTiming>>,
    pub action_triggers: FxHashMap<String, Vec<crate::actions::ActionTrigger>>,
    pub account_actions: Vec<crate::actions::AccountActions>,
    pub volume_discounts: Vec<crate::actions::VolumeDiscount>,
}

impl AccountPlan {
    /// The tariff-plan provisioning of an account, if any.
    pub fn account(
        &self,
        key: &crate::account::AccountKey,
    ) -> Option<&crate::actions::AccountActions> {
        self.account_actions.iter().find(|a| &a.key == key)
    }

    /// A fresh account as the plan provisions it: flags, then every `*asap`
    /// action of its action plan, heaviest timing first.
    pub fn provision(&self, aa: &crate::actions::AccountActions) -> crate::account::Account {
        let mut account = crate::account::Account::new(&aa.key);
        account.allow_negative = aa.allow_negative;
        account.disabled = aa.disabled;
        if let Some(timings) = self.action_plans.get(&aa.action_plan_id) {
            for t in timings.iter().filter(|t| !t.is_timed()) {
                for action in self.actions.get(&t.actions_id).into_iter().flatten() {
                    action.apply(&mut account);
                }
            }
        }
        account
    }

    /// The volume discount (percent) an account has reached.
    pub fn discount(&self, key: &crate::account::AccountKey, volume: Decimal) -> Decimal {
        self.volume_discounts
            .iter()
            .filter(|d| d.tenant == key.tenant && (d.account == key.account || d.account == "*any"))
            .filter(|d| d.volume_seconds <= volume)
            .max_by(|a, b| {
                a.volume_seconds
                    .cmp(&b.volume_seconds)
                    .then(a.percent.cmp(&b.percent))
            })
            .map(|d| d.percent)
            .unwrap_or_default()
    }

    /// Received-call triggers of an account, lowest threshold first.
    pub fn received_call_triggers(
        &self,
        key: &crate::account::AccountKey,
    ) -> Vec<&crate::actions::ActionTrigger> {
        let Some(aa) = self.account(key) else {
            return vec![];
        };
        let mut out: Vec<_> = self
            .action_triggers
            .get(&aa.action_triggers_id)
            .into_iter()
            .flatten()
            .filter(|t| t.threshold_type == crate::actions::ThresholdType::ReceivedCallSeconds)
            .collect();
        out.sort_by_key(|t| t.threshold_value);
        out
    }
}
