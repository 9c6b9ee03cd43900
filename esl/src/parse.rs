//! nom parsers for ESL header blocks.
//!
//! Everything on the Event Socket is a block of `Name: value` lines ended by a
//! blank line: the outer frame head, the inner block of a `text/event-plain`
//! body, the channel data of an outbound `connect` reply, and the commands a
//! client sends. This module turns such a block into [`Headers`]; finding
//! where a block ends in a stream is the codec's job ([`find_block_end`] helps).
//!
//! Rules, taken from what FreeSWITCH writes (`switch_event_serialize`) and
//! how its ESL library reads (`esl_recv_event`):
//! - lines end with `\n`; a trailing `\r` is dropped;
//! - a field is `Name: value`; spaces after the colon are skipped;
//! - values are percent-decoded per value *after* splitting into lines, so an
//!   encoded `%0A` never splits a field (the switch encodes every newline);
//! - in event blocks a line that is not `Name: value` (no colon followed by a
//!   space or the line end) continues the previous value after a newline.
//!   FreeSWITCH never sends that, but captures that were decoded before being
//!   saved (the switchio fixtures: an SDP body inside `variable_switch_r_sdp`)
//!   do, and this keeps such a value whole instead of inventing headers named
//!   `a=rtpmap`;
//! - in command blocks (client to switch) the first line is the command, and
//!   fields split at the first colon as `mod_event_socket`'s `read_packet` does.

use nom::bytes::complete::{tag, take_till1};
use nom::character::complete::space0;
use nom::combinator::rest;
use nom::sequence::{preceded, separated_pair};
use nom::IResult;

use crate::headers::Headers;
use crate::percent;

/// Where a header block ends in `buf`, searching from `from`.
///
/// Returns `(block_len, consumed)`: the block is `buf[..block_len]` (its last
/// line's `\n` included) and `consumed` also covers the blank line. `None`
/// means the blank line has not arrived yet; callers resume from
/// `buf.len().saturating_sub(2)`.
pub fn find_block_end(buf: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut at = from;
    while let Some(pos) = memchr::memchr(b'\n', buf.get(at..)?) {
        let nl = at + pos;
        match buf.get(nl + 1) {
            Some(b'\n') => return Some((nl + 1, nl + 2)),
            Some(b'\r') if buf.get(nl + 2) == Some(&b'\n') => return Some((nl + 1, nl + 3)),
            _ => at = nl + 1,
        }
    }
    None
}

/// One line without its terminator (`\n` or `\r\n`); the whole rest when no
/// `\n` is left.
fn line(input: &[u8]) -> IResult<&[u8], &[u8]> {
    let (line, remaining) = match memchr::memchr(b'\n', input) {
        Some(pos) => (&input[..pos], &input[pos + 1..]),
        None => (input, &input[input.len()..]),
    };
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    Ok((remaining, line))
}

/// `Name:` then optional spaces, then the value (rest of the line).
fn field(line: &[u8]) -> IResult<&[u8], (&[u8], &[u8])> {
    separated_pair(take_till1(|b| b == b':'), tag(":"), preceded(space0, rest))(line)
}

/// Splits a line into name and raw value when it is a field.
///
/// `strict`: FreeSWITCH always writes `": "`, so a colon followed by anything
/// but a space (`a=rtpmap:0 PCMU/8000`) does not start a field.
fn split_field(line: &[u8], strict: bool) -> Option<(&[u8], &[u8])> {
    let (_, (name, value)) = field(line).ok()?;
    if strict {
        let after_colon = &line[name.len() + 1..];
        if !(after_colon.is_empty() || after_colon[0] == b' ') {
            return None;
        }
    }
    Some((name, value))
}

/// Accumulates fields into one text buffer plus offsets.
struct Builder {
    text: Vec<u8>,
    fields: Vec<(usize, usize, usize)>,
    decode: bool,
}

impl Builder {
    fn new(block: &[u8], decode: bool) -> Self {
        Builder {
            text: Vec::with_capacity(block.len()),
            // FreeSWITCH lines average 30-40 bytes; a guess beats a count.
            fields: Vec::with_capacity(block.len() / 24 + 4),
            decode,
        }
    }

    fn append_value(&mut self, raw: &[u8], has_percent: bool) {
        if self.decode && has_percent {
            percent::decode_into(raw, &mut self.text);
        } else {
            self.text.extend_from_slice(raw);
        }
    }

    fn push(&mut self, name: &[u8], raw_value: &[u8], has_percent: bool) {
        let start = self.text.len();
        self.text.extend_from_slice(name);
        let name_end = self.text.len();
        self.append_value(raw_value, has_percent);
        self.fields.push((start, name_end, self.text.len()));
    }

    /// Extends the last value with a newline and `raw`; false when there is
    /// no field to continue.
    fn continue_last(&mut self, raw: &[u8], has_percent: bool) -> bool {
        if self.fields.is_empty() {
            return false;
        }
        self.text.push(b'\n');
        self.append_value(raw, has_percent);
        let len = self.text.len();
        if let Some(last) = self.fields.last_mut() {
            last.2 = len;
        }
        true
    }

    fn finish(self) -> Headers {
        match String::from_utf8(self.text) {
            Ok(text) => Headers::from_raw(text, self.fields),
            Err(err) => {
                // Rare: a value decoded to bytes that are not UTF-8. Rebuild
                // field by field, replacing bad sequences with U+FFFD.
                let bytes = err.into_bytes();
                let mut headers = Headers::with_capacity(self.fields.len(), bytes.len());
                for (start, name_end, value_end) in self.fields {
                    headers.push(
                        String::from_utf8_lossy(&bytes[start..name_end]),
                        String::from_utf8_lossy(&bytes[name_end..value_end]),
                    );
                }
                headers
            }
        }
    }
}

/// Parses an event-style header block (outer frame head, event-plain body,
/// connect reply): percent-decoded values, continuation lines.
///
/// Empty lines are skipped; parsing never fails. One SIMD pass finds both
/// line ends and `%` signs, so values without escapes are copied as they
/// are and lines are never rescanned.
pub fn event_block(block: &[u8]) -> Headers {
    let mut builder = Builder::new(block, true);
    let mut start = 0;
    let mut has_percent = false;
    let ends = memchr::memchr2_iter(b'\n', b'%', block).chain(std::iter::once(block.len()));
    for pos in ends {
        if block.get(pos) == Some(&b'%') {
            has_percent = true;
            continue;
        }
        let line = &block[start..pos];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        start = pos + 1;
        let pct = std::mem::take(&mut has_percent);
        if line.is_empty() {
            continue;
        }
        match split_field(line, true) {
            Some((name, value)) => builder.push(name, value, pct),
            None => {
                if !builder.continue_last(line, pct) {
                    tracing::debug!(line = %String::from_utf8_lossy(line), "ignoring header line without a name");
                }
            }
        }
    }
    builder.finish()
}

/// Parses a command block sent by a client: the first line is the command,
/// the others `Name: value` fields, not percent-decoded (as `read_packet`).
pub fn command_block(block: &[u8]) -> (String, Headers) {
    let mut input = block;
    // Leading blank lines are skipped by the codec; be tolerant anyway.
    let mut command: &[u8] = b"";
    while !input.is_empty() {
        let Ok((remaining, first)) = line(input) else {
            break;
        };
        input = remaining;
        if !first.is_empty() {
            command = first;
            break;
        }
    }
    let mut builder = Builder::new(input, false);
    while !input.is_empty() {
        let Ok((remaining, line)) = line(input) else {
            break;
        };
        input = remaining;
        if let Some((name, value)) = split_field(line, false) {
            builder.push(name, value, false);
        }
    }
    (
        String::from_utf8_lossy(command).into_owned(),
        builder.finish(),
    )
}

/// Splits an event-plain body into its header block and, when the block is
/// followed by a blank line and more bytes, what follows.
pub fn split_inner(body: &[u8]) -> (&[u8], Option<&[u8]>) {
    match find_block_end(body, 0) {
        Some((block_len, consumed)) if consumed < body.len() => {
            (&body[..block_len], Some(&body[consumed..]))
        }
        Some((block_len, _)) => (&body[..block_len], None),
        None => (body, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_block_end() {
        assert_eq!(find_block_end(b"A: 1\n\nbody", 0), Some((5, 6)));
        assert_eq!(find_block_end(b"A: 1\r\n\r\nbody", 0), Some((6, 8)));
        assert_eq!(find_block_end(b"A: 1\nB: 2\n", 0), None);
        assert_eq!(find_block_end(b"A: 1\nB: 2\n\n", 8), Some((10, 11)));
    }

    #[test]
    fn parses_fields_and_decodes_values() {
        let h = event_block(b"Event-Name: HEARTBEAT\nEvent-Info: System%20Ready\nEmpty: \nBare:\n");
        assert_eq!(
            h.iter().collect::<Vec<_>>(),
            [
                ("Event-Name", "HEARTBEAT"),
                ("Event-Info", "System Ready"),
                ("Empty", ""),
                ("Bare", "")
            ]
        );
    }

    #[test]
    fn decodes_after_splitting_lines() {
        let h = event_block(b"A: line1%0ALine2%3A%20x\nB: 2\n");
        assert_eq!(h.get("A"), Some("line1\nLine2: x"));
        assert_eq!(h.get("B"), Some("2"));
    }

    #[test]
    fn continuation_lines_join_the_previous_value() {
        let h = event_block(b"variable_sdp: v=0\na=rtpmap:0 PCMU/8000\nNext: 1\n");
        assert_eq!(h.get("variable_sdp"), Some("v=0\na=rtpmap:0 PCMU/8000"));
        assert_eq!(h.get("Next"), Some("1"));
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn invalid_utf8_after_decoding_is_replaced() {
        let h = event_block(b"A: %FF%FE\nB: ok\n");
        assert_eq!(h.get("A"), Some("\u{FFFD}\u{FFFD}"));
        assert_eq!(h.get("B"), Some("ok"));
    }

    #[test]
    fn command_block_first_line_is_the_command() {
        let (cmd, h) =
            command_block(b"sendmsg abc\r\ncall-command: execute\nexecute-app-arg:a%20b\n");
        assert_eq!(cmd, "sendmsg abc");
        assert_eq!(h.get("call-command"), Some("execute"));
        assert_eq!(h.get("execute-app-arg"), Some("a%20b"));
    }
}
