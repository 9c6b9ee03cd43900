//! tollgate: configuration, wiring and front ends around the rater and the
//! session controller.
//!
//! - [`config`]: the JSON config file, strict and fully defaulted.
//! - [`health`]: what `GET /health` answers (draining, store probe).
//! - [`state`]: the engine state every method reads ([`state::AppState`]):
//!   live tariff plan (atomically swapped), StorDb, the shutdown hook.
//! - [`rpc`]: the method registry shared by all transports, the
//!   case-insensitive parameter reader, CGRateS error words, JSON-RPC
//!   envelopes.
//! - [`api`]: the methods, one file each; [`api::descriptor`] decodes call
//!   descriptors.
//! - [`stordb`]: durable tariff-plan records of the TP API.
//! - [`transport`]: raw TCP JSON-RPC and HTTP (axum).
//! - [`server`]: start-up, signals and graceful shutdown.
//! - [`metrics`]: counters for `GET /metrics`.
//! - [`cli`]: the command line and console client.

pub mod api;
pub mod cli;
pub mod config;
pub mod health;
pub mod metrics;
pub mod rpc;
pub mod server;
pub mod state;
pub mod stordb;
pub mod transport;
