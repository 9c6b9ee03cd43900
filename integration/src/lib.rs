//! A simulated FreeSWITCH speaking the real Event Socket protocol, for
//! tollgate's end-to-end tests: scenario files, load, and a record of what
//! happened to every call.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use integration::{CallSpec, FakeSwitch, HangupBy, SwitchConfig};
//! use std::time::Duration;
//!
//! let switch = FakeSwitch::start(SwitchConfig::with_speed(100.0)).await?;
//! // …point the controller at switch.addr() (password ClueCon)…
//! let uuid = switch
//!     .place_call(CallSpec::new("1001", "1002").var("cgr_account", "1001").talk(600.0))
//!     .unwrap();
//! let record = switch.wait_for_end(&uuid, Duration::from_secs(10)).await.unwrap();
//! assert_eq!(record.hangup_by, Some(HangupBy::SchedHangup));
//! # Ok(()) }
//! ```
//!
//! # Map
//!
//! | module | holds |
//! | --- | --- |
//! | `switch.rs` | [`FakeSwitch`] (start, calls, records, connection control), [`SwitchConfig`] |
//! | `connection.rs` | one Event Socket connection: handshake, commands, event delivery |
//! | `listener.rs` | a connection's subscriptions and filters, checked when an event fires |
//! | `api.rs` | `api`/`bgapi` commands with `mod_commands.c`'s texts, and `sim_*` |
//! | `core.rs` | channels, the scheduler, every call transition and the events it fires |
//! | `channel.rs` | one channel: caller profile, variables, event headers, timestamps |
//! | `events.rs` | event delivery headers, event names, frames cached per format |
//! | `scenario.rs` | [`CallSpec`], [`Scenario`], [`LoadSpec`] (the JSON schema) |
//! | `record.rs` | [`CallRecord`], [`HangupBy`] |
//! | `json_cdr.rs` | mod_json_cdr: [`JsonCdrConfig`], the CDR document, the HTTP posts ([`CdrPost`]) |
//! | `clock.rs` | [`SimClock`]: simulated time at a scale factor |
//! | `cause.rs` | hangup cause names and numbers |
//! | `wire.rs` | [`wire::Recording`]: reader for the `.wire` recordings of a real switch (`testdata/freeswitch-1.10`) |
//!
//! Ground truth is FreeSWITCH's `mod_event_socket.c`, `mod_commands.c`,
//! `switch_channel.c` and `switch_event.c`; `testdata/esl/` holds
//! real traffic the tests compare the simulator's frames with.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod api;
pub mod cause;
mod channel;
mod clock;
mod connection;
mod core;
mod events;
mod json_cdr;
mod listener;
mod record;
mod scenario;
mod switch;
pub mod wire;

pub use clock::{SimClock, SimTime};
pub use json_cdr::{
    url_decode, url_encode, CdrAttempt, CdrEncoding, CdrOutcome, CdrPost, JsonCdrConfig,
};
pub use record::{CallRecord, HangupBy, LegRole, LogEntry};
pub use scenario::{CallSpec, LoadSpec, Scenario, ScenarioStart, Vars};
pub use switch::{FakeSwitch, SimError, SwitchConfig};

/// `FreeSWITCH-Version` the simulator reports (`switch_version_full`).
pub const VERSION: &str = "1.10.12-release+fake~64bit";
/// The human version (`switch_version_full_human`), as in `status`.
pub const VERSION_HUMAN: &str = "1.10.12-release fake-freeswitch 64bit";
