//! Typed helpers for the API commands a call controller sends, each with its
//! answer interpreted: success, [`ApiError::NoSuchChannel`] (the call is
//! already gone, an expected outcome), or another failure.
//!
//! Answer formats are those of `mod_commands.c`: `+OK` / `-ERR No such
//! channel!` / `-USAGE: …`, `true`/`false` for `uuid_exists`, `+OK Deleted:
//! N` for `sched_del`, and JSON for `show channels as json` (where an empty
//! list is `{"row_count": 0}` with no `rows` key at all).

use std::collections::BTreeMap;

use crate::client::Client;
use crate::error::ApiError;

/// Which leg(s) `uuid_broadcast` plays to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Leg {
    /// The channel itself.
    #[default]
    A,
    /// Its bridged peer.
    B,
    /// Both.
    Both,
}

impl Leg {
    fn as_str(self) -> &'static str {
        match self {
            Leg::A => "aleg",
            Leg::B => "bleg",
            Leg::Both => "both",
        }
    }
}

/// Interprets an API answer: `Ok(text)` unless it is an error line.
pub fn check_reply(text: &str) -> Result<&str, ApiError> {
    let t = text.trim();
    if let Some(rest) = t.strip_prefix("-ERR") {
        let rest = rest.trim();
        let gone = [
            "No such channel",
            "invalid uuid",
            "invalid session id",
            "no such uuid",
        ];
        if gone.iter().any(|g| {
            rest.to_ascii_lowercase()
                .starts_with(&g.to_ascii_lowercase())
        }) {
            return Err(ApiError::NoSuchChannel);
        }
        return Err(ApiError::Failed(rest.to_owned()));
    }
    if let Some(rest) = t.strip_prefix("-USAGE:") {
        return Err(ApiError::Usage(rest.trim().to_owned()));
    }
    Ok(t)
}

fn expect_ok(text: &str) -> Result<(), ApiError> {
    let t = check_reply(text)?;
    if t.starts_with("+OK") {
        Ok(())
    } else {
        Err(ApiError::Unexpected(t.to_owned()))
    }
}

/// A channel UUID as the command line needs it: non-empty, no whitespace.
fn uuid_arg(uuid: &str) -> Result<&str, ApiError> {
    if uuid.is_empty() || uuid.chars().any(char::is_whitespace) {
        return Err(ApiError::InvalidArgument(format!(
            "bad channel uuid {uuid:?}"
        )));
    }
    Ok(uuid)
}

/// A single word argument (cause, variable name).
fn word_arg<'a>(what: &str, v: &'a str) -> Result<&'a str, ApiError> {
    if v.is_empty() || v.chars().any(char::is_whitespace) {
        return Err(ApiError::InvalidArgument(format!("bad {what} {v:?}")));
    }
    Ok(v)
}

/// One row of `show channels as json`: column name to value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChannelRow(pub BTreeMap<String, String>);

impl ChannelRow {
    /// Any column.
    pub fn get(&self, column: &str) -> Option<&str> {
        self.0.get(column).map(String::as_str)
    }
    /// `uuid`.
    pub fn uuid(&self) -> Option<&str> {
        self.get("uuid")
    }
    /// `name` (channel name).
    pub fn name(&self) -> Option<&str> {
        self.get("name")
    }
    /// `state` (`CS_EXECUTE`…).
    pub fn state(&self) -> Option<&str> {
        self.get("state")
    }
    /// `callstate` (`ACTIVE`, `RINGING`…).
    pub fn callstate(&self) -> Option<&str> {
        self.get("callstate")
    }
    /// `direction`.
    pub fn direction(&self) -> Option<&str> {
        self.get("direction")
    }
    /// `created_epoch`, seconds.
    pub fn created_epoch(&self) -> Option<i64> {
        self.get("created_epoch")?.parse().ok()
    }
}

/// Parses the answer of `show channels as json`. `{"row_count": 0}` (no
/// `rows`) is an empty list.
pub fn parse_show_channels(text: &str) -> Result<Vec<ChannelRow>, ApiError> {
    let t = check_reply(text)?;
    let value: serde_json::Value = serde_json::from_str(t)
        .map_err(|e| ApiError::Unexpected(format!("show channels: {e}: {t:.200}")))?;
    let obj = value
        .as_object()
        .ok_or_else(|| ApiError::Unexpected(format!("show channels: not an object: {t:.200}")))?;
    let Some(rows) = obj.get("rows") else {
        return Ok(Vec::new());
    };
    let rows = rows
        .as_array()
        .ok_or_else(|| ApiError::Unexpected("show channels: rows is not an array".to_owned()))?;
    rows.iter()
        .map(|row| {
            let cols = row.as_object().ok_or_else(|| {
                ApiError::Unexpected("show channels: a row is not an object".to_owned())
            })?;
            Ok(ChannelRow(
                cols.iter()
                    .map(|(k, v)| {
                        let v = match v {
                            serde_json::Value::String(s) => s.clone(),
                            serde_json::Value::Null => String::new(),
                            other => other.to_string(),
                        };
                        (k.clone(), v)
                    })
                    .collect(),
            ))
        })
        .collect()
}

impl Client {
    async fn api_text(&self, command: &str) -> Result<String, ApiError> {
        Ok(self.api(command).await?.text().into_owned())
    }

    /// `uuid_kill <uuid> [<cause>]`.
    pub async fn uuid_kill(&self, uuid: &str, cause: Option<&str>) -> Result<(), ApiError> {
        let mut cmd = format!("uuid_kill {}", uuid_arg(uuid)?);
        if let Some(c) = cause {
            cmd = format!("{cmd} {}", word_arg("cause", c)?);
        }
        expect_ok(&self.api_text(&cmd).await?)
    }

    /// `sched_hangup +<secs> <uuid> [<cause>]`: hang up `secs` from now.
    pub async fn sched_hangup(
        &self,
        uuid: &str,
        secs: u64,
        cause: Option<&str>,
    ) -> Result<(), ApiError> {
        let mut cmd = format!("sched_hangup +{secs} {}", uuid_arg(uuid)?);
        if let Some(c) = cause {
            cmd = format!("{cmd} {}", word_arg("cause", c)?);
        }
        expect_ok(&self.api_text(&cmd).await?)
    }

    /// `sched_hangup <epoch> <uuid> [<cause>]`: hang up at a Unix time of the
    /// switch's clock, so the command's own latency cannot move the moment.
    pub async fn sched_hangup_at(
        &self,
        uuid: &str,
        epoch: i64,
        cause: Option<&str>,
    ) -> Result<(), ApiError> {
        let mut cmd = format!("sched_hangup {epoch} {}", uuid_arg(uuid)?);
        if let Some(c) = cause {
            cmd = format!("{cmd} {}", word_arg("cause", c)?);
        }
        expect_ok(&self.api_text(&cmd).await?)
    }

    /// `sched_api <epoch> <group> uuid_kill <uuid> [<cause>]`: hang the call
    /// up at a Unix time of the switch's clock, as a task in a group of the
    /// caller's choosing. Unlike `sched_hangup` (whose tasks all share the
    /// group named by the uuid), a new limit can then be armed before the
    /// old one is deleted, so the call is never without a limit. Returns
    /// the task id (`+OK Added: N`).
    pub async fn sched_kill_at(
        &self,
        epoch: i64,
        group: &str,
        uuid: &str,
        cause: &str,
    ) -> Result<u32, ApiError> {
        let cmd = format!(
            "sched_api {epoch} {} uuid_kill {} {}",
            word_arg("group", group)?,
            uuid_arg(uuid)?,
            word_arg("cause", cause)?
        );
        let text = self.api_text(&cmd).await?;
        let t = check_reply(&text)?;
        t.strip_prefix("+OK Added:")
            .and_then(|n| n.trim().parse().ok())
            .ok_or_else(|| ApiError::Unexpected(t.to_owned()))
    }

    /// `strepoch`: the switch's clock, in Unix seconds. (FreeSWITCH's
    /// `strftime` has no `%s`: it answers `-ERR no reply`.)
    pub async fn strepoch(&self) -> Result<i64, ApiError> {
        let text = self.api_text("strepoch").await?;
        let t = check_reply(&text)?;
        t.parse().map_err(|_| ApiError::Unexpected(t.to_owned()))
    }

    /// `sched_del <task id or group>`: a channel's scheduled hangups are in
    /// the group named by its uuid. Returns how many tasks were deleted.
    pub async fn sched_del(&self, id_or_group: &str) -> Result<u32, ApiError> {
        let text = self
            .api_text(&format!("sched_del {}", word_arg("task", id_or_group)?))
            .await?;
        let t = check_reply(&text)?;
        t.strip_prefix("+OK Deleted:")
            .and_then(|n| n.trim().parse().ok())
            .ok_or_else(|| ApiError::Unexpected(t.to_owned()))
    }

    /// `uuid_setvar <uuid> <name> [<value>]` (no value unsets).
    pub async fn uuid_setvar(
        &self,
        uuid: &str,
        name: &str,
        value: Option<&str>,
    ) -> Result<(), ApiError> {
        let mut cmd = format!(
            "uuid_setvar {} {}",
            uuid_arg(uuid)?,
            word_arg("variable name", name)?
        );
        if let Some(v) = value {
            cmd = format!("{cmd} {v}");
        }
        expect_ok(&self.api_text(&cmd).await?)
    }

    /// `uuid_setvar_multi <uuid> <n>=<v>;<n>=<v>…`. Names may not hold `=`
    /// or `;`, values not `;`.
    pub async fn uuid_setvar_multi(
        &self,
        uuid: &str,
        vars: &[(&str, &str)],
    ) -> Result<(), ApiError> {
        if vars.is_empty() {
            return Err(ApiError::InvalidArgument("no variables".to_owned()));
        }
        let mut pairs = Vec::with_capacity(vars.len());
        for (n, v) in vars {
            let n = word_arg("variable name", n)?;
            if n.contains(['=', ';']) || v.contains(';') {
                return Err(ApiError::InvalidArgument(format!(
                    "cannot express {n}={v} in uuid_setvar_multi"
                )));
            }
            pairs.push(format!("{n}={v}"));
        }
        let cmd = format!("uuid_setvar_multi {} {}", uuid_arg(uuid)?, pairs.join(";"));
        expect_ok(&self.api_text(&cmd).await?)
    }

    /// `uuid_transfer <uuid> <dest> [<dialplan> [<context>]]`.
    pub async fn uuid_transfer(
        &self,
        uuid: &str,
        dest: &str,
        dialplan: Option<&str>,
        context: Option<&str>,
    ) -> Result<(), ApiError> {
        let mut cmd = format!(
            "uuid_transfer {} {}",
            uuid_arg(uuid)?,
            word_arg("destination", dest)?
        );
        match (dialplan, context) {
            (Some(d), Some(c)) => {
                cmd = format!(
                    "{cmd} {} {}",
                    word_arg("dialplan", d)?,
                    word_arg("context", c)?
                )
            }
            (Some(d), None) => cmd = format!("{cmd} {}", word_arg("dialplan", d)?),
            (None, Some(c)) => cmd = format!("{cmd} XML {}", word_arg("context", c)?),
            (None, None) => {}
        }
        expect_ok(&self.api_text(&cmd).await?)
    }

    /// `uuid_broadcast <uuid> <path> <leg>`: play a file (or app) to a call.
    pub async fn uuid_broadcast(&self, uuid: &str, path: &str, leg: Leg) -> Result<(), ApiError> {
        let cmd = format!(
            "uuid_broadcast {} {} {}",
            uuid_arg(uuid)?,
            word_arg("path", path)?,
            leg.as_str()
        );
        expect_ok(&self.api_text(&cmd).await?)
    }

    /// `uuid_dump <uuid> json`: the live channel's data (its headers and
    /// `variable_*`s, as an event would carry them), or
    /// [`ApiError::NoSuchChannel`]. Timing variables such as `answer_uepoch`
    /// exist only once a channel hangs up; `Caller-Channel-Answered-Time`
    /// is here while it is up.
    pub async fn uuid_dump(&self, uuid: &str) -> Result<crate::Event, ApiError> {
        let text = self
            .api_text(&format!("uuid_dump {} json", uuid_arg(uuid)?))
            .await?;
        let t = text.trim();
        if t.starts_with("-ERR") && t.to_ascii_lowercase().contains("cannot locate session") {
            return Err(ApiError::NoSuchChannel);
        }
        let t = check_reply(t)?;
        crate::Event::parse_json(t.as_bytes()).map_err(|e| ApiError::Unexpected(e.to_string()))
    }

    /// `uuid_exists <uuid>`.
    pub async fn uuid_exists(&self, uuid: &str) -> Result<bool, ApiError> {
        let text = self
            .api_text(&format!("uuid_exists {}", uuid_arg(uuid)?))
            .await?;
        match check_reply(&text)? {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(ApiError::Unexpected(other.to_owned())),
        }
    }

    /// `show channels as json`: every channel up on the switch, to resync
    /// after [`crate::ClientEvent::Reconnected`].
    pub async fn show_channels(&self) -> Result<Vec<ChannelRow>, ApiError> {
        parse_show_channels(&self.api_text("show channels as json").await?)
    }

    /// `hupall <cause> [<variable> <value>]`: hang up every channel, or those
    /// whose variable has that value.
    pub async fn hupall(
        &self,
        cause: &str,
        matching: Option<(&str, &str)>,
    ) -> Result<(), ApiError> {
        let mut cmd = format!("hupall {}", word_arg("cause", cause)?);
        if let Some((var, val)) = matching {
            cmd = format!(
                "{cmd} {} {}",
                word_arg("variable name", var)?,
                word_arg("value", val)?
            );
        }
        expect_ok(&self.api_text(&cmd).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interprets_answers() {
        assert!(expect_ok("+OK\n").is_ok());
        assert!(matches!(
            expect_ok("-ERR No such channel!\n"),
            Err(ApiError::NoSuchChannel)
        ));
        assert!(matches!(
            expect_ok("-ERR invalid uuid\n"),
            Err(ApiError::NoSuchChannel)
        ));
        assert!(
            matches!(expect_ok("-ERR Operation failed\n"), Err(ApiError::Failed(m)) if m == "Operation failed")
        );
        assert!(matches!(
            expect_ok("-USAGE: <uuid> [cause]\n"),
            Err(ApiError::Usage(_))
        ));
        assert!(matches!(expect_ok("true"), Err(ApiError::Unexpected(_))));
    }

    #[test]
    fn parses_show_channels() {
        assert_eq!(parse_show_channels("{\"row_count\": 0}\n").unwrap(), vec![]);
        let rows = parse_show_channels(
            r#"{"row_count":1,"rows":[{"uuid":"u1","direction":"inbound","created_epoch":"1436280794","name":"sofia/x","state":"CS_EXECUTE","callstate":"ACTIVE","cid_num":null}]}"#,
        )
        .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].uuid(), Some("u1"));
        assert_eq!(rows[0].created_epoch(), Some(1436280794));
        assert_eq!(rows[0].callstate(), Some("ACTIVE"));
        assert!(parse_show_channels("-ERR boom").is_err());
        assert!(parse_show_channels("not json").is_err());
    }
}
