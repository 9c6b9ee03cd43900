//! The 2012 budget calls on `Responder`: DebitBalance (money), DebitSMS,
//! DebitSeconds, AddVolumeDiscountSeconds, ResetVolumeDiscountSeconds,
//! AddRecievedCallSeconds (and the correct spelling) and ResetUserBudget.
//! Each takes a call descriptor (with `Amount` where it adds or takes) and
//! answers a number: what is left of that balance type, or the counter;
//! ResetUserBudget answers `OK`.

use super::debit::request;
use crate::rpc::{ApiError, Params, RegistryBuilder};
use rater::account::BalanceType;

pub fn register(r: &mut RegistryBuilder) {
    for (name, kind) in [
        ("Responder.DebitBalance", BalanceType::Monetary),
        ("Responder.DebitSMS", BalanceType::Sms),
        ("Responder.DebitSeconds", BalanceType::Voice),
    ] {
        r.asynchronous(&[name], move |state, raw| async move {
            let (req, _) = request(&state, &Params::new(&raw).obj("CallDescriptor")?)?;
            state
                .engine
                .debit_units(&req.cd, kind, req.amount)
                .await
                .map_err(ApiError::from_words)
        });
    }
    r.asynchronous(
        &["Responder.AddVolumeDiscountSeconds"],
        |state, raw| async move {
            let (req, _) = request(&state, &Params::new(&raw).obj("CallDescriptor")?)?;
            state
                .engine
                .add_volume_discount_seconds(&req.cd, req.amount)
                .await
                .map_err(ApiError::from_words)
        },
    );
    r.asynchronous(
        &["Responder.ResetVolumeDiscountSeconds"],
        |state, raw| async move {
            let (req, _) = request(&state, &Params::new(&raw).obj("CallDescriptor")?)?;
            state
                .engine
                .reset_volume_discount_seconds(&req.cd)
                .await
                .map_err(ApiError::from_words)
        },
    );
    r.asynchronous(
        &[
            "Responder.AddRecievedCallSeconds",
            "Responder.AddReceivedCallSeconds",
        ],
        |state, raw| async move {
            let (req, _) = request(&state, &Params::new(&raw).obj("CallDescriptor")?)?;
            state
                .engine
                .add_received_call_seconds(&req.cd, req.amount)
                .await
                .map_err(ApiError::from_words)
        },
    );
    r.asynchronous(&["Responder.ResetUserBudget"], |state, raw| async move {
        let (req, _) = request(&state, &Params::new(&raw).obj("CallDescriptor")?)?;
        state
            .engine
            .reset_user_budget(&req.cd)
            .await
            .map_err(ApiError::from_words)
    });
}
