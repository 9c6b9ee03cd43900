//! `esl` against `freeswitch-esl-tokio` 2.8.0 (crates.io), the most complete
//! published Rust ESL client: is our own event decoding worth keeping, or
//! would the off-the-shelf crate do (issue 15, item 4)?
//!
//! What is compared, like for like: each client's whole inbound path, as an
//! application uses it. A local tokio `TcpListener` plays the switch
//! (`auth/request`, `+OK accepted`, a `command/reply` to the subscription),
//! then writes the events over loopback TCP. Each client reads the socket in
//! its own background task, frames and parses every event (headers
//! percent-decoded), and hands it over its bounded channel to the bench,
//! which looks up `Event-Name` and `Unique-ID` on every event and counts
//! them. `esl::Client` is configured without liveness, keepalive or
//! reconnect; `freeswitch-esl-tokio` gets the same queue size (4096) and
//! waits for queue space instead of dropping events (as `esl` does). The
//! timed part is from the subscription command to the last event received;
//! connecting and authenticating are not timed.
//!
//! Inputs:
//! - `recording`: the `text/event-plain` frames the real FreeSWITCH 1.10.12
//!   sent on the events connection of
//!   `testdata/freeswitch-1.10/fs_bridge_ok.wire`, in order;
//! - `blaster`: 2,000 copies of one ~2 KB CHANNEL_* frame from that recording.
//!
//! The event count is asserted. A client that delivers fewer events than
//! were sent (seen before with `freeswitch-esl-tokio` on a recording: 33 of
//! 44) is not timed on that input; a note with the count is printed instead.
//!
//! Run: `cargo bench -p esl --bench vs_freeswitch_esl_tokio` (numbers in
//! README.md, Performance).

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use esl::{ContentType, FrameCodec};
use freeswitch_esl_tokio as fet;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio_util::codec::Decoder;

const RECORDING: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../testdata/freeswitch-1.10/fs_bridge_ok.wire"
);

/// The connection of the recording that subscribed to `event plain ALL`.
const EVENTS_CONN: &str = "fs>c1";

const BLASTER_COPIES: usize = 2000;

/// Longest a run may wait for the next event before it counts as stopped.
const STALL: Duration = Duration::from_secs(3);

/// The switch→client bytes of one connection of a `.wire` recording
/// (format: testdata/freeswitch-1.10/README.md).
fn server_bytes(wire: &[u8], dir: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = wire;
    loop {
        // Each chunk is preceded (the recorder's way) or followed by a `\n`.
        while rest.first() == Some(&b'\n') {
            rest = &rest[1..];
        }
        if rest.is_empty() {
            break;
        }
        let nl = rest.iter().position(|&b| b == b'\n').expect("chunk header");
        let head = std::str::from_utf8(&rest[..nl]).expect("utf-8 header");
        let mut parts = head.split(' ');
        assert_eq!(parts.next(), Some("==="), "chunk header: {head}");
        let d = parts.next().expect("direction");
        let _at = parts.next().expect("time");
        let n: usize = parts.next().expect("count").parse().expect("count");
        let body = &rest[nl + 1..nl + 1 + n];
        if d == dir {
            out.extend_from_slice(body);
        }
        rest = &rest[nl + 1 + n..];
    }
    out
}

/// Raw bytes of each `text/event-plain` frame in `stream`, with its body size.
fn event_frames(stream: &[u8]) -> Vec<(Vec<u8>, usize, String)> {
    let mut codec = FrameCodec::new();
    let mut buf = BytesMut::from(stream);
    let mut out = Vec::new();
    let mut consumed = 0;
    while let Some(frame) = codec.decode(&mut buf).expect("recording frames") {
        let end = stream.len() - buf.len();
        let raw = stream[consumed..end].to_vec();
        consumed = end;
        if frame.content_type() == Some(ContentType::EventPlain) {
            let body = frame.body.clone().unwrap_or_default();
            let ev = esl::Event::parse_plain(&body);
            let name = ev.event_name().unwrap_or_default().to_owned();
            out.push((raw, body.len(), name));
        }
    }
    out
}

struct Input {
    name: &'static str,
    bytes: Vec<u8>,
    events: usize,
}

fn inputs() -> Vec<Input> {
    let wire = std::fs::read(RECORDING).expect("recording");
    let frames = event_frames(&server_bytes(&wire, EVENTS_CONN));
    assert!(frames.len() > 50, "recording has {} events", frames.len());
    let recording = Input {
        name: "recording",
        bytes: frames.iter().flat_map(|f| f.0.iter().copied()).collect(),
        events: frames.len(),
    };
    let one = frames
        .iter()
        .find(|(_, len, name)| name.starts_with("CHANNEL_") && (1800..=2300).contains(len))
        .expect("a ~2 KB CHANNEL_* event");
    let blaster = Input {
        name: "blaster",
        bytes: one.0.repeat(BLASTER_COPIES),
        events: BLASTER_COPIES,
    };
    vec![recording, blaster]
}

/// Reads one ESL command (up to the blank line).
async fn read_command(sock: &mut TcpStream, buf: &mut Vec<u8>) -> Option<String> {
    loop {
        if let Some(i) = buf.windows(2).position(|w| w == b"\n\n") {
            let cmd = String::from_utf8_lossy(&buf[..i]).into_owned();
            buf.drain(..i + 2);
            return Some(cmd);
        }
        let mut chunk = [0u8; 4096];
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The fake switch for one connection: greets, accepts any password, answers
/// every command `+OK`, and after the reply to `event <format> ALL` writes
/// `payload`; holds the socket open until the client goes away.
async fn serve(mut sock: TcpStream, payload: &[u8]) {
    let _ = sock.set_nodelay(true);
    if sock
        .write_all(b"Content-Type: auth/request\n\n")
        .await
        .is_err()
    {
        return;
    }
    let mut buf = Vec::new();
    while let Some(cmd) = read_command(&mut sock, &mut buf).await {
        let reply: &[u8] = if cmd.starts_with("auth ") {
            b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n"
        } else {
            b"Content-Type: command/reply\nReply-Text: +OK\n\n"
        };
        if sock.write_all(reply).await.is_err() {
            return;
        }
        // `esl` subscribes its own BACKGROUND_JOB first; stream on `… ALL`.
        let stream_now = cmd.starts_with("event ") && cmd.split(' ').any(|w| w == "ALL");
        if stream_now && sock.write_all(payload).await.is_err() {
            return;
        }
    }
}

/// A listener that serves `payload` to every connection.
async fn fake_switch(payload: Vec<u8>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let payload: &'static [u8] = Box::leak(payload.into_boxed_slice());
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(serve(sock, payload));
        }
    });
    port
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Which {
    Esl,
    Fet,
}

impl Which {
    fn label(self) -> &'static str {
        match self {
            Which::Esl => "esl",
            Which::Fet => "freeswitch-esl-tokio",
        }
    }
}

/// One connection: connect and authenticate (untimed), subscribe, receive
/// until `want` events or a stall. Returns the count and the timed part.
async fn run(which: Which, port: u16, want: usize) -> (usize, Duration) {
    match which {
        Which::Esl => {
            let mut cfg = esl::ClientConfig::new(format!("127.0.0.1:{port}"), "ClueCon");
            cfg.liveness_timeout = None;
            cfg.tcp_keepalive = None;
            cfg.reconnect = None;
            let (client, mut events) = esl::Client::connect(cfg).await.expect("esl connects");
            let t0 = Instant::now();
            client
                .subscribe(esl::EventFormat::Plain, &["ALL"])
                .await
                .expect("esl subscribes");
            let mut n = 0;
            while n < want {
                match tokio::time::timeout(STALL, events.recv()).await {
                    Ok(Some(esl::ClientEvent::Event(ev))) => {
                        black_box((ev.header("Event-Name"), ev.header("Unique-ID")));
                        n += 1;
                    }
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => break,
                }
            }
            let took = t0.elapsed();
            drop(client);
            (n, took)
        }
        Which::Fet => {
            let opts = fet::EslConnectOptions::new()
                .with_event_queue_size(4096)
                .with_event_overflow(fet::EventOverflow::BlockFor(STALL));
            let (client, mut events) =
                fet::EslClient::connect_with_options("127.0.0.1", port, "ClueCon", opts)
                    .await
                    .expect("freeswitch-esl-tokio connects");
            let t0 = Instant::now();
            client
                .subscribe_all_events(fet::EventFormat::Plain)
                .await
                .expect("freeswitch-esl-tokio subscribes");
            let mut n = 0;
            while n < want {
                match tokio::time::timeout(STALL, events.recv()).await {
                    Ok(Some(Ok(ev))) => {
                        black_box((ev.header_str("Event-Name"), ev.header_str("Unique-ID")));
                        n += 1;
                    }
                    Ok(Some(Err(e))) => eprintln!("freeswitch-esl-tokio: error after {n}: {e}"),
                    Ok(None) | Err(_) => break,
                }
            }
            let took = t0.elapsed();
            let _ = client.disconnect().await;
            (n, took)
        }
    }
}

fn bench(c: &mut Criterion) {
    let rt = Runtime::new().expect("runtime");
    for input in inputs() {
        println!(
            "input `{}`: {} events, {} bytes",
            input.name,
            input.events,
            input.bytes.len()
        );
        let port = rt.block_on(fake_switch(input.bytes.clone()));
        let mut g = c.benchmark_group(format!("tcp_events/{}", input.name));
        g.throughput(Throughput::Elements(input.events as u64));
        for which in [Which::Esl, Which::Fet] {
            let (got, _) = rt.block_on(run(which, port, input.events));
            if got != input.events {
                assert!(
                    which != Which::Esl,
                    "esl delivered {got} of {} events ({})",
                    input.events,
                    input.name
                );
                println!(
                    "NOTE: {} delivered {got} of {} events of `{}` ({} bytes), then nothing for {STALL:?}; not timed on this input",
                    which.label(),
                    input.events,
                    input.name,
                    input.bytes.len()
                );
                continue;
            }
            g.bench_function(which.label(), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let (got, took) = rt.block_on(run(which, port, input.events));
                        assert_eq!(got, input.events, "{} stopped early", which.label());
                        total += took;
                    }
                    total
                })
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
