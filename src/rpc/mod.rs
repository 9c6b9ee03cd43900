//! The RPC core shared by every transport: the method [`Registry`], the
//! case-insensitive parameter reader [`Obj`], the CGRateS error words
//! [`ApiError`], and the JSON-RPC envelopes in [`codec`].
//!
//! [`Api`] bundles the engine state, the registry and the metrics; the TCP
//! and HTTP front ends hold an `Arc<Api>` and call [`Api::answer`] for each
//! request they decode.

pub mod codec;
pub mod error;
pub mod params;
pub mod registry;

pub use error::{ApiError, ErrorClass};
pub use params::Obj;
pub use registry::{Params, Ran, Registry, RegistryBuilder};

use crate::metrics::Metrics;
use crate::state::AppState;
use codec::Request;
use serde_json::value::RawValue;
use std::sync::Arc;

/// Everything a front end needs to answer requests.
pub struct Api {
    pub state: Arc<AppState>,
    pub registry: Registry,
    pub metrics: Metrics,
}

impl Api {
    pub fn new(state: Arc<AppState>, registry: Registry) -> Self {
        Api {
            state,
            registry,
            metrics: Metrics::default(),
        }
    }

    /// Calls `method` with its single parameter, appending the result's
    /// JSON to `out` (untouched on error).
    pub async fn call(
        &self,
        method: &str,
        param: &RawValue,
        out: &mut Vec<u8>,
    ) -> Result<(), ApiError> {
        self.registry
            .call(
                &self.state,
                &self.metrics.unknown_method,
                method,
                param,
                out,
            )
            .await
    }

    /// Answers one decoded request, appending the reply to `out`: 1.0 form
    /// with a trailing newline, or 2.0 form without one. Returns false when
    /// nothing was written (a 2.0 notification).
    pub async fn answer(&self, req: &Request<'_>, out: &mut Vec<u8>) -> bool {
        let method = req.method.as_ref().map_or("", |m| m.0.as_ref());
        let notification = req.v2 && req.id.is_none_or(|id| id.get() == "null");
        let mark = out.len();
        if req.v2 {
            codec::begin_v2(out);
        } else {
            codec::begin_v1(out, req.id);
        }
        let result = match codec::single_param(req.params) {
            Ok(param) => self.call(method, param, out).await,
            Err(e) => Err(ApiError::BadRequest(format!("params: {e}"))),
        };
        if notification {
            // Side effects happened; a notification gets no reply.
            out.truncate(mark);
            return false;
        }
        match (result, req.v2) {
            (Ok(()), false) => codec::end_v1_ok(out),
            (Ok(()), true) => codec::end_v2_ok(out, req.id),
            (Err(e), v2) => {
                out.truncate(mark);
                if v2 {
                    codec::error_v2(out, req.id, e.code(), &e.to_string());
                } else {
                    codec::error_v1(out, req.id, &e.to_string());
                }
            }
        }
        true
    }
}
