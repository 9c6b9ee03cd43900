//! What happened to each call, for assertions: [`CallRecord`].

use serde::{Deserialize, Serialize};

use crate::clock::SimTime;
use crate::scenario::Vars;

/// Who ended a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HangupBy {
    /// The caller hung up after its talk time.
    Caller,
    /// The caller gave up before the answer (`abandon`).
    Abandon,
    /// `api uuid_kill`.
    UuidKill,
    /// A scheduled hangup fired: `api sched_hangup`, or the `sched_hangup`
    /// application (e.g. from `execute_on_answer`).
    SchedHangup,
    /// `sendmsg` with `call-command: hangup`, or `execute` of the `hangup`
    /// application.
    SendMsg,
    /// `api hupall`.
    Hupall,
    /// The `hangup` application run from `execute_on_answer`, or the
    /// dialplan's (a refused call's `hangup CALL_REJECTED` after `uuid_transfer`).
    Application,
    /// An api command run by `sched_api` (`uuid_kill`); the task id is in
    /// [`CallRecord::sched_task`].
    SchedApi,
}

/// What a channel is in its call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LegRole {
    /// The call's own channel: the one `place_call` returned (the parked,
    /// billed leg; with `.loopback()` the `-b` leg of the pair).
    #[default]
    Call,
    /// The loopback `-a` partner: the caller's side (`loopback/<dest>-a`).
    LoopbackA,
    /// The outbound leg of the bridge (`loopback/9999-a`): its
    /// `Other-Leg-Unique-ID` and `variable_originator` name the call's channel.
    BridgeA,
    /// The bridge's inbound partner that answers (`loopback/9999-b`).
    BridgeB,
}

/// One entry of a call's log: an API command or message that touched it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Simulated time, µs since the epoch.
    pub at: SimTime,
    /// What happened (`uuid_transfer 1002`, `sched_hangup +120 ALLOTTED_TIMEOUT`…).
    pub what: String,
}

/// The life of one call so far. Times are simulated µs since the epoch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecord {
    /// `Unique-ID`.
    pub uuid: String,
    /// Caller number.
    pub caller: String,
    /// Destination number (the last one, after any transfer).
    pub destination: String,
    /// CHANNEL_CREATE.
    pub created_at: SimTime,
    /// The call was parked.
    pub parked: bool,
    /// A `uuid_transfer` (or `transfer` application) took it out of park.
    pub transferred: bool,
    /// CHANNEL_ANSWER was sent.
    pub answered: bool,
    /// CHANNEL_ANSWER time.
    pub answered_at: Option<SimTime>,
    /// CHANNEL_HANGUP time; `None` while the call is up.
    pub ended_at: Option<SimTime>,
    /// `variable_billsec` of CHANNEL_HANGUP_COMPLETE (0 while up).
    pub billsec: u64,
    /// `variable_billusec`.
    pub billusec: u64,
    /// `variable_duration`.
    pub duration: u64,
    /// `Hangup-Cause`.
    pub hangup_cause: Option<String>,
    /// Who hung up.
    pub hangup_by: Option<HangupBy>,
    /// Channel variables (final ones once ended).
    pub variables: Vars,
    /// Commands and messages that touched the call, in order.
    pub log: Vec<LogEntry>,
    /// What this channel is in its call.
    #[serde(default)]
    pub role: LegRole,
    /// `Channel-Name`.
    #[serde(default)]
    pub channel_name: String,
    /// On the call's own record: the uuids of its other legs (loopback
    /// partner, bridged legs), in creation order.
    #[serde(default)]
    pub legs: Vec<String>,
    /// On another leg's record: the uuid of the call's own channel.
    #[serde(default)]
    pub call: Option<String>,
    /// The leg whose hangup ended this one, when it was another leg (the
    /// caller's `-a` leg, a killed bridged leg…); `None` when it was this one.
    #[serde(default)]
    pub hangup_leg: Option<String>,
    /// The scheduler task that hung the call up (`sched_hangup`, or a
    /// `sched_api` task's `uuid_kill`), by id.
    #[serde(default)]
    pub sched_task: Option<u32>,
}

impl CallRecord {
    /// True once CHANNEL_HANGUP_COMPLETE has been sent.
    pub fn ended(&self) -> bool {
        self.ended_at.is_some()
    }

    /// A channel variable.
    pub fn variable(&self, name: &str) -> Option<&str> {
        self.variables.get(name)
    }

    /// True when some log entry starts with `prefix`.
    pub fn logged(&self, prefix: &str) -> bool {
        self.log.iter().any(|e| e.what.starts_with(prefix))
    }
}
