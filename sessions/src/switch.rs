//! One FreeSWITCH: an event connection (CHANNEL_PARK, CHANNEL_ANSWER,
//! CHANNEL_HANGUP_COMPLETE, HEARTBEAT, BACKGROUND_JOB) whose events are
//! routed to call tasks, and a separate command connection so control
//! commands never stall the event flow. After every (re)connection the
//! switch's channels are compared with the sessions we hold (resync).

use crate::actor::{CallActor, CallMsg};
use crate::config::SwitchConfig;
use crate::mailbox::Mailbox;
use crate::record::SessionRecord;
use crate::shared::{CallEntry, Shared};
use chrono::{DateTime, TimeZone, Utc};
use esl::{Client, ClientConfig, ClientEvent, Event, EventFormat};
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{info, info_span, warn, Instrument};

const EVENTS: [&str; 5] = [
    "CHANNEL_PARK",
    "CHANNEL_ANSWER",
    "CHANNEL_HANGUP_COMPLETE",
    "HEARTBEAT",
    "BACKGROUND_JOB",
];

/// Follows one switch until shutdown, reconnecting as needed.
pub(crate) async fn run(
    shared: Arc<Shared>,
    sw: SwitchConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    let span = info_span!("switch", alias = %sw.alias, address = %sw.address);
    // One copy of the alias, shared by every call on this switch.
    let alias: Arc<str> = Arc::from(sw.alias.as_str());
    async move {
        let mut attempt = 0u32;
        loop {
            if *shutdown.borrow() {
                return;
            }
            match connect(&sw).await {
                Ok((events_client, mut events, cmd)) => {
                    attempt = 0;
                    info!("connected");
                    shared.pools.insert(alias.clone(), cmd.clone());
                    shared.metrics.switches_up.fetch_add(1, Ordering::Relaxed);
                    resync(&shared, &cmd, &alias).await;
                    let mut up = true;
                    loop {
                        tokio::select! {
                            ev = events.recv() => match ev {
                                Some(ClientEvent::Event(e)) => dispatch(&shared, &cmd, &alias, e).await,
                                Some(ClientEvent::Disconnected { reason }) => {
                                    warn!(%reason, "event connection lost");
                                    let lost_at = Instant::now();
                                    for c in shared.calls.iter().filter(|c| c.alias == alias) {
                                        let _ = c.mailbox.send(CallMsg::Unheard(Box::new(lost_at)));
                                    }
                                    if up {
                                        shared.metrics.switches_up.fetch_sub(1, Ordering::Relaxed);
                                        up = false;
                                    }
                                }
                                Some(ClientEvent::Reconnected { attempts, downtime }) => {
                                    info!(attempts, ?downtime, "reconnected; resyncing");
                                    if !up {
                                        shared.metrics.switches_up.fetch_add(1, Ordering::Relaxed);
                                        up = true;
                                    }
                                    shared.metrics.reconnects.fetch_add(1, Ordering::Relaxed);
                                    resync(&shared, &cmd, &alias).await;
                                }
                                Some(_) => {}
                                None => break,
                            },
                            _ = shutdown.changed() => {
                                let _ = events_client.exit().await;
                                for c in cmd.0.iter() {
                                    let _ = c.exit().await;
                                }
                                return;
                            }
                        }
                    }
                    if up {
                        shared.metrics.switches_up.fetch_sub(1, Ordering::Relaxed);
                    }
                }
                Err(e) => {
                    attempt += 1;
                    if attempt == 1 || attempt.is_multiple_of(10) {
                        warn!(error = %e, attempt, "cannot connect");
                    }
                }
            }
            let wait = Duration::from_millis(250u64.saturating_mul(1 << attempt.min(7))).min(Duration::from_secs(30));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
    .instrument(span)
    .await
}

/// Command connections per switch. The switch runs each connection's
/// `api` commands one after the other, so calls spread over a few.
const COMMAND_CONNECTIONS: usize = 4;

/// A switch's command connections; a call always uses the same one, so
/// its commands keep their order.
#[derive(Clone)]
pub(crate) struct Commands(Arc<Vec<Client>>);

impl Commands {
    pub(crate) fn for_call(&self, uuid: &str) -> &Client {
        let h = uuid
            .bytes()
            .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize));
        &self.0[h % self.0.len()]
    }

    fn any(&self) -> &Client {
        &self.0[0]
    }
}

async fn connect(
    sw: &SwitchConfig,
) -> Result<(Client, tokio::sync::mpsc::Receiver<ClientEvent>, Commands), esl::ClientError> {
    let config = ClientConfig::new(sw.address.clone(), sw.password.clone());
    let (events_client, events) = Client::connect(config.clone()).await?;
    events_client.subscribe(EventFormat::Plain, &EVENTS).await?;
    let mut pool = Vec::with_capacity(COMMAND_CONNECTIONS);
    for _ in 0..COMMAND_CONNECTIONS {
        let (cmd, mut cmd_events) = Client::connect(config.clone()).await?;
        // Command connections subscribe to nothing; drain them so they never fill.
        tokio::spawn(async move { while cmd_events.recv().await.is_some() {} });
        pool.push(cmd);
    }
    Ok((events_client, events, Commands(Arc::new(pool))))
}

/// The task of call `uuid`: the running one, or a new one started with
/// `rec` and `elapsed` (see [`CallActor::spawn`]). Atomic: two callers
/// never start two tasks for one call.
pub(crate) fn spawn_call(
    shared: &Arc<Shared>,
    cmd: &Commands,
    alias: &Arc<str>,
    uuid: &str,
    rec: Option<SessionRecord>,
    elapsed: Option<Duration>,
) -> Arc<Mailbox<CallMsg>> {
    let uuid: Arc<str> = Arc::from(uuid);
    let entry = shared.calls.entry(uuid.clone()).or_insert_with(|| {
        let mailbox = CallActor::spawn(
            shared.clone(),
            cmd.for_call(&uuid).clone(),
            uuid.clone(),
            alias.clone(),
            rec,
            elapsed,
        );
        CallEntry {
            alias: alias.clone(),
            mailbox,
        }
    });
    entry.mailbox.clone()
}

/// Call `uuid`'s persisted session; a failed read counts as none (and is
/// logged): the next resync looks at the call again.
pub(crate) async fn persisted(shared: &Shared, uuid: &str) -> Option<SessionRecord> {
    match shared.store.session(uuid).await {
        Ok(rec) => rec,
        Err(e) => {
            warn!(%uuid, error = %e, "cannot read the session");
            None
        }
    }
}

/// Routes an event to its call's task, starting one where the event begins a call.
async fn dispatch(shared: &Arc<Shared>, cmd: &Commands, alias: &Arc<str>, e: Event) {
    let (Some(name), Some(uuid)) = (
        e.event_name().map(str::to_string),
        e.unique_id().map(str::to_string),
    ) else {
        return;
    };
    let msg = match name.as_str() {
        "CHANNEL_PARK" => CallMsg::Park(Box::new((e, Instant::now()))),
        "CHANNEL_ANSWER" => CallMsg::Answer(Box::new(e)),
        "CHANNEL_HANGUP_COMPLETE" => CallMsg::HangupComplete(Box::new(e)),
        _ => return,
    };
    let existing = shared.calls.get(uuid.as_str()).map(|c| c.mailbox.clone());
    let mailbox = match existing {
        Some(mailbox) => mailbox,
        None => match &msg {
            CallMsg::Park(..) | CallMsg::Answer(..) => {
                spawn_call(shared, cmd, alias, &uuid, None, None)
            }
            // A hangup for a call we hold only on disk (after a restart).
            _ => match persisted(shared, &uuid).await {
                Some(rec) => spawn_call(shared, cmd, alias, &uuid, Some(rec), None),
                None => return, // unknown, refused, or already settled (a repeated event)
            },
        },
    };
    if let Err(msg) = mailbox.send(msg) {
        // The task ended between lookup and send: only a new call's first event matters.
        shared
            .calls
            .remove_if(uuid.as_str(), |_, e| Arc::ptr_eq(&e.mailbox, &mailbox));
        if let CallMsg::Park(..) | CallMsg::Answer(..) = &msg {
            let _ = spawn_call(shared, cmd, alias, &uuid, None, None).send(msg);
        }
    }
}

/// The switch's clock now (`strepoch`: FreeSWITCH's `strftime` has no
/// `%s`), to know how long a call we resume or settle has been up; `None`
/// if the switch does not say.
async fn switch_now(cmd: &Client) -> Option<DateTime<Utc>> {
    let secs = cmd.strepoch().await.ok()?;
    Utc.timestamp_opt(secs, 0).single()
}

/// Whether a call missing from `show channels` is really gone: the
/// switch's channel table lags its events (a call just answered may not be
/// listed yet), so it is asked about the call itself. A failed question
/// counts as alive: the call is looked at again at the next resync.
async fn still_up(cmd: &Client, uuid: &str) -> bool {
    match cmd.uuid_exists(uuid).await {
        Ok(up) => up,
        Err(e) => {
            warn!(%uuid, error = %e, "resync: uuid_exists failed; keeping the call");
            true
        }
    }
}

/// Compares the switch's channels with our sessions: sessions whose call
/// is gone are settled, persisted sessions whose call is up are resumed,
/// answered calls we never saw are picked up.
async fn resync(shared: &Arc<Shared>, pool: &Commands, alias: &Arc<str>) {
    let cmd = pool.any();
    // The command connection reconnects on its own schedule: give it time.
    let mut attempt = 0u32;
    let rows = loop {
        match cmd.show_channels().await {
            Ok(rows) => break rows,
            Err(e) if attempt < 40 => {
                attempt += 1;
                if attempt == 1 {
                    info!(error = %e, "resync: waiting for the command connection");
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => {
                warn!(error = %e, "resync: show channels failed; sessions are checked at the next reconnect");
                return;
            }
        }
    };
    // Every command connection, not only the first: a call's commands go
    // out on its own, and an answer to a park sent on one still down would
    // leave the caller waiting for the retry.
    for client in pool.0.iter().skip(1) {
        for _ in 0..40 {
            // Any answer will do: only a connection that is down fails.
            if !matches!(client.strepoch().await, Err(esl::ApiError::Client(_))) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    let listed: HashSet<String> = rows
        .iter()
        .filter_map(|r| r.uuid().map(str::to_string))
        .collect();
    let now = switch_now(cmd).await;
    let mine: Vec<(Arc<str>, Arc<Mailbox<CallMsg>>)> = shared
        .calls
        .iter()
        .filter(|c| c.alias == *alias)
        .map(|c| (c.key().clone(), c.mailbox.clone()))
        .collect();
    let mut up: Vec<(Arc<str>, Arc<Mailbox<CallMsg>>, bool)> = vec![];
    for (uuid, mailbox) in mine {
        if listed.contains(&*uuid) || still_up(cmd, &uuid).await {
            up.push((uuid, mailbox, false));
        } else {
            let _ = mailbox.send(CallMsg::Gone(Box::new(now)));
        }
    }
    for (uuid, rec) in stored_sessions(shared, alias).await {
        if shared.calls.contains_key(uuid.as_str()) {
            continue;
        }
        if listed.contains(&uuid) || still_up(cmd, &uuid).await {
            // How long the call has been up, by the switch's clock; without
            // it, resume from what was paid for (the loop catches up).
            let elapsed = match (now, rec.answer_time) {
                (Some(now), Some(a)) => (now - a).to_std().unwrap_or_default(),
                _ => rec.debited(),
            };
            info!(%uuid, ?elapsed, "resuming a session");
            let mailbox = spawn_call(shared, pool, alias, &uuid, Some(rec), Some(elapsed));
            up.push((Arc::from(uuid.as_str()), mailbox, true));
        } else {
            info!(%uuid, "settling a session whose call ended while we were away");
            let mailbox = spawn_call(shared, pool, alias, &uuid, Some(rec), Some(Duration::ZERO));
            let _ = mailbox.send(CallMsg::Gone(Box::new(now)));
        }
    }
    // Sessions authorized but not known answered: the switch says whether
    // and when it answered, or that the call still waits in the park (the
    // controller died before the switch had its answer: authorized again,
    // which the store answers from its record of the first attempt).
    for (uuid, mailbox, resumed) in &up {
        let resumed = *resumed;
        let _ = mailbox.send(CallMsg::Heard);
        if persisted(shared, uuid)
            .await
            .is_none_or(|r| r.answer_time.is_some())
        {
            continue;
        }
        let Ok(dump) = cmd.uuid_dump(uuid).await else {
            continue;
        };
        if crate::callinfo::micros(&dump, "Caller-Channel-Answered-Time").is_some() {
            info!(%uuid, "the call was answered while we were not listening");
            let answer = as_event(dump, "CHANNEL_ANSWER", now);
            let _ = mailbox.send(CallMsg::Answer(Box::new(answer)));
        } else if parked(&dump) {
            // A live task ignores this unless its own commands failed.
            info!(%uuid, resumed, "the call still waits in the park; authorizing it again");
            let park = as_event(dump, "CHANNEL_PARK", now);
            let _ = mailbox.send(CallMsg::Park(Box::new((park, Instant::now()))));
        }
    }
    for row in &rows {
        let Some(uuid) = row.uuid() else { continue };
        // A call settled already (its CDR may come before the channel
        // leaves the table) is never picked up again.
        if shared.calls.contains_key(uuid)
            || row.callstate() != Some("ACTIVE")
            || known(shared, uuid, false).await
        {
            continue;
        }
        if let Some(event) = pickup_event(cmd, uuid, now).await {
            info!(%uuid, "picking up a call we did not know");
            let mailbox = spawn_call(shared, pool, alias, uuid, None, None);
            let _ = mailbox.send(CallMsg::Answer(Box::new(event)));
        }
    }
    waiting_parks(shared, pool, alias, &rows, now).await;
    // The channel table lags the switch's events: a call parked just
    // before the reconnection may be listed only a moment later.
    let (shared, pool, alias) = (shared.clone(), pool.clone(), alias.clone());
    tokio::spawn(async move {
        tokio::time::sleep(TABLE_LAG).await;
        if let Ok(rows) = pool.any().show_channels().await {
            let now = switch_now(pool.any()).await;
            waiting_parks(&shared, &pool, &alias, &rows, now).await;
        }
    });
}

/// The sessions persisted for switch `alias`. Reading them is retried for
/// a while (the store may be back in a moment); without them the resync
/// goes on with the calls this node runs, and the next one looks again.
async fn stored_sessions(shared: &Shared, alias: &str) -> Vec<(String, SessionRecord)> {
    for attempt in 0..8u32 {
        match shared.store.sessions_of(alias).await {
            Ok(list) => return list,
            Err(e) => {
                warn!(error = %e, attempt, "resync: cannot read the switch's sessions");
                tokio::time::sleep(Duration::from_millis(250 << attempt.min(3))).await;
            }
        }
    }
    vec![]
}

/// Whether call `uuid` already has a call record (or, with `session`, a
/// session): such a call is never picked up or authorized again. A failed
/// read counts as known: the call is left for the next resync.
async fn known(shared: &Shared, uuid: &str, session: bool) -> bool {
    let cdr = shared.store.has_cdr(uuid).await;
    let sess = match session {
        true => shared.store.has_session(uuid).await,
        false => Ok(false),
    };
    match (cdr, sess) {
        (Ok(c), Ok(s)) => c || s,
        (Err(e), _) | (_, Err(e)) => {
            warn!(%uuid, error = %e, "resync: cannot tell whether the call is known; leaving it");
            true
        }
    }
}

/// How long after a resync the channel table is read again for parked
/// calls it did not list yet (the recordings show a lag of 4 to 24 ms).
const TABLE_LAG: Duration = Duration::from_secs(1);

/// Whether a channel waits in the `park` application.
pub(crate) fn parked(dump: &Event) -> bool {
    dump.variable("current_application") == Some("park")
}

/// A channel's `uuid_dump` as the event a controller would have received
/// at the switch's `now` (never before the channel's answer).
fn as_event(mut dump: Event, name: &str, now: Option<DateTime<Utc>>) -> Event {
    let mut now = now.unwrap_or_else(Utc::now);
    if let Some(answered) = crate::callinfo::micros(&dump, "Caller-Channel-Answered-Time") {
        now = now.max(answered);
    }
    dump.set_header("Event-Name", name);
    dump.set_header("Event-Date-Timestamp", now.timestamp_micros().to_string());
    dump
}

/// Parked channels that carry `cgr_*` variables and that no session
/// knows (they were parked while the Event Socket was down, so their
/// CHANNEL_PARK never arrived): authorized (or refused) as if it just had.
async fn waiting_parks(
    shared: &Arc<Shared>,
    pool: &Commands,
    alias: &Arc<str>,
    rows: &[esl::api::ChannelRow],
    now: Option<DateTime<Utc>>,
) {
    let cmd = pool.any();
    for row in rows {
        let Some(uuid) = row.uuid() else { continue };
        if row.get("application") != Some("park")
            || shared.calls.contains_key(uuid)
            || known(shared, uuid, true).await
        {
            continue;
        }
        let Ok(dump) = cmd.uuid_dump(uuid).await else {
            continue;
        };
        let has_cgr = dump
            .headers()
            .iter()
            .any(|(k, _)| k.starts_with("variable_cgr_"));
        if !parked(&dump) || !has_cgr || shared.calls.contains_key(uuid) {
            continue;
        }
        info!(%uuid, "a call parked while we were not listening; authorizing it");
        let park = as_event(dump, "CHANNEL_PARK", now);
        let mailbox = spawn_call(shared, pool, alias, uuid, None, None);
        let _ = mailbox.send(CallMsg::Park(Box::new((park, Instant::now()))));
    }
}

/// An answer event rebuilt from the channel's own data (`uuid_dump`), for
/// a call that was answered while we were not listening. Only a channel
/// with a `cgr_reqtype` of its own is billed without a park (see
/// `CallActor::answered_unparked`); the others are left alone.
async fn pickup_event(cmd: &Client, uuid: &str, now: Option<DateTime<Utc>>) -> Option<Event> {
    let dump = cmd.uuid_dump(uuid).await.ok()?;
    dump.variable("cgr_reqtype")?;
    crate::callinfo::micros(&dump, "Caller-Channel-Answered-Time")?;
    Some(as_event(dump, "CHANNEL_ANSWER", now))
}
