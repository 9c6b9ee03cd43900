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
    /// The limit last armed on the switch (call time from the answer, ns):
    /// the switch ends the call there even if tollgate is gone.
    #[serde(default)]
    pub limit_ns: i64,
    pub loop_index: u32,
    /// Everything the interval debits took, to give back at settlement.
    pub charges: Vec<Charge>,
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    pub cost_debited: Decimal,
    pub warned_low_balance: bool,
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
}

impl Cdr {
    /// When the record was stored.
    pub fn stored_at(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_nanos(self.order_id)
    }
}
