//! [`Event`]: one FreeSWITCH event, as carried by `text/event-plain` and
//! `text/event-json` frames, with typed getters and the event-plain encoding.
//!
//! The inner block of an event-plain body is a header block of its own,
//! percent-encoded per value, optionally followed by `Content-Length: N`, a
//! blank line and N bytes of body (a BACKGROUND_JOB's result, for instance).
//! That inner `Content-Length` is framing, not data: it is consumed here and
//! rewritten on encoding, never kept among the headers.

use std::borrow::Cow;
use std::str::FromStr;

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::CodecError;
use crate::headers::Headers;
use crate::parse;
use crate::percent;

/// One FreeSWITCH event: ordered, possibly repeated headers and an optional
/// body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Event {
    headers: Headers,
    body: Option<Bytes>,
}

impl Event {
    /// A new event with `Event-Name: name` as its first header.
    pub fn new(name: &str) -> Self {
        let mut headers = Headers::new();
        headers.push("Event-Name", name);
        Event {
            headers,
            body: None,
        }
    }

    /// An event made of `headers` and `body`.
    pub fn from_parts(headers: Headers, body: Option<Bytes>) -> Self {
        Event { headers, body }
    }

    /// Parses the body of a `text/event-plain` frame (or any bare inner
    /// header block, like a captured CHANNEL_HANGUP_COMPLETE).
    pub fn parse_plain(body: &[u8]) -> Self {
        Self::parse_plain_with(body, Bytes::copy_from_slice)
    }

    /// As [`Event::parse_plain`], the body sharing `frame`'s memory.
    pub(crate) fn parse_plain_bytes(frame: &Bytes) -> Self {
        Self::parse_plain_with(frame, |rest| frame.slice_ref(rest))
    }

    fn parse_plain_with<'a>(body: &'a [u8], to_bytes: impl FnOnce(&'a [u8]) -> Bytes) -> Self {
        let (block, rest) = parse::split_inner(body);
        let mut headers = parse::event_block(block);
        let body = match rest {
            Some(rest) => {
                let declared = headers
                    .get("Content-Length")
                    .map(|v| v.trim().parse::<usize>());
                headers.remove("Content-Length");
                match declared {
                    Some(Ok(len)) if len <= rest.len() => Some(to_bytes(&rest[..len])),
                    _ => Some(to_bytes(rest)),
                }
            }
            None => {
                // `Content-Length: 0` without a body still means "no body".
                if headers.get("Content-Length").map(str::trim) == Some("0") {
                    headers.remove("Content-Length");
                }
                None
            }
        };
        Event { headers, body }
    }

    /// Parses the body of a `text/event-json` frame.
    pub fn parse_json(body: &[u8]) -> Result<Self, serde_json::Error> {
        crate::event_json::parse(body)
    }

    /// All headers in order.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// All headers, mutable.
    pub fn headers_mut(&mut self) -> &mut Headers {
        &mut self.headers
    }

    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// Every value of header `name` in order (`Hangup-Cause` may repeat).
    pub fn headers_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers.get_all(name)
    }

    /// Header `name` parsed as `T`; `None` when absent.
    ///
    /// ```
    /// let ev = esl::Event::parse_plain(b"Event-Name: X\nvariable_billsec: 66\n\n");
    /// assert_eq!(ev.header_as::<u64>("variable_billsec"), Some(Ok(66)));
    /// ```
    pub fn header_as<T: FromStr>(&self, name: &str) -> Option<Result<T, T::Err>> {
        self.header(name).map(|v| v.trim().parse())
    }

    /// Channel variable `name`, i.e. header `variable_<name>`.
    pub fn variable(&self, name: &str) -> Option<&str> {
        self.headers.iter().find_map(|(k, v)| {
            let rest = k
                .get(..9)
                .filter(|p| p.eq_ignore_ascii_case("variable_"))
                .map(|_| &k[9..])?;
            rest.eq_ignore_ascii_case(name).then_some(v)
        })
    }

    /// `Event-Name`.
    pub fn event_name(&self) -> Option<&str> {
        self.header("Event-Name")
    }

    /// `Event-Subclass` (for CUSTOM events).
    pub fn subclass(&self) -> Option<&str> {
        self.header("Event-Subclass")
    }

    /// `Unique-ID`: the channel the event is about.
    pub fn unique_id(&self) -> Option<&str> {
        self.header("Unique-ID")
    }

    /// `Job-UUID` (BACKGROUND_JOB events).
    pub fn job_uuid(&self) -> Option<&str> {
        self.header("Job-UUID")
    }

    /// The body, when there is one.
    pub fn body(&self) -> Option<&Bytes> {
        self.body.as_ref()
    }

    /// The body as text (invalid UTF-8 replaced), when there is one.
    pub fn body_text(&self) -> Option<Cow<'_, str>> {
        self.body.as_deref().map(String::from_utf8_lossy)
    }

    /// Appends a header (builder style).
    pub fn with_header(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        self.headers.push(name, value);
        self
    }

    /// Sets the body (builder style).
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Appends a header.
    pub fn push_header(&mut self, name: impl AsRef<str>, value: impl AsRef<str>) {
        self.headers.push(name, value);
    }

    /// Replaces every header `name` with one.
    pub fn set_header(&mut self, name: impl AsRef<str>, value: impl AsRef<str>) {
        self.headers.set(name, value);
    }

    /// Removes every header `name`; returns how many went.
    pub fn remove_header(&mut self, name: &str) -> usize {
        self.headers.remove(name)
    }

    /// Sets or clears the body.
    pub fn set_body(&mut self, body: Option<Bytes>) {
        self.body = body;
    }

    /// Consumes the event into its parts.
    pub fn into_parts(self) -> (Headers, Option<Bytes>) {
        (self.headers, self.body)
    }

    /// Writes the event-plain serialisation (the body of a
    /// `text/event-plain` frame) the way `switch_event_serialize` does:
    /// `Name: percent-encoded value` lines, then either a blank line or
    /// `Content-Length: N`, a blank line and the body.
    ///
    /// Differences from FreeSWITCH, both so that decoding gives back exactly
    /// what was encoded: an empty value is written empty (FreeSWITCH writes
    /// `_undef_`), and `%` is always escaped. `Content-Length` headers are
    /// skipped: the length is written from the body.
    pub fn encode_plain(&self, dst: &mut BytesMut) -> Result<(), CodecError> {
        dst.reserve(self.plain_len());
        let mut scratch = Vec::new();
        for (name, value) in self.headers.iter() {
            check_header_name(name)?;
            if name.eq_ignore_ascii_case("Content-Length") {
                continue;
            }
            dst.put_slice(name.as_bytes());
            dst.put_slice(b": ");
            scratch.clear();
            percent::encode_into(value.as_bytes(), &mut scratch);
            dst.put_slice(&scratch);
            dst.put_u8(b'\n');
        }
        match self.body.as_ref().filter(|b| !b.is_empty()) {
            Some(body) => {
                dst.put_slice(format!("Content-Length: {}\n\n", body.len()).as_bytes());
                dst.put_slice(body);
            }
            None => dst.put_u8(b'\n'),
        }
        Ok(())
    }

    /// Writes the event-json serialisation (body of a `text/event-json`
    /// frame): one object, repeated headers as arrays, the body in `_body`.
    pub fn encode_json(&self, dst: &mut BytesMut) -> Result<(), CodecError> {
        crate::event_json::encode(self, dst)
    }

    /// Upper bound of the event-plain length, for reserving.
    fn plain_len(&self) -> usize {
        let headers: usize = self
            .headers
            .iter()
            .map(|(n, v)| n.len() + 3 + percent::encoded_len(v.as_bytes()))
            .sum();
        headers + self.body.as_ref().map_or(1, |b| b.len() + 40)
    }
}

/// A header name must be writable as is: non-empty, no `:`, CR or LF, and
/// not starting with a space (which the reader would skip).
pub(crate) fn check_header_name(name: &str) -> Result<(), CodecError> {
    if name.is_empty()
        || name.starts_with(' ')
        || name.bytes().any(|b| matches!(b, b':' | b'\r' | b'\n'))
    {
        return Err(CodecError::InvalidHeaderName(name.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_inner_body_by_content_length() {
        let ev = Event::parse_plain(
            b"Event-Name: BACKGROUND_JOB\nJob-UUID: 1\nContent-Length: 4\n\n+OK\nextra",
        );
        assert_eq!(ev.event_name(), Some("BACKGROUND_JOB"));
        assert_eq!(ev.job_uuid(), Some("1"));
        assert_eq!(ev.body().map(|b| &b[..]), Some(&b"+OK\n"[..]));
        assert!(ev.header("Content-Length").is_none());
    }

    #[test]
    fn encodes_like_switch_event_serialize() {
        let ev = Event::new("CUSTOM")
            .with_header("Caller-Caller-ID-Name", "Outbound Call")
            .with_header("variable_cgr_notify", "+AUTH_OK")
            .with_body("hello");
        let mut out = BytesMut::new();
        ev.encode_plain(&mut out).unwrap();
        assert_eq!(
            &out[..],
            b"Event-Name: CUSTOM\nCaller-Caller-ID-Name: Outbound%20Call\nvariable_cgr_notify: %2BAUTH_OK\nContent-Length: 5\n\nhello"
        );
        assert_eq!(Event::parse_plain(&out), ev);
    }

    #[test]
    fn rejects_bad_header_names() {
        let ev = Event::new("X").with_header("a:b", "1");
        assert!(matches!(
            ev.encode_plain(&mut BytesMut::new()),
            Err(CodecError::InvalidHeaderName(_))
        ));
    }

    #[test]
    fn variable_lookup() {
        let ev = Event::new("X").with_header("variable_cgr_account", "1001");
        assert_eq!(ev.variable("cgr_account"), Some("1001"));
        assert_eq!(ev.variable("cgr"), None);
    }
}
