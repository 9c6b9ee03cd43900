//! HTTP on `listen.http` (axum):
//!
//! - `POST /jsonrpc`: JSON-RPC 1.0 bodies (one or more requests, answered
//!   in 1.0 form, one line each) and 2.0 bodies (answered in 2.0 form with
//!   error objects; a batch array is answered with an array; notifications
//!   get nothing, and a body of only notifications gets `204`).
//! - the 2012 GET endpoints (`/getcost?cstmid=vdf&subj=rif&dest=0257`, …):
//!   the query becomes a call descriptor (see [`query`](super::query)) for
//!   the registry method `Responder.<Name>`. `200` with the result's JSON,
//!   or `{"error": "..."}` with `400` (bad request), `422` (refused by the
//!   engine: no rate, no credit, not found), `501` (method not available)
//!   or `500`.
//! - `POST /freeswitch/cdr`: a JSON CDR posted by FreeSWITCH's
//!   `mod_json_cdr` (see [`sessions::cdr_intake`]): `200` once what it
//!   changed is durable, `400` for a body that is not a CDR (nothing
//!   changes), `503` when it cannot be taken yet and `500` when the store
//!   fails (the switch posts it again).
//! - `GET /ws`: JSON-RPC 2.0 over WebSocket with subscriptions (see [`ws`](super::ws)).
//! - `GET /health` (`200` serving; `503 {"status":"draining"}` or `503
//!   {"status":"store unavailable"}`, see [`crate::health`]) and `GET
//!   /metrics` (Prometheus text format).
//!
//! Bodies over 1 MiB are refused with `413` and a JSON-RPC error.

use super::limits::LimitedListener;
use super::tcp::Limits;
use super::ws::Ws;
use super::Shutdown;
use super::{auth, csv, query};
use crate::health::Status;
use crate::rpc::codec::{self, Request, MAX_REQUEST_BYTES};
use crate::rpc::{Api, ErrorClass};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use serde_json::value::RawValue;
use serde_json::Deserializer;
use std::sync::Arc;
use tokio::net::TcpListener;

/// GET endpoint → registry method. Both spellings of "received" are served.
pub const ENDPOINTS: [(&str, &str); 10] = [
    ("/getcost", "Responder.GetCost"),
    ("/debitbalance", "Responder.DebitBalance"),
    ("/debitsms", "Responder.DebitSMS"),
    ("/debitseconds", "Responder.DebitSeconds"),
    ("/getmaxsessiontime", "Responder.GetMaxSessionTime"),
    (
        "/addvolumediscountseconds",
        "Responder.AddVolumeDiscountSeconds",
    ),
    (
        "/resetvolumediscountseconds",
        "Responder.ResetVolumeDiscountSeconds",
    ),
    (
        "/addrecievedcallseconds",
        "Responder.AddRecievedCallSeconds",
    ),
    (
        "/addreceivedcallseconds",
        "Responder.AddReceivedCallSeconds",
    ),
    ("/resetuserbudget", "Responder.ResetUserBudget"),
];

/// The routes, over a shared [`Api`]. Also `GET /cdrs.csv` ([`csv`]) and
/// `POST /ui/login` ([`auth`]). With `security.api_token` set, every route
/// but `GET /health` and the login form requires the token
/// ([`auth::require_token`]): add routes above that layer, which must stay
/// the last thing applied so that it covers every route and the fallback.
pub fn router(api: Arc<Api>) -> Router {
    router_with(api.clone(), Ws::new(api))
}

/// The routes, with `/ws` served by `ws`.
pub fn router_with(api: Arc<Api>, ws: Arc<Ws>) -> Router {
    let mut router = Router::new()
        .route(
            "/ws",
            any(move |request: axum::extract::Request| {
                let ws = ws.clone();
                async move { ws.serve(request).await }
            }),
        )
        .route("/jsonrpc", post(jsonrpc))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/sessions", get(active_sessions))
        .route("/freeswitch/cdr", post(switch_cdr))
        .route("/cdrs.csv", get(csv::cdrs_csv))
        .route("/ui/login", get(auth::login_form).post(auth::login));
    for (path, method) in ENDPOINTS {
        router = router.route(
            path,
            get(move |State(api): State<Arc<Api>>, uri: Uri| curl(api, method, uri)),
        );
    }
    router
        .merge(super::ui::routes())
        .fallback(|| async {
            json(
                StatusCode::NOT_FOUND,
                error_body("NOT_FOUND: no such endpoint"),
            )
        })
        .layer(axum::middleware::from_fn_with_state(
            api.clone(),
            auth::require_token,
        ))
        .with_state(api)
}

/// Serves HTTP until `shutdown` fires and open connections finish.
pub async fn serve(listener: TcpListener, api: Arc<Api>, limits: Limits, shutdown: Shutdown) {
    let listener = LimitedListener::new(listener, limits, api.clone());
    let token = shutdown.token.clone();
    let ws = Ws::new(api.clone());
    let closing = ws.clone();
    let closed = token.clone();
    tokio::spawn(async move {
        closed.cancelled().await;
        closing.stop();
    });
    if let Err(e) = axum::serve(listener, router_with(api, ws))
        .with_graceful_shutdown(async move { token.cancelled().await })
        .await
    {
        tracing::error!(error = %e, "http server failed");
    }
}

fn json(status: StatusCode, body: impl Into<Body>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.into(),
    )
        .into_response()
}

fn error_body(message: &str) -> Vec<u8> {
    let mut out = b"{\"error\":".to_vec();
    codec::write_str(&mut out, message);
    out.push(b'}');
    out
}

async fn jsonrpc(State(api): State<Arc<Api>>, body: Body) -> Response {
    let bytes: Bytes = match axum::body::to_bytes(body, MAX_REQUEST_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            let mut out = Vec::new();
            codec::error_v1(
                &mut out,
                None,
                &format!("SERVER_ERROR: request larger than {MAX_REQUEST_BYTES} bytes"),
            );
            return json(StatusCode::PAYLOAD_TOO_LARGE, out);
        }
    };
    let looks_v2 = memchr::memmem::find(&bytes, b"\"jsonrpc\"").is_some();
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace()).copied();
    let mut out = Vec::with_capacity(1024);
    if first == Some(b'[') {
        return batch(&api, &bytes).await;
    }
    let mut requests = Deserializer::from_slice(&bytes).into_iter::<Request>();
    let mut answered = 0;
    loop {
        match requests.next() {
            None => break,
            Some(Ok(req)) => {
                if out.len() > api.state.config.limits.max_reply_bytes {
                    if over_budget(api.state.config.limits.max_reply_bytes, &req, &mut out) {
                        answered += 1;
                    }
                } else if api.answer(&req, &mut out).await {
                    answered += 1;
                }
            }
            Some(Err(e)) => {
                let message = format!("malformed JSON-RPC request: {e}");
                if looks_v2 {
                    codec::error_v2(&mut out, None, -32700, &message);
                } else {
                    codec::error_v1(&mut out, None, &message);
                }
                return json(StatusCode::BAD_REQUEST, out);
            }
        }
    }
    if answered == 0 && !out.is_empty() {
        return json(StatusCode::OK, out);
    }
    if answered == 0 {
        if first.is_none() {
            let mut out = Vec::new();
            codec::error_v1(&mut out, None, "empty request body");
            return json(StatusCode::BAD_REQUEST, out);
        }
        return StatusCode::NO_CONTENT.into_response();
    }
    json(StatusCode::OK, out)
}

/// Answers a request of a body whose replies already exceed
/// `limits.max_reply_bytes` without running it (the body's answer must
/// stay bounded). Returns false for a notification.
fn over_budget(max: usize, req: &Request<'_>, out: &mut Vec<u8>) -> bool {
    let e = crate::rpc::registry::reply_too_large(max);
    if req.v2 {
        if req.id.is_none_or(|id| id.get() == "null") {
            return false;
        }
        codec::error_v2(out, req.id, e.code(), &e.to_string());
    } else {
        codec::error_v1(out, req.id, &e.to_string());
    }
    true
}

/// A JSON-RPC 2.0 batch: an array of requests answered by an array.
async fn batch(api: &Api, bytes: &[u8]) -> Response {
    let items: Vec<&RawValue> = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            let mut out = Vec::new();
            codec::error_v2(
                &mut out,
                None,
                -32700,
                &format!("malformed JSON-RPC batch: {e}"),
            );
            return json(StatusCode::BAD_REQUEST, out);
        }
    };
    if items.is_empty() {
        let mut out = Vec::new();
        codec::error_v2(&mut out, None, -32600, "empty batch");
        return json(StatusCode::BAD_REQUEST, out);
    }
    let mut out = b"[".to_vec();
    let mut count = 0;
    for item in items {
        let mark = out.len();
        if count > 0 {
            out.push(b',');
        }
        let max = api.state.config.limits.max_reply_bytes;
        let wrote = match serde_json::from_str::<Request>(item.get()) {
            Ok(req) if out.len() > max => over_budget(max, &req, &mut out),
            Ok(req) => api.answer(&req, &mut out).await,
            Err(e) => {
                codec::error_v2(&mut out, None, -32600, &format!("invalid request: {e}"));
                true
            }
        };
        if wrote {
            // Trim the newline a 1.0 answer ends with.
            if out.last() == Some(&b'\n') {
                out.pop();
            }
            count += 1;
        } else {
            out.truncate(mark);
        }
    }
    if count == 0 {
        return StatusCode::NO_CONTENT.into_response();
    }
    out.push(b']');
    json(StatusCode::OK, out)
}

/// A 2012 GET endpoint: the query as a call descriptor for `method`.
async fn curl(api: Arc<Api>, method: &'static str, uri: Uri) -> Response {
    let span = tracing::debug_span!("http", path = uri.path());
    let _entered = span.enter();
    let params = match query::descriptor(uri.query().unwrap_or(""), chrono::Utc::now()) {
        Ok(p) => p,
        Err(e) => return json(StatusCode::BAD_REQUEST, error_body(&e.to_string())),
    };
    drop(_entered);
    let raw = RawValue::from_string(params.to_string()).expect("a JSON object");
    let mut out = Vec::with_capacity(1024);
    match api.call(method, &raw, &mut out).await {
        Ok(()) => json(StatusCode::OK, out),
        Err(e) => {
            let status = match e.class() {
                ErrorClass::BadRequest => StatusCode::BAD_REQUEST,
                ErrorClass::Refused => StatusCode::UNPROCESSABLE_ENTITY,
                ErrorClass::UnknownMethod => StatusCode::NOT_IMPLEMENTED,
                ErrorClass::Server => StatusCode::INTERNAL_SERVER_ERROR,
            };
            json(status, error_body(&e.to_string()))
        }
    }
}

/// `GET /health`: `200` with the plan's summary while serving; `503
/// {"status":"draining"}` once the node is stopping, `503 {"status":"store
/// unavailable"}` while the store does not answer its probe.
async fn health(State(api): State<Arc<Api>>) -> Response {
    let status = api.state.health.status();
    if status != Status::Ok {
        let mut out = b"{\"status\":".to_vec();
        codec::write_str(&mut out, status.as_str());
        out.push(b'}');
        return json(StatusCode::SERVICE_UNAVAILABLE, out);
    }
    let plan = api.state.tariff();
    let body = serde_json::json!({
        "status": status.as_str(),
        "node_id": api.state.node_id,
        "version": env!("CARGO_PKG_VERSION"),
        "tariffplan": {
            "destinations": plan.destinations.len(),
            "prefixes": plan.destinations.prefix_count(),
            "rating_profiles": plan.profiles.len(),
            "loads_since_start": api.state.plan_loads(),
            "loaded_at": api.state.plan_loaded_at(),
        },
    });
    json(StatusCode::OK, body.to_string())
}

/// `GET /sessions`: the live calls (as `SessionSv1.GetActiveSessions`).
async fn active_sessions(State(api): State<Arc<Api>>) -> Response {
    // The sessions are read from the journal file or PostgreSQL: off the async threads.
    let state = api.state.clone();
    let list = tokio::task::spawn_blocking(move || match state.sessions.as_ref() {
        Some(s) => s.active_sessions().map_err(|e| e.to_string()),
        None => Ok(vec![]),
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r);
    let list = match list {
        Ok(list) => list,
        Err(e) => {
            return json(
                StatusCode::INTERNAL_SERVER_ERROR,
                error_body(&format!("SERVER_ERROR: {e}")),
            )
        }
    };
    match serde_json::to_value(list) {
        Ok(v) => json(StatusCode::OK, v.to_string()),
        Err(e) => json(
            StatusCode::INTERNAL_SERVER_ERROR,
            error_body(&format!("SERVER_ERROR: {e}")),
        ),
    }
}

async fn switch_cdr(
    State(api): State<Arc<Api>>,
    headers: axum::http::HeaderMap,
    body: Body,
) -> Response {
    let bytes: Bytes = match axum::body::to_bytes(body, MAX_REQUEST_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return json(
                StatusCode::PAYLOAD_TOO_LARGE,
                error_body(&format!("CDR larger than {MAX_REQUEST_BYTES} bytes")),
            )
        }
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let verdict = match &api.state.sessions {
        Some(sessions) => sessions.switch_cdr(&bytes, content_type).await,
        // No switch is followed: nothing is billed, but the body is still checked.
        None => sessions::switch_cdr::parse(&bytes, content_type)
            .map(|_| sessions::CdrVerdict::NotBilled)
            .map_err(sessions::CdrPostError::from),
    };
    match verdict {
        Ok(v) => {
            let mut out = b"{\"result\":".to_vec();
            codec::write_str(&mut out, v.as_str());
            out.push(b'}');
            json(StatusCode::OK, out)
        }
        Err(sessions::CdrPostError::Elsewhere {
            why,
            http: Some(to),
        }) if !headers.contains_key(super::forward::FORWARDED) => {
            match super::forward::cdr(&to, bytes, &headers).await {
                Ok((status, body)) => json(status, body.to_vec()),
                Err(e) => json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    error_body(&format!("{why}: {e}")),
                ),
            }
        }
        Err(e) => {
            let status = match e {
                sessions::CdrPostError::Unreadable(_) => StatusCode::BAD_REQUEST,
                sessions::CdrPostError::NotYet(_) | sessions::CdrPostError::Elsewhere { .. } => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                sessions::CdrPostError::Failed(_) => StatusCode::INTERNAL_SERVER_ERROR,
            };
            json(status, error_body(&e.to_string()))
        }
    }
}

async fn metrics(State(api): State<Arc<Api>>) -> Response {
    let mut text = api.metrics.render(api.registry.stats());
    text.push_str(&format!(
        "# HELP tollgate_tariffplan_loads_total Tariff plans swapped in since start.\n# TYPE tollgate_tariffplan_loads_total counter\ntollgate_tariffplan_loads_total {}\n",
        api.state.plan_loads()
    ));
    if let Some(sessions) = &api.state.sessions {
        text.push_str(&sessions.metrics().render());
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        text,
    )
        .into_response()
}
