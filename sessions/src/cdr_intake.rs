//! What becomes of a CDR the switch posts (`POST /freeswitch/cdr`). Every
//! channel of a call is posted; only a channel tollgate holds a session
//! for is billed, and it is settled exactly once, whichever comes first:
//! its hangup event, this CDR, or the resync's verdict that it is gone.
//!
//! - A live session: its task settles it from the CDR (or, if the hangup
//!   event came first, finds it settled); the post is answered once the
//!   call record is durable.
//! - A session on disk without a task (after a restart): a task is started
//!   for it on its switch, as a hangup event would.
//! - A call record written with an estimated usage (the call ended unheard
//!   and the CDR did not come within `sessions.cdr_wait`): corrected, the
//!   account charged the difference between the estimate's price and the
//!   talk's, once.
//! - Anything else (the other legs of a call, refused or unbilled calls, a
//!   record already settled from the switch's facts): nothing to do.

use crate::actor::CallMsg;
use crate::callinfo::RequestType;
use crate::record::Cdr;
use crate::shared::Shared;
use crate::switch::spawn_call;
use crate::switch_cdr::{self, CdrBodyError, SwitchCdr};
use chrono::{TimeDelta, Utc};
use rater::engine::{Origin, Shortfall};
use rater::CallDescriptor;
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

/// How long a post waits for a call's task to settle the call.
const SETTLE_WAIT: Duration = Duration::from_secs(10);

/// What a posted CDR did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CdrVerdict {
    /// The call was settled from it (or had just been, from its hangup event).
    Settled,
    /// An estimated call record was corrected from it.
    Corrected,
    /// Its call was already settled from the switch's facts.
    AlreadySettled,
    /// Not a billed channel (another leg, an unbilled or refused call).
    NotBilled,
}

impl CdrVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            CdrVerdict::Settled => "settled",
            CdrVerdict::Corrected => "corrected",
            CdrVerdict::AlreadySettled => "already settled",
            CdrVerdict::NotBilled => "not billed",
        }
    }
}

/// Why a post was not taken.
#[derive(Debug, thiserror::Error)]
pub enum CdrPostError {
    /// The body is not a CDR (answered 400; nothing changed).
    #[error(transparent)]
    Unreadable(#[from] CdrBodyError),
    /// Not now (answered 503, so the switch posts it again): the call's
    /// switch is not connected yet, or its settlement is still running.
    #[error("{0}")]
    NotYet(String),
    /// The store or the journal failed (answered 500; the switch retries).
    #[error("{0}")]
    Failed(String),
    /// Another node of the cluster controls the call's switch: the post
    /// belongs there (the HTTP front end passes it on to `http`, once;
    /// otherwise answered 503 and the switch posts again).
    #[error("{why}")]
    Elsewhere { why: String, http: Option<String> },
}

/// Takes a posted CDR body (see the module doc).
pub(crate) async fn accept(
    shared: &Arc<Shared>,
    body: &[u8],
    content_type: Option<&str>,
) -> Result<CdrVerdict, CdrPostError> {
    let SwitchCdr { uuid, mut event } = switch_cdr::parse(body, content_type)?;
    // A task that ends as this is sent gets it again from the next lookup.
    for _ in 0..3 {
        let live = shared.calls.get(uuid.as_str()).map(|c| c.mailbox.clone());
        let mailbox = match live {
            Some(m) => m,
            None => match shared.store.session(&uuid).await {
                Err(e) => return Err(CdrPostError::Failed(e.to_string())),
                Ok(Some(rec)) => {
                    let pool = shared.pools.get(&rec.origin_host).map(|p| p.clone());
                    let Some(pool) = pool else {
                        return Err(not_here(shared, &rec.origin_host).await);
                    };
                    let alias = rec.origin_host.clone();
                    spawn_call(shared, &pool, &alias, &uuid, Some(rec), None)
                }
                Ok(None) => break,
            },
        };
        let (done, settled) = tokio::sync::oneshot::channel();
        match mailbox.send(CallMsg::SwitchCdr(Box::new((event, done)))) {
            Ok(()) => {
                return match tokio::time::timeout(SETTLE_WAIT, settled).await {
                    Ok(_) if shared.store.has_cdr(&uuid).await.unwrap_or(false) => {
                        Ok(CdrVerdict::Settled)
                    }
                    // The task ended without a record: nothing was billed.
                    Ok(_) => Ok(CdrVerdict::NotBilled),
                    Err(_) => Err(CdrPostError::NotYet(
                        "the call's settlement is still running".into(),
                    )),
                };
            }
            Err(back) => {
                shared
                    .calls
                    .remove_if(uuid.as_str(), |_, c| Arc::ptr_eq(&c.mailbox, &mailbox));
                let CallMsg::SwitchCdr(back) = back else {
                    unreachable!("a mailbox hands back what it was given")
                };
                event = back.0;
            }
        }
    }
    let record = shared
        .store
        .cdr(&uuid)
        .await
        .map_err(|e| CdrPostError::Failed(e.to_string()))?;
    let Some(record) = record else {
        return Ok(CdrVerdict::NotBilled);
    };
    if !record.estimated {
        return Ok(CdrVerdict::AlreadySettled);
    }
    correct(shared, record, &SwitchCdr { uuid, event }).await
}

/// Corrects an estimated call record from the switch's CDR: the estimate's
/// charges are given back and the talk is charged, in one store change
/// with an op id of its own (a retried post after a crash replays it
/// instead of charging again), then the record is rewritten.
async fn correct(
    shared: &Arc<Shared>,
    old: Cdr,
    cdr: &SwitchCdr,
) -> Result<CdrVerdict, CdrPostError> {
    let uuid = cdr.uuid.clone();
    if shared.correcting.insert(uuid.clone(), ()).is_some() {
        return Err(CdrPostError::NotYet(
            "the call record is being corrected".into(),
        ));
    }
    let result = correct_locked(shared, old, cdr).await;
    shared.correcting.remove(&uuid);
    result
}

async fn correct_locked(
    shared: &Arc<Shared>,
    old: Cdr,
    cdr: &SwitchCdr,
) -> Result<CdrVerdict, CdrPostError> {
    // Read again under the lock: another post may have corrected it.
    match shared.store.cdr(&cdr.uuid).await {
        Ok(Some(now)) if !now.estimated => return Ok(CdrVerdict::AlreadySettled),
        Err(e) => return Err(CdrPostError::Failed(e.to_string())),
        _ => {}
    }
    let answer =
        crate::callinfo::micros(&cdr.event, "Caller-Channel-Answered-Time").or(old.answer_time);
    let usage = if answer.is_some() {
        switch_cdr::usage(&cdr.event)
    } else {
        Duration::ZERO
    };
    let usage_ns = i64::try_from(usage.as_nanos()).unwrap_or(i64::MAX);
    let start = answer.or(old.setup_time).unwrap_or_else(Utc::now);
    let mut cd = CallDescriptor::new(
        &old.tenant,
        &old.category,
        &old.subject,
        &old.destination,
        start,
        TimeDelta::nanoseconds(usage_ns),
    );
    cd.account = old.account.clone();
    cd.duration_index = TimeDelta::nanoseconds(usage_ns);
    let origin = Origin {
        cgr_id: format!("{}/{}", old.origin_host, cdr.uuid),
        run_id: "*default".into(),
        // Step 0 is the settlement; its correction is a step of its own.
        step: Some(1),
    };
    let shortfall = match RequestType::parse(&old.request_type) {
        Some(RequestType::Prepaid | RequestType::PseudoPrepaid) => Some(Shortfall::TakeWhatCovers),
        Some(RequestType::Postpaid) => Some(Shortfall::Force),
        _ => None,
    };
    let mut new = old.clone();
    match shortfall {
        Some(shortfall) => {
            let reply = shared
                .engine
                .settle(&cd, &old.charges, &origin, shortfall)
                .await
                .map_err(|e| CdrPostError::Failed(format!("correcting {}: {e}", cdr.uuid)))?;
            crate::crash::point("correct.settled");
            new.unpaid = reply.json["Unpaid"].as_bool().unwrap_or(false);
            new.cost = reply.cost;
            new.charges = reply.charges;
        }
        None if usage.is_zero() => new.cost = Default::default(),
        None => {
            new.cost = shared
                .engine
                .plan()
                .get_cost(&cd)
                .map(|c| c.cost)
                .unwrap_or(old.cost);
        }
    }
    new.answer_time = answer;
    new.usage = usage_ns;
    new.estimated = false;
    new.extra_info = format!(
        "corrected from the switch's CDR: the estimate was {:.3}s, cost {}",
        Duration::from_nanos(old.usage.max(0) as u64).as_secs_f64(),
        old.cost
    );
    if let Some(cause) = cdr.event.header("Hangup-Cause") {
        new.disconnect_cause = cause.to_string();
    }
    shared
        .store
        .put_cdr(&cdr.uuid, &new)
        .await
        .map_err(|e| CdrPostError::Failed(format!("writing the call record: {e}")))?;
    info!(uuid = %cdr.uuid, estimate = %old.cost, cost = %new.cost, "call record corrected from the switch's CDR");
    shared.publish_cdr(&new);
    if new.cost != old.cost {
        shared
            .metrics
            .corrections
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    Ok(CdrVerdict::Corrected)
}

/// Why a node cannot take a CDR for a call on switch `alias` now: the
/// switch is not connected yet, or (in a cluster) another node controls
/// it — the post is passed to that node, or the switch posts again.
pub(crate) async fn not_here(shared: &Shared, alias: &str) -> CdrPostError {
    if let crate::store::SessionStore::Postgres(pg) = &shared.store {
        if let Ok(Some((node, http))) = crate::lease::holder(pg, alias).await {
            if node != **pg.node_id() {
                return CdrPostError::Elsewhere {
                    why: format!("switch {alias} is controlled by node {node}"),
                    http,
                };
            }
        }
    }
    CdrPostError::NotYet(format!("switch {alias} is not connected yet"))
}

/// Logs a post that was refused.
pub(crate) fn log_refusal(e: &CdrPostError) {
    match e {
        CdrPostError::Unreadable(e) => warn!(error = %e, "a posted CDR was refused"),
        CdrPostError::NotYet(why) | CdrPostError::Elsewhere { why, .. } => {
            info!(%why, "a posted CDR was deferred")
        }
        CdrPostError::Failed(why) => warn!(%why, "a posted CDR could not be taken"),
    }
}
