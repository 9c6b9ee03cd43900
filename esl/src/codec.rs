//! tokio-util codecs: bytes to frames and back, for both ends of the socket.
//!
//! - [`ClientCodec`]: what a client (tollgate) uses. Decodes [`Message`]s from
//!   the switch, encodes [`Command`]s.
//! - [`ServerCodec`]: what a simulated switch uses. Decodes [`Command`]s from
//!   a client, encodes [`Message`]s.
//! - [`FrameCodec`]: raw [`Frame`]s, uninterpreted (fuzzing, tracing tools).
//!
//! Framing is a two-state machine (reading a head, then waiting for
//! `Content-Length` bytes), so a frame split at any byte offset, or many
//! frames in one read, decode the same; a partial head is never re-scanned
//! from its start. Blank lines between frames are skipped, as
//! `mod_event_socket`'s own reader does. Both a head and a body are capped
//! ([`DEFAULT_MAX_FRAME`], as `MAX_CONTENT_LENGTH` in `mod_event_socket.c`)
//! and nothing is allocated beyond the cap.

use bytes::{Buf, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::command::Command;
use crate::error::CodecError;
use crate::frame::Frame;
use crate::headers::Headers;
use crate::message::Message;
use crate::parse;

/// Default cap on a header block and on a body: 16 MiB.
pub const DEFAULT_MAX_FRAME: usize = 16 * 1024 * 1024;

enum State<H> {
    Head,
    Body { head: H, len: usize },
}

/// The framing state machine, generic over what a head parses into.
struct Framer<H> {
    state: State<H>,
    scan_from: usize,
    max_frame: usize,
}

impl<H> Framer<H> {
    fn new(max_frame: usize) -> Self {
        Framer {
            state: State::Head,
            scan_from: 0,
            max_frame,
        }
    }

    fn decode(
        &mut self,
        src: &mut BytesMut,
        parse_head: impl FnOnce(&[u8]) -> H,
        content_length: impl FnOnce(&H) -> Option<&str>,
    ) -> Result<Option<(H, Option<Bytes>)>, CodecError> {
        if let State::Head = self.state {
            let skip = src
                .iter()
                .take_while(|&&b| b == b'\n' || b == b'\r')
                .count();
            if skip > 0 {
                src.advance(skip);
                self.scan_from = self.scan_from.saturating_sub(skip);
            }
            let Some((block_len, consumed)) = parse::find_block_end(src, self.scan_from) else {
                if src.len() > self.max_frame {
                    return Err(CodecError::FrameTooLarge {
                        what: "header block",
                        size: src.len(),
                        limit: self.max_frame,
                    });
                }
                self.scan_from = src.len().saturating_sub(2);
                return Ok(None);
            };
            if block_len > self.max_frame {
                return Err(CodecError::FrameTooLarge {
                    what: "header block",
                    size: block_len,
                    limit: self.max_frame,
                });
            }
            let head = parse_head(&src[..block_len]);
            src.advance(consumed);
            self.scan_from = 0;
            let len = match content_length(&head) {
                None => return Ok(Some((head, None))),
                Some(v) => v
                    .trim()
                    .parse::<usize>()
                    .map_err(|_| CodecError::InvalidContentLength(v.to_owned()))?,
            };
            if len > self.max_frame {
                return Err(CodecError::FrameTooLarge {
                    what: "body",
                    size: len,
                    limit: self.max_frame,
                });
            }
            self.state = State::Body { head, len };
        }
        let State::Body { len, .. } = self.state else {
            return Ok(None);
        };
        if src.len() < len {
            src.reserve(len - src.len());
            return Ok(None);
        }
        let body = src.split_to(len).freeze();
        match std::mem::replace(&mut self.state, State::Head) {
            State::Body { head, .. } => Ok(Some((head, Some(body)))),
            State::Head => Ok(None),
        }
    }

    /// At end of stream: only blank lines may be left over.
    fn check_eof(&self, src: &mut BytesMut) -> Result<(), CodecError> {
        let skip = src
            .iter()
            .take_while(|&&b| b == b'\n' || b == b'\r')
            .count();
        src.advance(skip);
        if src.is_empty() && matches!(self.state, State::Head) {
            Ok(())
        } else {
            Err(CodecError::Truncated(src.len()))
        }
    }
}

/// Decodes raw [`Frame`]s (headers percent-decoded, body verbatim).
pub struct FrameCodec {
    framer: Framer<Headers>,
}

impl FrameCodec {
    /// A codec with the default 16 MiB cap.
    pub fn new() -> Self {
        Self::with_max_frame(DEFAULT_MAX_FRAME)
    }

    /// A codec refusing heads or bodies larger than `max_frame` bytes.
    pub fn with_max_frame(max_frame: usize) -> Self {
        FrameCodec {
            framer: Framer::new(max_frame),
        }
    }
}

impl Default for FrameCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, CodecError> {
        let frame = self
            .framer
            .decode(src, parse::event_block, |h| h.get("Content-Length"))?;
        Ok(frame.map(|(headers, body)| Frame { headers, body }))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, CodecError> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None => self.framer.check_eof(src).map(|()| None),
        }
    }
}

/// Client side: decodes [`Message`]s, encodes [`Command`]s.
#[derive(Default)]
pub struct ClientCodec {
    frames: FrameCodec,
}

impl ClientCodec {
    /// A codec with the default 16 MiB cap.
    pub fn new() -> Self {
        Self::default()
    }

    /// A codec refusing heads or bodies larger than `max_frame` bytes.
    pub fn with_max_frame(max_frame: usize) -> Self {
        ClientCodec {
            frames: FrameCodec::with_max_frame(max_frame),
        }
    }
}

impl Decoder for ClientCodec {
    type Item = Message;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Message>, CodecError> {
        Ok(self.frames.decode(src)?.map(Message::from_frame))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Message>, CodecError> {
        Ok(self.frames.decode_eof(src)?.map(Message::from_frame))
    }
}

impl Encoder<Command> for ClientCodec {
    type Error = CodecError;

    fn encode(&mut self, cmd: Command, dst: &mut BytesMut) -> Result<(), CodecError> {
        cmd.encode(dst)
    }
}

impl Encoder<&Command> for ClientCodec {
    type Error = CodecError;

    fn encode(&mut self, cmd: &Command, dst: &mut BytesMut) -> Result<(), CodecError> {
        cmd.encode(dst)
    }
}

/// Switch side: decodes [`Command`]s, encodes [`Message`]s. For simulators
/// and tests.
pub struct ServerCodec {
    framer: Framer<(String, Headers)>,
}

impl ServerCodec {
    /// A codec with the default 16 MiB cap.
    pub fn new() -> Self {
        Self::with_max_frame(DEFAULT_MAX_FRAME)
    }

    /// A codec refusing heads or bodies larger than `max_frame` bytes.
    pub fn with_max_frame(max_frame: usize) -> Self {
        ServerCodec {
            framer: Framer::new(max_frame),
        }
    }
}

impl Default for ServerCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder for ServerCodec {
    type Item = Command;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Command>, CodecError> {
        let cmd = self
            .framer
            .decode(src, parse::command_block, |(_, h)| h.get("Content-Length"))?;
        Ok(cmd.map(|((line, mut headers), body)| {
            headers.remove("Content-Length");
            Command::from_parts(line, headers, body)
        }))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Command>, CodecError> {
        match self.decode(src)? {
            Some(cmd) => Ok(Some(cmd)),
            None => self.framer.check_eof(src).map(|()| None),
        }
    }
}

impl Encoder<Message> for ServerCodec {
    type Error = CodecError;

    fn encode(&mut self, msg: Message, dst: &mut BytesMut) -> Result<(), CodecError> {
        msg.encode(dst)
    }
}

impl Encoder<&Message> for ServerCodec {
    type Error = CodecError;

    fn encode(&mut self, msg: &Message, dst: &mut BytesMut) -> Result<(), CodecError> {
        msg.encode(dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(codec: &mut ClientCodec, bytes: &[u8]) -> Vec<Message> {
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        while let Some(m) = codec.decode(&mut buf).unwrap() {
            out.push(m);
        }
        out
    }

    #[test]
    fn decodes_reply_and_api_response() {
        let msgs = decode_all(
            &mut ClientCodec::new(),
            b"Content-Type: command/reply\nReply-Text: +OK accepted\n\nContent-Type: api/response\nContent-Length: 3\n\n+OK",
        );
        assert_eq!(msgs.len(), 2);
        assert!(matches!(&msgs[0], Message::CommandReply(r) if r.text() == "+OK accepted"));
        assert!(matches!(&msgs[1], Message::ApiResponse(r) if r.text() == "+OK"));
    }

    #[test]
    fn content_length_counts_bytes_not_chars() {
        let msgs = decode_all(
            &mut ClientCodec::new(),
            "Content-Type: api/response\nContent-Length: 6\n\n+OK é\n\nContent-Type: auth/request\n\n".as_bytes(),
        );
        assert!(matches!(&msgs[0], Message::ApiResponse(r) if r.text() == "+OK é"));
        assert_eq!(msgs[1], Message::AuthRequest);
    }

    #[test]
    fn unknown_content_type_is_surfaced() {
        let msgs = decode_all(
            &mut ClientCodec::new(),
            b"Content-Type: text/x-new\nContent-Length: 2\n\nhi",
        );
        assert!(matches!(&msgs[0], Message::Unknown(f) if f.body.as_deref() == Some(&b"hi"[..])));
    }

    #[test]
    fn bad_json_is_malformed_not_fatal() {
        let msgs = decode_all(
            &mut ClientCodec::new(),
            b"Content-Type: text/event-json\nContent-Length: 2\n\n{[Content-Type: auth/request\n\n",
        );
        assert!(matches!(&msgs[0], Message::Malformed { .. }));
        assert_eq!(msgs[1], Message::AuthRequest);
    }

    #[test]
    fn caps_frame_size() {
        let mut codec = ClientCodec::with_max_frame(100);
        let mut buf = BytesMut::from(&b"Content-Type: api/response\nContent-Length: 101\n\n"[..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(CodecError::FrameTooLarge {
                what: "body",
                size: 101,
                limit: 100
            })
        ));
        let mut codec = ClientCodec::with_max_frame(100);
        let mut buf = BytesMut::from(&[b'x'; 101][..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(CodecError::FrameTooLarge {
                what: "header block",
                ..
            })
        ));
    }

    #[test]
    fn rejects_bad_content_length() {
        let mut buf = BytesMut::from(&b"Content-Type: api/response\nContent-Length: -1\n\n"[..]);
        assert!(matches!(
            ClientCodec::new().decode(&mut buf),
            Err(CodecError::InvalidContentLength(_))
        ));
    }

    #[test]
    fn eof_mid_frame_is_an_error() {
        let mut codec = ClientCodec::new();
        let mut buf = BytesMut::from(&b"Content-Type: api/response\nContent-Length: 10\n\n+OK"[..]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        assert!(matches!(
            codec.decode_eof(&mut buf),
            Err(CodecError::Truncated(3))
        ));
        let mut buf = BytesMut::from(&b"\n\n"[..]);
        assert!(ClientCodec::new().decode_eof(&mut buf).unwrap().is_none());
    }

    #[test]
    fn server_codec_round_trip() {
        let mut out = BytesMut::new();
        let cmd = Command::sendmsg(
            Some("u"),
            crate::SendMsg::execute("playback", Some("/tmp/a b.wav")),
        );
        cmd.encode(&mut out).unwrap();
        let back = ServerCodec::new().decode(&mut out).unwrap().unwrap();
        assert_eq!(back, cmd);
    }
}
