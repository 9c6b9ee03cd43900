//! Helpers shared by the simulator tests: a raw Event Socket client that
//! sees every frame as written, and an `esl::Client` wired for tests.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use esl::{Client, ClientConfig, ClientEvent, Event, EventFormat, Frame, FrameCodec, Message};
use futures::StreamExt;
use integration::{FakeSwitch, SwitchConfig};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::codec::FramedRead;

/// Real-time patience for anything the simulator should do promptly.
pub const WAIT: Duration = Duration::from_secs(10);

pub async fn switch(speed: f64) -> FakeSwitch {
    FakeSwitch::start(SwitchConfig::with_speed(speed))
        .await
        .expect("switch starts")
}

/// A raw connection: frames exactly as the simulator wrote them.
pub struct Raw {
    pub rd: FramedRead<OwnedReadHalf, FrameCodec>,
    pub wr: OwnedWriteHalf,
}

impl Raw {
    pub async fn connect(addr: SocketAddr) -> Raw {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let (rd, wr) = stream.into_split();
        Raw {
            rd: FramedRead::new(rd, FrameCodec::new()),
            wr,
        }
    }

    /// Connects, reads the greeting and authenticates.
    pub async fn authed(addr: SocketAddr) -> Raw {
        let mut raw = Raw::connect(addr).await;
        assert_eq!(raw.msg().await, Message::AuthRequest);
        assert_eq!(raw.command("auth ClueCon").await, "+OK accepted");
        raw
    }

    pub async fn send(&mut self, text: &str) {
        self.wr.write_all(text.as_bytes()).await.expect("write");
    }

    pub async fn frame(&mut self) -> Frame {
        match tokio::time::timeout(WAIT, self.rd.next()).await {
            Ok(Some(Ok(f))) => f,
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    /// The next frame within `d`, if any.
    pub async fn frame_within(&mut self, d: Duration) -> Option<Frame> {
        match tokio::time::timeout(d, self.rd.next()).await {
            Ok(Some(Ok(f))) => Some(f),
            _ => None,
        }
    }

    pub async fn msg(&mut self) -> Message {
        Message::from_frame(self.frame().await)
    }

    /// Sends a one-line command and returns its `Reply-Text`.
    pub async fn command(&mut self, line: &str) -> String {
        self.send(&format!("{line}\n\n")).await;
        match self.msg().await {
            Message::CommandReply(r) => r.text().to_owned(),
            other => panic!("expected a reply to {line:?}, got {other:?}"),
        }
    }

    /// `api …` and its body.
    pub async fn api(&mut self, line: &str) -> String {
        self.send(&format!("api {line}\n\n")).await;
        match self.msg().await {
            Message::ApiResponse(r) => r.text().into_owned(),
            other => panic!("expected an api/response to {line:?}, got {other:?}"),
        }
    }

    /// The next event (skipping nothing: any other frame fails).
    pub async fn event(&mut self) -> Event {
        match self.msg().await {
            Message::Event(e) | Message::EventJson(e) => e,
            other => panic!("expected an event, got {other:?}"),
        }
    }

    /// Events until one named `name`.
    pub async fn event_named(&mut self, name: &str) -> Event {
        loop {
            let ev = self.event().await;
            if ev.event_name() == Some(name) {
                return ev;
            }
        }
    }

    /// True when the server closed the connection (within `WAIT`).
    pub async fn closed(&mut self) -> bool {
        matches!(
            tokio::time::timeout(WAIT, self.rd.next()).await,
            Ok(None) | Ok(Some(Err(_)))
        )
    }
}

pub fn body_text(f: &Frame) -> String {
    String::from_utf8_lossy(f.body.as_ref().map_or(&b""[..], |b: &Bytes| b)).into_owned()
}

/// An `esl::Client` without reconnect or liveness checks.
pub async fn client(addr: SocketAddr) -> (Client, mpsc::Receiver<ClientEvent>) {
    let mut config = ClientConfig::new(addr.to_string(), "ClueCon");
    config.reconnect = None;
    config.liveness_timeout = None;
    Client::connect(config).await.expect("client connects")
}

/// A client subscribed to `names` (plain).
pub async fn subscribed(addr: SocketAddr, names: &[&str]) -> (Client, mpsc::Receiver<ClientEvent>) {
    let (c, rx) = client(addr).await;
    c.subscribe(EventFormat::Plain, names)
        .await
        .expect("subscribe");
    (c, rx)
}

/// The next event named `name` about `uuid` (others skipped).
pub async fn next_event(rx: &mut mpsc::Receiver<ClientEvent>, name: &str, uuid: &str) -> Event {
    let found = tokio::time::timeout(WAIT, async {
        while let Some(ev) = rx.recv().await {
            if let ClientEvent::Event(e) = ev {
                if e.event_name() == Some(name) && e.unique_id() == Some(uuid) {
                    return Some(e);
                }
            }
        }
        None
    })
    .await;
    match found {
        Ok(Some(e)) => e,
        _ => panic!("no {name} for {uuid}"),
    }
}

/// The next event, whatever it is.
pub async fn next_any(rx: &mut mpsc::Receiver<ClientEvent>) -> Event {
    let found = tokio::time::timeout(WAIT, async {
        while let Some(ev) = rx.recv().await {
            if let ClientEvent::Event(e) = ev {
                return Some(e);
            }
        }
        None
    })
    .await;
    found.ok().flatten().expect("an event")
}

/// Every event received within `d` (real time).
pub async fn drain(rx: &mut mpsc::Receiver<ClientEvent>, d: Duration) -> Vec<Event> {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(d, async {
        while let Some(ev) = rx.recv().await {
            if let ClientEvent::Event(e) = ev {
                out.push(e);
            }
        }
    })
    .await;
    out
}

pub fn num(ev: &Event, name: &str) -> i64 {
    ev.header(name)
        .unwrap_or_else(|| panic!("{} has no {name}", ev.event_name().unwrap_or("?")))
        .parse()
        .unwrap_or_else(|_| panic!("{name} is not a number"))
}
