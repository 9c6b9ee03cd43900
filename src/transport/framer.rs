//! Where each request of a raw TCP stream ends, found by looking at every
//! byte once: the scan state (nesting depth, inside a string, after a
//! backslash) is kept between reads, so a request arriving in many small
//! pieces costs the same as one arriving at once. serde then parses each
//! complete request exactly once.
//!
//! Only the bytes of structure and strings are interpreted; whether the
//! delimited text is valid JSON is serde's business (a value with
//! mismatched brackets is delimited somewhere and then refused).

use memchr::memchr2;

/// What [`Framer::next`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// A request object ends at this offset (exclusive), leading
    /// whitespace included.
    Complete(usize),
    /// Only whitespace, or the start of an object, so far; `started` tells
    /// whether a request's first byte has arrived.
    Incomplete { started: bool },
    /// The first byte that is not whitespace does not open an object: the
    /// stream is not a sequence of requests.
    NotAnObject,
}

/// The scan state of the request at the front of the buffer.
#[derive(Debug, Default, Clone)]
pub struct Framer {
    /// Bytes of the current value already looked at.
    scanned: usize,
    depth: u32,
    started: bool,
    in_string: bool,
    escaped: bool,
}

impl Framer {
    /// Scans `data`, whose first byte is the first byte not yet consumed
    /// (the same front as at the last call, with more bytes after it),
    /// from where the last call stopped. After a [`Frame::Complete`] the
    /// caller consumes that many bytes and the framer starts afresh.
    pub fn next(&mut self, data: &[u8]) -> Frame {
        let mut i = self.scanned;
        while i < data.len() {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                    i += 1;
                    continue;
                }
                match memchr2(b'"', b'\\', &data[i..]) {
                    None => i = data.len(),
                    Some(at) => {
                        i += at;
                        if data[i] == b'\\' {
                            self.escaped = true;
                        } else {
                            self.in_string = false;
                        }
                        i += 1;
                    }
                }
                continue;
            }
            let b = data[i];
            i += 1;
            if !self.started {
                match b {
                    b' ' | b'\t' | b'\n' | b'\r' => continue,
                    b'{' => {
                        self.started = true;
                        self.depth = 1;
                        continue;
                    }
                    _ => {
                        *self = Framer::default();
                        return Frame::NotAnObject;
                    }
                }
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        *self = Framer::default();
                        return Frame::Complete(i);
                    }
                }
                _ => {}
            }
        }
        self.scanned = i;
        Frame::Incomplete {
            started: self.started,
        }
    }

    /// Bytes before the current request that are only whitespace (they
    /// can be dropped without changing the scan).
    pub fn skippable(&self) -> usize {
        if self.started {
            0
        } else {
            self.scanned
        }
    }

    /// Forgets `n` leading whitespace bytes that the caller dropped.
    pub fn skipped(&mut self, n: usize) {
        debug_assert!(!self.started && n <= self.scanned);
        self.scanned -= n;
    }

    /// How many bytes of the current request have been scanned.
    pub fn scanned(&self) -> usize {
        self.scanned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(pieces: &[&[u8]]) -> Vec<String> {
        let mut buf = Vec::new();
        let mut framer = Framer::default();
        let mut out = Vec::new();
        for piece in pieces {
            buf.extend_from_slice(piece);
            loop {
                match framer.next(&buf) {
                    Frame::Complete(n) => {
                        out.push(String::from_utf8_lossy(&buf[..n]).trim().to_string());
                        buf.drain(..n);
                    }
                    Frame::NotAnObject => {
                        out.push("!".into());
                        return out;
                    }
                    Frame::Incomplete { .. } => break,
                }
            }
        }
        out
    }

    #[test]
    fn whole_and_split_requests() {
        let text = br#"{"id":1,"params":[{"a":"}\"{"}]} {"id":2}
{"id":"\\"}"#;
        let whole = frames(&[text]);
        assert_eq!(
            whole,
            [
                r#"{"id":1,"params":[{"a":"}\"{"}]}"#,
                r#"{"id":2}"#,
                r#"{"id":"\\"}"#
            ]
        );
        // Byte by byte: the same requests.
        let pieces: Vec<&[u8]> = text.chunks(1).collect();
        assert_eq!(frames(&pieces), whole);
        let pieces: Vec<&[u8]> = text.chunks(7).collect();
        assert_eq!(frames(&pieces), whole);
    }

    #[test]
    fn garbage_and_whitespace() {
        assert_eq!(frames(&[b"  \n hello"]), ["!"]);
        assert_eq!(frames(&[b"{\"id\":1} [1]"]), ["{\"id\":1}", "!"]);
        let mut f = Framer::default();
        assert_eq!(f.next(b"   "), Frame::Incomplete { started: false });
        assert_eq!(f.skippable(), 3);
        f.skipped(3);
        assert_eq!(f.next(b"{\"a\""), Frame::Incomplete { started: true });
        assert_eq!(f.skippable(), 0);
    }

    #[test]
    fn each_byte_is_scanned_once() {
        let mut f = Framer::default();
        let mut buf = b"{\"Subject\":\"".to_vec();
        for _ in 0..1000 {
            buf.extend_from_slice(&[b'a'; 100]);
            assert_eq!(f.next(&buf), Frame::Incomplete { started: true });
            assert_eq!(f.scanned(), buf.len());
        }
        buf.extend_from_slice(b"\"}");
        assert_eq!(f.next(&buf), Frame::Complete(buf.len()));
    }
}
