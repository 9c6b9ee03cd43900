//! The call descriptor: who calls whom, when, and where this request sits
//! within a call that is rated in pieces (LoopIndex, DurationIndex).

use chrono::{DateTime, TimeDelta, Utc};
use rust_decimal::Decimal;

/// A request to rate (part of) a call.
#[derive(Debug, Clone, PartialEq)]
pub struct CallDescriptor {
    pub category: String,
    pub tenant: String,
    /// Rating subject; when empty the account is used.
    pub subject: String,
    pub account: String,
    pub destination: String,
    /// Type of record, `*voice` unless said otherwise.
    pub tor: String,
    pub time_start: DateTime<Utc>,
    pub time_end: DateTime<Utc>,
    /// 0 for the first piece of a call (the only one charged the connect fee).
    pub loop_index: u32,
    /// Elapsed call time at `time_end`; if shorter than the piece, the piece's length.
    pub duration_index: TimeDelta,
    /// Cost already incurred by earlier pieces, for MaxCost.
    pub max_cost_so_far: Decimal,
}

impl CallDescriptor {
    /// A descriptor for a whole call from `start` lasting `duration`.
    pub fn new(
        tenant: &str,
        category: &str,
        subject: &str,
        destination: &str,
        start: DateTime<Utc>,
        duration: TimeDelta,
    ) -> Self {
        CallDescriptor {
            category: category.to_string(),
            tenant: tenant.to_string(),
            subject: subject.to_string(),
            account: subject.to_string(),
            destination: destination.to_string(),
            tor: "*voice".to_string(),
            time_start: start,
            time_end: start + duration,
            loop_index: 0,
            duration_index: TimeDelta::zero(),
            max_cost_so_far: Decimal::ZERO,
        }
    }

    /// Length of this piece.
    pub fn duration(&self) -> TimeDelta {
        self.time_end - self.time_start
    }

    /// Elapsed call time at `time_start`.
    pub fn elapsed_at_start(&self) -> TimeDelta {
        let d = self.duration();
        if self.duration_index > d {
            self.duration_index - d
        } else {
            TimeDelta::zero()
        }
    }

    /// The subject rating looks up: the subject, else the account.
    pub fn rating_subject(&self) -> &str {
        if self.subject.is_empty() {
            &self.account
        } else {
            &self.subject
        }
    }
}
