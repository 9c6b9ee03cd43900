//! Getting connected and staying connected (inbound mode): TCP connect with
//! keepalive, the `auth/request` greeting and authentication, and the loop
//! that reconnects with backoff, replays subscriptions and tells the caller
//! about the gap.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::time::{sleep_until, timeout, Instant};
use tokio_util::codec::Framed;

use super::config::ClientConfig;
use super::engine::{Engine, Exit};
use super::ClientEvent;
use crate::codec::ClientCodec;
use crate::command::Command;
use crate::error::ClientError;
use crate::message::Message;

pub(crate) type Conn = Framed<TcpStream, ClientCodec>;

/// Connects, waits for `auth/request`, authenticates; all within
/// `connect_timeout`.
pub(crate) async fn connect(config: &ClientConfig) -> Result<Conn, ClientError> {
    match timeout(config.connect_timeout, connect_inner(config)).await {
        Ok(result) => result,
        Err(_) => Err(ClientError::Timeout {
            command: format!("connect to {}", config.addr),
            after: config.connect_timeout,
        }),
    }
}

async fn connect_inner(config: &ClientConfig) -> Result<Conn, ClientError> {
    let stream = TcpStream::connect(&config.addr)
        .await
        .map_err(|source| ClientError::Connect {
            addr: config.addr.clone(),
            source,
        })?;
    stream.set_nodelay(true).map_err(io_setup)?;
    if let Some(idle) = config.tcp_keepalive {
        let keepalive = socket2::TcpKeepalive::new()
            .with_time(idle)
            .with_interval((idle / 3).max(Duration::from_secs(1)))
            .with_retries(3);
        socket2::SockRef::from(&stream)
            .set_tcp_keepalive(&keepalive)
            .map_err(io_setup)?;
    }
    let mut conn = Framed::new(stream, ClientCodec::with_max_frame(config.max_frame));
    authenticate(&mut conn, config).await?;
    Ok(conn)
}

fn io_setup(e: std::io::Error) -> ClientError {
    ClientError::Protocol(format!("socket setup failed: {e}"))
}

async fn next_message(conn: &mut Conn, waiting_for: &str) -> Result<Message, ClientError> {
    match conn.next().await {
        Some(Ok(msg)) => Ok(msg),
        Some(Err(e)) => Err(e.into()),
        None => Err(ClientError::ConnectionLost(format!(
            "closed by the switch while waiting for {waiting_for}"
        ))),
    }
}

async fn authenticate(conn: &mut Conn, config: &ClientConfig) -> Result<(), ClientError> {
    match next_message(conn, "auth/request").await? {
        Message::AuthRequest => {}
        Message::RudeRejection(body) => {
            return Err(ClientError::Rejected(
                String::from_utf8_lossy(&body).trim_end().to_owned(),
            ))
        }
        other => {
            return Err(ClientError::Protocol(format!(
                "expected auth/request, got {other:?}"
            )))
        }
    }
    let cmd = match &config.user {
        Some(user) => {
            let (name, domain) = user.split_once('@').unwrap_or((user, ""));
            Command::userauth(name, domain, &config.password)
        }
        None => Command::auth(&config.password),
    };
    conn.send(&cmd).await?;
    loop {
        match next_message(conn, "the auth reply").await? {
            Message::CommandReply(r) if r.text().starts_with("+OK") => return Ok(()),
            Message::CommandReply(r) => return Err(ClientError::AuthFailed(r.text().to_owned())),
            Message::DisconnectNotice(_) => continue,
            other => {
                return Err(ClientError::Protocol(format!(
                    "expected the auth reply, got {other:?}"
                )))
            }
        }
    }
}

/// Serves `conn`, then reconnects as configured until shut down.
pub(crate) async fn run(mut engine: Engine, config: ClientConfig, mut conn: Conn) {
    let mut initial = engine.subs.replay();
    loop {
        let exit = engine.serve(&mut conn, initial).await;
        let reason = match exit {
            Exit::Shutdown => return,
            Exit::Exited => {
                tracing::info!(addr = %config.addr, "connection closed after exit");
                return;
            }
            Exit::Lost(reason) => reason,
        };
        tracing::warn!(addr = %config.addr, %reason, "event socket connection lost");
        engine.emit(ClientEvent::Disconnected { reason }).await;
        let Some(backoff) = config.reconnect.clone() else {
            return;
        };
        let down_since = Instant::now();
        let mut attempt = 0u32;
        conn = loop {
            attempt = attempt.saturating_add(1);
            if !idle(&mut engine, backoff.delay(attempt)).await {
                return;
            }
            match connect(&config).await {
                Ok(conn) => break conn,
                Err(e) => {
                    tracing::warn!(addr = %config.addr, attempt, error = %e, "reconnect failed")
                }
            }
        };
        let downtime = down_since.elapsed();
        tracing::info!(addr = %config.addr, attempts = attempt, ?downtime, "reconnected; replaying subscriptions");
        initial = engine.subs.replay();
        engine
            .emit(ClientEvent::Reconnected {
                attempts: attempt,
                downtime,
            })
            .await;
    }
}

/// Waits `delay`, failing requests with `NotConnected` meanwhile; false when
/// every handle is gone.
async fn idle(engine: &mut Engine, delay: Duration) -> bool {
    let deadline = Instant::now() + delay;
    loop {
        tokio::select! {
            () = sleep_until(deadline) => return true,
            req = engine.requests.recv() => match req {
                Some(req) => req.fail(ClientError::NotConnected),
                None => return false,
            },
        }
    }
}
