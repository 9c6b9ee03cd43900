//! `GET /cdrs.csv`: the call records `CDRsV1.GetCDRs` answers, as CSV.
//!
//! The query holds the method's `RPCCDRsFilter` fields, names matched
//! case-insensitively: the list fields (`Accounts`, `Tenants`, …) take
//! repeated parameters (`Accounts=1001&Accounts=1002`) or a comma-separated
//! value, the others one value each, as text the method reads (times RFC
//! 3339, Unix seconds or without zone in `general.timezone`; usages in ns
//! or Go syntax; costs decimal). The object built from it is handed to the
//! registry method itself, so the filter, its errors, its default `Limit`
//! and the blocking-pool reading of the archive are the method's own.
//!
//! The answer is `text/csv`, the header row [`HEADER`] first, then one row
//! per record: times RFC 3339 (empty when unset), `Usage` in ns, `Cost` as
//! exact decimal text. A bad parameter is answered `400 {"error":…}`.

use crate::rpc::{Api, ApiError, ErrorClass};
use axum::extract::State;
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::sync::Arc;
use thiserror::Error;

/// The columns, in order.
pub const HEADER: [&str; 18] = [
    "CGRID",
    "RunID",
    "OriginHost",
    "OriginID",
    "RequestType",
    "Tenant",
    "Category",
    "Account",
    "Subject",
    "Destination",
    "SetupTime",
    "AnswerTime",
    "Usage",
    "Cost",
    "Unpaid",
    "DisconnectCause",
    "ExtraInfo",
    "OrderID",
];

/// Filter fields holding lists of strings.
const LIST_FIELDS: [&str; 11] = [
    "CGRIDs",
    "RunIDs",
    "ToRs",
    "OriginHosts",
    "OriginIDs",
    "RequestTypes",
    "Tenants",
    "Categories",
    "Accounts",
    "Subjects",
    "DestinationPrefixes",
];

/// Filter fields holding one value.
const SCALAR_FIELDS: [&str; 12] = [
    "SetupTimeStart",
    "SetupTimeEnd",
    "AnswerTimeStart",
    "AnswerTimeEnd",
    "OrderIDStart",
    "OrderIDEnd",
    "MinUsage",
    "MaxUsage",
    "MinCost",
    "MaxCost",
    "Offset",
    "Limit",
];

/// The method the rows come from.
const METHOD: &str = "CDRsV1.GetCDRs";

/// Why a query is not a filter.
#[derive(Debug, Error)]
pub enum QueryError {
    #[error("unknown parameter {0:?} (expected the fields of CDRsV1.GetCDRs' filter: {fields})", fields = known_fields())]
    Unknown(String),
    #[error("parameter {0} is given more than once")]
    Repeated(&'static str),
    #[error("{0}")]
    Malformed(String),
}

fn known_fields() -> String {
    LIST_FIELDS
        .iter()
        .chain(SCALAR_FIELDS.iter())
        .copied()
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `RPCCDRsFilter` object of a query string (without the `?`).
pub fn filter_object(query: &str) -> Result<Map<String, Value>, QueryError> {
    let pairs = super::query::pairs(query).map_err(|e| QueryError::Malformed(message(&e)))?;
    let mut obj = Map::new();
    for (name, value) in pairs {
        if let Some(field) = LIST_FIELDS.iter().find(|f| f.eq_ignore_ascii_case(&name)) {
            let entry = obj
                .entry(*field)
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(items) = entry {
                items.extend(
                    value
                        .split(',')
                        .map(str::trim)
                        .filter(|v| !v.is_empty())
                        .map(|v| Value::String(v.to_string())),
                );
            }
        } else if let Some(field) = SCALAR_FIELDS.iter().find(|f| f.eq_ignore_ascii_case(&name)) {
            if obj.contains_key(*field) {
                return Err(QueryError::Repeated(field));
            }
            // An empty value (a blank form field) sets no bound.
            if !value.trim().is_empty() {
                obj.insert(field.to_string(), Value::String(value.trim().to_string()));
            }
        } else {
            return Err(QueryError::Unknown(name));
        }
    }
    Ok(obj)
}

/// An error's text without the `SERVER_ERROR: ` prefix of the wire form.
fn message(e: &ApiError) -> String {
    let text = e.to_string();
    text.strip_prefix("SERVER_ERROR: ")
        .map(str::to_string)
        .unwrap_or(text)
}

/// The CSV text of `records` (as the method answers them), header first.
pub fn write_rows(records: &[sessions::Cdr]) -> Result<Vec<u8>, ::csv::Error> {
    let time = |t: &Option<DateTime<Utc>>| {
        t.map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
            .unwrap_or_default()
    };
    let mut w = ::csv::Writer::from_writer(Vec::with_capacity(256 * (records.len() + 1)));
    w.write_record(HEADER)?;
    for r in records {
        w.write_record([
            r.cgr_id.as_str(),
            &r.run_id,
            &r.origin_host,
            &r.origin_id,
            &r.request_type,
            &r.tenant,
            &r.category,
            &r.account,
            &r.subject,
            &r.destination,
            &time(&r.setup_time),
            &time(&r.answer_time),
            &r.usage.to_string(),
            &r.cost.to_string(),
            if r.unpaid { "true" } else { "false" },
            &r.disconnect_cause,
            &r.extra_info,
            &r.order_id.to_string(),
        ])?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

fn error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "error": message }).to_string();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// `GET /cdrs.csv`.
pub async fn cdrs_csv(State(api): State<Arc<Api>>, uri: Uri) -> Response {
    let filter = match filter_object(uri.query().unwrap_or("")) {
        Ok(f) => f,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let params = match RawValue::from_string(Value::Object(filter).to_string()) {
        Ok(p) => p,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let mut out = Vec::new();
    if let Err(e) = api.call(METHOD, &params, &mut out).await {
        let status = match e.class() {
            ErrorClass::BadRequest => StatusCode::BAD_REQUEST,
            ErrorClass::Refused => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorClass::UnknownMethod => StatusCode::NOT_IMPLEMENTED,
            ErrorClass::Server => StatusCode::INTERNAL_SERVER_ERROR,
        };
        return error(status, &e.to_string());
    }
    // Up to the method's default 10,000 records: off the async threads.
    let rows = tokio::task::spawn_blocking(move || {
        let records: Vec<sessions::Cdr> =
            serde_json::from_slice(&out).map_err(|e| format!("reading {METHOD}'s answer: {e}"))?;
        write_rows(&records).map_err(|e| format!("writing CSV: {e}"))
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r);
    match rows {
        Ok(body) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"cdrs.csv\"",
                ),
            ],
            body,
        )
            .into_response(),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("SERVER_ERROR: {e}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;
    use serde_json::json;

    #[test]
    fn queries_become_the_methods_filter() {
        let obj = filter_object(
            "accounts=1001&Accounts=1002,1003&TENANTS=cgrates.org&SetupTimeStart=2026-01-01T00:00:00Z\
             &setuptimeend=1767312000&MinUsage=1m&maxcost=0.5&Limit=20&offset=&DestinationPrefixes=%2B40",
        )
        .unwrap();
        assert_eq!(
            Value::Object(obj),
            json!({
                "Accounts": ["1001", "1002", "1003"],
                "Tenants": ["cgrates.org"],
                "SetupTimeStart": "2026-01-01T00:00:00Z",
                "SetupTimeEnd": "1767312000",
                "MinUsage": "1m",
                "MaxCost": "0.5",
                "Limit": "20",
                "DestinationPrefixes": ["+40"],
            })
        );
        assert!(filter_object("").unwrap().is_empty());
    }

    #[test]
    fn bad_queries_are_named() {
        let e = filter_object("Acounts=1001").unwrap_err().to_string();
        assert!(e.contains("\"Acounts\"") && e.contains("Accounts"), "{e}");
        let e = filter_object("Limit=1&limit=2").unwrap_err().to_string();
        assert!(e.contains("Limit"), "{e}");
        assert!(filter_object("Accounts=%zz").is_err());
    }

    #[test]
    fn rows_follow_the_header() {
        let cdr = sessions::Cdr {
            cgr_id: "c1".into(),
            run_id: "*default".into(),
            origin_host: "fs1".into(),
            origin_id: "o1".into(),
            request_type: "*prepaid".into(),
            tenant: "cgrates.org".into(),
            category: "call".into(),
            account: "1001".into(),
            subject: "1001".into(),
            destination: "+4021".into(),
            setup_time: Some(DateTime::from_timestamp(1_767_225_600, 0).unwrap()),
            answer_time: None,
            usage: 60_000_000_000,
            cost: Decimal::new(1050, 4),
            charges: Vec::new(),
            unpaid: false,
            disconnect_cause: "NORMAL_CLEARING".into(),
            extra_info: "a, \"quoted\" note".into(),
            order_id: 7,
            estimated: false,
        };
        let text = String::from_utf8(write_rows(&[cdr]).unwrap()).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(HEADER.join(",").as_str()));
        assert_eq!(
            lines.next(),
            Some("c1,*default,fs1,o1,*prepaid,cgrates.org,call,1001,1001,+4021,2026-01-01T00:00:00Z,,60000000000,0.1050,false,NORMAL_CLEARING,\"a, \"\"quoted\"\" note\",7")
        );
        assert_eq!(lines.next(), None);
    }
}
