//! The session controller over the API: `SessionSv1.GetActiveSessions`
//! (the live calls) and `CDRsV1.GetCDRs` (call records: `Tenants`,
//! `Accounts`, `OriginIDs`, `Offset`, `Limit`). Without configured switches
//! both answer empty lists.

use crate::rpc::{ApiError, RegistryBuilder};
use sessions::CdrFilter;

/// Call records in one `GetCDRs` answer when the request sets no `Limit`
/// (an explicit `Limit` may be larger): the archive holds every call ever
/// made, and one answer must not hold them all. Page with `Offset`.
pub const DEFAULT_CDR_LIMIT: usize = 10_000;

pub fn register(r: &mut RegistryBuilder) {
    // Both read files (the session journal, the call record archive).
    r.blocking(&["SessionSv1.GetActiveSessions"], |state, _params| {
        Ok(state
            .sessions
            .as_ref()
            .map(|s| s.active_sessions())
            .unwrap_or_default())
    });
    r.blocking(
        &["CDRsV1.GetCDRs", "CdrsV1.GetCDRs", "APIerSv2.GetCDRs"],
        |state, params| {
            let filter = if params.raw().get().trim() == "null" {
                CdrFilter {
                    limit: Some(DEFAULT_CDR_LIMIT),
                    ..Default::default()
                }
            } else {
                let obj = params.obj("RPCCDRsFilter")?;
                CdrFilter {
                    tenants: obj.strings("Tenants")?,
                    accounts: obj.strings("Accounts")?,
                    origin_ids: obj.strings("OriginIDs")?,
                    offset: obj.i64("Offset")?.unwrap_or(0).max(0) as usize,
                    limit: Some(
                        obj.i64("Limit")?
                            .filter(|l| *l > 0)
                            .map_or(DEFAULT_CDR_LIMIT, |l| l as usize),
                    ),
                }
            };
            let cdrs = state
                .sessions
                .as_ref()
                .map(|s| s.cdrs(&filter))
                .unwrap_or_default();
            Ok::<_, ApiError>(cdrs)
        },
    );
}
