//! `Responder.GetMaxSessionTime`: how many seconds of this call the
//! account can pay, up to the requested duration — `Amount` seconds (the
//! 2012 form), else `TimeEnd - TimeStart`, else `sessions.max_call_duration`.
//! `MaxSessionMethod` (`step_down` or `exact`) overrides the configured search.
//! The answer is a number of seconds.

use super::debit::request;
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
                let nanos = (secs * Decimal::from(1_000_000_000)).trunc();
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
        req.cd.time_end = req.cd.time_start + requested;
        let d = state
            .engine
            .max_session_time(&req.cd, method)
            .await
            .map_err(ApiError::from_words)?;
        let secs = Decimal::from(d.num_nanoseconds().unwrap_or(0)) / Decimal::from(1_000_000_000);
        Ok(rater::engine::number(secs.normalize()))
    });
}
