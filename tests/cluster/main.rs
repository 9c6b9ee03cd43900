//! The cluster as an operator runs it: real tollgate processes on one
//! PostgreSQL behind HAProxy (`scripts/cluster.sh`), driven through the
//! balancer. Nodes are killed, drained and restarted, and PostgreSQL is
//! stopped, under load; money must come out exact every time.
//!
//! Runs under `scripts/test.sh` (which sets `TOLLGATE_CLUSTER_TESTS=1`);
//! each test brings up a cluster of its own, one at a time.

#[path = "../common/mod.rs"]
mod common;
mod harness;

mod debits;
mod outage;
mod rolling;
mod takeover;
