//! `GET /ws` on `listen.http`: JSON-RPC 2.0 over WebSocket, served by
//! jsonrpsee, for the console and any client that wants pushes instead of
//! polling.
//!
//! - Every registry method is callable by its CGRateS name (the one
//!   registry every transport calls: no second list of methods). `params`
//!   is CGRateS's one-element array or the argument object itself; errors
//!   carry the CGRateS text (`-32602` for malformed parameters, `-32000`
//!   for the rest, `-32601` for an unknown method).
//! - `tollgate_subscribeSessions` pushes `tollgate_sessions`
//!   notifications: a `snapshot` of the live sessions first, then, at most
//!   every `FLUSH`, the `changes`: the latest state of each call that
//!   appeared, was answered or debited, and the calls that ended.
//!   `tollgate_subscribeCdrs` pushes the new call records, as an array, at
//!   most every `FLUSH`. Batching keeps a busy switch's thousands of
//!   changes per second to a few messages per subscriber, and each change
//!   is serialized once for all of them (`sessions::live`).
//! - A subscriber that falls behind is not allowed to grow memory: when its
//!   connection's outgoing buffer (`MESSAGE_BUFFER` messages) is full, or it
//!   has lost events from the feed, its subscription is closed with an
//!   error notification; it subscribes again and gets a new snapshot.

use crate::rpc::{codec, Api, ApiError};
use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jsonrpsee::core::server::{PendingSubscriptionSink, SubscriptionMessage};
use jsonrpsee::core::{StringError, SubscriptionResult};
use jsonrpsee::server::{stop_channel, ServerHandle, StopHandle};
use jsonrpsee::types::ErrorObjectOwned;
use jsonrpsee::{Methods, RpcModule};
use serde_json::value::RawValue;
use serde_json::{json, Value};
use sessions::LiveEvent;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tower_service::Service;

/// Messages a connection may have waiting to be written before its
/// subscriptions are closed (with batched notifications, 32 are 8 s of
/// changes).
const MESSAGE_BUFFER: u32 = 32;

/// The WebSocket endpoint: the methods, and what stops its connections.
pub struct Ws {
    methods: Methods,
    stop: StopHandle,
    handle: ServerHandle,
}

impl Ws {
    /// Registers every method of `api`'s registry and the subscriptions.
    pub fn new(api: Arc<Api>) -> Arc<Ws> {
        let mut module = RpcModule::new(());
        for name in api.registry.names() {
            // jsonrpsee keys methods by `&'static str`; the set is fixed at
            // start, so each name is leaked once.
            let name: &'static str = Box::leak(name.to_string().into_boxed_str());
            let api = api.clone();
            let registered = module.register_async_method(name, move |params, _, _| {
                let api = api.clone();
                async move { call(&api, name, params.as_str()).await }
            });
            if let Err(e) = registered {
                tracing::warn!(method = name, error = %e, "not served on /ws");
            }
        }
        let batcher = Arc::new(Batcher::default());
        let (sessions_api, sessions_batcher) = (api.clone(), batcher.clone());
        let subscribed = module.register_subscription(
            "tollgate_subscribeSessions",
            "tollgate_sessions",
            "tollgate_unsubscribeSessions",
            move |_, pending, _, _| {
                let (api, batcher) = (sessions_api.clone(), sessions_batcher.clone());
                async move { follow_sessions(api, batcher, pending).await }
            },
        );
        if let Err(e) = subscribed {
            tracing::error!(error = %e, "tollgate_subscribeSessions not served");
        }
        let subscribed = module.register_subscription(
            "tollgate_subscribeCdrs",
            "tollgate_cdrs",
            "tollgate_unsubscribeCdrs",
            move |_, pending, _, _| {
                let (api, batcher) = (api.clone(), batcher.clone());
                async move { follow_cdrs(api, batcher, pending).await }
            },
        );
        if let Err(e) = subscribed {
            tracing::error!(error = %e, "tollgate_subscribeCdrs not served");
        }
        let (stop, handle) = stop_channel();
        Arc::new(Ws {
            methods: module.into(),
            stop,
            handle,
        })
    }

    /// Closes every WebSocket connection (at shutdown).
    pub fn stop(&self) {
        let _ = self.handle.stop();
    }

    /// Serves one request to `/ws` (the upgrade, then the connection).
    pub async fn serve(&self, request: Request) -> Response {
        let mut service = jsonrpsee::server::Server::builder()
            .set_message_buffer_capacity(MESSAGE_BUFFER)
            .max_request_body_size(codec::MAX_REQUEST_BYTES as u32)
            .to_service_builder()
            .build(self.methods.clone(), self.stop.clone());
        match service.call(request).await {
            Ok(response) => response.map(Body::new),
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        }
    }
}

/// One method call: CGRateS's parameter out of the JSON-RPC 2.0 `params`.
async fn call(
    api: &Api,
    method: &str,
    params: Option<&str>,
) -> Result<Box<RawValue>, ErrorObjectOwned> {
    let param = single_param(params).map_err(|e| to_error(&e))?;
    let mut out = Vec::new();
    api.call(method, &param, &mut out)
        .await
        .map_err(|e| to_error(&e))?;
    let text =
        String::from_utf8(out).map_err(|e| to_error(&ApiError::ServerError(e.to_string())))?;
    RawValue::from_string(text).map_err(|e| to_error(&ApiError::ServerError(e.to_string())))
}

/// `[arg]` or `arg` → `arg`; nothing → `null`.
fn single_param(params: Option<&str>) -> Result<Box<RawValue>, ApiError> {
    let bad = |e: serde_json::Error| ApiError::BadRequest(format!("params: {e}"));
    let Some(text) = params.map(str::trim).filter(|t| !t.is_empty()) else {
        return RawValue::from_string("null".into()).map_err(bad);
    };
    if text.starts_with('[') {
        let mut list: Vec<Box<RawValue>> = serde_json::from_str(text).map_err(bad)?;
        return match list.len() {
            0 => RawValue::from_string("null".into()).map_err(bad),
            1 => Ok(list.remove(0)),
            n => Err(ApiError::BadRequest(format!(
                "params: expected one argument, got {n}"
            ))),
        };
    }
    RawValue::from_string(text.to_string()).map_err(bad)
}

fn to_error(e: &ApiError) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(e.code() as i32, e.to_string(), None::<()>)
}

/// How often a subscriber is sent what changed: changes of one call in
/// between are folded into its latest state.
const FLUSH: Duration = Duration::from_millis(250);

/// Sends raw JSON unless the connection is too far behind.
fn push(sink: &mut jsonrpsee::SubscriptionSink, json: String) -> Result<(), StringError> {
    let raw = RawValue::from_string(json).map_err(|e| e.to_string())?;
    let msg = SubscriptionMessage::from_json(&raw).map_err(|e| e.to_string())?;
    sink.try_send(msg).map_err(|_| TOO_SLOW.to_string().into())
}

const TOO_SLOW: &str = "subscriber too slow: subscribe again";

/// What changed since the last batch.
#[derive(Default)]
struct Changes {
    /// Latest state by call, whole or partial, in the order calls first
    /// changed; `true` when whole.
    sessions: Vec<(Arc<str>, Arc<str>, bool)>,
    at: HashMap<Arc<str>, usize>,
    ended: Vec<(Arc<str>, Arc<str>)>,
}

impl Changes {
    fn update(&mut self, cgr_id: Arc<str>, json: Arc<str>, full: bool) {
        match self.at.get(&cgr_id) {
            // A call shown whole in this batch stays whole: its newer
            // partial state is merged in by the reader, so send it whole
            // only if the newer one is whole too; else keep both facts by
            // sending the newer partial after (never lose the whole one).
            Some(&i) if self.sessions[i].2 && !full => {
                self.at.insert(cgr_id.clone(), self.sessions.len());
                self.sessions.push((cgr_id, json, false));
            }
            Some(&i) => {
                self.sessions[i].1 = json;
                self.sessions[i].2 = full;
            }
            None => {
                self.at.insert(cgr_id.clone(), self.sessions.len());
                self.sessions.push((cgr_id, json, full));
            }
        }
    }

    fn end(&mut self, cgr_id: Arc<str>, origin_host: Arc<str>) {
        if self.at.remove(&cgr_id).is_some() {
            self.sessions.retain(|(id, _, _)| *id != cgr_id);
            self.at = self
                .sessions
                .iter()
                .enumerate()
                .map(|(i, (id, _, _))| (id.clone(), i))
                .collect();
        }
        // A settlement ends a call twice (its intent, then its record).
        if !self.ended.iter().any(|(id, _)| *id == cgr_id) {
            self.ended.push((cgr_id, origin_host));
        }
    }

    fn is_empty(&self) -> bool {
        self.sessions.is_empty() && self.ended.is_empty()
    }

    /// `{"Event":"changes","Sessions":[whole…],"Changed":[partial…],"Ended":[…]}`,
    /// and empties itself.
    fn take_json(&mut self) -> String {
        let mut out = String::from(r#"{"Event":"changes","Sessions":["#);
        let list = |out: &mut String, whole: bool| {
            let mut first = true;
            for (_, json, full) in &self.sessions {
                if *full == whole {
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    out.push_str(json);
                }
            }
        };
        list(&mut out, true);
        out.push_str(r#"],"Changed":["#);
        list(&mut out, false);
        out.push_str(r#"],"Ended":"#);
        let ended: Vec<Value> = self
            .ended
            .iter()
            .map(|(id, host)| json!({"CGRID": &**id, "OriginHost": &**host}))
            .collect();
        out.push_str(&Value::Array(ended).to_string());
        out.push('}');
        *self = Changes::default();
        out
    }
}

/// One batch for every subscriber: the `result` of a `tollgate_sessions`
/// and of a `tollgate_cdrs` notification, when there was something.
struct Batch {
    sessions: Option<Arc<str>>,
    cdrs: Option<Arc<str>>,
}

/// Builds each batch once for all subscribers: one task reads the feed
/// while anyone subscribes, and stops with the last one.
#[derive(Default)]
struct Batcher {
    running: std::sync::Mutex<Option<tokio::sync::broadcast::Sender<Arc<Batch>>>>,
}

/// Batches a subscriber may lag behind before it is dropped (8 s).
const BATCHES: usize = 32;

impl Batcher {
    /// The batches from now on (starting the batcher if need be).
    fn subscribe(
        self: &Arc<Self>,
        api: &Api,
    ) -> Option<tokio::sync::broadcast::Receiver<Arc<Batch>>> {
        let controller = api.state.sessions.as_ref()?;
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = running.as_ref() {
            return Some(tx.subscribe());
        }
        let (tx, rx) = tokio::sync::broadcast::channel(BATCHES);
        *running = Some(tx.clone());
        tokio::spawn(self.clone().run(controller.subscribe(), tx));
        Some(rx)
    }

    async fn run(
        self: Arc<Self>,
        mut feed: tokio::sync::broadcast::Receiver<LiveEvent>,
        tx: tokio::sync::broadcast::Sender<Arc<Batch>>,
    ) {
        let mut changes = Changes::default();
        let mut records: Vec<Arc<str>> = vec![];
        let mut flush = tokio::time::interval(FLUSH);
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = flush.tick() => {
                    // Under the lock: a subscriber either is counted here
                    // or starts a new batcher.
                    let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
                    if tx.receiver_count() == 0 {
                        *running = None;
                        return;
                    }
                    drop(running);
                    if changes.is_empty() && records.is_empty() {
                        continue;
                    }
                    let sessions = (!changes.is_empty()).then(|| Arc::from(changes.take_json()));
                    let cdrs = (!records.is_empty()).then(|| {
                        let mut out = String::from("[");
                        for (i, r) in records.drain(..).enumerate() {
                            if i > 0 {
                                out.push(',');
                            }
                            out.push_str(&r);
                        }
                        out.push(']');
                        Arc::from(out)
                    });
                    let _ = tx.send(Arc::new(Batch { sessions, cdrs }));
                }
                event = feed.recv() => match event {
                    Ok(LiveEvent::Update { cgr_id, json, full }) => changes.update(cgr_id, json, full),
                    Ok(LiveEvent::End { cgr_id, origin_host }) => changes.end(cgr_id, origin_host),
                    Ok(LiveEvent::Cdr { json }) => records.push(json),
                    // The batcher fell behind the feed: every subscriber
                    // starts again from a snapshot.
                    Err(RecvError::Lagged(_)) => {
                        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
                        *running = None;
                        return;
                    }
                    Err(RecvError::Closed) => return,
                },
            }
        }
    }
}

async fn follow_sessions(
    api: Arc<Api>,
    batcher: Arc<Batcher>,
    pending: PendingSubscriptionSink,
) -> SubscriptionResult {
    let batches = batcher.subscribe(&api);
    // The snapshot after subscribing: a change in between is sent twice,
    // never lost (a change replaces a call's row).
    let state = api.state.clone();
    let snapshot = tokio::task::spawn_blocking(move || {
        let sessions = match state.sessions.as_ref() {
            Some(s) => s.active_sessions().map_err(|e| e.to_string())?,
            None => vec![],
        };
        // Written straight from the records: no JSON tree of every session.
        #[derive(serde::Serialize)]
        struct Snapshot<'a> {
            #[serde(rename = "Event")]
            event: &'static str,
            #[serde(rename = "Sessions")]
            sessions: &'a [sessions::ActiveSession],
        }
        serde_json::to_string(&Snapshot {
            event: "snapshot",
            sessions: &sessions,
        })
        .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    let mut sink = pending.accept().await.map_err(|e| e.to_string())?;
    push(&mut sink, snapshot)?;
    forward(sink, batches, |b| b.sessions.clone()).await
}

async fn follow_cdrs(
    api: Arc<Api>,
    batcher: Arc<Batcher>,
    pending: PendingSubscriptionSink,
) -> SubscriptionResult {
    let batches = batcher.subscribe(&api);
    let sink = pending.accept().await.map_err(|e| e.to_string())?;
    forward(sink, batches, |b| b.cdrs.clone()).await
}

/// Sends a subscriber its part of every batch until it leaves.
async fn forward(
    mut sink: jsonrpsee::SubscriptionSink,
    batches: Option<tokio::sync::broadcast::Receiver<Arc<Batch>>>,
    part: impl Fn(&Batch) -> Option<Arc<str>>,
) -> SubscriptionResult {
    let Some(mut batches) = batches else {
        sink.closed().await;
        return Ok(());
    };
    loop {
        let batch = tokio::select! {
            _ = sink.closed() => return Ok(()),
            batch = batches.recv() => batch,
        };
        match batch {
            Ok(batch) => {
                if let Some(json) = part(&batch) {
                    push(&mut sink, json.to_string())?;
                }
            }
            Err(RecvError::Lagged(_)) => return Err(TOO_SLOW.to_string().into()),
            // The batcher stopped (it fell behind the feed).
            Err(RecvError::Closed) => return Err(TOO_SLOW.to_string().into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_keep_each_calls_latest_state_once() {
        let id = |s: &str| Arc::<str>::from(s);
        let mut c = Changes::default();
        assert!(c.is_empty());
        c.update(id("a"), id(r#"{"CGRID":"a","Usage":1}"#), true);
        c.update(id("b"), id(r#"{"CGRID":"b","Usage":1}"#), true);
        c.update(id("a"), id(r#"{"CGRID":"a","Usage":2}"#), true);
        c.update(id("c"), id(r#"{"CGRID":"c","Usage":1}"#), false);
        c.update(id("c"), id(r#"{"CGRID":"c","Usage":2}"#), false);
        c.end(id("b"), id("fs1"));
        c.end(id("b"), id("fs1"));
        let v: Value = serde_json::from_str(&c.take_json()).unwrap();
        assert_eq!(
            v,
            json!({"Event": "changes",
                "Sessions": [{"CGRID": "a", "Usage": 2}],
                "Changed": [{"CGRID": "c", "Usage": 2}],
                "Ended": [{"CGRID": "b", "OriginHost": "fs1"}]})
        );
        assert!(c.is_empty());
        // A call new in this batch, then changed: whole, then the change.
        c.update(
            id("d"),
            id(r#"{"CGRID":"d","Account":"x","Usage":0}"#),
            true,
        );
        c.update(id("d"), id(r#"{"CGRID":"d","Usage":3}"#), false);
        let v: Value = serde_json::from_str(&c.take_json()).unwrap();
        assert_eq!(
            v["Sessions"],
            json!([{"CGRID": "d", "Account": "x", "Usage": 0}])
        );
        assert_eq!(v["Changed"], json!([{"CGRID": "d", "Usage": 3}]));
    }

    #[test]
    fn cgrates_params_become_the_one_argument() {
        assert_eq!(
            single_param(Some(r#"[{"a":1}]"#)).unwrap().get(),
            r#"{"a":1}"#
        );
        assert_eq!(
            single_param(Some(r#"{"a":1}"#)).unwrap().get(),
            r#"{"a":1}"#
        );
        assert_eq!(single_param(None).unwrap().get(), "null");
        assert_eq!(single_param(Some("[]")).unwrap().get(), "null");
        assert!(matches!(
            single_param(Some("[1, 2]")),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            single_param(Some("[1,")),
            Err(ApiError::BadRequest(_))
        ));
    }
}
