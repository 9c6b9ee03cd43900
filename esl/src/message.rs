//! [`Message`]: a frame from the switch, interpreted by its content type, and
//! the frame writer a simulated switch uses to send them.
//!
//! One variant per content type `mod_event_socket` sends, so a `match` reads
//! like the protocol; unknown types and bodies that fail to parse are kept as
//! variants too, because losing a frame silently is worse than an odd one.

use std::borrow::Cow;

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::CodecError;
use crate::event::{check_header_name, Event};
use crate::frame::{ContentType, Frame};
use crate::headers::Headers;

/// A frame from the switch, interpreted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// `auth/request`.
    AuthRequest,
    /// `command/reply`.
    CommandReply(Reply),
    /// `api/response`.
    ApiResponse(ApiResponse),
    /// `text/event-plain`.
    Event(Event),
    /// `text/event-json`.
    EventJson(Event),
    /// `text/event-xml`, body passed through unparsed.
    EventXml(Bytes),
    /// `log/data`.
    Log(Notice),
    /// `text/disconnect-notice`.
    DisconnectNotice(Notice),
    /// `text/rude-rejection`, with the switch's message.
    RudeRejection(Bytes),
    /// A frame of another (or no) content type.
    Unknown(Frame),
    /// A frame whose body does not parse as its content type says (bad JSON).
    Malformed {
        /// The frame as received.
        frame: Frame,
        /// Why it did not parse.
        reason: String,
    },
}

/// A `command/reply`: `Reply-Text` and any other headers (bgapi's
/// `Job-UUID`, or the whole channel data of an outbound `connect`).
/// `Content-Type` is framing and not kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reply {
    headers: Headers,
}

impl Reply {
    /// A reply with `Reply-Text: text`.
    pub fn new(text: impl AsRef<str>) -> Self {
        let mut headers = Headers::new();
        headers.push("Reply-Text", text);
        Reply { headers }
    }

    /// `+OK text` (or `+OK` when `text` is empty).
    pub fn ok(text: &str) -> Self {
        Self::new(if text.is_empty() {
            "+OK".to_owned()
        } else {
            format!("+OK {text}")
        })
    }

    /// `-ERR text`.
    pub fn err(text: &str) -> Self {
        Self::new(format!("-ERR {text}"))
    }

    /// What `bgapi` answers: `+OK Job-UUID: <uuid>` plus a `Job-UUID` header.
    pub fn job_accepted(job_uuid: &str) -> Self {
        let mut reply = Self::new(format!("+OK Job-UUID: {job_uuid}"));
        reply.headers.push("Job-UUID", job_uuid);
        reply
    }

    /// A reply made of arbitrary headers (e.g. an outbound `connect` reply).
    pub fn from_headers(headers: Headers) -> Self {
        Reply { headers }
    }

    /// All headers.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// Consumes the reply into its headers.
    pub fn into_headers(self) -> Headers {
        self.headers
    }

    /// `Reply-Text`, trailing whitespace removed (the `connect` reply sends
    /// `+OK\n`); empty when absent.
    pub fn text(&self) -> &str {
        self.headers.get("Reply-Text").map_or("", str::trim_end)
    }

    /// True unless the text starts with `-ERR` or `-USAGE`.
    pub fn is_ok(&self) -> bool {
        !self.is_err()
    }

    /// True when the text starts with `-ERR` or `-USAGE`.
    pub fn is_err(&self) -> bool {
        let t = self.text();
        t.starts_with("-ERR") || t.starts_with("-USAGE")
    }

    /// `Job-UUID`, in a bgapi reply.
    pub fn job_uuid(&self) -> Option<&str> {
        self.headers.get("Job-UUID")
    }
}

/// An `api/response`: the command's output, in the body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApiResponse {
    body: Bytes,
}

impl ApiResponse {
    /// A response carrying `body`.
    pub fn new(body: impl Into<Bytes>) -> Self {
        ApiResponse { body: body.into() }
    }

    /// Raw body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// Body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// True when the output starts with `-ERR` or `-USAGE`.
    pub fn is_err(&self) -> bool {
        self.body.starts_with(b"-ERR") || self.body.starts_with(b"-USAGE")
    }
}

/// A frame kept as headers plus body: `log/data` and
/// `text/disconnect-notice` (whose `Content-Disposition` says `linger` or
/// `disconnect` in outbound mode).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Notice {
    /// Headers other than `Content-Type` and `Content-Length`.
    pub headers: Headers,
    /// Body (the log line, or "Disconnected, goodbye.").
    pub body: Bytes,
}

impl Notice {
    /// A notice with only a body.
    pub fn new(body: impl Into<Bytes>) -> Self {
        Notice {
            headers: Headers::new(),
            body: body.into(),
        }
    }

    /// Body as text.
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }
}

impl Message {
    /// Interprets a frame by its `Content-Type`.
    pub fn from_frame(frame: Frame) -> Message {
        let Some(ct) = frame.content_type() else {
            return Message::Unknown(frame);
        };
        let body = || frame.body.clone().unwrap_or_default();
        match ct {
            ContentType::AuthRequest => Message::AuthRequest,
            ContentType::CommandReply => {
                let mut headers = frame.headers;
                headers.remove("Content-Type");
                Message::CommandReply(Reply { headers })
            }
            ContentType::ApiResponse => Message::ApiResponse(ApiResponse::new(body())),
            ContentType::EventPlain => match &frame.body {
                Some(body) => Message::Event(Event::parse_plain_bytes(body)),
                None => Message::Malformed {
                    frame,
                    reason: "text/event-plain frame without Content-Length".to_owned(),
                },
            },
            ContentType::EventJson => match Event::parse_json(&body()) {
                Ok(event) => Message::EventJson(event),
                Err(err) => Message::Malformed {
                    frame,
                    reason: format!("invalid event-json body: {err}"),
                },
            },
            ContentType::EventXml => Message::EventXml(body()),
            ContentType::LogData => Message::Log(notice(frame)),
            ContentType::DisconnectNotice => Message::DisconnectNotice(notice(frame)),
            ContentType::RudeRejection => Message::RudeRejection(body()),
            ContentType::Other(_) => Message::Unknown(frame),
        }
    }

    /// The event carried, for `Event` and `EventJson`.
    pub fn event(&self) -> Option<&Event> {
        match self {
            Message::Event(e) | Message::EventJson(e) => Some(e),
            _ => None,
        }
    }

    /// `Content-Type: auth/request`: the greeting.
    pub fn auth_request() -> Message {
        Message::AuthRequest
    }

    /// A `command/reply` with `Reply-Text: +OK text`.
    pub fn reply_ok(text: &str) -> Message {
        Message::CommandReply(Reply::ok(text))
    }

    /// A `command/reply` with `Reply-Text: -ERR text`.
    pub fn reply_err(text: &str) -> Message {
        Message::CommandReply(Reply::err(text))
    }

    /// An `api/response` with `body`.
    pub fn api_response(body: impl Into<Bytes>) -> Message {
        Message::ApiResponse(ApiResponse::new(body))
    }

    /// A `text/disconnect-notice` with `body`.
    pub fn disconnect_notice(body: impl Into<Bytes>) -> Message {
        Message::DisconnectNotice(Notice::new(body))
    }

    /// Writes the whole frame (head, blank line, body).
    ///
    /// Outer header values are written as FreeSWITCH writes them (raw) except
    /// that `%`, CR, LF and leading spaces are percent-escaped so a reader
    /// gets back exactly the value; events are serialised as in [`Event::encode_plain`] and
    /// [`Event::encode_json`].
    pub fn encode(&self, dst: &mut BytesMut) -> Result<(), CodecError> {
        let empty = Headers::new();
        match self {
            Message::AuthRequest => write_frame(dst, Some("auth/request"), &empty, None),
            Message::CommandReply(r) => write_frame(dst, Some("command/reply"), &r.headers, None),
            Message::ApiResponse(r) => {
                write_frame(dst, Some("api/response"), &empty, Some(&r.body))
            }
            Message::Event(e) => {
                let mut body = BytesMut::new();
                e.encode_plain(&mut body)?;
                write_frame(dst, Some("text/event-plain"), &empty, Some(&body))
            }
            Message::EventJson(e) => {
                let mut body = BytesMut::new();
                e.encode_json(&mut body)?;
                write_frame(dst, Some("text/event-json"), &empty, Some(&body))
            }
            Message::EventXml(b) => write_frame(dst, Some("text/event-xml"), &empty, Some(b)),
            Message::Log(n) => write_frame(dst, Some("log/data"), &n.headers, Some(&n.body)),
            Message::DisconnectNotice(n) => write_frame(
                dst,
                Some("text/disconnect-notice"),
                &n.headers,
                Some(&n.body),
            ),
            Message::RudeRejection(b) => {
                write_frame(dst, Some("text/rude-rejection"), &empty, Some(b))
            }
            Message::Unknown(f) | Message::Malformed { frame: f, .. } => {
                write_frame(dst, None, &f.headers, f.body.as_deref())
            }
        }
    }
}

fn notice(frame: Frame) -> Notice {
    let mut headers = frame.headers;
    headers.remove("Content-Type");
    headers.remove("Content-Length");
    Notice {
        headers,
        body: frame.body.unwrap_or_default(),
    }
}

/// Writes a head: `Content-Length` (when there is a body), `Content-Type`
/// (when given), the other headers, a blank line, then the body.
fn write_frame(
    dst: &mut BytesMut,
    content_type: Option<&str>,
    headers: &Headers,
    body: Option<&[u8]>,
) -> Result<(), CodecError> {
    dst.reserve(64 + body.map_or(0, <[u8]>::len));
    if let Some(body) = body {
        dst.put_slice(format!("Content-Length: {}\n", body.len()).as_bytes());
    }
    if let Some(ct) = content_type {
        dst.put_slice(b"Content-Type: ");
        dst.put_slice(ct.as_bytes());
        dst.put_u8(b'\n');
    }
    for (name, value) in headers.iter() {
        check_header_name(name)?;
        if name.eq_ignore_ascii_case("Content-Length")
            || (content_type.is_some() && name.eq_ignore_ascii_case("Content-Type"))
        {
            continue;
        }
        dst.put_slice(name.as_bytes());
        dst.put_slice(b": ");
        put_outer_value(dst, value);
        dst.put_u8(b'\n');
    }
    dst.put_u8(b'\n');
    if let Some(body) = body {
        dst.put_slice(body);
    }
    Ok(())
}

/// Outer values: raw but for `%`, CR, LF and leading spaces (which a reader
/// skips), see [`Message::encode`].
fn put_outer_value(dst: &mut BytesMut, value: &str) {
    let mut start = 0;
    let bytes = value.as_bytes();
    let leading = bytes.iter().take_while(|&&b| b == b' ').count();
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'%' => b"%25",
            b'\r' => b"%0D",
            b'\n' => b"%0A",
            b' ' if i < leading => b"%20",
            _ => continue,
        };
        dst.put_slice(&bytes[start..i]);
        dst.put_slice(esc);
        start = i + 1;
    }
    dst.put_slice(&bytes[start..]);
}
