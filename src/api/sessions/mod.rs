//! The session controller over the API: `SessionSv1.GetActiveSessions`
//! (the live calls) and `CDRsV1.GetCDRs` (call records, filtered as
//! [`cdr_filter`] reads CGRateS's `RPCCDRsFilter`). Without configured
//! switches both answer empty lists.

use crate::rpc::{ApiError, RegistryBuilder};

mod cdr_filter;

pub use cdr_filter::DEFAULT_CDR_LIMIT;

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
                cdr_filter::everything()
            } else {
                cdr_filter::parse(&params.obj("RPCCDRsFilter")?, state.config.general.timezone)?
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
