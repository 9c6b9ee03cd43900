//! The inbound client: a cloneable [`Client`] handle that sends commands, and
//! a bounded channel of [`ClientEvent`]s, served by one background task per
//! switch that reconnects by itself.
//!
//! Why a task and a channel rather than a socket in the caller's hands: the
//! switch interleaves events with replies on one socket, replies must be
//! matched to commands in order, and reconnecting has to replay state the
//! caller should not have to track. The task owns all of that.
//!
//! Drain the event channel in a task of its own: when it is full the client
//! stops reading the socket, so a caller that awaits a reply while not
//! draining events can only time out.

mod config;
pub(crate) mod engine;
pub(crate) mod subscriptions;
pub(crate) mod supervisor;

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

pub use config::{Backoff, ClientConfig};
use engine::{Engine, Request};
use subscriptions::{SubChange, Subscriptions};

use crate::command::{Command, EventFormat, SendMsg};
use crate::error::{ApiError, ClientError};
use crate::event::Event;
use crate::message::{ApiResponse, Message, Notice, Reply};

/// What the client delivers on its event channel.
#[derive(Clone, Debug)]
pub enum ClientEvent {
    /// An event the caller subscribed to.
    Event(Event),
    /// A `log/data` line (after a `log` command).
    Log(Notice),
    /// `text/disconnect-notice`: the switch is closing this connection (or,
    /// outbound, the channel hung up and the socket lingers).
    DisconnectNotice(Notice),
    /// Any other frame the switch sent outside a reply (unknown content
    /// type, unparsable body): surfaced, not dropped.
    Other(Message),
    /// The connection is gone; events from now until `Reconnected` are lost.
    Disconnected {
        /// What happened.
        reason: String,
    },
    /// Connected again, authenticated, subscriptions and filters replayed.
    /// Resynchronise (e.g. [`Client::show_channels`]): events were missed.
    Reconnected {
        /// Connection attempts it took.
        attempts: u32,
        /// Time since the disconnect.
        downtime: Duration,
    },
}

/// Answer to a raw command: `command/reply` or `api/response`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// `command/reply`.
    Reply(Reply),
    /// `api/response`.
    Api(ApiResponse),
}

/// A bgapi job accepted by the switch; its result comes as a
/// BACKGROUND_JOB event, correlated by the Job-UUID the client chose.
#[derive(Debug)]
pub struct Job {
    uuid: String,
    rx: oneshot::Receiver<Result<Event, ClientError>>,
}

impl Job {
    /// The Job-UUID.
    pub fn uuid(&self) -> &str {
        &self.uuid
    }

    /// Waits for the BACKGROUND_JOB event; its body is the command's output.
    /// Fails with `ConnectionLost` when the connection drops first (the
    /// result may have been lost). Wrap in a timeout for long jobs.
    pub async fn wait(self) -> Result<Event, ClientError> {
        self.rx.await.unwrap_or(Err(ClientError::Closed))
    }
}

/// A handle to one event socket connection (inbound, or an outbound session).
/// Cheap to clone; the connection ends when every clone is dropped.
#[derive(Clone, Debug)]
pub struct Client {
    tx: mpsc::Sender<Request>,
    command_timeout: Duration,
}

/// Requests waiting for the connection task.
const REQUEST_QUEUE: usize = 1024;

/// A random (v4) UUID for bgapi Job-UUIDs.
pub(crate) fn new_uuid() -> String {
    let r = fastrand::u128(..);
    let r = (r & !(0xf << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    let h = format!("{r:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

impl Client {
    /// Connects and authenticates (inbound mode), then keeps the connection
    /// alive in a background task. Returns the handle and the event channel.
    ///
    /// The first connection is not retried: a wrong address or password is
    /// reported here. Later disconnects are retried per `config.reconnect`.
    pub async fn connect(
        config: ClientConfig,
    ) -> Result<(Client, mpsc::Receiver<ClientEvent>), ClientError> {
        let conn = supervisor::connect(&config).await?;
        let mut auto = Vec::new();
        if config.liveness_timeout.is_some() {
            auto.push("HEARTBEAT");
        }
        auto.push("BACKGROUND_JOB");
        let (client, engine, events) = Self::parts(&config, Subscriptions::new(auto));
        tokio::spawn(supervisor::run(engine, config, conn));
        Ok((client, events))
    }

    pub(crate) fn parts(
        config: &ClientConfig,
        subs: Subscriptions,
    ) -> (Client, Engine, mpsc::Receiver<ClientEvent>) {
        let (tx, rx) = mpsc::channel(REQUEST_QUEUE);
        let (ev_tx, ev_rx) = mpsc::channel(config.event_capacity.max(1));
        let engine = Engine::new(subs, rx, ev_tx, config.liveness_timeout);
        let client = Client {
            tx,
            command_timeout: config.command_timeout,
        };
        (client, engine, ev_rx)
    }

    async fn request(
        &self,
        cmd: Command,
        track: Option<SubChange>,
        job: Option<(String, engine::JobTx)>,
    ) -> Result<Response, ClientError> {
        let line = cmd.redacted_line();
        let (reply, rx) = oneshot::channel();
        let req = Request {
            cmd,
            reply,
            track,
            job,
        };
        let exchange = async {
            self.tx.send(req).await.map_err(|_| ClientError::Closed)?;
            rx.await.map_err(|_| ClientError::Closed)?
        };
        match tokio::time::timeout(self.command_timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(ClientError::Timeout {
                command: line,
                after: self.command_timeout,
            }),
        }
    }

    /// Sends any command and returns its reply as is (`-ERR` included).
    pub async fn command(&self, cmd: Command) -> Result<Response, ClientError> {
        self.request(cmd, None, None).await
    }

    /// Sends a command answered by `command/reply`; `-ERR` becomes
    /// [`ClientError::CommandFailed`].
    async fn reply(&self, cmd: Command, track: Option<SubChange>) -> Result<Reply, ClientError> {
        let line = cmd.redacted_line();
        match self.request(cmd, track, None).await? {
            Response::Reply(r) if r.is_err() => Err(ClientError::CommandFailed {
                command: line,
                reply: r.text().to_owned(),
            }),
            Response::Reply(r) => Ok(r),
            Response::Api(a) => Err(ClientError::Protocol(format!(
                "`{line}` got an api/response: {}",
                a.text()
            ))),
        }
    }

    /// `api <command>`: the command's output (which may itself be `-ERR …`;
    /// the typed helpers interpret it).
    pub async fn api(&self, command: &str) -> Result<ApiResponse, ClientError> {
        match self.request(Command::api(command), None, None).await? {
            Response::Api(a) => Ok(a),
            Response::Reply(r) => Err(ClientError::CommandFailed {
                command: format!("api {command}"),
                reply: r.text().to_owned(),
            }),
        }
    }

    /// `bgapi <command>` with a fresh Job-UUID; the returned [`Job`] resolves
    /// with the BACKGROUND_JOB event. The client keeps BACKGROUND_JOB
    /// subscribed, and let through any filters, for this.
    pub async fn bgapi(&self, command: &str) -> Result<Job, ClientError> {
        let uuid = new_uuid();
        let (tx, rx) = oneshot::channel();
        let cmd = Command::bgapi(command, &uuid);
        match self.request(cmd, None, Some((uuid.clone(), tx))).await? {
            Response::Reply(r) if r.is_ok() => Ok(Job { uuid, rx }),
            Response::Reply(r) => Err(ClientError::CommandFailed {
                command: format!("bgapi {command}"),
                reply: r.text().to_owned(),
            }),
            Response::Api(a) => Err(ClientError::Protocol(format!(
                "bgapi got an api/response: {}",
                a.text()
            ))),
        }
    }

    /// `event <format> <names…>`: subscribe (replayed after reconnects).
    pub async fn subscribe<S: AsRef<str>>(
        &self,
        format: EventFormat,
        names: &[S],
    ) -> Result<Reply, ClientError> {
        let track = SubChange::Event {
            format,
            names: names.iter().map(|n| n.as_ref().to_owned()).collect(),
        };
        self.reply(Command::event(format, names), Some(track)).await
    }

    /// `nixevent <names…>`: unsubscribe some events.
    pub async fn nixevent<S: AsRef<str>>(&self, names: &[S]) -> Result<Reply, ClientError> {
        let track = SubChange::Nix(names.iter().map(|n| n.as_ref().to_owned()).collect());
        self.reply(Command::nixevent(names), Some(track)).await
    }

    /// `noevents`: unsubscribe everything (the client keeps its own
    /// HEARTBEAT and BACKGROUND_JOB).
    pub async fn noevents(&self) -> Result<Reply, ClientError> {
        self.reply(Command::noevents(), Some(SubChange::NoEvents))
            .await
    }

    /// `filter <header> <value>` (replayed after reconnects).
    pub async fn filter(&self, header: &str, value: &str) -> Result<Reply, ClientError> {
        let track = SubChange::Filter(header.to_owned(), value.to_owned());
        self.reply(Command::filter(header, value), Some(track))
            .await
    }

    /// `filter delete <header> [<value>]` (`header` = `all` clears them).
    pub async fn filter_delete(
        &self,
        header: &str,
        value: Option<&str>,
    ) -> Result<Reply, ClientError> {
        let track = SubChange::FilterDelete(header.to_owned(), value.map(str::to_owned));
        self.reply(Command::filter_delete(header, value), Some(track))
            .await
    }

    /// `sendmsg [<uuid>]`. A gone channel is [`ApiError::NoSuchChannel`].
    pub async fn sendmsg(&self, uuid: Option<&str>, msg: SendMsg) -> Result<Reply, ApiError> {
        match self.reply(Command::sendmsg(uuid, msg), None).await {
            Err(ClientError::CommandFailed { reply, .. })
                if reply.contains("invalid session id") =>
            {
                Err(ApiError::NoSuchChannel)
            }
            Err(ClientError::CommandFailed { reply, .. }) => Err(ApiError::Failed(reply)),
            other => Ok(other?),
        }
    }

    /// Runs dialplan application `app` on channel `uuid` (`sendmsg` execute).
    pub async fn execute(&self, uuid: &str, app: &str, arg: Option<&str>) -> Result<(), ApiError> {
        self.sendmsg(Some(uuid), SendMsg::execute(app, arg))
            .await
            .map(drop)
    }

    /// Hangs up channel `uuid` with `cause` (`sendmsg` hangup).
    pub async fn hangup(&self, uuid: &str, cause: &str) -> Result<(), ApiError> {
        self.sendmsg(Some(uuid), SendMsg::hangup(cause))
            .await
            .map(drop)
    }

    /// `myevents [<format>]`: in an outbound session, events of this channel.
    pub async fn myevents(&self, format: EventFormat) -> Result<Reply, ClientError> {
        self.reply(Command::myevents(None, format), None).await
    }

    /// `linger [<seconds>]`: outbound, keep the socket after hangup so the
    /// final events (CHANNEL_HANGUP_COMPLETE) still arrive.
    pub async fn linger(&self, seconds: Option<u32>) -> Result<Reply, ClientError> {
        self.reply(Command::linger(seconds), None).await
    }

    /// `nolinger`.
    pub async fn nolinger(&self) -> Result<Reply, ClientError> {
        self.reply(Command::nolinger(), None).await
    }

    /// `exit`: the switch says `+OK bye` and closes; no reconnect follows.
    pub async fn exit(&self) -> Result<(), ClientError> {
        match self.reply(Command::exit(), None).await {
            Ok(_) | Err(ClientError::ConnectionLost(_)) | Err(ClientError::Closed) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn uuids_look_like_v4() {
        let u = super::new_uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(u, super::new_uuid());
    }
}
