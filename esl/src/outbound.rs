//! Outbound mode: the switch's `socket` dialplan application connects to us,
//! one TCP connection per call.
//!
//! The first command on such a connection is `connect`; its reply carries
//! the whole channel (caller profile, every `variable_*`) as URL-encoded
//! headers, decoded here into [`ChannelData`]. After that the session takes
//! the same commands as an inbound client (`myevents`, `linger`, `api`,
//! `sendmsg`…) through a [`Client`] handle. There is no reconnect: when the
//! call's socket closes, the session is over.

use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::mpsc;
use tokio_util::codec::Framed;

use crate::client::engine::Exit;
use crate::client::subscriptions::Subscriptions;
use crate::client::{Client, ClientConfig, ClientEvent};
use crate::codec::{ClientCodec, DEFAULT_MAX_FRAME};
use crate::command::Command;
use crate::error::ClientError;
use crate::headers::Headers;
use crate::message::Message;

/// Settings of outbound sessions.
#[derive(Clone, Debug)]
pub struct OutboundConfig {
    /// Limit on the `connect` exchange. Default 5 s.
    pub connect_timeout: Duration,
    /// Limit on each command's reply. Default 5 s.
    pub command_timeout: Duration,
    /// Event channel capacity. Default 1024.
    pub event_capacity: usize,
    /// Frame size cap. Default 16 MiB.
    pub max_frame: usize,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        OutboundConfig {
            connect_timeout: Duration::from_secs(5),
            command_timeout: Duration::from_secs(5),
            event_capacity: 1024,
            max_frame: DEFAULT_MAX_FRAME,
        }
    }
}

/// The channel an outbound session controls: the decoded `connect` reply.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChannelData(pub Headers);

impl ChannelData {
    /// Any header (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.0.get(name)
    }
    /// `Unique-ID` of the channel.
    pub fn unique_id(&self) -> Option<&str> {
        self.header("Unique-ID")
    }
    /// `Channel-Name`.
    pub fn channel_name(&self) -> Option<&str> {
        self.header("Channel-Name")
    }
    /// Channel variable `name` (`variable_<name>`).
    pub fn variable(&self, name: &str) -> Option<&str> {
        self.header(&format!("variable_{name}"))
    }
    /// `Socket-Mode`: `async` or `static`.
    pub fn socket_mode(&self) -> Option<&str> {
        self.header("Socket-Mode")
    }
}

/// Accepts outbound connections from the switch.
pub struct OutboundListener {
    listener: TcpListener,
}

impl OutboundListener {
    /// Listens on `addr` (keep it on loopback or a trusted network).
    pub async fn bind(addr: impl ToSocketAddrs) -> std::io::Result<Self> {
        Ok(OutboundListener {
            listener: TcpListener::bind(addr).await?,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Waits for the next call's connection. Start the session with
    /// [`OutboundSession::start`], typically in a task of its own.
    pub async fn accept(&self) -> std::io::Result<(TcpStream, SocketAddr)> {
        let (stream, peer) = self.listener.accept().await?;
        stream.set_nodelay(true)?;
        Ok((stream, peer))
    }
}

/// One call controlled over an outbound connection.
#[derive(Debug)]
pub struct OutboundSession {
    /// Commands for this connection (`myevents`, `linger`, `execute`, `api`…).
    pub client: Client,
    /// Events, notices, then `Disconnected` when the socket closes.
    pub events: mpsc::Receiver<ClientEvent>,
    /// The channel, from the `connect` reply.
    pub channel: ChannelData,
}

impl OutboundSession {
    /// Sends `connect`, decodes the channel data, and starts serving the
    /// connection in a background task.
    pub async fn start<S>(stream: S, config: &OutboundConfig) -> Result<Self, ClientError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let mut conn = Framed::new(stream, ClientCodec::with_max_frame(config.max_frame));
        let channel = match tokio::time::timeout(config.connect_timeout, handshake(&mut conn)).await
        {
            Ok(result) => result?,
            Err(_) => {
                return Err(ClientError::Timeout {
                    command: "connect".to_owned(),
                    after: config.connect_timeout,
                })
            }
        };
        let mut cc = ClientConfig::new("outbound", "");
        cc.command_timeout = config.command_timeout;
        cc.event_capacity = config.event_capacity;
        cc.liveness_timeout = None;
        let (client, mut engine, events) = Client::parts(&cc, Subscriptions::new(Vec::new()));
        tokio::spawn(async move {
            if let Exit::Lost(reason) = engine.serve(&mut conn, Vec::new()).await {
                tracing::debug!(%reason, "outbound session ended");
                engine.emit(ClientEvent::Disconnected { reason }).await;
            }
        });
        Ok(OutboundSession {
            client,
            events,
            channel,
        })
    }
}

async fn handshake<S>(conn: &mut Framed<S, ClientCodec>) -> Result<ChannelData, ClientError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    conn.send(&Command::connect()).await?;
    loop {
        match conn.next().await {
            Some(Ok(Message::CommandReply(r))) if r.is_ok() => {
                return Ok(ChannelData(r.into_headers()))
            }
            Some(Ok(Message::CommandReply(r))) => {
                return Err(ClientError::CommandFailed {
                    command: "connect".to_owned(),
                    reply: r.text().to_owned(),
                })
            }
            Some(Ok(other)) => tracing::debug!(message = ?other, "frame before the connect reply"),
            Some(Err(e)) => return Err(e.into()),
            None => {
                return Err(ClientError::ConnectionLost(
                    "closed before the connect reply".to_owned(),
                ))
            }
        }
    }
}
