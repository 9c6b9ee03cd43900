//! The live feed: what a console shows changing without polling. Every
//! persisted change of a session (authorized, answered, a debit) is
//! published as its CGRateS view, its end as an `End`, and each new call
//! record as a `Cdr`, each serialized to JSON once, however many listen.
//! A broadcast channel of bounded capacity: a receiver that falls behind
//! loses the oldest events and is told so (it then asks for a new
//! snapshot); nothing is built when nobody listens.

use crate::record::{ActiveSession, Cdr, SessionRecord};
use crate::shared::Shared;
use crate::RequestType;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// The fields of a running call's update that is not `full`.
pub const DELTA: [&str; 8] = [
    "CGRID",
    "AnswerTime",
    "Usage",
    "MaxCostSoFar",
    "Limit",
    "LoopIndex",
    "DurationIndex",
    "MaxUsage",
];

/// Events a receiver may lag behind before it is told to start again.
pub const CAPACITY: usize = 4096;

/// One change the console sees.
#[derive(Debug, Clone)]
pub enum LiveEvent {
    /// A call appeared, was answered, or its debit advanced: its id and
    /// its [`ActiveSession`] as JSON; when not `full`, only the fields that
    /// change while a call runs (`CGRID`, `AnswerTime`, `Usage`,
    /// `MaxCostSoFar`, `Limit`, `LoopIndex`, `DurationIndex`, `MaxUsage`),
    /// for a call already shown whole.
    Update {
        cgr_id: Arc<str>,
        json: Arc<str>,
        full: bool,
    },
    /// A call ended (settled, or ended unheard and waiting for its CDR).
    End {
        cgr_id: Arc<str>,
        origin_host: Arc<str>,
    },
    /// A call record was written: the [`Cdr`] as JSON.
    Cdr { json: Arc<str> },
}

pub(crate) fn channel() -> broadcast::Sender<LiveEvent> {
    broadcast::channel(CAPACITY).0
}

impl Shared {
    fn listened(&self) -> bool {
        self.live.receiver_count() > 0
    }

    /// Publishes the state of call `uuid` just persisted (`None`: ended).
    pub(crate) fn publish_session(
        &self,
        uuid: &Arc<str>,
        alias: &Arc<str>,
        rec: Option<&SessionRecord>,
    ) {
        if !self.listened() {
            return;
        }
        let event = match rec {
            Some(rec) if rec.gone.is_none() && rec.settling.is_none() => {
                let interval = match rec.info.request_type {
                    RequestType::Prepaid => self.cfg.debit_interval,
                    _ => Duration::ZERO,
                };
                // Whole when the call first appears (nothing paid or
                // debited yet), then only what changes: a debit every
                // interval of ten thousand calls is a lot of unchanged names.
                let full = rec.debited_ns == 0 && rec.loop_index == 0;
                let session = ActiveSession::of(rec, interval);
                let json = if full {
                    serde_json::to_string(&session)
                } else {
                    serde_json::to_value(&session).and_then(|v| {
                        let pick: serde_json::Map<String, serde_json::Value> = DELTA
                            .iter()
                            .filter_map(|k| v.get(*k).map(|x| (k.to_string(), x.clone())))
                            .collect();
                        serde_json::to_string(&pick)
                    })
                };
                match json {
                    Ok(json) => LiveEvent::Update {
                        cgr_id: uuid.clone(),
                        json: Arc::from(json),
                        full,
                    },
                    Err(_) => return,
                }
            }
            _ => LiveEvent::End {
                cgr_id: uuid.clone(),
                origin_host: alias.clone(),
            },
        };
        let _ = self.live.send(event);
    }

    /// Publishes a new call record.
    pub(crate) fn publish_cdr(&self, cdr: &Cdr) {
        if self.listened() {
            if let Ok(json) = serde_json::to_string(cdr) {
                let _ = self.live.send(LiveEvent::Cdr {
                    json: Arc::from(json),
                });
            }
        }
    }
}
