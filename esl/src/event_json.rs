//! `text/event-json` bodies: one JSON object per event.
//!
//! FreeSWITCH (`switch_event_serialize_json`) writes every header as a string
//! member, "array headers" as arrays of strings, and the body as `_body` next
//! to a `Content-Length` member. A header added twice the plain way becomes a
//! duplicate key. Parsing walks the object in document order with a serde
//! visitor, so order and duplicates survive without `serde_json`'s
//! `preserve_order` feature; arrays become repeated headers.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use crate::error::CodecError;
use crate::event::{check_header_name, Event};
use crate::headers::Headers;

/// Parses one event-json object.
pub(crate) fn parse(body: &[u8]) -> Result<Event, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let event = EventVisitor.deserialize(&mut de)?;
    de.end()?;
    Ok(event)
}

struct EventVisitor;

impl<'de> DeserializeSeed<'de> for EventVisitor {
    type Value = Event;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Event, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EventVisitor {
    type Value = Event;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an event-json object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Event, A::Error> {
        let mut headers = Headers::with_capacity(map.size_hint().unwrap_or(32), 2048);
        let mut body = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == "_body" {
                let value: Value = map.next_value()?;
                body = Some(Bytes::from(value.into_strings().join("")));
                continue;
            }
            match map.next_value::<Value>()? {
                Value::One(v) => headers.push(&key, v),
                Value::Many(vs) => {
                    for v in vs {
                        headers.push(&key, v);
                    }
                }
                Value::Null => {}
            }
        }
        if body.is_some() {
            headers.remove("Content-Length");
        }
        Ok(Event::from_parts(headers, body))
    }
}

/// A member value: strings as they are, numbers and booleans as their JSON
/// text, nested objects as compact JSON, arrays flattened to repeated values.
enum Value {
    One(String),
    Many(Vec<String>),
    Null,
}

impl Value {
    fn into_strings(self) -> Vec<String> {
        match self {
            Value::One(v) => vec![v],
            Value::Many(vs) => vs,
            Value::Null => Vec::new(),
        }
    }
}

impl<'de> de::Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a header value")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::One(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::One(v))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::One(v.to_string()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::One(v.to_string()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::One(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::One(v.to_string()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(item) = seq.next_element::<serde_json::Value>()? {
            out.push(match item {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            });
        }
        Ok(Value::Many(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Value, A::Error> {
        let obj = serde_json::Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(Value::One(obj.to_string()))
    }
}

/// Writes `event` as one JSON object: headers in first-occurrence order, a
/// repeated header as an array of its values, then `Content-Length` and
/// `_body` when there is a body.
pub(crate) fn encode(event: &Event, dst: &mut BytesMut) -> Result<(), CodecError> {
    for (name, _) in event.headers().iter() {
        check_header_name(name)?;
    }
    let mut writer = dst.writer();
    let mut ser = serde_json::Serializer::new(&mut writer);
    Members(event)
        .serialize(&mut ser)
        .map_err(|e| CodecError::Io(std::io::Error::other(e)))
}

struct Members<'a>(&'a Event);

impl Serialize for Members<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let headers = self.0.headers();
        let body = self.0.body().filter(|b| !b.is_empty());
        let mut map = s.serialize_map(None)?;
        let mut seen: Vec<&str> = Vec::new();
        for (name, value) in headers.iter() {
            if name.eq_ignore_ascii_case("Content-Length") || name == "_body" {
                continue;
            }
            if seen.contains(&name) {
                continue;
            }
            let count = headers.iter().filter(|(n, _)| *n == name).count();
            if count == 1 {
                map.serialize_entry(name, value)?;
            } else {
                let values: Vec<&str> = headers
                    .iter()
                    .filter(|(n, _)| *n == name)
                    .map(|(_, v)| v)
                    .collect();
                map.serialize_entry(name, &values)?;
                seen.push(name);
            }
        }
        if let Some(body) = body {
            map.serialize_entry("Content-Length", &body.len().to_string())?;
            map.serialize_entry("_body", &String::from_utf8_lossy(body))?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_duplicates_and_arrays() {
        let ev = parse(
            br#"{"Event-Name":"CHANNEL_HANGUP","Hangup-Cause":"NORMAL_CLEARING","Unique-ID":"u1",
                "Hangup-Cause":"NORMAL_CLEARING","Arr":["a","b"],"Num":5,"Content-Length":"3","_body":"+OK"}"#,
        )
        .unwrap();
        let names: Vec<_> = ev.headers().iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "Event-Name",
                "Hangup-Cause",
                "Unique-ID",
                "Hangup-Cause",
                "Arr",
                "Arr",
                "Num"
            ]
        );
        assert_eq!(ev.headers_all("arr").collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(ev.header("Num"), Some("5"));
        assert_eq!(ev.body_text().as_deref(), Some("+OK"));
    }

    #[test]
    fn encodes_repeats_as_arrays() {
        let ev = Event::new("X")
            .with_header("H", "1")
            .with_header("Y", "y")
            .with_header("H", "2")
            .with_body("b");
        let mut out = BytesMut::new();
        encode(&ev, &mut out).unwrap();
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#"{"Event-Name":"X","H":["1","2"],"Y":"y","Content-Length":"1","_body":"b"}"#
        );
    }

    #[test]
    fn rejects_non_objects() {
        assert!(parse(b"[1,2]").is_err());
        assert!(parse(b"{\"a\":\"b\"} trailing").is_err());
    }
}
