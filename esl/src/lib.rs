//! FreeSWITCH Event Socket protocol: frames, codec and clients. Knows nothing
//! of billing.
//!
//! # Map
//!
//! | layer | items |
//! | --- | --- |
//! | wire types | [`Headers`], [`Frame`], [`ContentType`], [`Event`], [`Message`], [`Reply`], [`ApiResponse`], [`Notice`], [`Command`], [`SendMsg`] |
//! | codecs | [`ClientCodec`] (switch → us), [`ServerCodec`] (for a simulated switch), [`FrameCodec`] |
//! | inbound client | [`Client`], [`ClientConfig`], [`ClientEvent`], [`Job`] |
//! | typed API | `Client::uuid_kill`, `sched_hangup`, `show_channels`… ([`api`]) |
//! | outbound | [`OutboundListener`], [`OutboundSession`], [`ChannelData`] |
//!
//! Ground truth for every rule here is FreeSWITCH's `mod_event_socket.c`
//! (the server) and `libs/esl/src/esl.c` (its reference client).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod api;
mod client;
mod codec;
mod command;
mod error;
mod event;
mod event_json;
mod frame;
mod headers;
mod message;
mod outbound;
mod parse;
pub mod percent;

pub use client::{Backoff, Client, ClientConfig, ClientEvent, Job, Response};
pub use codec::{ClientCodec, FrameCodec, ServerCodec, DEFAULT_MAX_FRAME};
pub use command::{Command, CommandKind, EventFormat, SendMsg};
pub use error::{ApiError, ClientError, CodecError};
pub use event::Event;
pub use frame::{ContentType, Frame};
pub use headers::Headers;
pub use message::{ApiResponse, Message, Notice, Reply};
pub use outbound::{ChannelData, OutboundConfig, OutboundListener, OutboundSession};
