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
        let sessions_api = api.clone();
        let subscribed = module.register_subscription(
            "tollgate_subscribeSessions",
            "tollgate_sessions",
            "tollgate_unsubscribeSessions",
            move |_, pending, _, _| {
                let api = sessions_api.clone();
                async move { follow_sessions(api, pending).await }
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
                let api = api.clone();
                async move { follow_cdrs(api, pending).await }
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

/// What changed since a subscriber's last notification.
#[derive(Default)]
struct Changes {
    /// Latest state by call, in the order calls first changed.
    sessions: Vec<(Arc<str>, Arc<str>)>,
    at: HashMap<Arc<str>, usize>,
    ended: Vec<(Arc<str>, Arc<str>)>,
}

impl Changes {
    fn update(&mut self, cgr_id: Arc<str>, json: Arc<str>) {
        match self.at.get(&cgr_id) {
            Some(&i) => self.sessions[i].1 = json,
            None => {
                self.at.insert(cgr_id.clone(), self.sessions.len());
                self.sessions.push((cgr_id, json));
            }
        }
    }

    fn end(&mut self, cgr_id: Arc<str>, origin_host: Arc<str>) {
        if let Some(i) = self.at.remove(&cgr_id) {
            self.sessions.remove(i);
            for v in self.at.values_mut() {
                if *v > i {
                    *v -= 1;
                }
            }
        }
        // A settlement ends a call twice (its intent, then its record).
        if !self.ended.iter().any(|(id, _)| *id == cgr_id) {
            self.ended.push((cgr_id, origin_host));
        }
    }

    fn is_empty(&self) -> bool {
        self.sessions.is_empty() && self.ended.is_empty()
    }

    /// `{"Event":"changes","Sessions":[…],"Ended":[…]}`, and empties itself.
    fn take_json(&mut self) -> String {
        let mut out = String::from(r#"{"Event":"changes","Sessions":["#);
        for (i, (_, json)) in self.sessions.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(json);
        }
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

async fn follow_sessions(api: Arc<Api>, pending: PendingSubscriptionSink) -> SubscriptionResult {
    let feed = api.state.sessions.as_ref().map(|s| s.subscribe());
    // The snapshot after subscribing: a change in between is sent twice,
    // never lost (a change replaces a call's row).
    let state = api.state.clone();
    let snapshot = tokio::task::spawn_blocking(move || {
        let sessions = state
            .sessions
            .as_ref()
            .map(|s| s.active_sessions())
            .unwrap_or_default();
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
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    let mut sink = pending.accept().await.map_err(|e| e.to_string())?;
    push(&mut sink, snapshot)?;
    let Some(mut feed) = feed else {
        sink.closed().await;
        return Ok(());
    };
    let mut changes = Changes::default();
    let mut flush = tokio::time::interval(FLUSH);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = sink.closed() => return Ok(()),
            _ = flush.tick() => {
                if !changes.is_empty() {
                    push(&mut sink, changes.take_json())?;
                }
            }
            event = feed.recv() => match event {
                Ok(LiveEvent::Update { cgr_id, json }) => changes.update(cgr_id, json),
                Ok(LiveEvent::End { cgr_id, origin_host }) => changes.end(cgr_id, origin_host),
                Ok(LiveEvent::Cdr { .. }) => {}
                Err(RecvError::Lagged(_)) => return Err(TOO_SLOW.to_string().into()),
                Err(RecvError::Closed) => return Ok(()),
            },
        }
    }
}

async fn follow_cdrs(api: Arc<Api>, pending: PendingSubscriptionSink) -> SubscriptionResult {
    let feed = api.state.sessions.as_ref().map(|s| s.subscribe());
    let mut sink = pending.accept().await.map_err(|e| e.to_string())?;
    let Some(mut feed) = feed else {
        sink.closed().await;
        return Ok(());
    };
    let mut records: Vec<Arc<str>> = vec![];
    let mut flush = tokio::time::interval(FLUSH);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = sink.closed() => return Ok(()),
            _ = flush.tick() => {
                if !records.is_empty() {
                    let mut out = String::from("[");
                    for (i, r) in records.drain(..).enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        out.push_str(&r);
                    }
                    out.push(']');
                    push(&mut sink, out)?;
                }
            }
            event = feed.recv() => match event {
                Ok(LiveEvent::Cdr { json }) => records.push(json),
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => return Err(TOO_SLOW.to_string().into()),
                Err(RecvError::Closed) => return Ok(()),
            },
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
        c.update(id("a"), id(r#"{"CGRID":"a","Usage":1}"#));
        c.update(id("b"), id(r#"{"CGRID":"b","Usage":1}"#));
        c.update(id("a"), id(r#"{"CGRID":"a","Usage":2}"#));
        c.update(id("c"), id(r#"{"CGRID":"c","Usage":1}"#));
        c.end(id("b"), id("fs1"));
        c.end(id("b"), id("fs1"));
        let v: Value = serde_json::from_str(&c.take_json()).unwrap();
        assert_eq!(
            v,
            json!({"Event": "changes",
                "Sessions": [{"CGRID": "a", "Usage": 2}, {"CGRID": "c", "Usage": 1}],
                "Ended": [{"CGRID": "b", "OriginHost": "fs1"}]})
        );
        assert!(c.is_empty());
        c.update(id("c"), id(r#"{"CGRID":"c","Usage":3}"#));
        let v: Value = serde_json::from_str(&c.take_json()).unwrap();
        assert_eq!(v["Sessions"], json!([{"CGRID": "c", "Usage": 3}]));
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
