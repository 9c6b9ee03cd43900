//! The query string of the 2012 HTTP GET endpoints, turned into the call
//! descriptor object the registry's `Responder.*` methods take.
//!
//! Parameters: `cstmid` (tenant), `subj`, `acnt` (default `subj`), `dest`,
//! `tor` (category), `start` (RFC 3339, default now), `duration` (Go
//! syntax or seconds) or `end` (RFC 3339; default a 60 s call), `amount`.
//! The seeds' own examples write `dest=0257@amount=100`: an `@` followed by
//! a known parameter name and `=` separates parameters like `&` does.

use crate::rpc::params::{parse_decimal, parse_time};
use crate::rpc::ApiError;
use chrono::{DateTime, TimeDelta, Utc};
use rater::duration::parse_duration;
use serde_json::{Map, Value};

/// The parameter names, in the order they are documented.
pub const PARAMS: [&str; 9] = [
    "cstmid", "subj", "acnt", "dest", "tor", "start", "duration", "end", "amount",
];

/// Why a form-encoded text does not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FormError {
    BadEscape,
    NotUtf8,
}

/// Decodes `%XX` and `+` (as space), as queries and form bodies encode.
pub(crate) fn form_decode(s: &str) -> Result<String, FormError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or(FormError::BadEscape)?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| FormError::NotUtf8)
}

/// [`form_decode`], its failure a bad request.
fn percent_decode(s: &str) -> Result<String, ApiError> {
    form_decode(s).map_err(|e| {
        ApiError::BadRequest(match e {
            FormError::BadEscape => format!("bad %-escape in {s:?}"),
            FormError::NotUtf8 => format!("{s:?} is not UTF-8"),
        })
    })
}

/// Splits a query into decoded `(name, value)` pairs, honouring the
/// seeds' `@name=` separator.
pub fn pairs(query: &str) -> Result<Vec<(String, String)>, ApiError> {
    let mut out = Vec::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let mut rest = part;
        // Split at every `@` that starts a known `name=`.
        let mut pieces = Vec::new();
        'outer: loop {
            let mut from = 0;
            while let Some(at) = rest[from..].find('@') {
                let at = from + at;
                let after = &rest[at + 1..];
                if PARAMS
                    .iter()
                    .any(|p| after.starts_with(p) && after[p.len()..].starts_with('='))
                {
                    pieces.push(&rest[..at]);
                    rest = after;
                    continue 'outer;
                }
                from = at + 1;
            }
            pieces.push(rest);
            break;
        }
        for piece in pieces {
            let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
            out.push((percent_decode(name)?, percent_decode(value)?));
        }
    }
    Ok(out)
}

/// The call descriptor object for a query, with `now` as the default start.
pub fn descriptor(query: &str, now: DateTime<Utc>) -> Result<Value, ApiError> {
    let mut values: [Option<String>; 9] = Default::default();
    for (name, value) in pairs(query)? {
        let Some(i) = PARAMS.iter().position(|p| *p == name) else {
            return Err(ApiError::BadRequest(format!(
                "unknown query parameter {name:?} (expected {})",
                PARAMS.join(", ")
            )));
        };
        values[i] = Some(value);
    }
    let [tenant, subject, account, dest, category, start, duration, end, amount] = values;
    let start = match start.filter(|s| !s.is_empty()) {
        None => now,
        Some(s) => parse_time(&s)
            .ok_or_else(|| ApiError::BadRequest(format!("start: {s:?} is not an RFC 3339 time")))?,
    };
    let end = match (
        end.filter(|s| !s.is_empty()),
        duration.filter(|s| !s.is_empty()),
    ) {
        (Some(_), Some(_)) => {
            return Err(ApiError::BadRequest(
                "give either duration or end, not both".into(),
            ))
        }
        (Some(e), None) => parse_time(&e)
            .ok_or_else(|| ApiError::BadRequest(format!("end: {e:?} is not an RFC 3339 time")))?,
        (None, Some(d)) => {
            start
                + parse_duration(&d).map_err(|e| ApiError::BadRequest(format!("duration: {e}")))?
        }
        (None, None) => start + TimeDelta::seconds(60),
    };
    let mut cd = Map::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            cd.insert(k.to_string(), Value::String(v));
        }
    };
    put("Tenant", tenant);
    put("Account", account.or_else(|| subject.clone()));
    put("Subject", subject);
    put("Destination", dest);
    put("Category", category);
    put(
        "TimeStart",
        Some(start.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
    );
    put(
        "TimeEnd",
        Some(end.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
    );
    if let Some(a) = amount.filter(|a| !a.is_empty()) {
        let d = parse_decimal(&a)
            .ok_or_else(|| ApiError::BadRequest(format!("amount: {a:?} is not a number")))?;
        let n: serde_json::Number = serde_json::from_str(&d.to_string())
            .map_err(|_| ApiError::BadRequest(format!("amount: {a:?} is not a number")))?;
        cd.insert("Amount".into(), Value::Number(n));
    }
    Ok(Value::Object(cd))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2012-02-02T17:30:00Z".parse().unwrap()
    }

    #[test]
    fn the_seed_at_form() {
        let p = pairs("cstmid=vdf&subj=rif&dest=0257@amount=100").unwrap();
        assert_eq!(
            p,
            vec![
                ("cstmid".into(), "vdf".into()),
                ("subj".into(), "rif".into()),
                ("dest".into(), "0257".into()),
                ("amount".into(), "100".into())
            ]
        );
        let cd = descriptor("cstmid=vdf&subj=rif&dest=0257@amount=100", now()).unwrap();
        assert_eq!(
            cd.to_string(),
            r#"{"Account":"rif","Amount":100,"Destination":"0257","Subject":"rif","Tenant":"vdf","TimeEnd":"2012-02-02T17:31:00Z","TimeStart":"2012-02-02T17:30:00Z"}"#
        );
    }

    #[test]
    fn at_signs_that_are_not_separators_stay() {
        let p = pairs("subj=a%40b&dest=x@y").unwrap();
        assert_eq!(p[0].1, "a@b");
        assert_eq!(p[1].1, "x@y");
    }

    #[test]
    fn durations_ends_and_errors() {
        let cd = descriptor("subj=rif&duration=1m30s&tor=0&acnt=acc", now()).unwrap();
        assert_eq!(cd["TimeEnd"], "2012-02-02T17:31:30Z");
        assert_eq!(cd["Category"], "0");
        assert_eq!(cd["Account"], "acc");
        let cd = descriptor("start=2012-02-02T10:00:00Z&end=2012-02-02T10:00:10Z", now()).unwrap();
        assert_eq!(cd["TimeEnd"], "2012-02-02T10:00:10Z");
        assert!(descriptor("bogus=1", now()).is_err());
        assert!(descriptor("amount=abc", now()).is_err());
        assert!(descriptor("duration=10x", now()).is_err());
        assert!(descriptor("duration=1s&end=2012-02-02T10:00:10Z", now()).is_err());
    }
}
