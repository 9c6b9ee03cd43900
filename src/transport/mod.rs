//! The front ends: raw TCP JSON-RPC ([`tcp`]) and HTTP ([`http`]), both
//! calling the one registry through [`Api`](crate::rpc::Api). HTTP access
//! is guarded by [`auth`]; `GET /cdrs.csv` is [`csv`].

pub mod auth;
pub mod csv;
pub mod forward;
pub mod framer;
pub mod http;
pub mod limits;
pub mod query;
pub mod tcp;
pub mod ui;
pub mod ws;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Graceful shutdown shared by the listeners: `token` fires on SIGINT or
/// SIGTERM (listeners stop accepting, connections stop reading after
/// answering what they read) and `tracker` waits for the connections.
#[derive(Clone, Default)]
pub struct Shutdown {
    pub token: CancellationToken,
    pub tracker: TaskTracker,
}
