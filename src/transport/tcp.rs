//! Raw TCP JSON-RPC with the codec of Go's `net/rpc/jsonrpc`: a stream of
//! JSON objects with no framing (whitespace or newlines between them are
//! optional), each answered by one JSON object and a newline, in order.
//!
//! Each connection is one task that reads what has arrived, answers every
//! complete request in the buffer, and writes all the answers with one
//! `write` before reading again, so a pipelining client costs one read and
//! one write per batch rather than per request.
//!
//! Limits, none of which affects other connections:
//! - a request larger than [`MAX_REQUEST_BYTES`] is answered with an error
//!   (and the connection closed when it cannot be skipped);
//! - bytes that are not JSON get one error reply, then the connection is
//!   closed (the stream cannot be resynchronised);
//! - a connection that sends nothing for `listen.idle_timeout` is closed;
//! - beyond `listen.max_connections`, a new connection gets one error reply
//!   and is closed.

use super::Shutdown;
use crate::rpc::codec::{self, Request, MAX_REQUEST_BYTES};
use crate::rpc::Api;
use serde_json::Deserializer;
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
}

/// Serves connections until `shutdown` fires; returns once it stopped
/// accepting (connections finish on their own tasks, tracked by `shutdown`).
pub async fn serve(listener: TcpListener, api: Arc<Api>, limits: Limits, shutdown: Shutdown) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
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
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            stats.refused.fetch_add(1, Relaxed);
            tracing::warn!(%peer, "rpc_json connection refused: max_connections reached");
            tokio::spawn(refuse(stream));
            continue;
        };
        stats.accepted.fetch_add(1, Relaxed);
        stats.open.fetch_add(1, Relaxed);
        let api = api.clone();
        let token = shutdown.token.clone();
        shutdown.tracker.spawn(async move {
            let span = tracing::debug_span!("rpc_json", %peer);
            let _ = tracing::Instrument::instrument(
                connection(stream, &api, limits.idle_timeout, token),
                span,
            )
            .await;
            api.metrics.rpc_json.open.fetch_sub(1, Relaxed);
            drop(permit);
        });
    }
}

async fn refuse(mut stream: TcpStream) {
    let mut out = Vec::new();
    codec::error_v1(
        &mut out,
        None,
        "SERVER_ERROR: too many connections, try again later",
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(&out)).await;
}

/// Why a connection ended.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    Closed,
    Idle,
    Garbage,
    TooLarge,
    Shutdown,
    Io,
}

/// Serves one connection until the peer closes it, a limit ends it, or
/// shutdown (after answering what was already read).
pub async fn connection(
    mut stream: TcpStream,
    api: &Api,
    idle_timeout: Duration,
    shutdown: tokio_util::sync::CancellationToken,
) -> End {
    let _ = stream.set_nodelay(true);
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut out: Vec<u8> = Vec::with_capacity(16 * 1024);
    loop {
        // Answer every complete request in the buffer.
        let mut start = 0;
        let mut end = None;
        loop {
            let mut stream_de = Deserializer::from_slice(&buf[start..]).into_iter::<Request>();
            match stream_de.next() {
                None => {
                    start = buf.len();
                    break;
                }
                Some(Ok(req)) => {
                    let len = stream_de.byte_offset();
                    if len > MAX_REQUEST_BYTES {
                        codec::error_v1(&mut out, req.id, &too_large());
                    } else {
                        api.answer(&req, &mut out).await;
                    }
                    start += len;
                    // Bound the memory a burst of small requests with large
                    // answers can take: write out as we go.
                    if out.len() >= FLUSH_BYTES {
                        if stream.write_all(&out).await.is_err() {
                            return End::Io;
                        }
                        out.clear();
                    }
                }
                Some(Err(e)) if e.is_eof() => break,
                Some(Err(e)) => {
                    codec::error_v1(
                        &mut out,
                        None,
                        &format!("malformed JSON-RPC request, closing connection: {e}"),
                    );
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
        buf.reserve(32 * 1024);
        tokio::select! {
            read = tokio::time::timeout(idle_timeout, stream.read_buf(&mut buf)) => match read {
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

fn too_large() -> String {
    format!(
        "SERVER_ERROR: request larger than {} bytes",
        MAX_REQUEST_BYTES
    )
}
