//! What the session controller needs to know: timings of the debit loop,
//! limits, defaults for calls that do not say, and the switches to follow.

use rater::account::MaxSessionMethod;
use rust_decimal::Decimal;
use std::time::Duration;

/// What to do when the rater or the store fails during a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RaterErrorPolicy {
    /// Hang the call up (the safe default: no free minutes).
    #[default]
    Hangup,
    /// Let the call go on; the switch's hangup timer still bounds it.
    Continue,
}

/// A low-balance announcement: played once when the money left drops below `threshold`.
#[derive(Debug, Clone, PartialEq)]
pub struct LowBalanceWarning {
    pub threshold: Decimal,
    /// Played with `uuid_broadcast <uuid> playback::<file> aleg`.
    pub file: String,
}

/// One FreeSWITCH to follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchConfig {
    pub address: String,
    pub password: String,
    pub alias: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SessionsConfig {
    pub debit_interval: Duration,
    pub max_call_duration: Duration,
    pub min_call_duration: Duration,
    /// How far past the paid time the switch may let a call run if tollgate
    /// stops answering: the limit armed on the switch is never later than
    /// the time paid in advance plus this.
    pub limit_grace: Duration,
    pub max_session_method: MaxSessionMethod,
    pub default_tenant: String,
    pub default_category: String,
    pub default_request_type: String,
    pub low_balance_warning: Option<LowBalanceWarning>,
    pub on_rater_error: RaterErrorPolicy,
    /// Leave refused calls to the dialplan (which reads `cgr_notify`)
    /// instead of killing them.
    pub reject_in_dialplan: bool,
    /// Simulated seconds per real second (tests against a fast switch only).
    pub clock_speed: f64,
    /// How long a call record stays in the session journal before it moves
    /// to the hourly archive files.
    pub cdr_retention: Duration,
    /// How long a call found gone on resync (it ended while tollgate was
    /// not listening) waits for the switch's CDR before it is settled with
    /// an estimate.
    pub cdr_wait: Duration,
    pub switches: Vec<SwitchConfig>,
    /// This node's name (`NodeID` of its sessions; a cluster's lease holder).
    pub node_id: String,
    /// This node's HTTP address, written beside the leases it holds.
    pub node_http: Option<String>,
    /// How long a switch lease lasts (cluster only); renewed every third.
    pub switch_lease: Duration,
}

impl Default for SessionsConfig {
    fn default() -> Self {
        SessionsConfig {
            debit_interval: Duration::from_secs(10),
            max_call_duration: Duration::from_secs(3 * 3600),
            min_call_duration: Duration::ZERO,
            limit_grace: Duration::from_secs(10),
            max_session_method: MaxSessionMethod::StepDown,
            default_tenant: "cgrates.org".into(),
            default_category: "call".into(),
            default_request_type: "*prepaid".into(),
            low_balance_warning: None,
            on_rater_error: RaterErrorPolicy::Hangup,
            reject_in_dialplan: false,
            clock_speed: 1.0,
            cdr_retention: Duration::from_secs(3600),
            cdr_wait: Duration::from_secs(180),
            switches: vec![],
            node_id: "tollgate".into(),
            node_http: None,
            switch_lease: Duration::from_secs(5),
        }
    }
}
