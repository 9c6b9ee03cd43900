//! The JSON-RPC wire shapes, shared by the TCP and HTTP front ends.
//!
//! JSON-RPC 1.0 as Go's `net/rpc/jsonrpc` speaks it (what CGRateS clients
//! use): a request `{"id":…, "method":"Service.Method", "params":[{…}]}`
//! is answered by `{"id":…,"result":…,"error":null}` or
//! `{"id":…,"result":null,"error":"MESSAGE"}` followed by a newline; the id
//! is echoed byte for byte. A request carrying `"jsonrpc":"2.0"` is answered
//! in 2.0 form (`{"jsonrpc":"2.0","result":…,"id":…}` or an error object
//! with a code), and a 2.0 request without an id is a notification, which
//! gets no answer. Keys of the envelope match case-insensitively, as Go's
//! decoder does.

use super::params::Key;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::fmt;
use std::sync::LazyLock;

/// Requests (and whole HTTP bodies) larger than this are refused.
pub const MAX_REQUEST_BYTES: usize = 1 << 20;

/// One request as it arrived; every part borrows from the input.
#[derive(Debug, Default)]
pub struct Request<'a> {
    pub method: Option<Key<'a>>,
    pub params: Option<&'a RawValue>,
    pub id: Option<&'a RawValue>,
    /// `"jsonrpc": "2.0"` was present.
    pub v2: bool,
}

impl<'de: 'a, 'a> Deserialize<'de> for Request<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Request<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON-RPC request object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Request<'de>, A::Error> {
                let mut req = Request::default();
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    let k = key.0.as_ref();
                    if k.eq_ignore_ascii_case("method") {
                        let m: Option<Key<'de>> = map.next_value()?;
                        req.method = m;
                    } else if k.eq_ignore_ascii_case("params") {
                        req.params = Some(map.next_value()?);
                    } else if k.eq_ignore_ascii_case("id") {
                        req.id = Some(map.next_value()?);
                    } else if k.eq_ignore_ascii_case("jsonrpc") {
                        let v: &RawValue = map.next_value()?;
                        req.v2 = v.get() == "\"2.0\"";
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(req)
            }
        }
        d.deserialize_map(V)
    }
}

static NULL: LazyLock<Box<RawValue>> =
    LazyLock::new(|| RawValue::from_string("null".into()).expect("null is JSON"));

/// The JSON `null`.
pub fn null() -> &'static RawValue {
    &NULL
}

/// The one parameter of a request: `params[0]` of an array (Go's codec
/// reads exactly one), an object as is (JSON-RPC 2.0 by-name), otherwise
/// `null`.
pub fn single_param(params: Option<&RawValue>) -> Result<&RawValue, String> {
    let Some(p) = params else {
        return Ok(null());
    };
    if !p.get().starts_with('[') {
        return Ok(p);
    }
    struct First;
    impl<'de> Visitor<'de> for First {
        type Value = Option<&'de RawValue>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an array")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let first = seq.next_element()?;
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(first)
        }
    }
    let mut de = serde_json::Deserializer::from_str(p.get());
    let first = de.deserialize_seq(First).map_err(|e| e.to_string())?;
    Ok(match first {
        Some(p) => p,
        None => null(),
    })
}

/// Appends a JSON string literal.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(out, s).expect("strings serialize");
}

/// Starts a 1.0 reply: `{"id":ID,"result":`.
pub fn begin_v1(out: &mut Vec<u8>, id: Option<&RawValue>) {
    out.extend_from_slice(b"{\"id\":");
    out.extend_from_slice(id.map_or("null", RawValue::get).as_bytes());
    out.extend_from_slice(b",\"result\":");
}

/// Ends a successful 1.0 reply.
pub fn end_v1_ok(out: &mut Vec<u8>) {
    out.extend_from_slice(b",\"error\":null}\n");
}

/// Ends a 1.0 reply begun with [`begin_v1`] as an error (result null).
pub fn end_v1_err(out: &mut Vec<u8>, message: &str) {
    out.extend_from_slice(b"null,\"error\":");
    write_str(out, message);
    out.extend_from_slice(b"}\n");
}

/// A whole 1.0 error reply.
pub fn error_v1(out: &mut Vec<u8>, id: Option<&RawValue>, message: &str) {
    begin_v1(out, id);
    end_v1_err(out, message);
}

/// Starts a 2.0 success reply: `{"jsonrpc":"2.0","result":`.
pub fn begin_v2(out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"result\":");
}

/// Ends a 2.0 success reply with its id.
pub fn end_v2_ok(out: &mut Vec<u8>, id: Option<&RawValue>) {
    out.extend_from_slice(b",\"id\":");
    out.extend_from_slice(id.map_or("null", RawValue::get).as_bytes());
    out.push(b'}');
}

/// A whole 2.0 error reply.
pub fn error_v2(out: &mut Vec<u8>, id: Option<&RawValue>, code: i64, message: &str) {
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"error\":{\"code\":");
    out.extend_from_slice(code.to_string().as_bytes());
    out.extend_from_slice(b",\"message\":");
    write_str(out, message);
    out.extend_from_slice(b"},\"id\":");
    out.extend_from_slice(id.map_or("null", RawValue::get).as_bytes());
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_keys_are_case_insensitive() {
        let r: Request =
            serde_json::from_str(r#"{"Method":"A.B","PARAMS":[{"x":1},2],"Id":7,"extra":[1]}"#)
                .unwrap();
        assert_eq!(r.method.unwrap().0, "A.B");
        assert_eq!(r.id.unwrap().get(), "7");
        assert_eq!(single_param(r.params).unwrap().get(), r#"{"x":1}"#);
        assert!(!r.v2);
    }

    #[test]
    fn params_shapes() {
        assert_eq!(single_param(None).unwrap().get(), "null");
        let empty: &RawValue = serde_json::from_str("[]").unwrap();
        assert_eq!(single_param(Some(empty)).unwrap().get(), "null");
        let obj: &RawValue = serde_json::from_str(r#"{"a":1}"#).unwrap();
        assert_eq!(single_param(Some(obj)).unwrap().get(), r#"{"a":1}"#);
    }

    #[test]
    fn replies() {
        let id: &RawValue = serde_json::from_str(r#""x""#).unwrap();
        let mut out = Vec::new();
        error_v1(&mut out, Some(id), "NOT_FOUND");
        assert_eq!(
            out,
            b"{\"id\":\"x\",\"result\":null,\"error\":\"NOT_FOUND\"}\n"
        );
        out.clear();
        error_v2(&mut out, None, -32601, "rpc: can't find method A.B");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"jsonrpc":"2.0","error":{"code":-32601,"message":"rpc: can't find method A.B"},"id":null}"#
        );
    }
}
