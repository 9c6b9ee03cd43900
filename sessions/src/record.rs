//! What the controller writes down: the state of a live session (enough to
//! resume or settle it after a restart) and the call record of an ended one.

use crate::callinfo::CallInfo;
use chrono::{DateTime, Utc};
use rater::account::Charge;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Authorized at park, not answered yet.
    Authorized,
    /// Answered; prepaid calls are being debited.
    Active,
}

/// A live session, persisted after every change that matters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SessionRecord {
    pub info: CallInfo,
    /// The switch's alias (shared by all of its calls).
    pub origin_host: Arc<str>,
    pub phase: Phase,
    /// Seconds granted at authorization.
    pub max_usage: u64,
    /// Switch time of the answer.
    pub answer_time: Option<DateTime<Utc>>,
    /// Call time paid for in advance, in nanoseconds.
    pub debited_ns: i64,
    /// The limit last armed on the switch and confirmed by it (call time
    /// from the answer, ns): the switch ends the call there even if
    /// tollgate is gone.
    #[serde(default)]
    pub limit_ns: i64,
    pub loop_index: u32,
    /// Everything the interval debits took, to give back at settlement.
    pub charges: Vec<Charge>,
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    pub cost_debited: Decimal,
    pub warned_low_balance: bool,
    /// The call was found gone on resync without its hangup: "ended,
    /// usage unknown", held until the switch's CDR says how long it talked
    /// (see [`GoneHold`]). Rare, so boxed (as `settling`): every live
    /// call's task holds its record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gone: Option<Box<GoneHold>>,
    /// The settlement decided, written before the store is asked to make
    /// it: a restart finishes this one instead of resuming the call (the
    /// switch may still list a call whose CDR it is posting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settling: Option<Box<Settling>>,
}

/// A settlement about to be made (see [`SessionRecord::settling`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Settling {
    pub usage_ns: i64,
    pub cause: String,
    pub note: String,
    pub estimated: bool,
}

/// A call that ended while tollgate was not listening, waiting for the
/// switch's CDR. If none comes within `sessions.cdr_wait` of `since`, the
/// call is settled with `usage_ns`, the estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GoneHold {
    /// When the call was found gone (wall clock; a restart resumes the wait).
    pub since: DateTime<Utc>,
    /// The estimated usage, ns: the time the switch says the call could
    /// have been up (its clock at the resync), never more than the limit it
    /// held while it was heard; a call tollgate never saw answered counts 0.
    pub usage_ns: i64,
}

impl SessionRecord {
    /// Call time paid for in advance.
    pub fn debited(&self) -> Duration {
        Duration::from_nanos(self.debited_ns.max(0) as u64)
    }

    /// The limit last armed on the switch, from the answer.
    pub fn limit(&self) -> Duration {
        Duration::from_nanos(self.limit_ns.max(0) as u64)
    }
}

/// A call record: one per call, written once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Cdr {
    #[serde(rename = "CGRID")]
    pub cgr_id: String,
    #[serde(rename = "RunID")]
    pub run_id: String,
    pub origin_host: String,
    #[serde(rename = "OriginID")]
    pub origin_id: String,
    pub request_type: String,
    pub tenant: String,
    pub category: String,
    pub account: String,
    pub subject: String,
    pub destination: String,
    pub setup_time: Option<DateTime<Utc>>,
    pub answer_time: Option<DateTime<Utc>>,
    /// Nanoseconds, as CGRateS writes usage.
    pub usage: i64,
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    pub cost: Decimal,
    /// The balances the call was finally charged to.
    pub charges: Vec<Charge>,
    /// The credit did not cover the whole call.
    pub unpaid: bool,
    pub disconnect_cause: String,
    /// How the call ended for billing, or what went wrong.
    pub extra_info: String,
    /// When the record was stored, Unix nanoseconds (as CGRateS sets
    /// `OrderID`): the order of settlement, by which records are listed
    /// and archived.
    #[serde(rename = "OrderID", default)]
    pub order_id: i64,
    /// The usage is tollgate's estimate, not the switch's (the call ended
    /// unheard and its CDR did not come in time); a CDR that comes later
    /// corrects the record and the charge. Left out when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub estimated: bool,
}

impl Cdr {
    /// When the record was stored.
    pub fn stored_at(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_nanos(self.order_id)
    }
}

/// A live session as CGRateS (v0.10 `ExternalSession`) shows it in
/// `SessionSv1.GetActiveSessions`: flat call facts, durations in
/// nanoseconds, unset times as Go's zero time. `Usage` is the call time
/// paid so far; tollgate adds `MaxUsage` (seconds granted at authorization)
/// and `Limit` (ns from the answer at which the switch ends the call).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ActiveSession {
    #[serde(rename = "CGRID")]
    pub cgr_id: Arc<str>,
    #[serde(rename = "RunID")]
    pub run_id: &'static str,
    #[serde(rename = "ToR")]
    pub tor: &'static str,
    #[serde(rename = "OriginID")]
    pub origin_id: Arc<str>,
    pub origin_host: Arc<str>,
    pub source: &'static str,
    pub request_type: &'static str,
    pub tenant: Arc<str>,
    pub category: Arc<str>,
    pub account: Arc<str>,
    pub subject: Arc<str>,
    pub destination: Arc<str>,
    #[serde(serialize_with = "go_time")]
    pub setup_time: Option<DateTime<Utc>>,
    #[serde(serialize_with = "go_time")]
    pub answer_time: Option<DateTime<Utc>>,
    pub usage: i64,
    pub extra_fields: std::collections::BTreeMap<String, String>,
    /// The node that controls the call's switch (its lease holder).
    #[serde(rename = "NodeID")]
    pub node_id: Arc<str>,
    pub loop_index: u32,
    pub duration_index: i64,
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    pub max_cost_so_far: Decimal,
    pub debit_interval: i64,
    pub max_usage: u64,
    pub limit: i64,
}

/// Go's zero time stands for an unset `time.Time`.
fn go_time<S: serde::Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => t.serialize(s),
        None => s.serialize_str("0001-01-01T00:00:00Z"),
    }
}

impl ActiveSession {
    /// The view of `rec`, debited every `debit_interval` (zero when the
    /// call is not debited while it runs).
    pub fn of(rec: &SessionRecord, debit_interval: Duration) -> ActiveSession {
        let info = &rec.info;
        ActiveSession {
            cgr_id: info.uuid.clone(),
            run_id: "*default",
            tor: "*voice",
            origin_id: info.uuid.clone(),
            origin_host: rec.origin_host.clone(),
            source: "FreeSWITCHAgent",
            request_type: info.request_type.as_str(),
            tenant: info.tenant.clone(),
            category: info.category.clone(),
            account: info.account.clone(),
            subject: info.subject.clone(),
            destination: info.destination.clone(),
            setup_time: info.setup_time,
            answer_time: rec.answer_time,
            // Paid ahead from the answer; nothing is used before it (what
            // was reserved shows in `MaxCostSoFar`).
            usage: if rec.answer_time.is_some() {
                rec.debited_ns
            } else {
                0
            },
            extra_fields: Default::default(),
            node_id: Arc::from(""),
            loop_index: rec.loop_index,
            duration_index: rec.debited_ns,
            max_cost_so_far: rec.cost_debited,
            debit_interval: i64::try_from(debit_interval.as_nanos()).unwrap_or(i64::MAX),
            max_usage: rec.max_usage,
            limit: rec.limit_ns,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::callinfo::RequestType;

    #[test]
    fn an_unanswered_session_has_go_zero_times() {
        let rec = SessionRecord {
            info: CallInfo {
                uuid: "u1".into(),
                request_type: RequestType::Postpaid,
                tenant: "t".into(),
                category: "call".into(),
                account: "a".into(),
                subject: "a".into(),
                destination: "1002".into(),
                transfer_to: "1002".into(),
                dialplan: None,
                context: None,
                caller: "a".into(),
                setup_time: None,
            },
            origin_host: Arc::from("fs1"),
            phase: Phase::Authorized,
            max_usage: 0,
            answer_time: None,
            debited_ns: 0,
            limit_ns: 0,
            loop_index: 0,
            charges: vec![],
            cost_debited: Decimal::ZERO,
            warned_low_balance: false,
            gone: None,
            settling: None,
        };
        let v = serde_json::to_value(ActiveSession::of(&rec, Duration::ZERO)).unwrap();
        assert_eq!(v["AnswerTime"], "0001-01-01T00:00:00Z");
        assert_eq!(v["SetupTime"], "0001-01-01T00:00:00Z");
        assert_eq!(v["RequestType"], "*postpaid");
        assert_eq!(v["Usage"], 0);
        assert_eq!(v["ExtraFields"], serde_json::json!({}));
    }
}
