//! The task that owns one connection: writes commands, matches replies to
//! them in order, routes events, and notices when the connection is dead.
//!
//! `mod_event_socket` answers commands strictly in the order it receives
//! them, with events interleaved anywhere in between, so one FIFO of pending
//! commands is the whole matching rule. A caller that gives up (timeout)
//! leaves its entry in place: the late reply still arrives and must be
//! consumed by that entry, or every later reply would be off by one.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep_until, Instant};
use tokio_util::codec::Framed;

use super::subscriptions::{SubChange, Subscriptions};
use super::{ClientEvent, Response};
use crate::codec::ClientCodec;
use crate::command::Command;
use crate::error::ClientError;
use crate::event::Event;
use crate::message::Message;

pub(crate) type ReplyTx = oneshot::Sender<Result<Response, ClientError>>;
pub(crate) type JobTx = oneshot::Sender<Result<Event, ClientError>>;

/// A command from a [`crate::Client`] handle.
pub(crate) struct Request {
    pub(crate) cmd: Command,
    pub(crate) reply: ReplyTx,
    /// Subscription change to record when the switch says `+OK`.
    pub(crate) track: Option<SubChange>,
    /// bgapi: Job-UUID and where its BACKGROUND_JOB goes.
    pub(crate) job: Option<(String, JobTx)>,
}

impl Request {
    pub(crate) fn fail(self, err: ClientError) {
        let _ = self.reply.send(Err(err));
    }
}

enum Pending {
    User {
        reply: ReplyTx,
        track: Option<SubChange>,
    },
    Internal {
        line: String,
    },
}

/// Why a connection ended.
#[derive(Debug)]
pub(crate) enum Exit {
    /// Every handle was dropped.
    Shutdown,
    /// The switch closed after our `exit`.
    Exited,
    /// Lost: closed, broken, or silent too long.
    Lost(String),
}

/// State that outlives one connection.
pub(crate) struct Engine {
    pub(crate) subs: Subscriptions,
    pub(crate) requests: mpsc::Receiver<Request>,
    pub(crate) events: mpsc::Sender<ClientEvent>,
    pub(crate) liveness: Option<Duration>,
    jobs: HashMap<String, JobTx>,
    exiting: bool,
}

type Conn<S> = Framed<S, ClientCodec>;

/// At most this many commands are written before a flush.
const MAX_UNFLUSHED: usize = 64;

impl Engine {
    pub(crate) fn new(
        subs: Subscriptions,
        requests: mpsc::Receiver<Request>,
        events: mpsc::Sender<ClientEvent>,
        liveness: Option<Duration>,
    ) -> Self {
        Engine {
            subs,
            requests,
            events,
            liveness,
            jobs: HashMap::new(),
            exiting: false,
        }
    }

    /// Delivers to the event channel; a dropped receiver is not an error.
    pub(crate) async fn emit(&self, ev: ClientEvent) {
        let _ = self.events.send(ev).await;
    }

    /// Runs one connection until it ends. `initial` commands (subscription
    /// replay) are sent first; their replies are checked and logged.
    pub(crate) async fn serve<S>(&mut self, conn: &mut Conn<S>, initial: Vec<Command>) -> Exit
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let mut pending = VecDeque::new();
        let exit = self.run(conn, initial, &mut pending).await;
        let reason = match &exit {
            Exit::Lost(r) => r.clone(),
            Exit::Exited => "closed after exit".to_owned(),
            Exit::Shutdown => "client dropped".to_owned(),
        };
        for p in pending {
            if let Pending::User { reply, .. } = p {
                let _ = reply.send(Err(ClientError::ConnectionLost(reason.clone())));
            }
        }
        for (_, job) in self.jobs.drain() {
            let _ = job.send(Err(ClientError::ConnectionLost(reason.clone())));
        }
        exit
    }

    async fn run<S>(
        &mut self,
        conn: &mut Conn<S>,
        initial: Vec<Command>,
        pending: &mut VecDeque<Pending>,
    ) -> Exit
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        for cmd in initial {
            if let Err(exit) = self.write_internal(conn, cmd, pending).await {
                return exit;
            }
        }
        let mut last_rx = Instant::now();
        loop {
            let deadline = self.liveness.map(|d| last_rx + d);
            tokio::select! {
                frame = conn.next() => match frame {
                    Some(Ok(msg)) => {
                        last_rx = Instant::now();
                        if let Err(exit) = self.dispatch(conn, msg, pending).await {
                            return exit;
                        }
                    }
                    Some(Err(e)) => return self.lost(format!("read failed: {e}")),
                    None => return self.lost("connection closed by the switch".to_owned()),
                },
                req = self.requests.recv() => match req {
                    Some(req) => {
                        // Every command already queued goes out in one
                        // write (the switch answers them in order anyway):
                        // under load, one syscall serves several calls.
                        let (mut next, mut fed) = (Some(req), 0);
                        while let Some(req) = next.take() {
                            if let Err(exit) = self.write_request(conn, req, pending).await {
                                return exit;
                            }
                            fed += 1;
                            if fed < MAX_UNFLUSHED {
                                next = self.requests.try_recv().ok();
                            }
                        }
                        if let Err(e) = SinkExt::<&Command>::flush(conn).await {
                            let reason = format!("write failed: {e}");
                            return self.lost(reason);
                        }
                    }
                    None => return Exit::Shutdown,
                },
                () = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    let idle = self.liveness.unwrap_or_default();
                    return self.lost(format!("no event or reply for {idle:?} (heartbeat missed)"));
                }
            }
        }
    }

    fn lost(&self, reason: String) -> Exit {
        if self.exiting {
            Exit::Exited
        } else {
            Exit::Lost(reason)
        }
    }

    async fn write_request<S>(
        &mut self,
        conn: &mut Conn<S>,
        req: Request,
        pending: &mut VecDeque<Pending>,
    ) -> Result<(), Exit>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let Request {
            cmd,
            reply,
            track,
            job,
        } = req;
        if reply.is_closed() {
            return Ok(()); // caller already gave up before it was sent
        }
        if let Err(e) = cmd.check() {
            let _ = reply.send(Err(e.into()));
            return Ok(());
        }
        if let Some((uuid, tx)) = job {
            self.jobs.retain(|_, tx| !tx.is_closed());
            self.jobs.insert(uuid, tx);
        }
        if cmd.name().eq_ignore_ascii_case("exit") {
            self.exiting = true;
        }
        tracing::trace!(command = %cmd.redacted_line(), "send");
        // Fed, not flushed: the caller flushes once the queue is empty.
        if let Err(e) = conn.feed(&cmd).await {
            let reason = format!("write failed: {e}");
            let _ = reply.send(Err(ClientError::ConnectionLost(reason.clone())));
            return Err(self.lost(reason));
        }
        pending.push_back(Pending::User { reply, track });
        Ok(())
    }

    async fn write_internal<S>(
        &mut self,
        conn: &mut Conn<S>,
        cmd: Command,
        pending: &mut VecDeque<Pending>,
    ) -> Result<(), Exit>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        tracing::debug!(command = %cmd.redacted_line(), "send (client-internal)");
        if let Err(e) = conn.send(&cmd).await {
            return Err(self.lost(format!("write failed: {e}")));
        }
        pending.push_back(Pending::Internal {
            line: cmd.redacted_line(),
        });
        Ok(())
    }

    async fn dispatch<S>(
        &mut self,
        conn: &mut Conn<S>,
        msg: Message,
        pending: &mut VecDeque<Pending>,
    ) -> Result<(), Exit>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let response = match msg {
            Message::CommandReply(r) => Response::Reply(r),
            Message::ApiResponse(r) => Response::Api(r),
            Message::Event(ev) | Message::EventJson(ev) => {
                self.route_event(ev).await;
                return Ok(());
            }
            Message::DisconnectNotice(n) => {
                tracing::info!(notice = %n.text().trim_end(), "switch sent a disconnect notice");
                self.emit(ClientEvent::DisconnectNotice(n)).await;
                return Ok(());
            }
            Message::Log(n) => {
                self.emit(ClientEvent::Log(n)).await;
                return Ok(());
            }
            other => {
                tracing::warn!(message = ?other, "unexpected frame from the switch");
                self.emit(ClientEvent::Other(other)).await;
                return Ok(());
            }
        };
        match pending.pop_front() {
            Some(Pending::User { reply, track }) => {
                let accepted = match &response {
                    Response::Reply(r) => r.is_ok(),
                    Response::Api(_) => true,
                };
                let _ = reply.send(Ok(response));
                if let (true, Some(change)) = (accepted, track) {
                    self.subs.apply(&change);
                    for cmd in self.subs.repair(&change) {
                        self.write_internal(conn, cmd, pending).await?;
                    }
                }
            }
            Some(Pending::Internal { line }) => {
                if let Response::Reply(r) = &response {
                    if r.is_err() {
                        tracing::warn!(command = %line, reply = %r.text(), "client-internal command refused");
                    }
                }
            }
            None => tracing::warn!(?response, "reply with no command waiting for it"),
        }
        Ok(())
    }

    async fn route_event(&mut self, ev: Event) {
        let name = ev.event_name().unwrap_or("");
        if name.eq_ignore_ascii_case("BACKGROUND_JOB") {
            if let Some(tx) = ev.job_uuid().and_then(|u| self.jobs.remove(u)) {
                let _ = tx.send(Ok(ev));
                return;
            }
        }
        let auto =
            name.eq_ignore_ascii_case("HEARTBEAT") || name.eq_ignore_ascii_case("BACKGROUND_JOB");
        if auto && !self.subs.wants(name) {
            tracing::trace!(event = name, "client-internal event not forwarded");
            return;
        }
        self.emit(ClientEvent::Event(ev)).await;
    }
}
