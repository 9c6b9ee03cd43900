//! Reader for the `.wire` recordings of `testdata/freeswitch-1.10`: the
//! bytes a real FreeSWITCH and its clients exchanged, as a recording proxy
//! saw them.
//!
//! A file is a sequence of chunks, each a header line
//! `=== <dir> <unix time, seconds.micros> <byte count>\n` followed by exactly
//! that many bytes and a `\n`; `<dir>` is `cN>fs` (client connection N to
//! the switch) or `fs>cN`. [`Recording::parse`] splits the chunks, joins
//! each connection's bytes per direction, and cuts them into what was said:
//! the client's commands (up to their blank line) and the switch's frames
//! (headers, then `Content-Length` bytes of body). [`parse_plain_event`]
//! reads a `text/event-plain` body into its (percent-decoded) headers.

use std::collections::BTreeMap;
use std::path::Path;

/// Who wrote a chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dir {
    /// `cN>fs`: the client, to the switch.
    ToSwitch,
    /// `fs>cN`: the switch, to the client.
    FromSwitch,
}

/// One chunk: what one side wrote in one read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// Direction.
    pub dir: Dir,
    /// The client connection's number N.
    pub conn: u32,
    /// When, µs since the epoch.
    pub at: i64,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// A client command: the text up to its blank line (headers included for
/// `sendmsg`/`bgapi` with headers), without the blank line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// Client connection number.
    pub conn: u32,
    /// When its first byte was seen, µs since the epoch.
    pub at: i64,
    /// The command text (`api uuid_kill …`), lines joined by `\n`.
    pub text: String,
}

/// A frame the switch sent: its headers and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Client connection number.
    pub conn: u32,
    /// When the chunk completing it was seen, µs since the epoch.
    pub at: i64,
    /// Frame headers, in order (`Content-Type`, `Content-Length`…).
    pub headers: Vec<(String, String)>,
    /// The body (`Content-Length` bytes).
    pub body: Vec<u8>,
}

impl Frame {
    /// A frame header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `Content-Type`.
    pub fn content_type(&self) -> Option<&str> {
        self.header("Content-Type")
    }

    /// The body as text (lossy).
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The event a `text/event-plain` frame carries.
    pub fn event(&self) -> Option<WireEvent> {
        (self.content_type() == Some("text/event-plain")).then(|| WireEvent {
            conn: self.conn,
            at: self.at,
            headers: parse_plain_event(&self.body),
        })
    }
}

/// An event as it was on the wire: headers in order, percent-decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireEvent {
    /// Client connection number it was delivered on.
    pub conn: u32,
    /// When, µs since the epoch (the recording's clock).
    pub at: i64,
    /// Headers in order (a name may repeat: `Hangup-Cause`).
    pub headers: Vec<(String, String)>,
}

impl WireEvent {
    /// The first header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `Event-Name`.
    pub fn name(&self) -> &str {
        self.header("Event-Name").unwrap_or("")
    }

    /// `variable_<name>`.
    pub fn variable(&self, name: &str) -> Option<&str> {
        self.header(&format!("variable_{name}"))
    }
}

/// A parsed recording.
#[derive(Clone, Debug, Default)]
pub struct Recording {
    /// Every chunk in file order.
    pub chunks: Vec<Chunk>,
    /// The clients' commands in the order they were sent.
    pub commands: Vec<Command>,
    /// The switch's frames in the order they were sent.
    pub frames: Vec<Frame>,
}

impl Recording {
    /// Reads and parses a file.
    pub fn read(path: &Path) -> Result<Recording, String> {
        let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Recording::parse(&data).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses a recording's bytes.
    pub fn parse(data: &[u8]) -> Result<Recording, String> {
        let chunks = split_chunks(data)?;
        let mut commands = Vec::new();
        let mut frames = Vec::new();
        let mut pending: BTreeMap<(u32, Dir), (Vec<u8>, i64)> = BTreeMap::new();
        for c in &chunks {
            let (buf, first) = pending
                .entry((c.conn, c.dir))
                .or_insert_with(|| (Vec::new(), c.at));
            if buf.is_empty() {
                *first = c.at;
            }
            buf.extend_from_slice(&c.bytes);
            match c.dir {
                Dir::ToSwitch => {
                    while let Some(end) = find(buf, b"\n\n") {
                        let text = String::from_utf8_lossy(&buf[..end]).into_owned();
                        buf.drain(..end + 2);
                        let text = text.trim_start_matches('\n').to_owned();
                        if !text.is_empty() {
                            commands.push(Command {
                                conn: c.conn,
                                at: *first,
                                text,
                            });
                        }
                        *first = c.at;
                    }
                }
                Dir::FromSwitch => {
                    while let Some(end) = find(buf, b"\n\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                        let headers: Vec<(String, String)> = head
                            .lines()
                            .filter_map(|l| l.split_once(": "))
                            .map(|(k, v)| (k.to_owned(), v.to_owned()))
                            .collect();
                        let len: usize = headers
                            .iter()
                            .find(|(k, _)| k.eq_ignore_ascii_case("Content-Length"))
                            .and_then(|(_, v)| v.trim().parse().ok())
                            .unwrap_or(0);
                        if buf.len() < end + 2 + len {
                            break;
                        }
                        let body = buf[end + 2..end + 2 + len].to_vec();
                        buf.drain(..end + 2 + len);
                        frames.push(Frame {
                            conn: c.conn,
                            at: c.at,
                            headers,
                            body,
                        });
                    }
                }
            }
        }
        Ok(Recording {
            chunks,
            commands,
            frames,
        })
    }

    /// The events delivered on client connection `conn`, in order.
    pub fn events(&self, conn: u32) -> Vec<WireEvent> {
        self.frames
            .iter()
            .filter(|f| f.conn == conn)
            .filter_map(Frame::event)
            .collect()
    }

    /// The frames on `conn` that answer commands (`api/response`,
    /// `command/reply`), in order.
    pub fn replies(&self, conn: u32) -> Vec<&Frame> {
        self.frames
            .iter()
            .filter(|f| {
                f.conn == conn
                    && matches!(
                        f.content_type(),
                        Some("api/response") | Some("command/reply")
                    )
            })
            .collect()
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

/// Splits a file into its chunks.
pub fn split_chunks(data: &[u8]) -> Result<Vec<Chunk>, String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < data.len() {
        if data[i] == b'\n' {
            i += 1;
            continue;
        }
        let nl = memchr::memchr(b'\n', &data[i..])
            .map(|n| i + n)
            .ok_or_else(|| format!("byte {i}: a header line without its end"))?;
        let line = std::str::from_utf8(&data[i..nl]).map_err(|e| format!("byte {i}: {e}"))?;
        let bad = || format!("byte {i}: bad chunk header {line:?}");
        let mut words = line.split(' ');
        if words.next() != Some("===") {
            return Err(bad());
        }
        let dir = words.next().ok_or_else(bad)?;
        let (dir, conn) = if let Some(n) = dir.strip_suffix(">fs") {
            (Dir::ToSwitch, n)
        } else if let Some(n) = dir.strip_prefix("fs>") {
            (Dir::FromSwitch, n)
        } else {
            return Err(bad());
        };
        let conn: u32 = conn
            .strip_prefix('c')
            .and_then(|n| n.parse().ok())
            .ok_or_else(bad)?;
        let at = words.next().ok_or_else(bad)?;
        let at = match at.split_once('.') {
            Some((s, frac)) => {
                let s: i64 = s.parse().map_err(|_| bad())?;
                let mut frac = frac.to_owned();
                frac.truncate(6);
                while frac.len() < 6 {
                    frac.push('0');
                }
                s * 1_000_000 + frac.parse::<i64>().map_err(|_| bad())?
            }
            None => at.parse::<i64>().map_err(|_| bad())? * 1_000_000,
        };
        let n: usize = words.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
        let start = nl + 1;
        let end = start + n;
        if end > data.len() {
            return Err(format!("byte {i}: chunk of {n} bytes runs past the end"));
        }
        out.push(Chunk {
            dir,
            conn,
            at,
            bytes: data[start..end].to_vec(),
        });
        i = end;
    }
    Ok(out)
}

/// The headers of a `text/event-plain` body, percent-decoded, in order
/// (the event's own body, after its blank line, is left out).
pub fn parse_plain_event(body: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    let head = text.split("\n\n").next().unwrap_or("");
    head.lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_owned(), percent_decode(v)))
        .collect()
}

/// `%XX` decoding, as `switch_url_decode` does (`+` is left alone).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_chunks_and_frames() {
        let data = b"\n=== fs>c1 1796283383.046615 28\nContent-Type: auth/request\n\n\n=== c1>fs 1796283383.047055 14\nauth ClueCon\n\n\n=== fs>c1 1796283383.047256 54\nContent-Type: command/reply\nReply-Text: +OK accepted\n\n\n";
        let r = Recording::parse(data).unwrap();
        assert_eq!(r.chunks.len(), 3);
        assert_eq!(r.chunks[0].at, 1_796_283_383_046_615);
        assert_eq!(r.commands.len(), 1);
        assert_eq!(r.commands[0].text, "auth ClueCon");
        assert_eq!(r.frames.len(), 2);
        assert_eq!(r.frames[1].header("Reply-Text"), Some("+OK accepted"));
    }

    #[test]
    fn decodes_percent() {
        assert_eq!(percent_decode("a%20b%3A"), "a b:");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%(1000"), "%(1000");
    }
}
