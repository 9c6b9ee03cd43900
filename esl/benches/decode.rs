//! Decoding throughput: the recorded fixture stream (MB/s) and typical
//! ~2 KB CHANNEL_* events (events/s), through the full ClientCodec (framing,
//! header parsing, percent-decoding, event parsing), plus event encoding.
//!
//! Run: `cargo bench -p esl` (numbers in esl/README.md).

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use esl::{ClientCodec, FrameCodec, Message};
use std::hint::black_box;
use tokio_util::codec::Decoder;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../testdata/esl/fsock_stream.txt"
);

fn stream() -> Vec<u8> {
    std::fs::read(FIXTURE).expect("fixture stream")
}

fn decode_all(wire: &[u8]) -> usize {
    let mut codec = ClientCodec::new();
    let mut buf = BytesMut::from(wire);
    let mut n = 0;
    while let Some(msg) = codec.decode(&mut buf).expect("decodes") {
        black_box(&msg);
        n += 1;
    }
    n
}

/// CHANNEL_* frames of 1.5–2.5 KB from the fixture, repeated to `count`.
fn channel_events(count: usize) -> (Vec<u8>, usize) {
    let wire = stream();
    let mut codec = FrameCodec::new();
    let mut buf = BytesMut::from(&wire[..]);
    let mut picked: Vec<Vec<u8>> = Vec::new();
    let mut consumed = 0;
    while let Ok(Some(frame)) = codec.decode(&mut buf) {
        let end = wire.len() - buf.len();
        let bytes = &wire[consumed..end];
        consumed = end;
        let body_len = frame.body.as_ref().map_or(0, |b| b.len());
        let is_channel = Message::from_frame(frame)
            .event()
            .and_then(|e| e.event_name())
            .is_some_and(|n| n.starts_with("CHANNEL_"));
        if is_channel && (1500..=2500).contains(&body_len) {
            picked.push(bytes.to_vec());
        }
    }
    assert!(!picked.is_empty());
    let mut out = Vec::new();
    for i in 0..count {
        out.extend_from_slice(&picked[i % picked.len()]);
    }
    (out, count)
}

fn bench(c: &mut Criterion) {
    let wire = stream();
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Bytes(wire.len() as u64));
    g.bench_function("fixture_stream", |b| {
        b.iter(|| decode_all(black_box(&wire)))
    });

    let (events, n) = channel_events(1000);
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("channel_events_2kb", |b| {
        b.iter(|| assert_eq!(decode_all(black_box(&events)), n))
    });
    g.finish();

    let ev = esl::Event::parse_plain(
        &std::fs::read(FIXTURE.replace("fsock_stream", "cgrates_hangup_complete")).unwrap(),
    );
    let msg = Message::Event(ev);
    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Elements(1));
    g.bench_function("hangup_complete_event_plain", |b| {
        let mut out = BytesMut::with_capacity(32 * 1024);
        b.iter(|| {
            out.clear();
            msg.encode(&mut out).unwrap();
            black_box(&out);
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
