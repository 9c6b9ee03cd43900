//! `APIerSv1.SetBalance`, `AddBalance` and `DebitBalance`: one balance of
//! an account by type and `BalanceID` (or `BalanceUUID`), created with the
//! account when missing. The seed's requests, nulls and both spellings
//! (`BalanceID`/`BalanceId`) included, work as written.

use crate::rpc::{ApiError, Obj, Params, RegistryBuilder};
use rater::account::BalanceType;
use rater::engine::BalanceArgs;

pub fn register(r: &mut RegistryBuilder) {
    r.asynchronous(
        &[
            "APIerSv1.SetBalance",
            "ApierV1.SetBalance",
            "ApierV2.SetBalance",
            "APIerSv2.SetBalance",
        ],
        |state, raw| async move {
            let args = balance_args(&Params::new(&raw).obj("AttrSetBalance")?)?;
            state
                .engine
                .set_balance(&args)
                .await
                .map_err(ApiError::from_words)
        },
    );
    r.asynchronous(
        &["APIerSv1.AddBalance", "ApierV1.AddBalance"],
        |state, raw| async move {
            let args = balance_args(&Params::new(&raw).obj("AttrAddBalance")?)?;
            state
                .engine
                .add_balance(&args)
                .await
                .map_err(ApiError::from_words)
        },
    );
    r.asynchronous(
        &["APIerSv1.DebitBalance", "ApierV1.DebitBalance"],
        |state, raw| async move {
            let args = balance_args(&Params::new(&raw).obj("AttrAddBalance")?)?;
            state
                .engine
                .debit_balance(&args)
                .await
                .map_err(ApiError::from_words)
        },
    );
}

/// A `;`-separated list, from a string or an array of strings.
fn list(obj: &Obj<'_>, name: &str) -> Result<Option<String>, ApiError> {
    if let Ok(Some(s)) = obj.str(name) {
        return Ok(Some(s));
    }
    let items = obj.strings(name)?;
    Ok((!items.is_empty()).then(|| items.join(";")))
}

fn balance_args(obj: &Obj<'_>) -> Result<BalanceArgs, ApiError> {
    obj.require(&["Tenant", "Account", "BalanceType"])?;
    let kind = obj.string("BalanceType")?;
    let balance_type = kind
        .parse::<BalanceType>()
        .map_err(|e| ApiError::Invalid(format!("BalanceType: {e}")))?;
    if obj.is_missing("Value") {
        return Err(ApiError::missing(&["Value"]));
    }
    let expiry = match obj.str("ExpiryTime")?.as_deref() {
        None | Some("") | Some("*unlimited") => None,
        Some(text) => Some(
            crate::rpc::params::parse_time(text)
                .ok_or_else(|| ApiError::Invalid(format!("ExpiryTime: {text:?} is not a time")))?,
        ),
    };
    Ok(BalanceArgs {
        tenant: obj.string("Tenant")?,
        account: obj.string("Account")?,
        balance_type: Some(balance_type),
        uuid: obj.str("BalanceUUID")?,
        id: obj.str("BalanceID")?,
        value: obj.decimal("Value")?,
        expiry,
        rating_subject: obj.str("RatingSubject")?,
        categories: list(obj, "Categories")?,
        destination_ids: list(obj, "DestinationIds")?,
        weight: obj.decimal("Weight")?,
        blocker: obj.bool("Blocker")?,
        disabled: obj.bool("Disabled")?,
        overwrite: obj.bool("Overwrite")?.unwrap_or(false),
    })
}
