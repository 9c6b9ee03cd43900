//! [`Command`]: what a client sends to the switch, with constructors for
//! every command the Event Socket knows, its encoding, and (for a simulated
//! switch) its decoding into [`CommandKind`].
//!
//! On the wire a command is one line, optional `Name: value` lines
//! (`sendmsg`, bgapi's `Job-UUID`), optional `Content-Length` and body, and
//! a blank line. `mod_event_socket` does not percent-decode command headers,
//! so nothing here is percent-encoded; instead a line break anywhere is
//! refused at encoding time, because it would start a second command.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::CodecError;
use crate::event::check_header_name;
use crate::headers::Headers;

/// Event serialisation a subscription asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum EventFormat {
    /// `text/event-plain` (the default).
    #[default]
    Plain,
    /// `text/event-json`.
    Json,
}

impl EventFormat {
    /// The keyword in `event <format> …`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventFormat::Plain => "plain",
            EventFormat::Json => "json",
        }
    }
}

impl fmt::Display for EventFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One command from client to switch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Command {
    line: String,
    headers: Headers,
    body: Option<Bytes>,
}

impl Command {
    /// A command made of one line, e.g. `Command::new("api status")`.
    pub fn new(line: impl Into<String>) -> Self {
        Command {
            line: line.into(),
            headers: Headers::new(),
            body: None,
        }
    }

    /// Assembles a command from parts (what the server codec decodes).
    pub fn from_parts(line: String, headers: Headers, body: Option<Bytes>) -> Self {
        Command {
            line,
            headers,
            body,
        }
    }

    /// Appends a header line (builder style).
    pub fn with_header(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        self.headers.push(name, value);
        self
    }

    /// Sets a body, sent with its `Content-Length` (builder style).
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// `auth <password>`.
    pub fn auth(password: &str) -> Self {
        Self::new(format!("auth {password}"))
    }

    /// `userauth <user>@<domain>:<password>`.
    pub fn userauth(user: &str, domain: &str, password: &str) -> Self {
        Self::new(format!("userauth {user}@{domain}:{password}"))
    }

    /// `api <command>`: runs it, blocking this connection until it answers.
    pub fn api(command: &str) -> Self {
        Self::new(format!("api {command}"))
    }

    /// `bgapi <command>` with a client-chosen `Job-UUID` to correlate the
    /// BACKGROUND_JOB event carrying the result.
    pub fn bgapi(command: &str, job_uuid: &str) -> Self {
        Self::new(format!("bgapi {command}")).with_header("Job-UUID", job_uuid)
    }

    /// `event <format> <names…>` (names like `CHANNEL_ANSWER`, `ALL`, or
    /// `CUSTOM sofia::register`).
    pub fn event<S: AsRef<str>>(format: EventFormat, names: &[S]) -> Self {
        Self::new(join(&format!("event {format}"), names))
    }

    /// `nixevent <names…>`.
    pub fn nixevent<S: AsRef<str>>(names: &[S]) -> Self {
        Self::new(join("nixevent", names))
    }

    /// `noevents`.
    pub fn noevents() -> Self {
        Self::new("noevents")
    }

    /// `filter <header> <value>`: once any filter exists, only events
    /// matching one are delivered.
    pub fn filter(header: &str, value: &str) -> Self {
        Self::new(format!("filter {header} {value}"))
    }

    /// `filter delete <header> [<value>]` (`header` may be `all`).
    pub fn filter_delete(header: &str, value: Option<&str>) -> Self {
        match value {
            Some(v) => Self::new(format!("filter delete {header} {v}")),
            None => Self::new(format!("filter delete {header}")),
        }
    }

    /// `sendmsg [<uuid>]` with the message's headers.
    pub fn sendmsg(uuid: Option<&str>, msg: SendMsg) -> Self {
        let line = match uuid {
            Some(u) => format!("sendmsg {u}"),
            None => "sendmsg".to_owned(),
        };
        Command {
            line,
            headers: msg.headers,
            body: msg.body,
        }
    }

    /// `exit`.
    pub fn exit() -> Self {
        Self::new("exit")
    }

    /// `connect` (first command of an outbound session).
    pub fn connect() -> Self {
        Self::new("connect")
    }

    /// `myevents [<format>]` in an outbound session; `myevents <uuid> <format>`
    /// when `uuid` is given (inbound).
    pub fn myevents(uuid: Option<&str>, format: EventFormat) -> Self {
        match uuid {
            Some(u) => Self::new(format!("myevents {u} {format}")),
            None => Self::new(format!("myevents {format}")),
        }
    }

    /// `linger [<seconds>]`: keep the outbound socket open after hangup.
    pub fn linger(seconds: Option<u32>) -> Self {
        match seconds {
            Some(s) => Self::new(format!("linger {s}")),
            None => Self::new("linger"),
        }
    }

    /// `nolinger`.
    pub fn nolinger() -> Self {
        Self::new("nolinger")
    }

    /// The command line.
    pub fn line(&self) -> &str {
        &self.line
    }

    /// The first word of the line (`api`, `sendmsg`…).
    pub fn name(&self) -> &str {
        self.line.split(' ').next().unwrap_or("")
    }

    /// The line after the first word and space.
    pub fn args(&self) -> &str {
        self.line.split_once(' ').map_or("", |(_, rest)| rest)
    }

    /// Header lines.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// Body, when sent with one.
    pub fn body(&self) -> Option<&Bytes> {
        self.body.as_ref()
    }

    /// The line with any password replaced by `***`, for logs and errors.
    pub fn redacted_line(&self) -> String {
        match self.name() {
            "auth" => "auth ***".to_owned(),
            "userauth" => match self.args().split_once(':') {
                Some((who, _)) => format!("userauth {who}:***"),
                None => "userauth ***".to_owned(),
            },
            _ => self.line.clone(),
        }
    }

    /// What the command asks, for a simulated switch.
    pub fn kind(&self) -> CommandKind<'_> {
        CommandKind::of(self)
    }

    /// Writes the command and its terminating blank line.
    pub fn encode(&self, dst: &mut BytesMut) -> Result<(), CodecError> {
        self.check()?;
        dst.reserve(self.line.len() + 2 + self.body.as_ref().map_or(0, |b| b.len() + 32));
        dst.put_slice(self.line.as_bytes());
        dst.put_u8(b'\n');
        for (name, value) in self.headers.iter() {
            if name.eq_ignore_ascii_case("Content-Length") {
                continue;
            }
            dst.put_slice(name.as_bytes());
            dst.put_slice(b": ");
            dst.put_slice(value.as_bytes());
            dst.put_u8(b'\n');
        }
        if let Some(body) = &self.body {
            dst.put_slice(format!("Content-Length: {}\n\n", body.len()).as_bytes());
            dst.put_slice(body);
        } else {
            dst.put_u8(b'\n');
        }
        Ok(())
    }
}

impl Command {
    /// Whether [`Command::encode`] would write the command: its line is
    /// one non-empty line, and its headers are writable (no newline in a
    /// name or value). Checked before anything is written, so a refused
    /// command leaves the output untouched.
    pub fn check(&self) -> Result<(), CodecError> {
        check_text(&self.line)?;
        if self.line.is_empty() {
            return Err(CodecError::InvalidCommandText(String::new()));
        }
        for (name, value) in self.headers.iter() {
            check_header_name(name)?;
            check_text(value)?;
        }
        Ok(())
    }
}

fn join<S: AsRef<str>>(head: &str, names: &[S]) -> String {
    let mut line = head.to_owned();
    for n in names {
        line.push(' ');
        line.push_str(n.as_ref());
    }
    line
}

fn check_text(text: &str) -> Result<(), CodecError> {
    if text.bytes().any(|b| b == b'\r' || b == b'\n') {
        return Err(CodecError::InvalidCommandText(text.to_owned()));
    }
    Ok(())
}

/// The headers of a `sendmsg`: what to do to a channel.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SendMsg {
    headers: Headers,
    body: Option<Bytes>,
}

impl SendMsg {
    /// `call-command: execute` of `app` with an optional argument.
    pub fn execute(app: &str, arg: Option<&str>) -> Self {
        let mut headers = Headers::new();
        headers.push("call-command", "execute");
        headers.push("execute-app-name", app);
        if let Some(arg) = arg {
            headers.push("execute-app-arg", arg);
        }
        SendMsg {
            headers,
            body: None,
        }
    }

    /// `call-command: hangup` with `hangup-cause` (e.g. `NORMAL_CLEARING`).
    pub fn hangup(cause: &str) -> Self {
        let mut headers = Headers::new();
        headers.push("call-command", "hangup");
        headers.push("hangup-cause", cause);
        SendMsg {
            headers,
            body: None,
        }
    }

    /// `event-lock: true`: run applications one after the other.
    pub fn event_lock(self, on: bool) -> Self {
        self.header("event-lock", if on { "true" } else { "false" })
    }

    /// `async: true`: queue without blocking the socket.
    pub fn async_mode(self, on: bool) -> Self {
        self.header("async", if on { "true" } else { "false" })
    }

    /// `loops: n`.
    pub fn loops(self, n: u32) -> Self {
        self.header("loops", n.to_string())
    }

    /// Any other header.
    pub fn header(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        self.headers.push(name, value);
        self
    }
}

/// A decoded command, for a simulated switch to act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandKind<'a> {
    /// `auth <password>`.
    Auth {
        /// Password given.
        password: &'a str,
    },
    /// `userauth <user>@<domain>:<password>`.
    UserAuth {
        /// User part.
        user: &'a str,
        /// Domain part.
        domain: &'a str,
        /// Password given.
        password: &'a str,
    },
    /// `api <command>`.
    Api {
        /// Command line to run (`uuid_kill abc`).
        command: &'a str,
    },
    /// `bgapi <command>`.
    BgApi {
        /// Command line to run.
        command: &'a str,
        /// Job-UUID the client chose, if any.
        job_uuid: Option<&'a str>,
    },
    /// `event <format> <names…>`.
    Event {
        /// `plain`, `json` or `xml` as sent.
        format: &'a str,
        /// Event names.
        names: Vec<&'a str>,
    },
    /// `nixevent <names…>`.
    NixEvent {
        /// Event names.
        names: Vec<&'a str>,
    },
    /// `noevents`.
    NoEvents,
    /// `filter <header> <value>`.
    Filter {
        /// Header to match.
        header: &'a str,
        /// Value to match.
        value: &'a str,
    },
    /// `filter delete <header> [<value>]`.
    FilterDelete {
        /// Header (or `all`).
        header: &'a str,
        /// Value, when given.
        value: Option<&'a str>,
    },
    /// `sendmsg [<uuid>]`; details in the command's headers.
    SendMsg {
        /// Target channel, when given on the line.
        uuid: Option<&'a str>,
    },
    /// `exit`.
    Exit,
    /// `connect` (outbound).
    Connect,
    /// `myevents …`.
    MyEvents {
        /// Arguments as sent.
        args: &'a str,
    },
    /// `linger [<seconds>]`.
    Linger {
        /// Seconds, when given and numeric.
        seconds: Option<u32>,
    },
    /// `nolinger`.
    NoLinger,
    /// Anything else.
    Other {
        /// First word.
        name: &'a str,
        /// The rest.
        args: &'a str,
    },
}

impl<'a> CommandKind<'a> {
    fn of(cmd: &'a Command) -> Self {
        let name = cmd.name();
        let args = cmd.args().trim();
        let words = || args.split(' ').filter(|w| !w.is_empty());
        match name.to_ascii_lowercase().as_str() {
            "auth" => CommandKind::Auth { password: args },
            "userauth" => {
                let (who, password) = args.split_once(':').unwrap_or((args, ""));
                let (user, domain) = who.split_once('@').unwrap_or((who, ""));
                CommandKind::UserAuth {
                    user,
                    domain,
                    password,
                }
            }
            "api" => CommandKind::Api { command: args },
            "bgapi" => CommandKind::BgApi {
                command: args,
                job_uuid: cmd.header("Job-UUID"),
            },
            "event" => {
                let mut it = words();
                let format = it.next().unwrap_or("");
                CommandKind::Event {
                    format,
                    names: it.collect(),
                }
            }
            "nixevent" => CommandKind::NixEvent {
                names: words().collect(),
            },
            "noevents" => CommandKind::NoEvents,
            "filter" => {
                let mut it = args.splitn(2, ' ');
                let first = it.next().unwrap_or("");
                let rest = it.next().map(str::trim);
                if first.eq_ignore_ascii_case("delete") {
                    let rest = rest.unwrap_or("");
                    let (header, value) = match rest.split_once(' ') {
                        Some((h, v)) => (h, Some(v)),
                        None => (rest, None),
                    };
                    CommandKind::FilterDelete { header, value }
                } else {
                    CommandKind::Filter {
                        header: first,
                        value: rest.unwrap_or(""),
                    }
                }
            }
            "sendmsg" => CommandKind::SendMsg {
                uuid: (!args.is_empty()).then_some(args),
            },
            "exit" => CommandKind::Exit,
            "connect" => CommandKind::Connect,
            "myevents" => CommandKind::MyEvents { args },
            "linger" => CommandKind::Linger {
                seconds: args.parse().ok(),
            },
            "nolinger" => CommandKind::NoLinger,
            _ => CommandKind::Other { name, args },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(cmd: &Command) -> String {
        let mut out = BytesMut::new();
        cmd.encode(&mut out).unwrap();
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn encodes_commands() {
        assert_eq!(wire(&Command::auth("ClueCon")), "auth ClueCon\n\n");
        assert_eq!(
            wire(&Command::bgapi("originate x &park()", "j-1")),
            "bgapi originate x &park()\nJob-UUID: j-1\n\n"
        );
        assert_eq!(
            wire(&Command::sendmsg(
                Some("u1"),
                SendMsg::hangup("NORMAL_CLEARING")
            )),
            "sendmsg u1\ncall-command: hangup\nhangup-cause: NORMAL_CLEARING\n\n"
        );
        assert_eq!(
            wire(&Command::event(
                EventFormat::Json,
                &["CHANNEL_ANSWER", "HEARTBEAT"]
            )),
            "event json CHANNEL_ANSWER HEARTBEAT\n\n"
        );
    }

    #[test]
    fn refuses_injection() {
        let mut out = BytesMut::new();
        assert!(Command::api("status\n\nexit").encode(&mut out).is_err());
        assert!(
            Command::sendmsg(None, SendMsg::execute("playback", Some("a\nb")))
                .encode(&mut out)
                .is_err()
        );
    }

    #[test]
    fn kinds() {
        assert_eq!(
            Command::userauth("u", "d", "p:w").kind(),
            CommandKind::UserAuth {
                user: "u",
                domain: "d",
                password: "p:w"
            }
        );
        assert_eq!(
            Command::filter_delete("Unique-ID", Some("abc")).kind(),
            CommandKind::FilterDelete {
                header: "Unique-ID",
                value: Some("abc")
            }
        );
        assert_eq!(
            Command::bgapi("status", "j").kind(),
            CommandKind::BgApi {
                command: "status",
                job_uuid: Some("j")
            }
        );
        assert_eq!(Command::auth("secret").redacted_line(), "auth ***");
    }
}
