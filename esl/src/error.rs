//! Error types, one per layer: the codec (bytes on the wire), the client
//! (a conversation with a switch), and the typed API helpers (what a command
//! answered). Each carries enough text to act on without a packet capture.

use std::time::Duration;

/// Reading or writing ESL frames failed. Decoding errors are fatal for the
/// stream: after one, frame boundaries are unknown.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The socket failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A header block or body exceeds the configured frame size limit.
    #[error("frame too large: {what} of {size} bytes exceeds the {limit} byte limit")]
    FrameTooLarge {
        /// "header block" or "body".
        what: &'static str,
        /// Size announced or buffered so far.
        size: usize,
        /// Configured limit ([`crate::DEFAULT_MAX_FRAME`] unless changed).
        limit: usize,
    },
    /// `Content-Length` is not a decimal byte count.
    #[error("invalid Content-Length {0:?}")]
    InvalidContentLength(String),
    /// A header name cannot be written (empty, or has `:`, CR or LF in it).
    #[error("cannot encode header name {0:?}")]
    InvalidHeaderName(String),
    /// A command line or command header holds CR or LF, which would let it
    /// inject a second command.
    #[error("cannot encode command text {0:?}: it contains a line break")]
    InvalidCommandText(String),
    /// The peer closed the connection in the middle of a frame.
    #[error("connection closed in the middle of a frame ({0} bytes unread)")]
    Truncated(usize),
}

/// A conversation with a switch failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Connecting (TCP) failed.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// Address tried.
        addr: String,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The switch refused the password (`-ERR invalid`).
    #[error("authentication failed: {0}")]
    AuthFailed(String),
    /// The switch rejected us by ACL (`text/rude-rejection`).
    #[error("rejected by the switch: {0}")]
    Rejected(String),
    /// The switch did not greet, or answered something unexpected.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The command got no reply in time.
    #[error("command `{command}` timed out after {after:?}")]
    Timeout {
        /// First line of the command (password hidden).
        command: String,
        /// Configured timeout.
        after: Duration,
    },
    /// The switch answered `-ERR …` to a command.
    #[error("command `{command}` failed: {reply}")]
    CommandFailed {
        /// First line of the command.
        command: String,
        /// Reply-Text as received.
        reply: String,
    },
    /// The connection dropped before the reply came; the command may or may
    /// not have run.
    #[error("connection lost: {0}")]
    ConnectionLost(String),
    /// The client is reconnecting; nothing was sent.
    #[error("not connected to the switch (reconnecting)")]
    NotConnected,
    /// The client was shut down (`exit`, or every handle dropped).
    #[error("client is closed")]
    Closed,
    /// Framing failed.
    #[error(transparent)]
    Codec(#[from] CodecError),
}

/// A typed API helper got an answer other than success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// `-ERR No such channel!` (or `-ERR invalid uuid`, `invalid session id`):
    /// the call is already gone. Expected in a call controller, not a fault.
    #[error("no such channel")]
    NoSuchChannel,
    /// Another `-ERR …` answer.
    #[error("switch answered: {0}")]
    Failed(String),
    /// `-USAGE: …`: the command was malformed.
    #[error("bad usage: {0}")]
    Usage(String),
    /// The answer could not be understood.
    #[error("unexpected answer: {0}")]
    Unexpected(String),
    /// An argument cannot be expressed in the command syntax.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Transport failure: the command may not have run.
    #[error(transparent)]
    Client(#[from] ClientError),
}
