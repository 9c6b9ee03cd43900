//! Passing a switch's CDR post on to the node that controls the switch.
//!
//! In a cluster the switch posts its CDRs (`mod_json_cdr`) to the
//! balancer, which may pick any node; only the node holding the switch's
//! lease runs the call. A node that is not it passes the post on once (the
//! `X-Tollgate-Forwarded` header marks it, so a post never travels twice)
//! and answers what the holder answered; if the holder cannot be reached,
//! 503, and the switch posts again.

use axum::http::{header, HeaderMap, HeaderValue, Request, StatusCode};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use std::time::Duration;

/// The header that marks a forwarded post.
pub const FORWARDED: &str = "x-tollgate-forwarded";

/// How long the holder has to answer.
const WAIT: Duration = Duration::from_secs(10);

/// POSTs `body` to `http://{to}/freeswitch/cdr` with the original post's
/// content type and credentials; returns the holder's status and body.
pub async fn cdr(
    to: &str,
    body: Bytes,
    original: &HeaderMap,
) -> Result<(StatusCode, Bytes), String> {
    tokio::time::timeout(WAIT, post(to, body, original))
        .await
        .map_err(|_| format!("node at {to} did not answer within {WAIT:?}"))?
}

async fn post(to: &str, body: Bytes, original: &HeaderMap) -> Result<(StatusCode, Bytes), String> {
    let err = |e: &dyn std::fmt::Display| format!("passing the CDR to {to}: {e}");
    let stream = tokio::net::TcpStream::connect(to)
        .await
        .map_err(|e| err(&e))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| err(&e))?;
    tokio::spawn(conn);
    let mut request = Request::post("/freeswitch/cdr")
        .header(header::HOST, to)
        .header(FORWARDED, HeaderValue::from_static("1"));
    for name in [header::CONTENT_TYPE, header::AUTHORIZATION, header::COOKIE] {
        if let Some(v) = original.get(&name) {
            request = request.header(name, v);
        }
    }
    let request = request.body(Full::new(body)).map_err(|e| err(&e))?;
    let response = sender.send_request(request).await.map_err(|e| err(&e))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| err(&e))?
        .to_bytes();
    Ok((status, body))
}
