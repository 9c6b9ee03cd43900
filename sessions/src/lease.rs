//! Switch ownership in a cluster: each switch is controlled by one node at
//! a time, the holder of its lease (a row of `tollgate_switch_leases`).
//!
//! - Every node that lists a switch asks for its lease every third of the
//!   lease's length. The database grants it when nobody holds it, or the
//!   holder's time is up, or it is the asker's own (a renewal), and sets
//!   its end to the database's `now()` plus the length.
//! - A holder counts its lease from the moment it *sent* the renewal, by
//!   its own clock, and stops controlling the switch (closes its Event
//!   Socket connections, stops its call tasks) a fifth of the length
//!   before that count runs out — so before the end the database set, which
//!   was counted from a later moment — unless a renewal came back first.
//! - A session is written only with the lease held (checked in the same
//!   statement, see [`crate::store::PgSessions::put_session`]): a node that
//!   stalled past its lease cannot overwrite what the new holder wrote.
//! - A node that stops (drain, shutdown) gives its leases back at once, so
//!   another node takes the switches without waiting for them to lapse.
//!
//! Takeover is the restart path: the new holder connects, resyncs the
//! switch's channels with the shared session records, and resumes them.

use crate::store::pg::{pg_err, PgSessions};
use crate::store::StoreError;
use std::time::Duration;
use tokio::time::Instant;

/// Whether `node` holds `alias`'s lease now (by the database's clock).
pub(crate) async fn holds(
    client: &tokio_postgres::Client,
    alias: &str,
    node: &str,
) -> Result<bool, StoreError> {
    let row = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM tollgate_switch_leases \
             WHERE switch = $1 AND node_id = $2 AND expires > now())",
            &[&alias, &node],
        )
        .await
        .map_err(pg_err)?;
    Ok(row.get(0))
}

/// The part of the lease a holder gives up, stopping before its end.
pub(crate) fn margin(ttl: Duration) -> Duration {
    ttl / 5
}

/// Asks for (or renews) `alias`'s lease for `ttl`. Returns the local
/// instant until which this node may control the switch, or `None` if
/// another node holds it.
pub async fn acquire(
    pg: &PgSessions,
    alias: &str,
    http: Option<&str>,
    ttl: Duration,
) -> Result<Option<Instant>, StoreError> {
    let sent = Instant::now();
    let client = pg.client().await?;
    let node: &str = pg.node_id();
    let ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    let row = client
        .query_opt(
            "INSERT INTO tollgate_switch_leases AS l (switch, node_id, node_http, epoch, expires) \
             VALUES ($1, $2, $3, 1, now() + $4::bigint * interval '1 millisecond') \
             ON CONFLICT (switch) DO UPDATE SET \
               epoch = CASE WHEN l.node_id = EXCLUDED.node_id AND l.expires > now() \
                       THEN l.epoch ELSE l.epoch + 1 END, \
               node_id = EXCLUDED.node_id, node_http = EXCLUDED.node_http, \
               expires = EXCLUDED.expires \
             WHERE l.node_id = EXCLUDED.node_id OR l.expires <= now() \
             RETURNING epoch",
            &[&alias, &node, &http, &ms],
        )
        .await
        .map_err(pg_err)?;
    Ok(row.map(|_| sent + ttl.saturating_sub(margin(ttl))))
}

/// Gives `alias`'s lease back (if this node holds it), so another node
/// may take the switch at once.
pub async fn release(pg: &PgSessions, alias: &str) -> Result<(), StoreError> {
    let client = pg.client().await?;
    let node: &str = pg.node_id();
    client
        .execute(
            "UPDATE tollgate_switch_leases SET expires = now() \
             WHERE switch = $1 AND node_id = $2 AND expires > now()",
            &[&alias, &node],
        )
        .await
        .map_err(pg_err)?;
    Ok(())
}

/// Who holds `alias`'s lease now, if anyone: the node's id and, if it
/// has one, its HTTP address.
pub async fn holder(
    pg: &PgSessions,
    alias: &str,
) -> Result<Option<(String, Option<String>)>, StoreError> {
    let client = pg.client().await?;
    let row = client
        .query_opt(
            "SELECT node_id, node_http FROM tollgate_switch_leases \
             WHERE switch = $1 AND expires > now()",
            &[&alias],
        )
        .await
        .map_err(pg_err)?;
    Ok(row.map(|r| (r.get(0), r.get(1))))
}

/// Follows switch `sw` whenever this node holds its lease, until shutdown
/// (see the module doc).
pub(crate) async fn run(
    shared: std::sync::Arc<crate::shared::Shared>,
    pg: std::sync::Arc<PgSessions>,
    sw: crate::config::SwitchConfig,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    use tokio::time::{sleep, sleep_until, timeout};
    use tracing::{info, warn};
    let ttl = shared.cfg.switch_lease;
    let every = ttl / 3;
    let alias = sw.alias.clone();
    let http = shared.cfg.node_http.clone();
    let mut failures = 0u32;
    loop {
        // Wait for the lease.
        let mut until = loop {
            if *shutdown.borrow() {
                return;
            }
            match timeout(every, acquire(&pg, &alias, http.as_deref(), ttl)).await {
                Ok(Ok(Some(until))) => break until,
                Ok(Ok(None)) => failures = 0,
                Ok(Err(e)) => {
                    failures += 1;
                    if failures == 1 || failures.is_multiple_of(20) {
                        warn!(switch = %alias, error = %e, "cannot ask for the switch's lease");
                    }
                }
                Err(_) => warn!(switch = %alias, "asking for the switch's lease timed out"),
            }
            tokio::select! {
                _ = sleep(every) => {}
                _ = shutdown.changed() => return,
            }
        };
        failures = 0;
        info!(switch = %alias, node = %pg.node_id(), "holding the switch's lease: controlling it");
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let follower = tokio::spawn(crate::switch::run(shared.clone(), sw.clone(), stopped));
        let lost = loop {
            let now = Instant::now();
            if now >= until {
                break true;
            }
            tokio::select! {
                _ = sleep_until((now + every).min(until)) => {}
                _ = shutdown.changed() => break false,
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break true;
            }
            match timeout(left, acquire(&pg, &alias, http.as_deref(), ttl)).await {
                Ok(Ok(Some(next))) => until = next,
                Ok(Ok(None)) => break true,
                Ok(Err(e)) => warn!(switch = %alias, error = %e, "cannot renew the switch's lease"),
                Err(_) => {}
            }
        };
        // Stop commanding the switch: close its connections, stop its
        // calls' tasks (their sessions stay, for the next holder).
        let _ = stop.send(true);
        let _ = follower.await;
        shared.pools.remove(alias.as_str());
        shared.stop_calls(Some(&alias));
        if !lost {
            if let Err(e) = release(&pg, &alias).await {
                warn!(switch = %alias, error = %e, "could not give the switch's lease back; it lapses on its own");
            }
            return;
        }
        warn!(switch = %alias, "the switch's lease could not be renewed in time: no longer controlling it");
        shared
            .metrics
            .leases_lost
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}
