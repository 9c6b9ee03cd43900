//! `Responder.GetMaxSessionTime`: how many seconds of this call the
//! account can pay, up to the requested duration — `Amount` seconds (the
//! 2012 form), else `TimeEnd - TimeStart`, else `sessions.max_call_duration`.
//! `MaxSessionMethod` (`step_down` or `exact`) overrides the configured search.
//! The answer is a number of seconds.

use super::debit::request;
use crate::api::descriptor::check_usage;
use crate::api::{inline_usage, off_workers_if};
use crate::rpc::{ApiError, Params, RegistryBuilder};
use chrono::TimeDelta;
use rater::account::MaxSessionMethod;
use rust_decimal::Decimal;

pub fn register(r: &mut RegistryBuilder) {
    r.asynchronous(&["Responder.GetMaxSessionTime"], |state, raw| async move {
        let obj = Params::new(&raw).obj("CallDescriptor")?;
        let (mut req, _) = request(&state, &obj)?;
        let method = match obj.str("MaxSessionMethod")? {
            Some(m) if !m.is_empty() => {
                Some(m.parse::<MaxSessionMethod>().map_err(ApiError::Invalid)?)
            }
            _ => None,
        };
        let requested = match req.amount {
            Some(secs) => {
                // Refuse before converting: a huge Amount must not overflow.
                if secs > Decimal::from(state.defaults.max_usage.num_seconds()) {
                    return Err(ApiError::MaxUsageExceeded);
                }
                let nanos = secs
                    .checked_mul(Decimal::from(1_000_000_000))
                    .ok_or_else(|| ApiError::Invalid("Amount: too large".into()))?
                    .trunc();
                TimeDelta::nanoseconds(
                    i64::try_from(nanos.mantissa() / 10i128.pow(nanos.scale()))
                        .map_err(|_| ApiError::Invalid("Amount: too large".into()))?,
                )
            }
            None if req.has_time_end => req.cd.duration(),
            None => state.config.sessions.max_call_duration,
        };
        if requested < TimeDelta::zero() {
            return Err(ApiError::Invalid(
                "the requested duration is negative".into(),
            ));
        }
        check_usage(requested, &state.defaults)?;
        req.cd.time_end = req.cd.time_start + requested;
        let heavy = requested > inline_usage();
        let engine_state = state.clone();
        let d = off_workers_if(heavy, async move {
            engine_state
                .engine
                .max_session_time(&req.cd, method)
                .await
                .map_err(ApiError::from_words)
        })
        .await?;
        let secs = Decimal::from(d.num_nanoseconds().unwrap_or(0)) / Decimal::from(1_000_000_000);
        Ok(rater::engine::number(secs.normalize()))
    });
}
