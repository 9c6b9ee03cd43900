//! The switch's own record of a call: the JSON CDR that FreeSWITCH's
//! `mod_json_cdr` posts over HTTP when a channel ends (and retries until
//! it is accepted). It is the one fact about a call's end that survives a
//! lost Event Socket: a call whose hangup event never arrived is settled
//! from it. The body is read into the CHANNEL_HANGUP_COMPLETE event the
//! Event Socket would have carried, so one code path settles both.
//!
//! Accepted bodies, as the module sends them (`encode` in
//! `json_cdr.conf.xml`): the JSON itself (`application/json`, the
//! default), `cdr=<url-encoded JSON>` (`encode=true`) and
//! `cdr=<base64 JSON>` (`encode=base64`). With `encode-values` (the
//! module's default) every value in `variables` is url-encoded; values
//! are decoded here (a value that is not valid percent-encoded UTF-8 is
//! kept as it is).

use base64::Engine as _;
use esl::Event;
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};

/// Why a posted body is not a CDR tollgate can read (answered 400).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CdrBodyError {
    #[error("not a JSON CDR: {0}")]
    NotJson(String),
    #[error("the CDR has no `variables` object")]
    NoVariables,
    #[error("the CDR has no `variables.uuid`")]
    NoUuid,
    #[error("`variables.{0}` is not a number: {1:?}")]
    BadNumber(&'static str, String),
}

/// A channel's CDR, read.
#[derive(Debug)]
pub struct SwitchCdr {
    /// The channel's uuid.
    pub uuid: String,
    /// The hangup event the Event Socket would have carried: the channel's
    /// variables (`variable_*`), `Caller-Channel-Answered-Time` and
    /// `Caller-Channel-Hangup-Time` (µs, from `answer_uepoch` and
    /// `end_uepoch`), `Hangup-Cause`.
    pub event: Event,
}

impl SwitchCdr {
    /// Whether the switch says the channel was answered.
    pub fn answered(&self) -> bool {
        crate::callinfo::micros(&self.event, "Caller-Channel-Answered-Time").is_some()
    }
}

/// A call's usage from its hangup event (or its CDR read as one): answer
/// to hangup in µs, else `billusec`, else `billsec`.
pub fn usage(e: &Event) -> std::time::Duration {
    use std::time::Duration;
    let answered = crate::callinfo::micros(e, "Caller-Channel-Answered-Time");
    let hung = crate::callinfo::micros(e, "Caller-Channel-Hangup-Time");
    if let (Some(a), Some(h)) = (answered, hung) {
        return (h - a).to_std().unwrap_or_default();
    }
    if let Some(Ok(us)) = e.header_as::<u64>("variable_billusec") {
        if us > 0 {
            return Duration::from_micros(us);
        }
    }
    e.header_as::<u64>("variable_billsec")
        .and_then(Result::ok)
        .map(Duration::from_secs)
        .unwrap_or_default()
}

/// Reads a posted body. `content_type` is the request's, if any; the body
/// is recognised by its shape when it does not say.
pub fn parse(body: &[u8], content_type: Option<&str>) -> Result<SwitchCdr, CdrBodyError> {
    let json = unwrap_body(body, content_type)?;
    let doc: Value =
        serde_json::from_slice(&json).map_err(|e| CdrBodyError::NotJson(e.to_string()))?;
    let vars = doc
        .get("variables")
        .and_then(Value::as_object)
        .ok_or(CdrBodyError::NoVariables)?;
    from_variables(vars)
}

/// The JSON document inside the body.
fn unwrap_body(body: &[u8], content_type: Option<&str>) -> Result<Vec<u8>, CdrBodyError> {
    let text = body.trim_ascii();
    let form = content_type.is_some_and(|c| c.contains("form")) || text.starts_with(b"cdr=");
    if !form {
        return Ok(text.to_vec());
    }
    let value = text
        .split(|b| *b == b'&')
        .find_map(|pair| pair.strip_prefix(b"cdr="))
        .ok_or_else(|| CdrBodyError::NotJson("a form body without `cdr=`".into()))?;
    let base64 = content_type.is_some_and(|c| c.contains("base64"));
    if base64 {
        // Some senders url-encode the base64 alphabet's `+`, `/` and `=`.
        let raw: Vec<u8> = percent_encoding::percent_decode(value).collect();
        base64::engine::general_purpose::STANDARD
            .decode(raw.trim_ascii())
            .map_err(|e| CdrBodyError::NotJson(format!("bad base64: {e}")))
    } else {
        Ok(percent_encoding::percent_decode(value).collect())
    }
}

/// A variable's value, url-decoded when it decodes to text.
fn decoded(v: &Value) -> Option<String> {
    let s = match v {
        Value::String(s) => s.as_str(),
        Value::Number(n) => return Some(n.to_string()),
        _ => return None,
    };
    Some(match percent_decode_str(s).decode_utf8() {
        Ok(d) => d.into_owned(),
        Err(_) => s.to_string(),
    })
}

/// A whole non-negative number of a variable (0 when unset or empty).
fn number(vars: &Map<String, Value>, name: &'static str) -> Result<u64, CdrBodyError> {
    match vars.get(name).and_then(decoded) {
        None => Ok(0),
        Some(s) if s.trim().is_empty() => Ok(0),
        Some(s) => s
            .trim()
            .parse::<u64>()
            .map_err(|_| CdrBodyError::BadNumber(name, s)),
    }
}

fn from_variables(vars: &Map<String, Value>) -> Result<SwitchCdr, CdrBodyError> {
    let uuid = vars
        .get("uuid")
        .and_then(decoded)
        .filter(|u| !u.trim().is_empty())
        .ok_or(CdrBodyError::NoUuid)?;
    let answered = number(vars, "answer_uepoch")?;
    let ended = number(vars, "end_uepoch")?;
    let billusec = number(vars, "billusec")?;
    let billsec = number(vars, "billsec")?;
    let mut event = Event::new("CHANNEL_HANGUP_COMPLETE");
    event.push_header("Unique-ID", &uuid);
    if ended > 0 {
        event.push_header("Event-Date-Timestamp", ended.to_string());
        event.push_header("Caller-Channel-Hangup-Time", ended.to_string());
    }
    if answered > 0 {
        event.push_header("Caller-Channel-Answered-Time", answered.to_string());
    }
    if let Some(cause) = vars.get("hangup_cause").and_then(decoded) {
        event.push_header("Hangup-Cause", cause);
    }
    for (name, value) in vars {
        if let Some(v) = decoded(value) {
            event.push_header(format!("variable_{name}"), v);
        }
    }
    // The numbers as read (a CDR without `billusec` falls back on `billsec`).
    event.set_header("variable_billusec", billusec.to_string());
    event.set_header("variable_billsec", billsec.to_string());
    Ok(SwitchCdr { uuid, event })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = r#"{"core-uuid":"c","variables":{"uuid":"a1b2","answer_uepoch":"1796283215064151","end_uepoch":"1796283220084163","billsec":"5","billusec":"5020012","hangup_cause":"NORMAL_CLEARING","cgr_reqtype":"%2Aprepaid","caller_id_name":"%221001%22%20%3C1001%3E","odd":"100%"}}"#;

    #[test]
    fn reads_the_json_body_into_a_hangup_event() {
        let cdr = parse(BODY.as_bytes(), Some("application/json")).unwrap();
        assert_eq!(cdr.uuid, "a1b2");
        let e = &cdr.event;
        assert_eq!(e.event_name(), Some("CHANNEL_HANGUP_COMPLETE"));
        assert_eq!(e.unique_id(), Some("a1b2"));
        assert_eq!(
            e.header("Caller-Channel-Answered-Time"),
            Some("1796283215064151")
        );
        assert_eq!(
            e.header("Caller-Channel-Hangup-Time"),
            Some("1796283220084163")
        );
        assert_eq!(e.header("Hangup-Cause"), Some("NORMAL_CLEARING"));
        assert_eq!(e.variable("cgr_reqtype"), Some("*prepaid"));
        assert_eq!(e.variable("caller_id_name"), Some("\"1001\" <1001>"));
        assert_eq!(e.variable("odd"), Some("100%"));
        assert_eq!(e.variable("billusec"), Some("5020012"));
        assert!(cdr.answered());
    }

    #[test]
    fn reads_the_url_and_base64_encodings() {
        let url: String =
            percent_encoding::utf8_percent_encode(BODY, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        let form = format!("cdr={url}");
        let cdr = parse(form.as_bytes(), Some("application/x-www-form-urlencoded")).unwrap();
        assert_eq!(cdr.uuid, "a1b2");
        assert_eq!(cdr.event.variable("cgr_reqtype"), Some("*prepaid"));
        // Recognised by its shape without a content type.
        assert_eq!(parse(form.as_bytes(), None).unwrap().uuid, "a1b2");
        let b64 = base64::engine::general_purpose::STANDARD.encode(BODY);
        let form = format!("cdr={b64}");
        let cdr = parse(
            form.as_bytes(),
            Some("application/x-www-form-base64-encoded"),
        )
        .unwrap();
        assert_eq!(cdr.uuid, "a1b2");
    }

    #[test]
    fn an_unanswered_channel_has_no_answer_time() {
        let body = r#"{"variables":{"uuid":"u","answer_uepoch":"0","end_uepoch":"1796283220084163","billsec":"0"}}"#;
        let cdr = parse(body.as_bytes(), None).unwrap();
        assert!(!cdr.answered());
        assert_eq!(cdr.event.header("Caller-Channel-Answered-Time"), None);
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        assert!(matches!(parse(b"", None), Err(CdrBodyError::NotJson(_))));
        assert!(matches!(
            parse(b"{oops", None),
            Err(CdrBodyError::NotJson(_))
        ));
        assert_eq!(parse(b"{}", None).unwrap_err(), CdrBodyError::NoVariables);
        assert_eq!(
            parse(br#"{"variables":{"answer_uepoch":"1"}}"#, None).unwrap_err(),
            CdrBodyError::NoUuid
        );
        assert!(matches!(
            parse(br#"{"variables":{"uuid":"u","end_uepoch":"soon"}}"#, None),
            Err(CdrBodyError::BadNumber("end_uepoch", _))
        ));
        assert!(matches!(
            parse(b"cdr=%%%", Some("application/x-www-form-base64-encoded")),
            Err(CdrBodyError::NotJson(_))
        ));
        assert!(matches!(
            parse(b"x=1", Some("application/x-www-form-urlencoded")),
            Err(CdrBodyError::NotJson(_))
        ));
    }
}
