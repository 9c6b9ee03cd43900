//! The four methods every kind of tariff-plan record has, written once:
//! `SetTP<Kind>` (DUPLICATE when the id exists), `GetTP<Kind>` (NOT_FOUND),
//! `GetTP<Kind>Ids` (sorted; NOT_FOUND when the TPid has none) and
//! `RemTP<Kind>`. Each kind (one file beside this one) says how its record
//! is decoded and checked.

use crate::api::APIER_SERVICES;
use crate::rpc::{ApiError, Obj, Params, RegistryBuilder};
use crate::state::AppState;
use crate::stordb::TpData;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One kind of tariff-plan record.
pub trait TpKind: Send + Sync + 'static {
    type Record: Clone + Serialize + Send + Sync + 'static;
    /// `Rate` names `SetTPRate`, `GetTPRate`, `GetTPRateIds`, `RemTPRate`.
    const KIND: &'static str;
    /// The Go struct name, for type errors (`TPRate`).
    const STRUCT: &'static str;
    /// The field naming a record (`RateId`); `ID` is accepted too.
    const ID_FIELD: &'static str;
    /// Whether Set reads the id from `ID_FIELD` (false: `decode` derives it).
    const SET_TAKES_ID: bool = true;
    /// Fields Set requires besides `TPid` and the id.
    const REQUIRED: &'static [&'static str];

    /// Decodes and checks a record of a Set request; returns its id when
    /// derived (`SET_TAKES_ID` false).
    fn decode(obj: &Obj<'_>, state: &AppState) -> Result<(Option<String>, Self::Record), ApiError>;
    fn map(tp: &TpData) -> &BTreeMap<String, Self::Record>;
    fn map_mut(tp: &mut TpData) -> &mut BTreeMap<String, Self::Record>;

    /// The record id a Get or Rem request names.
    fn requested_id(raw: String) -> String {
        raw
    }
}

/// The id field of a request: `ID_FIELD`, else `ID`.
fn id_of<K: TpKind>(obj: &Obj<'_>) -> Result<Option<String>, ApiError> {
    let id = obj.str(K::ID_FIELD)?.filter(|s| !s.is_empty());
    match id {
        Some(id) => Ok(Some(id)),
        None => Ok(obj.str("ID")?.filter(|s| !s.is_empty())),
    }
}

/// `MANDATORY_IE_MISSING` for `TPid`, the id and `extra`, in that order.
fn require<K: TpKind>(obj: &Obj<'_>, id: bool, extra: &[&str]) -> Result<(), ApiError> {
    let mut missing = Vec::new();
    if obj.is_missing("TPid") {
        missing.push("TPid");
    }
    if id && id_of::<K>(obj)?.is_none() {
        missing.push(K::ID_FIELD);
    }
    missing.extend(extra.iter().filter(|f| obj.is_missing(f)));
    if missing.is_empty() {
        Ok(())
    } else {
        Err(ApiError::missing(&missing))
    }
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Registers the four methods of kind `K` under both service names. They
/// are `async`: StorDb reads and writes files on the blocking pool, or
/// talks to PostgreSQL.
pub fn register<K: TpKind>(r: &mut RegistryBuilder) {
    let names = |verb: &str, suffix: &str| -> Vec<String> {
        APIER_SERVICES
            .iter()
            .map(|s| format!("{s}.{verb}TP{}{suffix}", K::KIND))
            .collect()
    };
    r.asynchronous(&refs(&names("Set", "")), set::<K>);
    r.asynchronous(&refs(&names("Get", "")), get::<K>);
    r.asynchronous(&refs(&names("Get", "Ids")), get_ids::<K>);
    r.asynchronous(&refs(&names("Rem", "")), rem::<K>);
}

async fn set<K: TpKind>(
    state: Arc<AppState>,
    raw: Box<RawValue>,
) -> Result<&'static str, ApiError> {
    let obj = Params::new(&raw).obj(K::STRUCT)?;
    require::<K>(&obj, K::SET_TAKES_ID, K::REQUIRED)?;
    let tpid = obj.string("TPid")?;
    let (derived, record) = K::decode(&obj, &state)?;
    let id = match derived {
        Some(id) => id,
        None => id_of::<K>(&obj)?.unwrap_or_default(),
    };
    state
        .stordb
        .update(&tpid, move |tp| {
            let map = K::map_mut(tp);
            if map.contains_key(&id) {
                return Err(ApiError::Duplicate);
            }
            map.insert(id, record);
            Ok("OK")
        })
        .await
}

/// The answer of Get: the record's fields plus `TPid` and the id.
fn reply<K: TpKind>(tpid: &str, id: &str, record: &K::Record) -> Result<Value, ApiError> {
    let mut map = Map::new();
    map.insert("TPid".into(), Value::String(tpid.into()));
    map.insert(K::ID_FIELD.into(), Value::String(id.into()));
    match serde_json::to_value(record).map_err(ApiError::server)? {
        Value::Object(fields) => map.extend(fields),
        other => return Ok(other),
    }
    Ok(Value::Object(map))
}

async fn get<K: TpKind>(state: Arc<AppState>, raw: Box<RawValue>) -> Result<Value, ApiError> {
    let obj = Params::new(&raw).obj("AttrGetTP")?;
    require::<K>(&obj, true, &[])?;
    let tpid = obj.string("TPid")?;
    let id = K::requested_id(id_of::<K>(&obj)?.unwrap_or_default());
    state
        .stordb
        .read(&tpid, |tp| {
            K::map(tp).get(&id).map(|r| reply::<K>(&tpid, &id, r))
        })
        .await?
        .flatten()
        .unwrap_or(Err(ApiError::NotFound))
}

async fn get_ids<K: TpKind>(
    state: Arc<AppState>,
    raw: Box<RawValue>,
) -> Result<Vec<String>, ApiError> {
    let obj = Params::new(&raw).obj("AttrGetTPIds")?;
    require::<K>(&obj, false, &[])?;
    let tpid = obj.string("TPid")?;
    let offset = obj.i64("Offset")?.unwrap_or(0).max(0) as usize;
    let limit = obj.i64("Limit")?.filter(|l| *l > 0).map(|l| l as usize);
    let ids: Vec<String> = state
        .stordb
        .read(&tpid, |tp| {
            K::map(tp)
                .keys()
                .skip(offset)
                .take(limit.unwrap_or(usize::MAX))
                .cloned()
                .collect()
        })
        .await?
        .unwrap_or_default();
    if ids.is_empty() {
        return Err(ApiError::NotFound);
    }
    Ok(ids)
}

async fn rem<K: TpKind>(
    state: Arc<AppState>,
    raw: Box<RawValue>,
) -> Result<&'static str, ApiError> {
    let obj = Params::new(&raw).obj("AttrGetTP")?;
    require::<K>(&obj, true, &[])?;
    let tpid = obj.string("TPid")?;
    let id = K::requested_id(id_of::<K>(&obj)?.unwrap_or_default());
    let exists = state
        .stordb
        .read(&tpid, |tp| K::map(tp).contains_key(&id))
        .await?;
    if exists != Some(true) {
        return Err(ApiError::NotFound);
    }
    state
        .stordb
        .update(&tpid, move |tp| {
            K::map_mut(tp).remove(&id).ok_or(ApiError::NotFound)?;
            Ok("OK")
        })
        .await
}

/// `SERVER_ERROR: <Field>: <message>` for a value that does not check.
pub fn invalid(field: impl std::fmt::Display, message: impl std::fmt::Display) -> ApiError {
    ApiError::Invalid(format!("{field}: {message}"))
}

/// A mandatory field of an item of a list (`RateSlots[1].RateIncrement`).
pub fn missing_in(list: &str, i: usize, fields: &[&str]) -> ApiError {
    ApiError::MandatoryIeMissing(fields.iter().map(|f| format!("{list}[{i}].{f}")).collect())
}

/// Checks an item's mandatory fields.
pub fn require_in(obj: &Obj<'_>, list: &str, i: usize, fields: &[&str]) -> Result<(), ApiError> {
    let missing: Vec<&str> = fields
        .iter()
        .copied()
        .filter(|f| obj.is_missing(f))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(missing_in(list, i, &missing))
    }
}
