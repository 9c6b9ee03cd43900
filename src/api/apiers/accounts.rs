//! Accounts: `APIerSv1.SetAccount`, `RemoveAccount`, `GetAccount` and
//! `APIerSv2.GetAccount`, `GetAccounts` (`Tenant`, `AccountIDs`, `Offset`,
//! `Limit`), answering accounts with CGRateS's `BalanceMap`.

use crate::rpc::{ApiError, Params, RegistryBuilder};
use rater::engine::AccountArgs;

pub fn register(r: &mut RegistryBuilder) {
    r.asynchronous(
        &[
            "APIerSv1.SetAccount",
            "ApierV1.SetAccount",
            "APIerSv2.SetAccount",
            "ApierV2.SetAccount",
        ],
        |state, raw| async move {
            let obj = Params::new(&raw).obj("AttrSetAccount")?;
            obj.require(&["Tenant", "Account"])?;
            let extra = obj.obj("ExtraOptions", "ExtraOptions")?;
            let flag = |name: &str| -> Result<Option<bool>, ApiError> {
                match obj.bool(name)? {
                    Some(v) => Ok(Some(v)),
                    None => match &extra {
                        Some(e) => e.bool(name),
                        None => Ok(None),
                    },
                }
            };
            let args = AccountArgs {
                tenant: obj.string("Tenant")?,
                account: obj.string("Account")?,
                allow_negative: flag("AllowNegative")?,
                disabled: flag("Disabled")?,
                action_plan_id: obj.str("ActionPlanID")?,
            };
            state
                .engine
                .set_account(&args)
                .await
                .map_err(ApiError::from_words)
        },
    );
    r.asynchronous(
        &["APIerSv1.RemoveAccount", "ApierV1.RemoveAccount"],
        |state, raw| async move {
            let obj = Params::new(&raw).obj("AttrRemoveAccount")?;
            obj.require(&["Tenant", "Account"])?;
            state
                .engine
                .remove_account(&obj.string("Tenant")?, &obj.string("Account")?)
                .await
                .map_err(ApiError::from_words)
        },
    );
    r.asynchronous(
        &[
            "APIerSv1.GetAccount",
            "ApierV1.GetAccount",
            "APIerSv2.GetAccount",
            "ApierV2.GetAccount",
        ],
        |state, raw| async move {
            let obj = Params::new(&raw).obj("AttrGetAccount")?;
            obj.require(&["Tenant", "Account"])?;
            state
                .engine
                .get_account(&obj.string("Tenant")?, &obj.string("Account")?)
                .await
                .map_err(ApiError::from_words)
        },
    );
    r.asynchronous(
        &[
            "APIerSv2.GetAccounts",
            "ApierV2.GetAccounts",
            "APIerSv1.GetAccounts",
        ],
        |state, raw| async move {
            let obj = Params::new(&raw).obj("AttrGetAccounts")?;
            obj.require(&["Tenant"])?;
            let ids = obj.strings("AccountIDs")?;
            let offset = obj.i64("Offset")?.unwrap_or(0).max(0) as usize;
            let limit = obj.i64("Limit")?.filter(|l| *l > 0).map(|l| l as usize);
            let ids = (!ids.is_empty()).then_some(ids);
            state
                .engine
                .get_accounts(&obj.string("Tenant")?, ids.as_deref(), offset, limit)
                .await
                .map_err(ApiError::from_words)
        },
    );
}
