//! Fuzz target: arbitrary bytes into every decoder of the esl crate.
//!
//! The first input byte chooses where the stream is split into two reads,
//! so partial-frame states are explored too. Decoders may return errors;
//! they must not panic, loop, or buffer past their frame cap.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;

const CAP: usize = 64 * 1024;

fn drain<D: Decoder>(codec: &mut D, data: &[u8], cut: usize) {
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
        assert!(buf.len() <= data.len());
    }
    let _ = codec.decode_eof(&mut buf);
}

fuzz_target!(|input: &[u8]| {
    let Some((&first, data)) = input.split_first() else {
        return;
    };
    let cut = usize::from(first) * data.len() / 255;
    drain(&mut esl::ClientCodec::with_max_frame(CAP), data, cut);
    drain(&mut esl::ServerCodec::with_max_frame(CAP), data, cut);
    let _ = esl::Event::parse_plain(data);
    let _ = esl::Event::parse_json(data);
    let _ = esl::api::parse_show_channels(&String::from_utf8_lossy(data));
});
