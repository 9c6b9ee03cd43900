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
//!   notifications: a `snapshot` of the live sessions first, then an
//!   `update` per change of a call (appeared, answered, debited) and an
//!   `end` when it ends. `tollgate_subscribeCdrs` pushes each new call
//!   record as `tollgate_cdrs`.
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
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;
use tower_service::Service;

/// Messages a connection may have waiting to be written before its
/// subscriptions are closed.
const MESSAGE_BUFFER: u32 = 1024;

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

/// Sends `value` unless the connection is too far behind.
fn push(sink: &mut jsonrpsee::SubscriptionSink, value: &Value) -> Result<(), StringError> {
    let msg = SubscriptionMessage::from_json(value).map_err(|e| e.to_string())?;
    sink.try_send(msg)
        .map_err(|_| "subscriber too slow: subscribe again".to_string().into())
}

async fn follow_sessions(api: Arc<Api>, pending: PendingSubscriptionSink) -> SubscriptionResult {
    let feed = api.state.sessions.as_ref().map(|s| s.subscribe());
    // The snapshot after subscribing: a change in between is sent twice,
    // never lost (an update replaces a call's row).
    let state = api.state.clone();
    let snapshot = tokio::task::spawn_blocking(move || {
        state
            .sessions
            .as_ref()
            .map(|s| s.active_sessions())
            .unwrap_or_default()
    })
    .await
    .unwrap_or_default();
    let mut sink = pending.accept().await.map_err(|e| e.to_string())?;
    push(
        &mut sink,
        &json!({"Event": "snapshot", "Sessions": snapshot}),
    )?;
    let Some(mut feed) = feed else {
        sink.closed().await;
        return Ok(());
    };
    loop {
        let event = tokio::select! {
            _ = sink.closed() => return Ok(()),
            event = feed.recv() => event,
        };
        let value = match event {
            Ok(LiveEvent::Update(session)) => json!({"Event": "update", "Session": session}),
            Ok(LiveEvent::End {
                cgr_id,
                origin_host,
            }) => json!({"Event": "end", "CGRID": &*cgr_id, "OriginHost": &*origin_host}),
            Ok(LiveEvent::Cdr(_)) => continue,
            Err(RecvError::Lagged(_)) => {
                return Err("subscriber too slow: subscribe again".to_string().into())
            }
            Err(RecvError::Closed) => return Ok(()),
        };
        push(&mut sink, &value)?;
    }
}

async fn follow_cdrs(api: Arc<Api>, pending: PendingSubscriptionSink) -> SubscriptionResult {
    let feed = api.state.sessions.as_ref().map(|s| s.subscribe());
    let mut sink = pending.accept().await.map_err(|e| e.to_string())?;
    let Some(mut feed) = feed else {
        sink.closed().await;
        return Ok(());
    };
    loop {
        let event = tokio::select! {
            _ = sink.closed() => return Ok(()),
            event = feed.recv() => event,
        };
        match event {
            Ok(LiveEvent::Cdr(cdr)) => {
                let value = serde_json::to_value(&*cdr).map_err(|e| e.to_string())?;
                push(&mut sink, &value)?;
            }
            Ok(_) => {}
            Err(RecvError::Lagged(_)) => {
                return Err("subscriber too slow: subscribe again".to_string().into())
            }
            Err(RecvError::Closed) => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
