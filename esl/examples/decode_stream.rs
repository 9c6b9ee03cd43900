//! Decodes a capture N times: a fixed workload for profilers whose numbers do
//! not depend on machine load, e.g.
//! `valgrind --tool=callgrind target/release/examples/decode_stream 20`.
//!
//! Usage: `decode_stream [ITERATIONS] [FILE]` (default: 10, the fsock fixture).

use bytes::BytesMut;
use esl::ClientCodec;
use tokio_util::codec::Decoder;

fn main() {
    let mut args = std::env::args().skip(1);
    let iterations: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let path = args.next().unwrap_or_else(|| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../testdata/esl/fsock_stream.txt"
        )
        .to_owned()
    });
    let wire = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let start = std::time::Instant::now();
    let mut messages = 0usize;
    for _ in 0..iterations {
        let mut codec = ClientCodec::new();
        let mut buf = BytesMut::from(&wire[..]);
        while let Ok(Some(msg)) = codec.decode(&mut buf) {
            std::hint::black_box(&msg);
            messages += 1;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let mb = (wire.len() * iterations) as f64 / 1e6;
    println!(
        "{messages} messages, {mb:.1} MB in {secs:.3} s: {:.0} MB/s",
        mb / secs
    );
}
