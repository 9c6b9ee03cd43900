//! Raw TCP JSON-RPC with the codec of Go's `net/rpc/jsonrpc`: a stream of
//! JSON objects with no framing (whitespace or newlines between them are
//! optional), each answered by one JSON object and a newline, in order.
//!
//! Each connection is one task that reads what has arrived, answers every
//! complete request in the buffer, and writes all the answers with one
//! `write` before reading again, so a pipelining client costs one read and
//! one write per batch rather than per request.
//!
//! Requests are delimited by a [`Framer`] that keeps its scan state
//! between reads, so every byte is looked at once however the request is
//! split, and serde parses each complete request once.
//!
//! Limits, none of which affects other connections:
//! - a request larger than [`MAX_REQUEST_BYTES`] is answered with an error
//!   (and the connection closed when it cannot be skipped);
//! - bytes that are not JSON get one error reply, then the connection is
//!   closed (the stream cannot be resynchronised);
//! - a connection that completes no request for `listen.idle_timeout` is
//!   closed (bytes that are only whitespace do not keep it open);
//! - once the first byte of a request has arrived, the request must be
//!   complete within `listen.request_timeout`, however its bytes trickle
//!   in; else one error reply and the connection is closed;
//! - beyond `listen.max_connections`, or `listen.max_connections_per_ip`
//!   from one address, a new connection gets one error reply and is closed.

use super::framer::{Frame, Framer};
use super::limits::{too_many, PerAddress};
use super::Shutdown;
use crate::rpc::codec::{self, Request, MAX_REQUEST_BYTES};
use crate::rpc::Api;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// Answers are written once this many bytes are waiting, even in the
/// middle of a batch.
const FLUSH_BYTES: usize = 256 * 1024;

/// What a listener needs besides the API.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub request_timeout: Duration,
}

/// Serves connections until `shutdown` fires; returns once it stopped
/// accepting (connections finish on their own tasks, tracked by `shutdown`).
pub async fn serve(listener: TcpListener, api: Arc<Api>, limits: Limits, shutdown: Shutdown) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let per_address = PerAddress::new(limits.max_connections_per_ip);
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.token.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little.
                    tracing::warn!(error = %e, "rpc_json accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let stats = &api.metrics.rpc_json;
        // The address's cap first: a refused address takes no global slot.
        let Some(address_permit) = per_address.try_acquire(peer.ip()) else {
            stats.refused.fetch_add(1, Relaxed);
            tracing::warn!(%peer, "rpc_json connection refused: max_connections_per_ip reached");
            tokio::spawn(refuse(stream, true));
            continue;
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            stats.refused.fetch_add(1, Relaxed);
            tracing::warn!(%peer, "rpc_json connection refused: max_connections reached");
            tokio::spawn(refuse(stream, false));
            continue;
        };
        stats.accepted.fetch_add(1, Relaxed);
        stats.open.fetch_add(1, Relaxed);
        let api = api.clone();
        let token = shutdown.token.clone();
        shutdown.tracker.spawn(async move {
            let span = tracing::debug_span!("rpc_json", %peer);
            let _ = tracing::Instrument::instrument(connection(stream, &api, limits, token), span)
                .await;
            api.metrics.rpc_json.open.fetch_sub(1, Relaxed);
            drop(permit);
            drop(address_permit);
        });
    }
}

async fn refuse(mut stream: TcpStream, per_address: bool) {
    let mut out = Vec::new();
    codec::error_v1(&mut out, None, too_many(per_address));
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(&out)).await;
}

/// Why a connection ended.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    Closed,
    Idle,
    Garbage,
    TooLarge,
    /// A request did not arrive whole within `listen.request_timeout`.
    TooSlow,
    Shutdown,
    Io,
}

/// Serves one connection until the peer closes it, a limit ends it, or
/// shutdown (after answering what was already read).
pub async fn connection(
    mut stream: TcpStream,
    api: &Api,
    limits: Limits,
    shutdown: tokio_util::sync::CancellationToken,
) -> End {
    let _ = stream.set_nodelay(true);
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut out: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut framer = Framer::default();
    // When the request at the front of `buf` must be complete.
    let mut request_deadline: Option<tokio::time::Instant> = None;
    // Moved on by complete requests only, not by any byte.
    let mut idle_deadline = tokio::time::Instant::now() + limits.idle_timeout;
    loop {
        // Answer every complete request in the buffer.
        let mut start = 0;
        let mut end = None;
        loop {
            match framer.next(&buf[start..]) {
                Frame::Complete(len) => {
                    let text = &buf[start..start + len];
                    match serde_json::from_slice::<Request>(text) {
                        Ok(req) if len > MAX_REQUEST_BYTES => {
                            codec::error_v1(&mut out, req.id, &too_large());
                        }
                        Ok(req) => {
                            api.answer(&req, &mut out).await;
                        }
                        Err(e) => {
                            codec::error_v1(&mut out, None, &malformed(&e.to_string()));
                            end = Some(End::Garbage);
                            break;
                        }
                    }
                    start += len;
                    request_deadline = None;
                    idle_deadline = tokio::time::Instant::now() + limits.idle_timeout;
                    // Bound the memory a burst of small requests with large
                    // answers can take: write out as we go.
                    if out.len() >= FLUSH_BYTES {
                        if stream.write_all(&out).await.is_err() {
                            return End::Io;
                        }
                        out.clear();
                    }
                }
                Frame::Incomplete { started } => {
                    if !started {
                        // Whitespace only: nothing is pending.
                        let n = framer.skippable();
                        framer.skipped(n);
                        start += n;
                    }
                    break;
                }
                Frame::NotAnObject => {
                    // serde says what is wrong when it can tell already.
                    let why = match serde_json::from_slice::<Request>(&buf[start..]) {
                        Err(e) if !e.is_eof() => e.to_string(),
                        _ => "expected a JSON-RPC request object".to_string(),
                    };
                    codec::error_v1(&mut out, None, &malformed(&why));
                    end = Some(End::Garbage);
                    break;
                }
            }
        }
        buf.drain(..start);
        if end.is_none() && buf.len() > MAX_REQUEST_BYTES {
            codec::error_v1(&mut out, None, &too_large());
            end = Some(End::TooLarge);
        }
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() {
                return End::Io;
            }
            out.clear();
            if out.capacity() > 1 << 20 {
                out.shrink_to(16 * 1024);
            }
        }
        if let Some(end) = end {
            let _ = stream.shutdown().await;
            return end;
        }
        if shutdown.is_cancelled() {
            return End::Shutdown;
        }
        // A request has begun: it must be whole by its deadline, whatever
        // trickles in meanwhile. Otherwise the idle timeout applies.
        let now = tokio::time::Instant::now();
        if buf.is_empty() {
            request_deadline = None;
        } else if request_deadline.is_none() {
            request_deadline = Some(now + limits.request_timeout);
        }
        // A request under way is bound by its own deadline only.
        let wait_until = request_deadline.unwrap_or(idle_deadline);
        buf.reserve(32 * 1024);
        tokio::select! {
            read = tokio::time::timeout_at(wait_until, stream.read_buf(&mut buf)) => match read {
                Err(_) if request_deadline.is_some_and(|d| d <= tokio::time::Instant::now()) => {
                    tracing::debug!("request not complete in time, closing");
                    codec::error_v1(&mut out, None, &too_slow(limits.request_timeout));
                    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(&out)).await;
                    let _ = stream.shutdown().await;
                    return End::TooSlow;
                }
                Err(_) => {
                    tracing::debug!("idle connection closed");
                    return End::Idle;
                }
                Ok(Ok(0)) => return End::Closed,
                Ok(Ok(_)) => {}
                Ok(Err(_)) => return End::Io,
            },
            _ = shutdown.cancelled() => return End::Shutdown,
        }
    }
}

fn malformed(why: &str) -> String {
    format!("malformed JSON-RPC request, closing connection: {why}")
}

fn too_slow(limit: Duration) -> String {
    format!(
        "SERVER_ERROR: request not complete within {}s, closing connection",
        limit.as_secs_f64()
    )
}

fn too_large() -> String {
    format!(
        "SERVER_ERROR: request larger than {} bytes",
        MAX_REQUEST_BYTES
    )
}
