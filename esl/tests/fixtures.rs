//! Every capture in `testdata/esl/` decoded whole, one byte at a time,
//! and split at every offset, with the facts each capture is kept for.
//!
//! Two captures are not clean wire bytes, and the tests say so rather than
//! hide it:
//! - the switchio streams mark read splits with `--`: on a line of its own
//!   (`--\n`) and also inside lines (`Event---Name`, `+OK --Job-UUID`).
//!   Removing the markers (with the newline when the marker is alone on its
//!   line) gives bytes whose every `Content-Length` matches exactly; the
//!   split points are kept and replayed as reads. Their event bodies were
//!   also saved partly URL-decoded (a raw multi-line SDP value), which the
//!   parser keeps as one value.
//! - fsock_stream.txt has one corrupted head, `uuid_transfer Content-Length:
//!   720` (a console line that leaked into the capture). Like FreeSWITCH's
//!   own `esl_recv_event`, we do not read a `Content-Length` out of that
//!   line, so that frame surfaces as `Malformed` and the HEARTBEAT block that
//!   was its body surfaces as an `Unknown` frame; decoding resynchronises on
//!   the next frame.

use bytes::BytesMut;
use esl::{ClientCodec, Event, Frame, FrameCodec, Message};
use tokio_util::codec::Decoder;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/esl/");

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{DIR}{name}");
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read fixture {path}: {e}"))
}

/// Strips switchio's `--` split markers; returns the wire bytes and the
/// offsets (in those bytes) where reads were split.
fn switchio_wire(raw: &[u8]) -> (Vec<u8>, Vec<usize>) {
    let mut out = Vec::with_capacity(raw.len());
    let mut splits = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        if raw[i..].starts_with(b"--") {
            splits.push(out.len());
            let alone = (i == 0 || raw[i - 1] == b'\n') && raw.get(i + 2) == Some(&b'\n');
            i += if alone { 3 } else { 2 };
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    (out, splits)
}

/// Decodes `chunks` fed in order, then end of stream. Also returns, for
/// each message, the offset just past its frame.
fn decode_chunks<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> (Vec<Message>, Vec<usize>) {
    let mut codec = ClientCodec::new();
    let mut buf = BytesMut::new();
    let mut fed = 0;
    let (mut out, mut ends) = (Vec::new(), Vec::new());
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        fed += chunk.len();
        while let Some(m) = codec.decode(&mut buf).expect("decode") {
            out.push(m);
            ends.push(fed - buf.len());
        }
    }
    while let Some(m) = codec.decode_eof(&mut buf).expect("clean end of stream") {
        out.push(m);
        ends.push(fed - buf.len());
    }
    (out, ends)
}

fn decode_whole(bytes: &[u8]) -> Vec<Message> {
    decode_chunks([bytes]).0
}

fn decode_bytewise(bytes: &[u8]) -> Vec<Message> {
    decode_chunks(bytes.chunks(1)).0
}

fn decode_split(bytes: &[u8], at: usize) -> Vec<Message> {
    decode_chunks([&bytes[..at], &bytes[at..]]).0
}

/// Whole, bytewise and every two-way split give the same messages.
fn assert_split_invariant(bytes: &[u8]) -> Vec<Message> {
    let whole = decode_whole(bytes);
    assert_eq!(decode_bytewise(bytes), whole, "byte-at-a-time differs");
    for at in 0..=bytes.len() {
        assert_eq!(decode_split(bytes, at), whole, "split at {at} differs");
    }
    whole
}

fn events(msgs: &[Message]) -> Vec<&Event> {
    msgs.iter().filter_map(Message::event).collect()
}

#[test]
fn switchio_stream1() {
    let (wire, splits) = switchio_wire(&fixture("switchio_stream1.txt"));
    assert!(splits.is_empty());
    let msgs = assert_split_invariant(&wire);
    assert_eq!(msgs.len(), 5);
    assert_eq!(msgs[0], Message::AuthRequest);
    assert!(
        matches!(&msgs[1], Message::CommandReply(r) if r.text() == "+OK accepted" && r.is_ok())
    );
    assert!(matches!(&msgs[2], Message::CommandReply(r) if r.text() == "+OK bye"));
    match &msgs[3] {
        Message::DisconnectNotice(n) => {
            assert_eq!(n.body.len(), 67);
            assert!(n.text().starts_with("Disconnected, goodbye."));
        }
        other => panic!("expected a disconnect notice, got {other:?}"),
    }
    let ev = msgs[4].event().expect("CHANNEL_CREATE");
    assert_eq!(ev.event_name(), Some("CHANNEL_CREATE"));
    assert_eq!(ev.header("Channel-State"), Some("CS_INIT"));
    assert_eq!(ev.unique_id(), Some("d0b1da34-a727-11e4-9728-6f83a2e5e50a"));
    let sdp = ev.variable("switch_r_sdp").expect("multi-line SDP value");
    assert!(sdp.starts_with("v=0\no=- 3631463817"));
    assert!(sdp.trim_end().ends_with("a=rtcp:4017 IN IP4 172.16.7.70"));
    assert!(ev.header("a=rtpmap").is_none());
}

#[test]
fn switchio_stream2() {
    let (wire, splits) = switchio_wire(&fixture("switchio_stream2.txt"));
    assert_eq!(splits.len(), 3);
    let msgs = assert_split_invariant(&wire);

    // The reads as switchio recorded them decode the same.
    let mut bounds = vec![0];
    bounds.extend(&splits);
    bounds.push(wire.len());
    let chunks: Vec<&[u8]> = bounds.windows(2).map(|w| &wire[w[0]..w[1]]).collect();
    assert_eq!(decode_chunks(chunks).0, msgs);

    assert_eq!(msgs.len(), 5);
    match &msgs[0] {
        Message::CommandReply(r) => {
            assert_eq!(r.job_uuid(), Some("1246016f-ea2f-4cba-a018-16443bcadc6f"));
            assert!(r.text().starts_with("+OK Job-UUID"));
        }
        other => panic!("expected bgapi reply, got {other:?}"),
    }
    let job = msgs[1].event().expect("BACKGROUND_JOB");
    assert_eq!(job.event_name(), Some("BACKGROUND_JOB"));
    assert_eq!(job.job_uuid(), Some("86b51ad6-ebb9-4bca-8a41-f28986dde3e4"));
    assert_eq!(
        job.body_text().as_deref(),
        Some("+OK 8de782e0-83c9-11e7-af1b-001500e3e25c\n")
    );
    assert!(job
        .header("Job-Command-Arg")
        .is_some_and(|a| a.starts_with("{originate_timeout=60,")
            && a.ends_with("@192.168.0.105:5080 &park()")));
    assert_eq!(
        msgs[2].event().and_then(Event::event_name),
        Some("CHANNEL_PARK")
    );
    assert_eq!(msgs[3], msgs[1]);
    assert!(matches!(&msgs[4], Message::CommandReply(r) if r.job_uuid().is_some()));
}

#[test]
fn fsock_stream() {
    let wire = fixture("fsock_stream.txt");
    let (msgs, ends) = decode_chunks([&wire[..]]);
    assert_eq!(decode_bytewise(&wire), msgs, "byte-at-a-time differs");

    // 44 well-formed events, plus the corrupted frame and its orphaned body.
    let evs = events(&msgs);
    assert_eq!(evs.len(), 44);
    assert_eq!(msgs.len(), 46);
    let odd: Vec<usize> = (0..msgs.len())
        .filter(|&i| msgs[i].event().is_none())
        .collect();
    assert_eq!(odd.len(), 2);
    assert!(matches!(&msgs[odd[0]], Message::Malformed { frame, .. }
        if frame.header("uuid_transfer Content-Length") == Some("720")));
    assert!(matches!(&msgs[odd[1]], Message::Unknown(frame)
        if frame.header("Event-Name") == Some("HEARTBEAT")));
    let count = |name: &str| evs.iter().filter(|e| e.event_name() == Some(name)).count();
    assert_eq!(count("HEARTBEAT"), 3);
    assert_eq!(count("CHANNEL_EXECUTE"), 7);
    assert_eq!(count("API"), 4);
    assert_eq!(count("RE_SCHEDULE"), 5);
    let hb = evs[0];
    assert_eq!(
        hb.header("Up-Time")
            .map(|s| s.starts_with("0 years, 3 days")),
        Some(true)
    );
    assert_eq!(hb.header("FreeSWITCH-IPv6"), Some("::1"));
    assert!(evs.iter().all(|e| e
        .header("Event-Date-GMT")
        .is_some_and(|d| d.contains(" GMT"))));

    // Every split offset. Where a read is split only changes framing (an
    // event is parsed from its complete body), so this runs on raw frames
    // (FrameCodec), which keeps 127k splits fast in a debug build. Frames are
    // independent too (the decoder is back in its initial state at each
    // boundary), so a split inside frame j is checked by decoding frames j and
    // j+1 from j's start; a sample of whole-stream splits, through the full
    // ClientCodec, checks that claim.
    let frames = frames_of([&wire[..]]);
    assert_eq!(frames.len(), msgs.len());
    let starts: Vec<usize> = std::iter::once(0).chain(ends.iter().copied()).collect();
    for j in 0..frames.len() {
        let next = (j + 1).min(frames.len() - 1);
        let window = &wire[starts[j]..ends[next]];
        for at in 1..=(ends[j] - starts[j]) {
            let got = frames_of([&window[..at], &window[at..]]);
            assert_eq!(
                got,
                frames[j..=next],
                "frame {j} split at {}",
                starts[j] + at
            );
        }
    }
    for at in (0..=wire.len()).step_by(997) {
        assert_eq!(decode_split(&wire, at), msgs, "whole stream split at {at}");
    }
}

fn frames_of<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> Vec<Frame> {
    let mut codec = FrameCodec::new();
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        while let Some(f) = codec.decode(&mut buf).expect("decode") {
            out.push(f);
        }
    }
    while let Some(f) = codec.decode_eof(&mut buf).expect("clean end of stream") {
        out.push(f);
    }
    out
}

#[test]
fn cgrates_hangup_complete() {
    let block = fixture("cgrates_hangup_complete.txt");
    let ev = Event::parse_plain(&block);
    assert_eq!(ev.event_name(), Some("CHANNEL_HANGUP_COMPLETE"));
    assert_eq!(ev.unique_id(), Some("e3133bf7-dcde-4daf-9663-9a79ffcef5ad"));
    assert_eq!(ev.header_as::<u64>("variable_billsec"), Some(Ok(66)));
    assert_eq!(ev.variable("cgr_notify"), Some("+AUTH_OK"));
    assert_eq!(ev.variable("cgr_reqtype"), Some("*prepaid"));
    assert_eq!(ev.variable("cgr_route"), Some("supplier1"));
    assert_eq!(
        ev.variable("cgr_flags"),
        Some("*resources;*attributes;*sessions;*routes;*routes_event_cost;*routes_ignore_errors;*accounts")
    );
    assert!(ev
        .header("variable_answer_epoch")
        .is_some_and(|v| v.parse::<u64>().is_ok()));
    assert_eq!(
        ev.headers_all("Hangup-Cause").collect::<Vec<_>>(),
        ["NORMAL_CLEARING", "NORMAL_CLEARING"]
    );
    assert_eq!(ev.header("Caller-Callee-ID-Name"), Some("Outbound Call"));
    assert_eq!(
        ev.header("Channel-Name"),
        Some("sofia/cgrtest/1001@127.0.0.1")
    );
    assert!(ev.body().is_none());

    // The same block framed as the switch sends it, through the codec.
    let mut wire = format!(
        "Content-Length: {}\nContent-Type: text/event-plain\n\n",
        block.len()
    )
    .into_bytes();
    wire.extend_from_slice(&block);
    let msgs = assert_split_invariant(&wire);
    assert_eq!(msgs, [Message::Event(ev)]);
}
