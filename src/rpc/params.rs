//! Reading request parameters the way Go's `encoding/json` does for
//! CGRateS: field names match case-insensitively (the seeds send both
//! `BalanceID` and `BalanceId`), the last matching key wins, `null` means
//! absent, and unknown fields are ignored.
//!
//! An [`Obj`] keeps every field as the raw JSON text it arrived as, so
//! numbers are read into `Decimal` from their exact digits (never through
//! `f64`) and nothing is parsed that a method does not ask for.

use super::error::ApiError;
use chrono::{DateTime, NaiveDateTime, Utc};
use rust_decimal::Decimal;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

/// A JSON object key, borrowed from the request when it has no escapes.
#[derive(Debug)]
pub struct Key<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// The kind of a JSON value, from its first character, for error messages.
pub fn json_kind(raw: &RawValue) -> &'static str {
    match raw.get().as_bytes().first() {
        Some(b'"') => "string",
        Some(b'{') => "object",
        Some(b'[') => "array",
        Some(b't') | Some(b'f') => "bool",
        Some(b'n') => "null",
        _ => "number",
    }
}

fn is_null(raw: &RawValue) -> bool {
    raw.get() == "null"
}

/// A JSON object read field by field, case-insensitively.
#[derive(Debug, Default)]
pub struct Obj<'a> {
    fields: Vec<(Key<'a>, &'a RawValue)>,
    /// Name of the struct for error messages (`CallDescriptor.Tenant`).
    name: &'static str,
}

struct ObjVisitor;

impl<'de> Visitor<'de> for ObjVisitor {
    type Value = Vec<(Key<'de>, &'de RawValue)>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(16));
        while let Some(entry) = map.next_entry::<Key<'de>, &'de RawValue>()? {
            fields.push(entry);
        }
        Ok(fields)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
}

impl<'a> Obj<'a> {
    /// Reads `raw` as an object; `null` is an empty object. `name` is the
    /// Go struct name used in type errors.
    pub fn parse(raw: &'a RawValue, name: &'static str) -> Result<Obj<'a>, ApiError> {
        if is_null(raw) {
            return Ok(Obj {
                fields: Vec::new(),
                name,
            });
        }
        if !raw.get().starts_with('{') {
            return Err(ApiError::BadRequest(format!(
                "json: cannot unmarshal {} into Go value of type {name}",
                json_kind(raw)
            )));
        }
        let mut de = serde_json::Deserializer::from_str(raw.get());
        let fields = de
            .deserialize_map(ObjVisitor)
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
        Ok(Obj { fields, name })
    }

    /// The raw value of field `name` (case-insensitive, last match wins),
    /// `None` when absent or null.
    pub fn get(&self, name: &str) -> Option<&'a RawValue> {
        self.fields
            .iter()
            .rev()
            .find(|(k, _)| k.0.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
            .filter(|v| !is_null(v))
    }

    /// Whether a field is absent, null, an empty string, array or object,
    /// or zero: CGRateS's test for a missing mandatory field.
    pub fn is_missing(&self, name: &str) -> bool {
        match self.get(name).map(|v| v.get()) {
            None => true,
            Some(v) => matches!(v, "\"\"" | "[]" | "{}" | "0" | "false"),
        }
    }

    /// `MANDATORY_IE_MISSING` listing every missing field of `names`.
    pub fn require(&self, names: &[&str]) -> Result<(), ApiError> {
        let missing: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| self.is_missing(n))
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(ApiError::missing(&missing))
        }
    }

    fn wrong(&self, field: &str, raw: &RawValue, expected: &'static str) -> ApiError {
        ApiError::WrongType {
            field: format!("{}.{}", self.name, field),
            found: json_kind(raw),
            expected,
        }
    }

    /// The names of the fields present, as sent.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|(k, _)| k.0.as_ref())
    }

    /// Every field as sent, in order, nulls included.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &'a RawValue)> {
        self.fields.iter().map(|(k, v)| (k.0.as_ref(), *v))
    }

    /// A string field.
    pub fn str(&self, name: &str) -> Result<Option<String>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(raw) if raw.get().starts_with('"') => serde_json::from_str(raw.get())
                .map(Some)
                .map_err(|e| ApiError::BadRequest(e.to_string())),
            Some(raw) => Err(self.wrong(name, raw, "string")),
        }
    }

    /// A string field, empty when absent.
    pub fn string(&self, name: &str) -> Result<String, ApiError> {
        Ok(self.str(name)?.unwrap_or_default())
    }

    /// A string, or a number taken as its decimal text.
    pub fn str_or_number(&self, name: &str) -> Result<Option<String>, ApiError> {
        match self.get(name) {
            Some(raw) if json_kind(raw) == "number" => Ok(Some(raw.get().to_string())),
            _ => self.str(name),
        }
    }

    /// An exact decimal from a JSON number (or a string holding one).
    pub fn decimal(&self, name: &str) -> Result<Option<Decimal>, ApiError> {
        let Some(raw) = self.get(name) else {
            return Ok(None);
        };
        let text: Cow<str> = match json_kind(raw) {
            "number" => Cow::Borrowed(raw.get()),
            "string" => Cow::Owned(self.string(name)?),
            _ => return Err(self.wrong(name, raw, "float64")),
        };
        parse_decimal(&text)
            .map(Some)
            .ok_or_else(|| ApiError::BadRequest(format!("{name}: {text:?} is not a number")))
    }

    /// An integer (a JSON number without fraction, or a string holding one).
    pub fn i64(&self, name: &str) -> Result<Option<i64>, ApiError> {
        let Some(raw) = self.get(name) else {
            return Ok(None);
        };
        let text: Cow<str> = match json_kind(raw) {
            "number" => Cow::Borrowed(raw.get()),
            "string" => Cow::Owned(self.string(name)?),
            _ => return Err(self.wrong(name, raw, "int")),
        };
        if let Ok(v) = text.parse::<i64>() {
            return Ok(Some(v));
        }
        // 60.0 or 6e1 are integers too.
        match parse_decimal(&text) {
            Some(d) if d.fract().is_zero() => i64::try_from(d)
                .map(Some)
                .map_err(|_| ApiError::BadRequest(format!("{name}: {text} is out of range"))),
            _ => Err(ApiError::BadRequest(format!(
                "{name}: {text} is not an integer"
            ))),
        }
    }

    /// A boolean.
    pub fn bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.get(name).map(|r| r.get()) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(_) => Err(self.wrong(name, self.get(name).unwrap(), "bool")),
        }
    }

    /// A time: RFC 3339 (Go's encoding of `time.Time`), or a date-time
    /// without zone taken as UTC.
    pub fn time(&self, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
        let Some(s) = self.str(name)? else {
            return Ok(None);
        };
        parse_time(&s)
            .map(Some)
            .ok_or_else(|| ApiError::BadRequest(format!("{name}: {s:?} is not an RFC 3339 time")))
    }

    /// A nested object.
    pub fn obj(&self, name: &str, type_name: &'static str) -> Result<Option<Obj<'a>>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(raw) if raw.get().starts_with('{') => Obj::parse(raw, type_name).map(Some),
            Some(raw) => Err(self.wrong(name, raw, type_name)),
        }
    }

    /// An array of raw values; empty when absent.
    pub fn array(&self, name: &str) -> Result<Vec<&'a RawValue>, ApiError> {
        match self.get(name) {
            None => Ok(Vec::new()),
            Some(raw) if raw.get().starts_with('[') => serde_json::from_str(raw.get())
                .map_err(|e| ApiError::BadRequest(format!("{name}: {e}"))),
            Some(raw) => Err(self.wrong(name, raw, "array")),
        }
    }

    /// An array of objects; empty when absent.
    pub fn objects(&self, name: &str, type_name: &'static str) -> Result<Vec<Obj<'a>>, ApiError> {
        self.array(name)?
            .into_iter()
            .map(|raw| Obj::parse(raw, type_name))
            .collect()
    }

    /// An array of strings; empty when absent.
    pub fn strings(&self, name: &str) -> Result<Vec<String>, ApiError> {
        match self.get(name) {
            None => Ok(Vec::new()),
            Some(raw) => serde_json::from_str(raw.get()).map_err(|_| ApiError::WrongType {
                field: format!("{}.{}", self.name, name),
                found: json_kind(raw),
                expected: "[]string",
            }),
        }
    }
}

/// An exact decimal from text: plain or scientific notation.
pub fn parse_decimal(text: &str) -> Option<Decimal> {
    Decimal::from_str(text)
        .or_else(|_| Decimal::from_scientific(text))
        .ok()
}

/// RFC 3339, or `YYYY-MM-DDTHH:MM:SS` (or with a space) taken as UTC.
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(naive.and_utc());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).unwrap()
    }

    #[test]
    fn names_match_case_insensitively_last_wins() {
        let r = raw(r#"{"BalanceId":"a","balanceID":"b","Other":null}"#);
        let o = Obj::parse(&r, "T").unwrap();
        assert_eq!(o.str("BalanceID").unwrap().as_deref(), Some("b"));
        assert_eq!(o.str("Other").unwrap(), None);
        assert!(o.is_missing("Other"));
        assert_eq!(
            o.require(&["BalanceID", "Other", "Nope"])
                .unwrap_err()
                .to_string(),
            "MANDATORY_IE_MISSING: [Other Nope]"
        );
    }

    #[test]
    fn numbers_are_exact() {
        let r = raw(
            r#"{"Value":0.1000000000000000055511151231257827,"Big":12345678901234567890.5,"S":"2.5","E":1e2}"#,
        );
        let o = Obj::parse(&r, "T").unwrap();
        assert_eq!(
            o.decimal("value").unwrap().unwrap().to_string(),
            "0.1000000000000000055511151231"
        );
        assert_eq!(
            o.decimal("Big").unwrap().unwrap().to_string(),
            "12345678901234567890.5"
        );
        assert_eq!(o.decimal("S").unwrap().unwrap().to_string(), "2.5");
        assert_eq!(o.i64("E").unwrap(), Some(100));
    }

    #[test]
    fn wrong_types_say_so_like_go() {
        let r = raw(r#"{"Tenant":5,"Flag":"x"}"#);
        let o = Obj::parse(&r, "CallDescriptor").unwrap();
        assert_eq!(
            o.str("Tenant").unwrap_err().to_string(),
            "json: cannot unmarshal number into Go struct field CallDescriptor.Tenant of type string"
        );
        assert!(o.bool("Flag").is_err());
        assert!(Obj::parse(&raw("[1]"), "X").is_err());
        assert!(Obj::parse(&raw("null"), "X").unwrap().get("a").is_none());
    }

    #[test]
    fn escaped_keys_and_times() {
        let r = raw(r#"{"Ten\u0061nt":"x","T":"2012-02-02T17:30:00Z","N":"2012-02-02 17:30:00"}"#);
        let o = Obj::parse(&r, "T").unwrap();
        assert_eq!(o.string("tenant").unwrap(), "x");
        assert_eq!(o.time("t").unwrap(), o.time("n").unwrap());
        assert!(o.time("t").unwrap().is_some());
    }
}
