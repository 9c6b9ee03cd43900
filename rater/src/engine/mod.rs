//! The engine the front ends and the session controller share: the current
//! tariff plan (swapped whole on reload) and the account store, with every
//! CGRateS operation as one method. Replies are the JSON CGRateS clients
//! expect; idempotent operations store that JSON so a retry gets it again.

mod apier;
mod budget;
mod calls;
mod json;
mod schedule;
pub use schedule::{ScheduleRun, CHECK_EVERY};

pub use apier::{AccountArgs, BalanceArgs};
pub use calls::{DebitReply, Origin, Shortfall};
pub use json::{account_json, account_summary, decimal as decimal_of, number};

use crate::account::{AccountError, AccountKey, MaxSessionMethod};
use crate::store::AccountStore;
use crate::tariff::TariffPlan;
use arc_swap::ArcSwap;
use std::sync::Arc;

pub struct Engine {
    plan: ArcSwap<TariffPlan>,
    store: Arc<dyn AccountStore>,
    /// GetMaxSessionTime's method when a request does not choose.
    pub max_session_method: MaxSessionMethod,
}

impl Engine {
    pub fn new(
        plan: TariffPlan,
        store: Arc<dyn AccountStore>,
        max_session_method: MaxSessionMethod,
    ) -> Self {
        Engine {
            plan: ArcSwap::from_pointee(plan),
            store,
            max_session_method,
        }
    }

    /// The plan in force; a request keeps the one it started with.
    pub fn plan(&self) -> Arc<TariffPlan> {
        self.plan.load_full()
    }

    /// The plan in force, without touching its reference count (hot paths).
    pub fn plan_guard(&self) -> arc_swap::Guard<Arc<TariffPlan>> {
        self.plan.load()
    }

    pub fn store(&self) -> &Arc<dyn AccountStore> {
        &self.store
    }

    /// Makes `plan` the plan in force, then creates the accounts it
    /// provisions that do not exist yet (existing accounts keep their
    /// balances; ResetUserBudget re-provisions one) and enrolls every
    /// account in the timed entries of its action plan (see
    /// [`TariffPlan::enroll`]). Returns how many accounts were created.
    pub async fn install_plan(&self, plan: TariffPlan) -> Result<usize, AccountError> {
        self.install_plan_at(plan, chrono::Utc::now()).await
    }

    /// [`install_plan`](Self::install_plan) as of `now` (the moment new
    /// accounts and plan members join its timed entries).
    pub async fn install_plan_at(
        &self,
        plan: TariffPlan,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<usize, AccountError> {
        let plan = Arc::new(plan);
        self.plan.store(plan.clone());
        let mut created = 0;
        for aa in &plan.accounts.account_actions {
            // Most reloads change nothing for an existing account: no write.
            if let Some(mut existing) = self.store.get(&aa.key).await? {
                if !plan.enroll(&mut existing, aa, now) {
                    continue;
                }
            }
            let reply = self
                .store
                .update(&aa.key, None, &mut |acc| match acc {
                    Some(acc) => {
                        plan.enroll(acc, aa, now);
                        Ok(serde_json::json!(false))
                    }
                    None => {
                        *acc = Some(plan.provision(aa, now));
                        Ok(serde_json::json!(true))
                    }
                })
                .await?;
            if reply == serde_json::json!(true) {
                created += 1;
            }
        }
        Ok(created)
    }

    /// Makes everything durable (shutdown).
    pub async fn flush(&self) -> Result<(), AccountError> {
        self.store.flush().await
    }
}

/// The account a descriptor bills: Account, else Subject.
pub fn account_key(cd: &crate::CallDescriptor) -> Result<AccountKey, AccountError> {
    let account = if cd.account.is_empty() {
        &cd.subject
    } else {
        &cd.account
    };
    if cd.tenant.is_empty() || account.is_empty() {
        let mut missing = vec![];
        if cd.tenant.is_empty() {
            missing.push("Tenant");
        }
        if account.is_empty() {
            missing.push("Account");
        }
        return Err(AccountError::MandatoryIeMissing(missing.join(" ")));
    }
    Ok(AccountKey::new(&cd.tenant, account))
}
