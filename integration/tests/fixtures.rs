//! The simulator's frames against real FreeSWITCH traffic in
//! `testdata/esl/`: same framing, same header names for the same
//! event types (header order aside), same percent-encoding style, and
//! byte-identical handshake frames.
//!
//! The captures come from FreeSWITCH 1.2 (fsock, 2012), 1.4/1.6 (switchio,
//! 2015 and 2017) and 1.6 (CGRateS, 2015); the simulator follows 1.10. So a
//! header counts as required for an event type when every capture of that
//! type has it, less the few that newer switches renamed or that depend on
//! a SIP detail of the captured call ([`NOT_REQUIRED`]). The simulator may
//! send more than that (later versions added headers), never less.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::BytesMut;
use common::*;
use esl::{Event, Frame, FrameCodec};
use integration::{CallSpec, FakeSwitch, Scenario, ScenarioStart, SwitchConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::codec::Decoder;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/esl");

/// Headers in every capture of a type that the simulator does not send,
/// with the reason.
const NOT_REQUIRED: &[(&str, &str)] = &[
    // Renamed rtp_* in FreeSWITCH 1.4; the simulator sends the new names.
    ("variable_sip_audio_recv_pt", "renamed rtp_audio_recv_pt"),
    ("variable_sip_use_codec_name", "renamed rtp_use_codec_name"),
    ("variable_sip_use_codec_rate", "renamed rtp_use_codec_rate"),
    (
        "variable_sip_use_codec_ptime",
        "renamed rtp_use_codec_ptime",
    ),
    // Present only when the INVITE had a Record-Route / ZRTP offer.
    (
        "variable_sip_invite_record_route",
        "INVITE had a Record-Route",
    ),
    ("variable_r_sdp_audio_zrtp_hash", "caller offered ZRTP"),
];

/// Variables the switch sets when the call hangs up: required only of
/// events sent after the hangup (fsock's CHANNEL_UNPARK came from a hangup,
/// the simulator's first one from a transfer).
const SET_AT_HANGUP: &[&str] = &[
    "variable_sip_term_status",
    "variable_sip_term_cause",
    "variable_proto_specific_hangup_cause",
    "variable_hangup_cause",
    "variable_hangup_cause_q850",
];

fn read(name: &str) -> Vec<u8> {
    let path = format!("{DIR}/{name}");
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read fixture {path}: {e}"))
}

/// switchio's captures mark read splits with `--`; remove them.
fn strip_markers(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i..].starts_with(b"--") {
            let alone = (i == 0 || raw[i - 1] == b'\n') && raw.get(i + 2) == Some(&b'\n');
            i += if alone { 3 } else { 2 };
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    out
}

/// Frames with the raw bytes each was read from.
fn frames(bytes: &[u8]) -> Vec<(Frame, Vec<u8>)> {
    let mut codec = FrameCodec::new();
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    let mut start = 0;
    loop {
        let before = buf.len();
        match codec.decode_eof(&mut buf) {
            Ok(Some(f)) => {
                let used = before - buf.len();
                // Blank lines skipped before a frame are not part of it.
                let raw = bytes[start..start + used].to_vec();
                let skip = raw.iter().take_while(|&&b| b == b'\n').count();
                out.push((f, raw[skip..].to_vec()));
                start += used;
            }
            Ok(None) | Err(_) => return out,
        }
    }
}

fn head_names(f: &Frame) -> BTreeSet<String> {
    f.headers.iter().map(|(k, _)| k.to_owned()).collect()
}

fn event_names(ev: &Event) -> BTreeSet<String> {
    ev.headers().iter().map(|(k, _)| k.to_owned()).collect()
}

/// Events (with their raw event-plain bodies) of every fixture.
fn fixture_events() -> Vec<(Event, Vec<u8>)> {
    let mut out = Vec::new();
    for (name, bytes) in [
        ("fsock_stream.txt", read("fsock_stream.txt")),
        (
            "switchio_stream1.txt",
            strip_markers(&read("switchio_stream1.txt")),
        ),
        (
            "switchio_stream2.txt",
            strip_markers(&read("switchio_stream2.txt")),
        ),
    ] {
        let fs = frames(&bytes);
        assert!(fs.len() > 3, "{name}: too few frames");
        for (f, _) in fs {
            if f.header("Content-Type") == Some("text/event-plain") {
                if let Some(body) = &f.body {
                    let ev = Event::parse_plain(body);
                    if ev.event_name().is_some_and(|n| !n.contains(' ')) {
                        out.push((ev, body.to_vec()));
                    }
                }
            }
        }
    }
    let hc = read("cgrates_hangup_complete.txt");
    out.push((Event::parse_plain(&hc), hc));
    out
}

/// FreeSWITCH's percent-encoding: no byte of `SWITCH_URL_UNSAFE`, no
/// control or non-ASCII byte, `%` only as `%XX`.
fn encoded_like_the_switch(value: &str) -> bool {
    let b = value.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' {
            if !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
            {
                return false;
            }
            i += 3;
            continue;
        }
        if !(0x20..=0x7e).contains(&c) || b"\r\n #&+:;<=>?@[\\]^`{|}\"".contains(&c) {
            return false;
        }
        i += 1;
    }
    !value.is_empty()
}

/// Every header line of a raw event-plain body (the inner block only).
fn raw_lines(body: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    let block = text.split("\n\n").next().unwrap_or("");
    block
        .lines()
        .map(|l| {
            let (k, v) = l
                .split_once(": ")
                .unwrap_or_else(|| panic!("bad line {l:?}"));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

struct Capture {
    frames: Vec<(Frame, Vec<u8>)>,
    uuids: [String; 2],
}

/// One connection's whole byte stream while a parked prepaid call (the
/// CGRateS variables of the fsock capture) is transferred, answered and
/// hung up by its caller, with a bgapi and heartbeats on the way.
async fn capture() -> Capture {
    let spec = CallSpec {
        caller_name: Some("Anna Müller".into()),
        ..CallSpec::new("4986517174963", "4986517174964")
    }
    .var("cgr_reqtype", "prepaid")
    .var("cgr_tor", "call")
    .var("cgr_cstmid", "cgrates.org")
    .var("cgr_account", "4986517174963")
    .var("cgr_subject", "4986517174963")
    .var("cgr_destination", "4986517174964")
    .var("cgr_notify", "+AUTH_OK")
    .ring(1.0)
    .talk(2.0);
    let (uuid, gone) = (
        "303c0f9f-4b32-4b9b-9f77-df0ca215bbe7",
        "303c0f9f-4b32-4b9b-9f77-df0ca215bbe8",
    );
    // The calls start once the connection below has subscribed.
    let sw = FakeSwitch::start(SwitchConfig {
        speed: 100.0,
        heartbeat: Duration::from_secs(1),
        scenario: Scenario {
            start: ScenarioStart::OnFirstSubscription,
            calls: vec![
                spec.clone().uuid(uuid),
                // Like the captured fsock call: the caller gives up while parked.
                spec.uuid(gone).abandon(1.0),
            ],
            load: None,
        },
        ..Default::default()
    })
    .await
    .unwrap();
    let stream = tokio::net::TcpStream::connect(sw.addr()).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let reader = tokio::spawn(async move {
        let mut all = Vec::new();
        let _ = tokio::time::timeout(WAIT, rd.read_to_end(&mut all)).await;
        all
    });
    wr.write_all(b"auth ClueCon\n\nevent plain ALL\n\nbgapi uuid_exists nope\nJob-UUID: 86b51ad6-ebb9-4bca-8a41-f28986dde3e4\n\n")
        .await
        .unwrap();
    sw.wait_record(uuid, WAIT, |r| r.parked)
        .await
        .expect("parked");
    let (control, _events) = client(sw.addr()).await;
    control
        .uuid_transfer(uuid, "4986517174964", None, None)
        .await
        .unwrap();
    sw.wait_for_end(uuid, WAIT).await.expect("call ends");
    sw.wait_for_end(gone, WAIT).await.expect("call ends");
    tokio::time::sleep(Duration::from_millis(50)).await;
    wr.write_all(b"exit\n\n").await.unwrap();
    let bytes = reader.await.unwrap();
    Capture {
        frames: frames(&bytes),
        uuids: [uuid.to_owned(), gone.to_owned()],
    }
}

#[tokio::test]
async fn handshake_frames_are_byte_identical() {
    let cap = capture().await;
    let fixture = frames(&strip_markers(&read("switchio_stream1.txt")));
    let sim = &cap.frames;
    // auth/request, +OK accepted: the same bytes.
    assert_eq!(sim[0].1, fixture[0].1);
    assert_eq!(sim[1].1, fixture[1].1);
    // exit: +OK bye, then the same disconnect notice (header order aside).
    let n = sim.len();
    assert_eq!(sim[n - 2].1, fixture[2].1);
    let (notice, fnotice) = (&sim[n - 1].0, &fixture[3].0);
    assert_eq!(head_names(notice), head_names(fnotice));
    assert_eq!(notice.body, fnotice.body);

    // bgapi's reply: the same bytes but for the job uuid.
    let fbg = &frames(&strip_markers(&read("switchio_stream2.txt")))[0];
    let job = fbg.0.header("Job-UUID").unwrap().to_owned();
    let reply = sim
        .iter()
        .find(|(f, _)| {
            f.header("Content-Type") == Some("command/reply") && f.header("Job-UUID").is_some()
        })
        .expect("bgapi reply");
    let ours = String::from_utf8(reply.1.clone())
        .unwrap()
        .replace("86b51ad6-ebb9-4bca-8a41-f28986dde3e4", &job);
    assert_eq!(ours.as_bytes(), &fbg.1[..]);
}

#[tokio::test]
async fn events_have_the_captured_header_names_framing_and_encoding() {
    let cap = capture().await;
    let fixtures = fixture_events();

    // Required names per type: those in every capture of the type.
    let mut required: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (ev, _) in &fixtures {
        let name = ev.event_name().unwrap().to_owned();
        let names = event_names(ev);
        required
            .entry(name)
            .and_modify(|r| *r = r.intersection(&names).cloned().collect())
            .or_insert(names);
    }

    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut job = None;
    for (frame, raw) in &cap.frames {
        let ct = frame.header("Content-Type").unwrap_or("");
        if ct != "text/event-plain" {
            continue;
        }
        // Outer framing as the switch writes it.
        assert_eq!(
            head_names(frame),
            ["Content-Length", "Content-Type"].map(String::from).into(),
        );
        assert!(
            raw.starts_with(b"Content-Length: "),
            "{:?}",
            String::from_utf8_lossy(raw)
        );
        let body = frame.body.as_ref().unwrap();
        let ev = Event::parse_plain(body);
        let name = ev.event_name().unwrap().to_owned();
        // Every value encoded the way switch_event_serialize encodes it.
        for (k, v) in raw_lines(body) {
            assert!(
                encoded_like_the_switch(&v),
                "{name}: {k}: {v:?} not encoded like the switch"
            );
        }
        if ev.body().is_none() {
            assert!(
                body.ends_with(b"\n\n"),
                "{name}: body must end with a blank line"
            );
        }
        assert_eq!(ev.header("Event-Date-Timestamp").map(str::len), Some(16));
        if ev
            .unique_id()
            .is_some_and(|u| !cap.uuids.iter().any(|x| x == u))
        {
            continue;
        }
        *seen.entry(name.clone()).or_default() += 1;
        if name == "BACKGROUND_JOB" {
            job = Some((ev.clone(), body.clone()));
        }
        if name == "CHANNEL_HANGUP_COMPLETE" {
            assert_eq!(ev.headers_all("Hangup-Cause").count(), 2);
            let billsec = if ev.unique_id() == Some(&cap.uuids[0]) {
                2
            } else {
                0
            };
            assert_eq!(ev.header_as::<u64>("variable_billsec"), Some(Ok(billsec)));
        }
        if let Some(req) = required.get(&name) {
            let have = event_names(&ev);
            let up = ev.header("Answer-State") != Some("hangup");
            let missing: Vec<_> = req
                .iter()
                .filter(|n| !have.contains(*n) && !NOT_REQUIRED.iter().any(|(x, _)| x == n))
                .filter(|n| !(up && SET_AT_HANGUP.contains(&n.as_str())))
                .collect();
            assert!(missing.is_empty(), "{name} lacks {missing:?}");
        }
    }
    for name in [
        "CHANNEL_CREATE",
        "CHANNEL_STATE",
        "CHANNEL_CALLSTATE",
        "CHANNEL_EXECUTE",
        "CHANNEL_PARK",
        "CHANNEL_UNPARK",
        "CHANNEL_EXECUTE_COMPLETE",
        "CHANNEL_ANSWER",
        "CHANNEL_HANGUP",
        "CHANNEL_HANGUP_COMPLETE",
        "CHANNEL_DESTROY",
        "BACKGROUND_JOB",
        "HEARTBEAT",
        "API",
    ] {
        assert!(
            seen.contains_key(name),
            "the simulator sent no {name}: {seen:?}"
        );
    }
    // The captures themselves pass the same check (it is the switch's
    // style), but for the last line of the CGRateS one, `variable_cgr_flags`
    // with raw `;`: appended by hand in CGRateS's test, a switch writes %3B.
    let mut checked = 0;
    for (ev, body) in &fixtures {
        if ev.event_name() == Some("CHANNEL_HANGUP_COMPLETE") {
            for (k, v) in raw_lines(body) {
                if k != "variable_cgr_flags" {
                    assert!(encoded_like_the_switch(&v), "fixture {k}: {v:?}");
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 400);
    // BACKGROUND_JOB: inner Content-Length framing the result, as captured.
    let (ev, body) = job.expect("a BACKGROUND_JOB");
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(text.ends_with("Content-Length: 5\n\nfalse"), "{text:?}");
    assert_eq!(ev.job_uuid(), Some("86b51ad6-ebb9-4bca-8a41-f28986dde3e4"));
}
