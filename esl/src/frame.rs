//! [`Frame`]: one unit on the wire, before interpretation, and
//! [`ContentType`], which decides that interpretation.
//!
//! A frame is a header block (`Name: value` lines, a blank line) followed by
//! exactly `Content-Length` bytes of body when that header is present. The
//! codec produces frames; [`crate::Message`] gives them meaning.

use bytes::Bytes;

use crate::headers::Headers;

/// The `Content-Type` of a frame the switch sends.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ContentType {
    /// `auth/request`: the greeting of an inbound connection.
    AuthRequest,
    /// `command/reply`: answer to every command but `api`.
    CommandReply,
    /// `api/response`: answer to `api`, in the body.
    ApiResponse,
    /// `text/event-plain`.
    EventPlain,
    /// `text/event-json`.
    EventJson,
    /// `text/event-xml`.
    EventXml,
    /// `log/data`: a log line after the `log` command.
    LogData,
    /// `text/disconnect-notice`: the switch is closing (or lingering).
    DisconnectNotice,
    /// `text/rude-rejection`: refused by ACL.
    RudeRejection,
    /// Anything else, kept verbatim.
    Other(String),
}

impl ContentType {
    /// Classifies a `Content-Type` value (case-insensitive).
    pub fn parse(value: &str) -> Self {
        let v = value.trim();
        let known = [
            ("auth/request", ContentType::AuthRequest),
            ("command/reply", ContentType::CommandReply),
            ("api/response", ContentType::ApiResponse),
            ("text/event-plain", ContentType::EventPlain),
            ("text/event-json", ContentType::EventJson),
            ("text/event-xml", ContentType::EventXml),
            ("log/data", ContentType::LogData),
            ("text/disconnect-notice", ContentType::DisconnectNotice),
            ("text/rude-rejection", ContentType::RudeRejection),
        ];
        known
            .into_iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(v))
            .map(|(_, ct)| ct)
            .unwrap_or_else(|| ContentType::Other(v.to_owned()))
    }

    /// The wire spelling.
    pub fn as_str(&self) -> &str {
        match self {
            ContentType::AuthRequest => "auth/request",
            ContentType::CommandReply => "command/reply",
            ContentType::ApiResponse => "api/response",
            ContentType::EventPlain => "text/event-plain",
            ContentType::EventJson => "text/event-json",
            ContentType::EventXml => "text/event-xml",
            ContentType::LogData => "log/data",
            ContentType::DisconnectNotice => "text/disconnect-notice",
            ContentType::RudeRejection => "text/rude-rejection",
            ContentType::Other(s) => s,
        }
    }
}

/// One frame: header block plus optional body (present when the head had a
/// `Content-Length`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frame {
    /// Header fields in order, values percent-decoded.
    pub headers: Headers,
    /// Exactly `Content-Length` bytes, when announced.
    pub body: Option<Bytes>,
}

impl Frame {
    /// The frame's content type; `None` when the head has none.
    pub fn content_type(&self) -> Option<ContentType> {
        self.headers.get("Content-Type").map(ContentType::parse)
    }

    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }
}
