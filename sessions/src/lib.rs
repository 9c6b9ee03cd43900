//! The call controller: every call on every configured FreeSWITCH is
//! authorized, limited, debited as it runs and settled when it ends.
//!
//! - [`Controller`] starts one [`switch`] connection pair per switch and
//!   answers API questions about sessions and call records.
//! - Each call is one task ([`actor`]) fed that call's events in order.
//! - [`store`] persists sessions and call records durably (the node's
//!   [`journal`], or PostgreSQL shared by a cluster), so a restart or
//!   another node resumes live calls and settles the ones that ended
//!   meanwhile; in a cluster, [`lease`] gives each switch one controlling
//!   node at a time.

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
pub mod intern;
pub mod journal;
pub mod lease;
pub mod limit;
pub mod live;
mod mailbox;
pub mod metrics;
pub mod record;
mod shared;
pub mod store;
mod switch;
pub mod switch_cdr;

pub use callinfo::{CallInfo, RequestType};
pub use cdr_filter::{CdrFilter, Interval};
pub use cdr_intake::{CdrPostError, CdrVerdict};
pub use config::{LowBalanceWarning, RaterErrorPolicy, SessionsConfig, SwitchConfig};
pub use controller::{Controller, ForceDisconnectError, Storage};
pub use live::LiveEvent;
pub use record::{ActiveSession, Cdr, Phase, SessionRecord};
pub use store::StoreError;
