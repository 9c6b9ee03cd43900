//! `Responder.Debit`, `Responder.MaxDebit` and `Responder.RefundIncrements`:
//! paying rated calls from accounts, idempotent by `CgrID` (or `OriginID`)
//! with `RunID`, `LoopIndex` and `DurationIndex`.
//!
//! The reply is the CGRateS CallCost with `AccountSummary`, plus
//! tollgate's `Charges` (which balance paid what). RefundIncrements takes
//! those `Charges` back: `{"Tenant", "Account", "Charges": [...]}` (a
//! call descriptor with a `Charges` list).

use crate::api::descriptor::{decode_descriptor, DescriptorRequest};
use crate::api::{inline_usage, off_workers_if};
use crate::rpc::{ApiError, Obj, Params, RegistryBuilder};
use crate::state::AppState;
use chrono::Utc;
use rater::account::Charge;
use rater::engine::Origin;
use serde_json::Value;
use std::sync::Arc;

pub fn register(r: &mut RegistryBuilder) {
    r.asynchronous(&["Responder.Debit"], |state, raw| async move {
        let (req, origin) = request(&state, &Params::new(&raw).obj("CallDescriptor")?)?;
        let heavy = req.cd.duration() > inline_usage();
        off_workers_if(heavy, async move {
            let reply = state
                .engine
                .debit(&req.cd, &origin, req.dry_run)
                .await
                .map_err(ApiError::from_words)?;
            Ok(reply.json)
        })
        .await
    });
    r.asynchronous(&["Responder.MaxDebit"], |state, raw| async move {
        let (req, origin) = request(&state, &Params::new(&raw).obj("CallDescriptor")?)?;
        let heavy = req.cd.duration() > inline_usage();
        off_workers_if(heavy, async move {
            let reply = state
                .engine
                .max_debit(&req.cd, &origin, req.dry_run)
                .await
                .map_err(ApiError::from_words)?;
            Ok(reply.json)
        })
        .await
    });
    r.asynchronous(&["Responder.RefundIncrements"], |state, raw| async move {
        let obj = Params::new(&raw).obj("CallDescriptor")?;
        let (req, origin) = request(&state, &obj)?;
        let charges = charges(&obj)?;
        let reply: Value = state
            .engine
            .refund(&req.cd, &charges, &origin)
            .await
            .map_err(ApiError::from_words)?;
        Ok(reply)
    });
}

/// The descriptor and its idempotency origin (`CgrID`, else `OriginID`).
pub fn request(
    state: &Arc<AppState>,
    obj: &Obj<'_>,
) -> Result<(DescriptorRequest, Origin), ApiError> {
    let req = decode_descriptor(obj, &state.defaults, Utc::now)?;
    // An `OriginID` is unique on its switch only: scoped by `OriginHost`,
    // as CGRateS derives `CGRID` from both.
    let cgr_id = if req.cgr_id.is_empty() {
        match obj.str("OriginID")?.filter(|id| !id.is_empty()) {
            Some(id) => format!("{id}@{}", obj.str("OriginHost")?.unwrap_or_default()),
            None => String::new(),
        }
    } else {
        req.cgr_id.clone()
    };
    let origin = Origin {
        cgr_id,
        run_id: req.run_id.clone(),
        step: None,
    };
    Ok((req, origin))
}

fn charges(obj: &Obj<'_>) -> Result<Vec<Charge>, ApiError> {
    let list = obj.array("Charges")?;
    if list.is_empty() {
        return Err(ApiError::missing(&["Charges"]));
    }
    list.iter()
        .map(|raw| {
            serde_json::from_str::<Charge>(raw.get())
                .map_err(|e| ApiError::Invalid(format!("Charges: {e}")))
        })
        .collect()
}
