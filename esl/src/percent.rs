//! Percent-encoding as FreeSWITCH applies it to header values.
//!
//! FreeSWITCH serialises `text/event-plain` events (and the channel data of an
//! outbound `connect` reply) with `switch_url_encode`, and its own ESL library
//! decodes every received header value with `esl_url_decode`. Both are narrow:
//! only `%XX` escapes exist (no `+` for space), and a `%` not followed by two
//! hex digits is kept literally. This module mirrors that, byte for byte, with
//! one deliberate difference on the encoding side: we always escape `%`, so a
//! value survives an encode/decode round trip (FreeSWITCH leaves an existing
//! `%XX` sequence alone, which is lossy).

/// Bytes FreeSWITCH escapes besides controls and non-ASCII
/// (`SWITCH_URL_UNSAFE` in `switch_utils.h`).
const UNSAFE: &[u8] = b"\r\n #%&+:;<=>?@[\\]^`{|}\"";

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// `ESCAPE[b]`: byte `b` must be written as `%XX` in an event-plain value.
const ESCAPE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = b < 0x20 || b > 0x7e;
        b += 1;
    }
    let mut i = 0;
    while i < UNSAFE.len() {
        table[UNSAFE[i] as usize] = true;
        i += 1;
    }
    table
};

#[inline]
fn needs_escape(byte: u8) -> bool {
    ESCAPE[usize::from(byte)]
}

#[inline]
fn hex_val(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// Appends the percent-decoded form of `src` to `out`.
///
/// `%XX` with two hex digits becomes one byte; anything else is copied as is.
pub fn decode_into(src: &[u8], out: &mut Vec<u8>) {
    let mut rest = src;
    while let Some(pos) = memchr::memchr(b'%', rest) {
        out.extend_from_slice(&rest[..pos]);
        let escaped = rest
            .get(pos + 1..pos + 3)
            .and_then(|h| Some(hex_val(h[0])? << 4 | hex_val(h[1])?));
        match escaped {
            Some(byte) => {
                out.push(byte);
                rest = &rest[pos + 3..];
            }
            None => {
                out.push(b'%');
                rest = &rest[pos + 1..];
            }
        }
    }
    out.extend_from_slice(rest);
}

/// Percent-decodes `src` into a new byte vector.
pub fn decode(src: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(src.len());
    decode_into(src, &mut out);
    out
}

/// Appends `src` percent-encoded the way FreeSWITCH writes event-plain values
/// (always escaping `%`, see the module documentation).
pub fn encode_into(src: &[u8], out: &mut Vec<u8>) {
    let mut start = 0;
    for (i, &byte) in src.iter().enumerate() {
        if needs_escape(byte) {
            out.extend_from_slice(&src[start..i]);
            out.extend_from_slice(&[
                b'%',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0x0f)],
            ]);
            start = i + 1;
        }
    }
    out.extend_from_slice(&src[start..]);
}

/// Percent-encodes `src` into a new string (the result is always ASCII).
pub fn encode(src: &str) -> String {
    let mut out = Vec::with_capacity(src.len());
    encode_into(src.as_bytes(), &mut out);
    // Every byte written is printable ASCII.
    String::from_utf8_lossy(&out).into_owned()
}

/// Number of bytes `encode_into` would write for `src`.
pub fn encoded_len(src: &[u8]) -> usize {
    src.len() + 2 * src.iter().filter(|&&b| needs_escape(b)).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_freeswitch_escapes() {
        assert_eq!(decode(b"2012-10-05%2013%3A41%3A38"), b"2012-10-05 13:41:38");
        assert_eq!(decode(b"%2BAUTH_OK"), b"+AUTH_OK");
        assert_eq!(
            decode(b"sofia/B2BUA/49865%40call-home.net"),
            b"sofia/B2BUA/49865@call-home.net"
        );
    }

    #[test]
    fn keeps_plus_and_broken_escapes() {
        assert_eq!(decode(b"+OK accepted"), b"+OK accepted");
        assert_eq!(decode(b"100%"), b"100%");
        assert_eq!(decode(b"%zz%4"), b"%zz%4");
        assert_eq!(decode(b"%%41"), b"%A");
    }

    #[test]
    fn encodes_like_switch_url_encode() {
        assert_eq!(encode("+AUTH_OK"), "%2BAUTH_OK");
        assert_eq!(encode("a b:c\nd"), "a%20b%3Ac%0Ad");
        assert_eq!(encode("100%"), "100%25");
        assert_eq!(encode("é"), "%C3%A9");
        assert_eq!(encoded_len("a b:c\nd".as_bytes()), "a%20b%3Ac%0Ad".len());
    }
}
