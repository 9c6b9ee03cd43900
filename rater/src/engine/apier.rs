//! The APIer balance and account calls: SetBalance, AddBalance,
//! DebitBalance, SetAccount, RemoveAccount, GetAccount, GetAccounts.

use super::json::account_json;
use super::Engine;
use crate::account::balance::parse_filter;
use crate::account::{Account, AccountError, AccountKey, Balance, BalanceType};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::Value;

/// A balance request; `None` leaves a field as it is (or at its default on creation).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BalanceArgs {
    pub tenant: String,
    pub account: String,
    pub balance_type: Option<BalanceType>,
    pub uuid: Option<String>,
    pub id: Option<String>,
    pub value: Option<Decimal>,
    pub expiry: Option<DateTime<Utc>>,
    pub rating_subject: Option<String>,
    /// `A;B`.
    pub categories: Option<String>,
    /// `A;B;!C`.
    pub destination_ids: Option<String>,
    pub weight: Option<Decimal>,
    pub blocker: Option<bool>,
    pub disabled: Option<bool>,
    /// AddBalance: set the value instead of adding to it.
    pub overwrite: bool,
}

/// A SetAccount request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountArgs {
    pub tenant: String,
    pub account: String,
    pub allow_negative: Option<bool>,
    pub disabled: Option<bool>,
    /// Actions of this plan run when the account is created.
    pub action_plan_id: Option<String>,
}

fn key_of(tenant: &str, account: &str) -> Result<AccountKey, AccountError> {
    let mut missing = vec![];
    if tenant.is_empty() {
        missing.push("Tenant");
    }
    if account.is_empty() {
        missing.push("Account");
    }
    if !missing.is_empty() {
        return Err(AccountError::MandatoryIeMissing(missing.join(" ")));
    }
    Ok(AccountKey::new(tenant, account))
}

enum Mode {
    Set,
    Add,
    Debit,
}

impl BalanceArgs {
    fn update_attributes(&self, b: &mut Balance) {
        if let Some(e) = self.expiry {
            b.expiration_date = Some(e);
        }
        if let Some(s) = &self.rating_subject {
            b.rating_subject = s.clone();
        }
        if let Some(c) = &self.categories {
            b.categories = parse_filter(c);
        }
        if let Some(d) = &self.destination_ids {
            b.destination_ids = parse_filter(d);
        }
        if let Some(w) = self.weight {
            b.weight = w;
        }
        if let Some(x) = self.blocker {
            b.blocker = x;
        }
        if let Some(x) = self.disabled {
            b.disabled = x;
        }
    }

    fn apply(&self, account: &mut Account, mode: Mode) -> Result<(), AccountError> {
        let value = self
            .value
            .ok_or_else(|| AccountError::MandatoryIeMissing("Value".into()))?;
        let kind = self.balance_type.unwrap_or(BalanceType::Monetary);
        let allow_negative = account.allow_negative;
        let list = account.balance_map.entry(kind).or_default();
        let found = list.iter_mut().find(|b| {
            self.uuid
                .as_deref()
                .is_some_and(|u| !u.is_empty() && b.uuid == u)
                || self
                    .id
                    .as_deref()
                    .is_some_and(|i| !i.is_empty() && b.id == i)
        });
        let balance = match found {
            Some(b) => b,
            None => {
                let uuid = self
                    .uuid
                    .clone()
                    .filter(|u| !u.is_empty())
                    .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
                let id = self
                    .id
                    .clone()
                    .filter(|i| !i.is_empty())
                    .unwrap_or_else(|| uuid.clone());
                list.push(Balance::new(&uuid, &id, Decimal::ZERO));
                list.last_mut().expect("just pushed")
            }
        };
        let next = match mode {
            Mode::Set => value,
            Mode::Add if self.overwrite => value,
            Mode::Add => balance.value + value,
            Mode::Debit => balance.value - value,
        };
        if matches!(mode, Mode::Debit) && next < Decimal::ZERO && !allow_negative {
            return Err(AccountError::InsufficientCredit);
        }
        balance.value = next;
        self.update_attributes(balance);
        Ok(())
    }
}

impl Engine {
    async fn change_balance(
        &self,
        args: &BalanceArgs,
        mode: fn() -> Mode,
    ) -> Result<Value, AccountError> {
        let key = key_of(&args.tenant, &args.account)?;
        self.store
            .update(&key, None, &mut |acc| {
                let account = acc.get_or_insert_with(|| Account::new(&key));
                args.apply(account, mode())?;
                Ok(Value::String("OK".into()))
            })
            .await
    }

    /// APIerSv1.SetBalance: sets the value (creating balance and account as needed).
    pub async fn set_balance(&self, args: &BalanceArgs) -> Result<Value, AccountError> {
        self.change_balance(args, || Mode::Set).await
    }

    /// APIerSv1.AddBalance: adds to the value (or sets it with Overwrite).
    pub async fn add_balance(&self, args: &BalanceArgs) -> Result<Value, AccountError> {
        self.change_balance(args, || Mode::Add).await
    }

    /// APIerSv1.DebitBalance: takes from the value; below zero only if the account allows negative.
    pub async fn debit_balance(&self, args: &BalanceArgs) -> Result<Value, AccountError> {
        self.change_balance(args, || Mode::Debit).await
    }

    /// APIerSv1.SetAccount: creates or updates an account's flags.
    pub async fn set_account(&self, args: &AccountArgs) -> Result<Value, AccountError> {
        let key = key_of(&args.tenant, &args.account)?;
        let plan = self.plan();
        let actions = match args.action_plan_id.as_deref().filter(|p| !p.is_empty()) {
            Some(id) => Some(
                plan.accounts
                    .action_plans
                    .get(id)
                    .ok_or(AccountError::NotFound)?,
            ),
            None => None,
        };
        self.store
            .update(&key, None, &mut |acc| {
                let created = acc.is_none();
                let account = acc.get_or_insert_with(|| Account::new(&key));
                if let Some(x) = args.allow_negative {
                    account.allow_negative = x;
                }
                if let Some(x) = args.disabled {
                    account.disabled = x;
                }
                if created {
                    for t in actions.into_iter().flatten().filter(|t| !t.is_timed()) {
                        for action in plan
                            .accounts
                            .actions
                            .get(&t.actions_id)
                            .into_iter()
                            .flatten()
                        {
                            action.apply(account);
                        }
                    }
                }
                Ok(Value::String("OK".into()))
            })
            .await
    }

    /// APIerSv1.RemoveAccount.
    pub async fn remove_account(&self, tenant: &str, account: &str) -> Result<Value, AccountError> {
        let key = key_of(tenant, account)?;
        self.store
            .update(&key, None, &mut |acc| {
                if acc.take().is_none() {
                    return Err(AccountError::NotFound);
                }
                Ok(Value::String("OK".into()))
            })
            .await
    }

    /// APIerSv1/2.GetAccount: the account in CGRateS's shape.
    pub async fn get_account(&self, tenant: &str, account: &str) -> Result<Value, AccountError> {
        let key = key_of(tenant, account)?;
        let account = self.store.get(&key).await?.ok_or(AccountError::NotFound)?;
        Ok(account_json(&account))
    }

    /// APIerSv2.GetAccounts: a page of a tenant's accounts.
    pub async fn get_accounts(
        &self,
        tenant: &str,
        ids: Option<&[String]>,
        offset: usize,
        limit: Option<usize>,
    ) -> Result<Value, AccountError> {
        if tenant.is_empty() {
            return Err(AccountError::MandatoryIeMissing("Tenant".into()));
        }
        let accounts = self.store.list(tenant, ids, offset, limit).await?;
        Ok(Value::Array(accounts.iter().map(account_json).collect()))
    }
}
