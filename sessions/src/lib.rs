//! The call controller: every call on every configured FreeSWITCH is
//! authorized, limited, debited as it runs and settled when it ends.
//!
//! - [`Controller`] starts one [`switch`] connection pair per switch and
//!   answers API questions about sessions and call records.
//! - Each call is one task ([`actor`]) fed that call's events in order.
//! - [`journal`] persists sessions and call records durably, so a restart
//!   resumes live calls and settles the ones that ended meanwhile.

pub mod actor;
pub mod archive;
mod archiver;
pub mod callinfo;
pub mod cdr_filter;
pub mod cdr_intake;
pub mod clock;
pub mod config;
pub mod controller;
pub mod crash;
pub mod journal;
pub mod limit;
pub mod live;
mod mailbox;
pub mod metrics;
pub mod record;
mod shared;
mod switch;
pub mod switch_cdr;

pub use callinfo::{CallInfo, RequestType};
pub use cdr_filter::{CdrFilter, Interval};
pub use cdr_intake::{CdrPostError, CdrVerdict};
pub use config::{LowBalanceWarning, RaterErrorPolicy, SessionsConfig, SwitchConfig};
pub use controller::{Controller, ForceDisconnectError};
pub use live::LiveEvent;
pub use record::{ActiveSession, Cdr, Phase, SessionRecord};
