//! Bounded, structure-aware fuzzing of the JSON-RPC front end on stable
//! Rust (proptest): envelopes and call descriptors built from the field
//! names and value shapes the methods read, with wrong types, extreme
//! numbers and times mixed in, sent through the TCP framer and the codec
//! to every registered method, in process. Every input must be answered
//! (or refused) with one valid JSON reply; none may panic. Byte-level
//! splits must frame exactly as the whole input does.
//!
//! Cases: `TOLLGATE_FUZZ_CASES` (default 400 per property, a few seconds).
//! A failure prints the minimal input; add it to `regressions` below.

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use tollgate::config::Config;
use tollgate::rpc::codec::Request;
use tollgate::rpc::Api;
use tollgate::state::AppState;
use tollgate::transport::framer::{Frame, Framer};

struct Harness {
    rt: tokio::runtime::Runtime,
    api: Arc<Api>,
    _dir: tempfile::TempDir,
}

fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/tariffplans/sample");
        let text = json!({
            "listen": {"rpc_json": "", "http": ""},
            "tariffplan": sample,
            "store": {"type": "embedded", "path": dir.path().join("data")},
            "freeswitch": [],
            // Small enough that no generated request can take long.
            "limits": {"max_usage": "6h"},
        })
        .to_string();
        let config = Config::parse(&text, "fuzz").unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let state = rt.block_on(AppState::open(config)).unwrap();
        let api = Arc::new(Api::new(Arc::new(state), tollgate::api::registry()));
        Harness { rt, api, _dir: dir }
    })
}

fn cases() -> u32 {
    std::env::var("TOLLGATE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400)
}

const FIELDS: &[&str] = &[
    "Tenant",
    "CstmId",
    "Category",
    "TOR",
    "Tor",
    "ToR",
    "Subject",
    "Account",
    "Destination",
    "DestinationPrefix",
    "TimeStart",
    "TimeEnd",
    "LoopIndex",
    "DurationIndex",
    "MaxCostSoFar",
    "Amount",
    "CgrID",
    "OriginID",
    "RunID",
    "DryRun",
    "MaxSessionMethod",
    "Charges",
    "TPid",
    "ID",
    "DestinationId",
    "Prefixes",
    "RateId",
    "RateSlots",
    "TimingId",
    "Years",
    "Time",
    "RatingPlanId",
    "LoadId",
    "Offset",
    "Limit",
    "AccountIDs",
    "BalanceType",
    "Value",
    "Balance",
    "FolderPath",
    "CGRIDs",
    "MinUsage",
    "SetupTimeStart",
    "tenant",
    "ACCOUNT",
];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        prop_oneof![
            Just(0i64),
            Just(60),
            Just(3600),
            Just(-1),
            Just(1_000_000_000)
        ]
        .prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        // Exact decimals and numbers no i64 or Decimal holds.
        "-?[0-9]{1,40}(\\.[0-9]{1,30})?(e[+-]?[0-9]{1,3})?"
            .prop_map(|s| serde_json::from_str::<Value>(&s).unwrap_or(Value::Null)),
        prop_oneof![
            Just("cgrates.org"),
            Just("vdf"),
            Just("rif"),
            Just("1001"),
            Just("0256"),
            Just("2012-02-02T17:30:00Z"),
            Just("2012-02-02T18:30:00Z"),
            Just("0001-01-01T00:00:00Z"),
            Just("9999-12-31T23:59:59Z"),
            Just("1970-01-01T00:00:00+14:00"),
            Just("*any"),
            Just("*voice"),
            Just("*monetary"),
            Just("exact"),
            Just("step_down"),
            Just("60s"),
            Just("-1ns"),
            Just("9223372036854775807ns"),
            Just("*up"),
            Just(""),
            Just("*"),
        ]
        .prop_map(|s| json!(s)),
        ".{0,12}".prop_map(Value::String),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(FIELDS), inner), 0..6).prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

/// A call descriptor-like object: the fields methods read, any values.
fn descriptor() -> impl Strategy<Value = Value> {
    prop::collection::vec((prop::sample::select(FIELDS), value()), 0..10).prop_map(|kv| {
        let mut m = Map::new();
        m.insert("Tenant".into(), json!("vdf"));
        m.insert("Subject".into(), json!("rif"));
        m.insert("Destination".into(), json!("0256"));
        for (k, v) in kv {
            m.insert(k.to_string(), v);
        }
        Value::Object(m)
    })
}

fn method() -> impl Strategy<Value = Value> {
    let names: Vec<String> = harness()
        .api
        .registry
        .names()
        .into_iter()
        // Loading a folder named by the input is not for a fuzzer.
        .filter(|n| !n.contains("LoadTariffPlanFromFolder"))
        .map(String::from)
        .collect();
    prop_oneof![
        8 => prop::sample::select(names).prop_map(Value::String),
        1 => value(),
    ]
}

fn envelope() -> impl Strategy<Value = Value> {
    (
        method(),
        prop_oneof![descriptor().prop_map(|d| json!([d])), descriptor(), value(),],
        prop_oneof![Just(json!(1)), value()],
        prop::option::of(prop_oneof![Just(json!("2.0")), value()]),
    )
        .prop_map(|(method, params, id, v2)| {
            let mut m = Map::new();
            m.insert("method".into(), method);
            m.insert("params".into(), params);
            m.insert("id".into(), id);
            if let Some(v) = v2 {
                m.insert("jsonrpc".into(), v);
            }
            Value::Object(m)
        })
}

/// Frames `bytes` as the TCP front end does, answering each request;
/// returns the frames' lengths and the replies.
fn serve(bytes: &[u8], split: &[usize]) -> (Vec<usize>, Vec<u8>) {
    let h = harness();
    let mut framer = Framer::default();
    let mut buf = Vec::new();
    let mut frames = Vec::new();
    let mut out = Vec::new();
    let mut fed = 0;
    let mut cuts: Vec<usize> = split.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.push(bytes.len());
    cuts.sort_unstable();
    for cut in cuts {
        buf.extend_from_slice(&bytes[fed..cut.max(fed)]);
        fed = cut.max(fed);
        loop {
            match framer.next(&buf) {
                Frame::Complete(n) => {
                    frames.push(n);
                    match serde_json::from_slice::<Request>(&buf[..n]) {
                        Ok(req) => {
                            h.rt.block_on(h.api.answer(&req, &mut out));
                        }
                        Err(_) => return (frames, out),
                    }
                    buf.drain(..n);
                }
                Frame::Incomplete { .. } => break,
                Frame::NotAnObject => return (frames, out),
            }
        }
    }
    (frames, out)
}

/// Every reply is a JSON object (1.0 replies end with a newline, 2.0 ones
/// follow each other directly, as on the TCP stream).
fn check_replies(out: &[u8]) {
    for v in serde_json::Deserializer::from_slice(out).into_iter::<Value>() {
        let v = v.unwrap_or_else(|e| {
            panic!(
                "replies are not JSON ({e}): {}",
                String::from_utf8_lossy(out)
            )
        });
        assert!(v.is_object(), "{v}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn structured_requests_are_answered(reqs in prop::collection::vec(envelope(), 1..4),
                                        split in prop::collection::vec(any::<usize>(), 0..6)) {
        let mut bytes = Vec::new();
        for r in &reqs {
            bytes.extend_from_slice(r.to_string().as_bytes());
            bytes.push(b' ');
        }
        let (whole, out) = serve(&bytes, &[]);
        check_replies(&out);
        // A request the codec refuses (a method that is not a string…)
        // ends the stream, as it closes a TCP connection.
        prop_assert!(whole.len() <= reqs.len());
        // The same bytes in pieces frame identically.
        let (pieces, _) = serve(&bytes, &split);
        prop_assert_eq!(pieces, whole);
    }

    #[test]
    fn mangled_bytes_never_panic(req in envelope(), cut in any::<usize>(),
                                 junk in prop::collection::vec(any::<u8>(), 0..16)) {
        let mut bytes = req.to_string().into_bytes();
        let at = cut % (bytes.len() + 1);
        bytes.splice(at..at, junk);
        let (_, out) = serve(&bytes, &[cut]);
        check_replies(&out);
    }
}

/// Inputs found to panic (by review of the arithmetic, or by fuzzing), kept
/// as plain tests.
#[test]
fn regressions() {
    for text in [
        // DurationIndex near i64::MAX used to overflow TimeStart + it.
        r#"{"id":1,"method":"Responder.GetCost","params":[{"Tenant":"vdf","Subject":"rif","Destination":"0256","TimeStart":"9999-12-31T23:59:59Z","DurationIndex":9223372036854775807}]}"#,
        // An Amount no Decimal times 1e9 holds used to overflow.
        r#"{"id":1,"method":"Responder.GetMaxSessionTime","params":[{"Tenant":"vdf","Subject":"rif","Destination":"0256","Amount":79228162514264337593543950335}]}"#,
        // A MaxCostSoFar at the top of the decimal range: the connect fee
        // is added with checked arithmetic (answered, or refused).
        r#"{"id":1,"method":"Responder.GetCost","params":[{"Tenant":"vdf","Subject":"rif","Destination":"0256","TimeStart":"2012-02-02T17:30:00Z","TimeEnd":"2012-02-02T17:31:00Z","MaxCostSoFar":79228162514264337593543950335}]}"#,
    ] {
        let (frames, out) = serve(text.as_bytes(), &[]);
        assert_eq!(frames.len(), 1);
        check_replies(&out);
        let reply: Value = serde_json::from_slice(&out).unwrap();
        assert!(
            reply["error"].is_string() || text.contains("MaxCostSoFar"),
            "{reply}"
        );
    }
}
