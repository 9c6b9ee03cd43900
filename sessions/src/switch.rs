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
                    shared.metrics.switches_up.fetch_add(1, Ordering::Relaxed);
                    resync(&shared, &cmd, &alias).await;
                    let mut up = true;
                    loop {
                        tokio::select! {
                            ev = events.recv() => match ev {
                                Some(ClientEvent::Event(e)) => dispatch(&shared, &cmd, &alias, e).await,
                                Some(ClientEvent::Disconnected { reason }) => {
                                    warn!(%reason, "event connection lost");
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
    fn for_call(&self, uuid: &str) -> &Client {
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

fn spawn_call(
    shared: &Arc<Shared>,
    cmd: &Commands,
    alias: &Arc<str>,
    uuid: &str,
    rec: Option<SessionRecord>,
    elapsed: Option<Duration>,
) -> Arc<Mailbox<CallMsg>> {
    let uuid: Arc<str> = Arc::from(uuid);
    let mailbox = CallActor::spawn(
        shared.clone(),
        cmd.for_call(&uuid).clone(),
        uuid.clone(),
        alias.clone(),
        rec,
        elapsed,
    );
    shared.calls.insert(
        uuid,
        CallEntry {
            alias: alias.clone(),
            mailbox: mailbox.clone(),
        },
    );
    mailbox
}

fn persisted(shared: &Shared, uuid: &str) -> Option<SessionRecord> {
    serde_json::from_value(shared.journal.get(&format!("session:{uuid}"))?).ok()
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
            _ => match persisted(shared, &uuid) {
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

/// The switch's clock now (`strftime %s`), to know how long a call we
/// resume or settle has been up; `None` if the switch does not say.
async fn switch_now(cmd: &Client) -> Option<DateTime<Utc>> {
    let r = cmd.api("strftime %s").await.ok()?;
    let secs = r.text().trim().parse::<i64>().ok()?;
    Utc.timestamp_opt(secs, 0).single()
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
    let alive: HashSet<String> = rows
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
    for (uuid, mailbox) in &mine {
        if !alive.contains(&**uuid) {
            let _ = mailbox.send(CallMsg::Gone(Box::new(now)));
        }
    }
    for (key, value) in shared.journal.scan("session:") {
        let uuid = key.trim_start_matches("session:").to_string();
        if shared.calls.contains_key(uuid.as_str()) {
            continue;
        }
        let Ok(rec) = serde_json::from_value::<SessionRecord>(value) else {
            continue;
        };
        if rec.origin_host != *alias {
            continue;
        }
        if alive.contains(&uuid) {
            // How long the call has been up, by the switch's clock; without
            // it, resume from what was paid for (the loop catches up).
            let elapsed = match (now, rec.answer_time) {
                (Some(now), Some(a)) => (now - a).to_std().unwrap_or_default(),
                _ => rec.debited(),
            };
            info!(%uuid, ?elapsed, "resuming a session");
            spawn_call(shared, pool, alias, &uuid, Some(rec), Some(elapsed));
        } else {
            info!(%uuid, "settling a session whose call ended while we were away");
            let mailbox = spawn_call(shared, pool, alias, &uuid, Some(rec), Some(Duration::ZERO));
            let _ = mailbox.send(CallMsg::Gone(Box::new(now)));
        }
    }
    for row in &rows {
        let Some(uuid) = row.uuid() else { continue };
        if shared.calls.contains_key(uuid) || row.callstate() != Some("ACTIVE") {
            continue;
        }
        if let Some(event) = pickup_event(cmd, row).await {
            info!(%uuid, "picking up a call we did not know");
            let mailbox = spawn_call(shared, pool, alias, uuid, None, None);
            let _ = mailbox.send(CallMsg::Answer(Box::new(event)));
        }
    }
}

/// An answer event rebuilt from a channel row and its variables, for a
/// call that was answered while we were not listening.
async fn pickup_event(cmd: &Client, row: &esl::api::ChannelRow) -> Option<Event> {
    let uuid = row.uuid()?;
    let mut e = Event::new("CHANNEL_ANSWER").with_header("Unique-ID", uuid);
    if let Some(d) = row.get("dest") {
        e = e.with_header("Caller-Destination-Number", d);
    }
    if let Some(n) = row.get("cid_num") {
        e = e.with_header("Caller-Caller-ID-Number", n);
    }
    for var in [
        "cgr_reqtype",
        "cgr_tenant",
        "cgr_account",
        "cgr_subject",
        "cgr_destination",
        "cgr_category",
        "answer_epoch",
    ] {
        if let Ok(r) = cmd.api(&format!("uuid_getvar {uuid} {var}")).await {
            let v = r.text().trim().to_string();
            if !v.is_empty() && v != "_undef_" && !v.starts_with("-ERR") {
                if var == "answer_epoch" {
                    if let Ok(secs) = v.parse::<i64>() {
                        e = e.with_header(
                            "Caller-Channel-Answered-Time",
                            (secs * 1_000_000).to_string(),
                        );
                    }
                } else {
                    e = e.with_header(format!("variable_{var}"), v);
                }
            }
        }
    }
    Some(e)
}
