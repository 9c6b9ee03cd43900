//! Property tests: what the encoders write, the decoders read back exactly,
//! for arbitrary headers and bodies (`%`, newlines, UTF-8, empty values),
//! and arbitrary bytes never make the decoder panic.

use bytes::{Bytes, BytesMut};
use esl::{ClientCodec, Command, Event, FrameCodec, Headers, Message, ServerCodec};
use proptest::prelude::*;
use tokio_util::codec::{Decoder, Encoder};

/// Header names a writer can express: no `:`, CR, LF, no leading space, and
/// not `Content-Length` (framing, rewritten by the encoder).
fn name() -> impl Strategy<Value = String> {
    "[A-Za-z_][A-Za-z0-9_ .=/-]{0,24}".prop_filter("framing header", |n| {
        !n.eq_ignore_ascii_case("content-length")
            && !n.eq_ignore_ascii_case("content-type")
            && n != "_body"
    })
}

/// Values: anything, including `%`, `%41`, newlines, CR, UTF-8 and empty.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("%".to_owned()),
        Just("100%41\r\n: x".to_owned()),
        any::<String>(),
        "[ -~\n\r%é€😀]{0,40}",
    ]
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec((name(), value()), 0..12)
}

fn body() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop::option::of(prop::collection::vec(any::<u8>(), 1..200))
}

fn event_of(headers: &[(String, String)], body: &Option<Vec<u8>>) -> Event {
    let hs: Headers = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    Event::from_parts(hs, body.clone().map(Bytes::from))
}

fn decode_one(wire: &mut BytesMut) -> Message {
    let mut codec = ClientCodec::new();
    let msg = codec
        .decode(wire)
        .expect("decodes")
        .expect("one complete frame");
    assert!(wire.is_empty(), "bytes left over");
    msg
}

/// Repeated headers grouped at their first occurrence, as JSON carries them.
fn grouped(ev: &Event) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for (k, v) in ev.headers().iter() {
        match out.iter_mut().find(|(n, _)| n == k) {
            Some((_, vs)) => vs.push(v.to_owned()),
            None => out.push((k.to_owned(), vec![v.to_owned()])),
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn event_plain_round_trip(hs in headers(), body in body()) {
        let ev = event_of(&hs, &body);
        let mut wire = BytesMut::new();
        Message::Event(ev.clone()).encode(&mut wire).unwrap();
        prop_assert_eq!(decode_one(&mut wire), Message::Event(ev));
    }

    #[test]
    fn event_plain_inner_round_trip(hs in headers(), body in body()) {
        let ev = event_of(&hs, &body);
        let mut inner = BytesMut::new();
        ev.encode_plain(&mut inner).unwrap();
        prop_assert_eq!(Event::parse_plain(&inner), ev);
    }

    #[test]
    fn event_json_round_trip(hs in headers(), body in "[ -~\n\"\\\\é]{1,60}") {
        let ev = event_of(&hs, &Some(body.into_bytes()));
        let mut wire = BytesMut::new();
        Message::EventJson(ev.clone()).encode(&mut wire).unwrap();
        let back = decode_one(&mut wire);
        let back = back.event().expect("json event");
        prop_assert_eq!(grouped(back), grouped(&ev));
        prop_assert_eq!(back.body(), ev.body());
    }

    #[test]
    fn reply_and_api_round_trip(hs in headers(), text in value(), body in prop::collection::vec(any::<u8>(), 0..200)) {
        let mut reply = esl::Reply::new(&text);
        for (k, v) in &hs {
            let mut h = reply.headers().clone();
            h.push(k, v);
            reply = esl::Reply::from_headers(h);
        }
        for msg in [Message::CommandReply(reply), Message::api_response(body)] {
            let mut wire = BytesMut::new();
            msg.encode(&mut wire).unwrap();
            prop_assert_eq!(decode_one(&mut wire), msg);
        }
    }

    #[test]
    fn command_round_trip(
        line in "[a-z_]{1,10}( [ -~]{0,40})?",
        hs in prop::collection::vec((name(), "[ -~]{0,30}"), 0..6),
        body in prop::option::of(prop::collection::vec(any::<u8>(), 0..100)),
    ) {
        let mut cmd = Command::new(line);
        for (k, v) in &hs {
            cmd = cmd.with_header(k, v);
        }
        if let Some(b) = body {
            cmd = cmd.with_body(b);
        }
        let mut wire = BytesMut::new();
        esl::ClientCodec::new().encode(&cmd, &mut wire).unwrap();
        let back = ServerCodec::new().decode(&mut wire).unwrap().expect("one command");
        prop_assert_eq!(back.line(), cmd.line().trim_end_matches('\r'));
        prop_assert_eq!(back.body(), cmd.body());
    }

    /// Arbitrary bytes, fed whole and in arbitrary chunks: errors allowed,
    /// panics not, and never more than one frame's worth buffered.
    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..2048), cut in 0usize..2048) {
        for decode in [feed_client as fn(&[u8], usize), feed_frames, feed_server] {
            decode(&data, cut);
        }
    }

    /// Almost-valid frames: real heads with random bodies and lengths.
    #[test]
    fn mangled_frames_never_panic(
        ct in prop::sample::select(vec!["text/event-plain", "text/event-json", "command/reply", "api/response", "log/data", "x/y"]),
        len in 0usize..300,
        body in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut wire = format!("Content-Type: {ct}\nContent-Length: {len}\n\n").into_bytes();
        wire.extend_from_slice(&body);
        feed_client(&wire, wire.len() / 2);
    }
}

fn feed_client(data: &[u8], cut: usize) {
    let cut = cut.min(data.len());
    let mut codec = ClientCodec::with_max_frame(4096);
    let mut buf = BytesMut::new();
    for chunk in [&data[..cut], &data[cut..]] {
        buf.extend_from_slice(chunk);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(_)) => continue,
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
    let _ = codec.decode_eof(&mut buf);
}

fn feed_frames(data: &[u8], cut: usize) {
    let cut = cut.min(data.len());
    let mut codec = FrameCodec::with_max_frame(1024);
    let mut buf = BytesMut::from(&data[..cut]);
    while let Ok(Some(_)) = codec.decode(&mut buf) {}
    buf.extend_from_slice(&data[cut..]);
    while let Ok(Some(_)) = codec.decode(&mut buf) {}
    assert!(buf.capacity() <= 64 * 1024, "unbounded buffering");
}

fn feed_server(data: &[u8], cut: usize) {
    let cut = cut.min(data.len());
    let mut codec = ServerCodec::with_max_frame(1024);
    let mut buf = BytesMut::from(&data[..cut]);
    while let Ok(Some(_)) = codec.decode(&mut buf) {}
    buf.extend_from_slice(&data[cut..]);
    while let Ok(Some(_)) = codec.decode(&mut buf) {}
    let _ = codec.decode_eof(&mut buf);
}
