//! Timed action plans. An `ActionPlans.csv` entry whose timing is a
//! `Timings.csv` row (not `*asap`) runs its actions on every account the
//! tariff plan's `AccountActions.csv` binds to that plan, each time the
//! timing starts, read in the plan's time zone: a timing
//! `*any,*any,1,*any,00:00:00` tops up on the first of every month.
//!
//! Each account records, per entry, the moment through which the entry
//! has been handled: when it joined the plan (see
//! [`crate::TariffPlan::enroll`]), then when the entry last ran. A check
//! runs the entry if the timing has started since that moment, and moves
//! the moment on, in the same store change as the actions: a start runs
//! once however often it is checked, across restarts and on several nodes
//! sharing a PostgreSQL store. Several starts missed while tollgate was
//! down run once. Starts before an account joined are never its own.
//! Editing a timing or the zone makes new starts: one after the last run,
//! by the timing now in force, runs.

use super::Engine;
use crate::account::{AccountError, AccountKey};
use crate::actions::ActionTiming;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How often the scheduler looks for starts that have passed.
pub const CHECK_EVERY: Duration = Duration::from_secs(30);

/// What a check did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ScheduleRun {
    /// Accounts whose actions ran.
    pub ran: usize,
    /// Accounts seen for the first time (the latest start recorded, nothing run).
    pub first_seen: usize,
}

impl Engine {
    /// Runs the timed action-plan entries whose latest start at `now` has
    /// not run yet, on every account of their plan. `done` remembers, per
    /// entry, the start every account has been brought to, so a check
    /// with nothing new touches no account. An account that fails is
    /// logged and its entry tried again at the next check.
    pub async fn run_due_actions(
        &self,
        now: DateTime<Utc>,
        done: &mut HashMap<String, DateTime<Utc>>,
    ) -> ScheduleRun {
        let plan = self.plan();
        let mut result = ScheduleRun::default();
        for (plan_id, timings) in &plan.accounts.action_plans {
            for t in timings.iter().filter(|t| t.is_timed()) {
                let Some(timing) = plan.timings.get(&t.timing_id) else {
                    continue;
                };
                let Some(start) = timing.last_start(now, plan.timezone) else {
                    continue;
                };
                let key = t.run_key(plan_id);
                if done.get(&key) == Some(&start) {
                    continue;
                }
                let mut all = true;
                for aa in plan
                    .accounts
                    .account_actions
                    .iter()
                    .filter(|aa| &aa.action_plan_id == plan_id)
                {
                    match self.run_entry(&aa.key, &key, t, start, now).await {
                        Ok(Some(true)) => result.ran += 1,
                        Ok(Some(false)) => result.first_seen += 1,
                        Ok(None) => {}
                        Err(e) => {
                            // The others go on; this entry is tried again.
                            tracing::warn!(account = %aa.key, entry = key, error = %e, "timed actions failed");
                            all = false;
                        }
                    }
                }
                if !all {
                    continue;
                }
                done.insert(key, start);
            }
        }
        result
    }

    /// Runs one account's entry if the timing started (`start`) after the
    /// moment the account has handled it through, and records `now`:
    /// Some(true) if its actions ran, Some(false) if the account had no
    /// record (it is enrolled from `now`), None if there was nothing to do
    /// (or no such account).
    async fn run_entry(
        &self,
        account: &AccountKey,
        key: &str,
        t: &ActionTiming,
        start: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<bool>, AccountError> {
        let needed = match self.store.get(account).await? {
            Some(acc) => acc
                .plan_runs
                .get(key)
                .is_none_or(|through| *through < start),
            None => false,
        };
        if !needed {
            return Ok(None);
        }
        let plan = self.plan();
        let actions = plan.accounts.actions.get(&t.actions_id);
        let reply = self
            .store
            .update(account, None, &mut |acc| {
                let Some(acc) = acc.as_mut() else {
                    return Ok(Value::Null);
                };
                let ran = match acc.plan_runs.get(key) {
                    Some(through) if *through >= start => return Ok(Value::Null),
                    Some(_) => {
                        for action in actions.into_iter().flatten() {
                            action.apply(acc);
                        }
                        true
                    }
                    None => false,
                };
                acc.plan_runs.insert(key.to_string(), now);
                Ok(Value::Bool(ran))
            })
            .await?;
        if reply == Value::Bool(true) {
            tracing::info!(%account, entry = key, %start, "timed actions ran");
        }
        Ok(reply.as_bool())
    }

    /// Checks for due timed actions every [`CHECK_EVERY`] until `shutdown`
    /// (which also cuts a check short, between two accounts' changes).
    pub async fn run_scheduler(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut done = HashMap::new();
        loop {
            tokio::select! {
                _ = self.run_due_actions(Utc::now(), &mut done) => {}
                _ = shutdown.changed() => return,
            }
            tokio::select! {
                _ = tokio::time::sleep(CHECK_EVERY) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}
