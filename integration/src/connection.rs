//! One inbound Event Socket connection, as `listener_run` and
//! `parse_command` in `mod_event_socket.c` handle it.
//!
//! The task reads commands and writes replies and queued events on one
//! socket. A command is handled to the end (an `api` included) before the
//! next frame is read or any event written: that is how the real switch
//! holds a connection's events while its `api` runs. `bgapi` runs in a task
//! of its own and its result comes back as a BACKGROUND_JOB event, which
//! goes through the same subscription and filters as any other event.

use std::sync::Arc;

use bytes::BytesMut;
use esl::{Command, Message, Reply, ServerCodec};
use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

use crate::events::{name_event, Fired, Format};
use crate::listener::Listener;
use crate::switch::Shared;

/// What `exit` and a failed `auth` end with.
pub(crate) const GOODBYE: &str =
    "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n";

enum Next {
    Continue,
    Close,
}

struct Conn {
    shared: Arc<Shared>,
    listener: Arc<Listener>,
    rx: mpsc::UnboundedReceiver<Arc<Fired>>,
    out: OwnedWriteHalf,
    authed: bool,
    logging: bool,
}

/// Serves one connection until the client leaves, a command closes it, or
/// `cancel` fires (a dropped connection or a shutdown).
pub(crate) async fn serve(shared: Arc<Shared>, stream: TcpStream, cancel: CancellationToken) {
    let _ = stream.set_nodelay(true);
    let (rd, wr) = stream.into_split();
    let mut reader = FramedRead::new(rd, ServerCodec::new());
    let (tx, rx) = mpsc::unbounded_channel();
    let listener = Arc::new(Listener::new(tx, cancel.clone()));
    shared.core().add_listener(listener.clone());
    let mut conn = Conn {
        shared: shared.clone(),
        listener: listener.clone(),
        rx,
        out: wr,
        authed: false,
        logging: false,
    };
    let _ = conn.run(&mut reader, &cancel).await;
    shared.core().remove_listener(&listener);
    let farewell = listener
        .farewell
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    if let Some(text) = farewell {
        // A shutdown lets queued events out before the notice.
        while let Ok(first) = conn.rx.try_recv() {
            if conn.write_events(first).await.is_err() {
                break;
            }
        }
        let _ = conn.send(Message::disconnect_notice(text)).await;
    }
    let _ = conn.out.shutdown().await;
}

impl Conn {
    async fn run(
        &mut self,
        reader: &mut FramedRead<tokio::net::tcp::OwnedReadHalf, ServerCodec>,
        cancel: &CancellationToken,
    ) -> std::io::Result<()> {
        self.send(Message::auth_request()).await?;
        loop {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return Ok(()),
                frame = reader.next() => {
                    let Some(Ok(cmd)) = frame else { return Ok(()) };
                    let next = tokio::select! {
                        biased;
                        _ = cancel.cancelled() => return Ok(()),
                        next = self.command(cmd) => next?,
                    };
                    if let Next::Close = next {
                        self.send(Message::disconnect_notice(GOODBYE)).await?;
                        return Ok(());
                    }
                }
                Some(fired) = self.rx.recv() => self.write_events(fired).await?,
            }
        }
    }

    async fn send(&mut self, msg: Message) -> std::io::Result<()> {
        let mut buf = BytesMut::new();
        msg.encode(&mut buf)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
        self.out.write_all(&buf).await
    }

    async fn reply(&mut self, text: &str) -> std::io::Result<()> {
        self.send(Message::CommandReply(Reply::new(text))).await
    }

    /// Writes `first` and whatever else is queued, in one write.
    async fn write_events(&mut self, first: Arc<Fired>) -> std::io::Result<()> {
        let format = self.listener.sub().format;
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&first.frame(format));
        while buf.len() < 256 * 1024 {
            match self.rx.try_recv() {
                Ok(f) => buf.extend_from_slice(&f.frame(format)),
                Err(_) => break,
            }
        }
        self.out.write_all(&buf).await
    }

    async fn command(&mut self, cmd: Command) -> std::io::Result<Next> {
        let line = cmd.line();
        let line = line.split(['\r', '\n']).next().unwrap_or("");
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("exit") || lower.starts_with("...") {
            self.reply("+OK bye").await?;
            return Ok(Next::Close);
        }
        if !self.authed {
            if lower.starts_with("auth ") {
                if line[5..] == *self.shared.password {
                    self.authed = true;
                    self.reply("+OK accepted").await?;
                } else {
                    self.reply("-ERR invalid").await?;
                    return Ok(Next::Close);
                }
            } else if lower.starts_with("userauth ") {
                self.reply("-ERR invalid").await?;
                return Ok(Next::Close);
            } else {
                self.reply("-ERR command not found").await?;
            }
            return Ok(Next::Continue);
        }
        let text = if lower.starts_with("filter ") {
            self.filter(&line[7..])
        } else if lower.starts_with("sendmsg") {
            self.sendmsg(&line[7..], &cmd)
        } else if lower.starts_with("api ") {
            let (name, arg) = split_api(&line[4..]);
            let mut out = crate::api::execute(&self.shared, name, arg).await;
            if out.is_empty() {
                out = "-ERR no reply\n".into();
            }
            self.send(Message::api_response(out)).await?;
            return Ok(Next::Continue);
        } else if lower.starts_with("bgapi ") {
            self.bgapi(&line[6..], &cmd).await?;
            return Ok(Next::Continue);
        } else if lower.starts_with("log") {
            self.log(&line[3..])
        } else if lower.starts_with("linger") || lower.starts_with("nolinger") {
            "-ERR not controlling a session".to_owned()
        } else if lower.starts_with("nolog") {
            if std::mem::take(&mut self.logging) {
                "+OK no longer logging".to_owned()
            } else {
                "-ERR not loging".to_owned()
            }
        } else if lower.starts_with("event") {
            self.event(&line[5..])
        } else if lower.starts_with("nixevent") {
            self.nixevent(&line[8..])
        } else if lower.starts_with("noevents") {
            self.noevents()
        } else {
            String::new()
        };
        let text = if text.is_empty() {
            "-ERR command not found".to_owned()
        } else {
            text
        };
        self.reply(&text).await?;
        Ok(Next::Continue)
    }

    fn filter(&mut self, rest: &str) -> String {
        let rest = rest.trim_start_matches(' ');
        let (mut name, mut value) = match rest.split_once(' ') {
            Some((n, v)) => (n, Some(v)),
            None => (rest, None),
        };
        let mut sub = self.listener.sub();
        if name.eq_ignore_ascii_case("delete") && value.is_some() {
            let rest = value.unwrap_or_default();
            (name, value) = match rest.split_once(' ') {
                Some((n, v)) => (n, Some(v)),
                None => (rest, None),
            };
            if name.eq_ignore_ascii_case("all") {
                sub.filters.clear();
            } else {
                // switch_event_del_header_val: by name, and by value when given.
                sub.filters
                    .retain(|(h, v)| !(h.eq_ignore_ascii_case(name) && value.is_none_or_eq(v)));
            }
            format!("+OK filter deleted. [{name}][{}]", value.unwrap_or(""))
        } else if let Some(mut v) = value {
            if name.eq_ignore_ascii_case("add") {
                (name, value) = match v.split_once(' ') {
                    Some((n, v)) => (n, Some(v)),
                    None => (v, None),
                };
                v = value.unwrap_or("");
            }
            sub.filters.push((name.to_owned(), v.to_owned()));
            format!("+OK filter added. [{name}]=[{v}]")
        } else {
            "-ERR invalid syntax".to_owned()
        }
    }

    fn sendmsg(&mut self, rest: &str, cmd: &Command) -> String {
        let uuid = rest.trim_start_matches(' ');
        let uuid = if uuid.is_empty() {
            cmd.header("session-id").unwrap_or("")
        } else {
            uuid
        };
        if !uuid.is_empty() && self.shared.core().sendmsg(uuid, cmd) {
            "+OK".to_owned()
        } else {
            format!("-ERR invalid session id [{uuid}]")
        }
    }

    async fn bgapi(&mut self, rest: &str, cmd: &Command) -> std::io::Result<()> {
        let (name, arg) = split_api(rest);
        let (name, arg) = (name.to_owned(), arg.map(str::to_owned));
        let job = cmd
            .header("job-uuid")
            .map_or_else(crate::channel::new_uuid, str::to_owned);
        self.send(Message::CommandReply(Reply::job_accepted(&job)))
            .await?;
        crate::api::spawn_bgapi(self.shared.clone(), name, arg, job);
        Ok(())
    }

    fn log(&mut self, rest: &str) -> String {
        let level = rest.trim_start_matches(' ');
        let level = level.split(' ').next().unwrap_or("");
        let n = if level.is_empty() {
            Some(7)
        } else {
            match level.to_ascii_lowercase().as_str() {
                "console" => Some(0),
                "alert" => Some(1),
                "crit" => Some(2),
                "err" | "error" => Some(3),
                "warning" => Some(4),
                "notice" => Some(5),
                "info" => Some(6),
                "debug" => Some(7),
                l => l.parse::<u8>().ok().filter(|n| *n <= 7),
            }
        };
        match n {
            Some(n) => {
                self.logging = true;
                format!("+OK log level {level} [{n}]")
            }
            None => "-ERR invalid log level".to_owned(),
        }
    }

    fn event(&mut self, rest: &str) -> String {
        let Some((_, words)) = rest.split_once(' ') else {
            return "-ERR no keywords supplied".to_owned();
        };
        let mut sub = self.listener.sub();
        let mut keys = 0;
        let mut custom = false;
        for (i, word) in words.split(' ').enumerate() {
            if i == 0 {
                let format = match word.to_ascii_lowercase().as_str() {
                    "plain" => Some(Format::Plain),
                    "json" => Some(Format::Json),
                    "xml" => Some(Format::Xml),
                    _ => None,
                };
                if let Some(f) = format {
                    sub.format = f;
                    continue;
                }
            }
            if custom {
                sub.custom.insert(word.to_owned());
            } else if let Some(name) = name_event(word) {
                keys += 1;
                if name == "ALL" {
                    sub.all = true;
                    sub.nixed.clear();
                } else if sub.all {
                    sub.nixed.remove(name);
                } else {
                    sub.types.insert(name);
                }
                if name == "CUSTOM" {
                    custom = true;
                }
            }
        }
        if keys == 0 {
            return "-ERR no keywords supplied".to_owned();
        }
        sub.events_on = true;
        let format = sub.format;
        drop(sub);
        self.shared.first_subscription();
        format!("+OK event listener enabled {}", format.as_str())
    }

    fn nixevent(&mut self, rest: &str) -> String {
        let Some((_, words)) = rest.split_once(' ') else {
            return "-ERR no keywords supplied".to_owned();
        };
        let mut sub = self.listener.sub();
        let mut keys = 0;
        let mut custom = false;
        for word in words.split(' ') {
            if custom {
                sub.custom.remove(word);
            } else if let Some(name) = name_event(word) {
                keys += 1;
                match name {
                    "CUSTOM" => custom = true,
                    "ALL" => {
                        sub.all = false;
                        sub.types.clear();
                        sub.nixed.clear();
                    }
                    _ if sub.all => {
                        sub.nixed.insert(name);
                    }
                    _ => {
                        sub.types.remove(name);
                    }
                }
            }
        }
        if keys == 0 {
            return "-ERR no keywords supplied".to_owned();
        }
        sub.events_on = true;
        "+OK events nixed".to_owned()
    }

    fn noevents(&mut self) -> String {
        while self.rx.try_recv().is_ok() {}
        let mut sub = self.listener.sub();
        if sub.events_on {
            let format = sub.format;
            let filters = std::mem::take(&mut sub.filters);
            *sub = Default::default();
            sub.format = format;
            sub.filters = filters;
            "+OK no longer listening for events".to_owned()
        } else {
            "-ERR not listening for events".to_owned()
        }
    }
}

/// `api_exec`'s split: the command up to the first space, the rest as argument.
fn split_api(rest: &str) -> (&str, Option<&str>) {
    match rest.split_once(' ') {
        Some((c, a)) => (c, Some(a)),
        None => (rest, None),
    }
}

trait NoneOrEq {
    fn is_none_or_eq(&self, v: &str) -> bool;
}

impl NoneOrEq for Option<&str> {
    fn is_none_or_eq(&self, v: &str) -> bool {
        match self {
            None => true,
            Some(x) => *x == v,
        }
    }
}
