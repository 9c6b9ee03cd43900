//! The limit a call holds on its switch, as Diameter credit control grants
//! units: never later than the time the call has paid for in advance plus
//! `limit_grace`, and never later than the end of its credit. Pure
//! arithmetic, so the rule is tested without a switch.

use chrono::{DateTime, TimeDelta, Utc};
use std::time::Duration;

/// What one debit left: the call time paid from the answer, whether the
/// credit covered the whole interval asked for, and how much longer the
/// credit left lasts after it (the debit's `More`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    pub paid: Duration,
    pub exhausted: bool,
    pub more: Duration,
}

impl Grant {
    /// How long the credit lasts from the answer, capped by the longest call.
    pub fn credit_lasts(&self, max_call: Duration) -> Duration {
        let lasts = if self.exhausted {
            self.paid
        } else {
            self.paid.saturating_add(self.more)
        };
        lasts.min(max_call)
    }

    /// The limit to arm, from the answer: the paid time plus the grace,
    /// but never past the end of the credit (nor the longest call).
    pub fn limit(&self, grace: Duration, max_call: Duration) -> Duration {
        self.paid
            .saturating_add(grace)
            .min(self.credit_lasts(max_call))
    }
}

/// The switch epoch (whole seconds) at which to cut a call answered at
/// `answer` that may talk `limit`: rounded down, so the call never talks
/// past what it may.
pub fn epoch_at(answer: DateTime<Utc>, limit: Duration) -> i64 {
    let at = answer + TimeDelta::nanoseconds(i64::try_from(limit.as_nanos()).unwrap_or(i64::MAX));
    at.timestamp()
}

/// Whole seconds of `d`, rounded down (for `sched_hangup +N` and `cgr_max_usage`).
pub fn whole_secs(d: Duration) -> u64 {
    d.as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn the_limit_is_the_paid_time_plus_the_grace_within_the_credit() {
        let g = Grant {
            paid: S(10),
            exhausted: false,
            more: S(100),
        };
        assert_eq!(g.limit(S(10), S(3600)), S(20));
        assert_eq!(g.limit(S(0), S(3600)), S(10));
        assert_eq!(g.credit_lasts(S(3600)), S(110));
        // Little credit left: the end of the credit comes first.
        let g = Grant { more: S(3), ..g };
        assert_eq!(g.limit(S(10), S(3600)), S(13));
        // Exhausted: the paid time, whatever the grace.
        let g = Grant {
            paid: S(7),
            exhausted: true,
            more: S(50),
        };
        assert_eq!(g.limit(S(10), S(3600)), S(7));
        assert_eq!(g.credit_lasts(S(3600)), S(7));
        // The longest call caps both.
        let g = Grant {
            paid: S(10),
            exhausted: false,
            more: S(1000),
        };
        assert_eq!(g.limit(S(10), S(15)), S(15));
        assert_eq!(g.credit_lasts(S(15)), S(15));
    }

    #[test]
    fn the_epoch_is_rounded_down() {
        // R4: answered at .54, 20 s paid: cut at .00 of the 20th second
        // (20 - 0.54 = 19.46 s of talk), never at the 21st.
        let answer = Utc.timestamp_micros(1_000_000_540_000).unwrap();
        assert_eq!(epoch_at(answer, S(20)), 1_000_020);
        let answer = Utc.timestamp_micros(1_000_000_000_000).unwrap();
        assert_eq!(epoch_at(answer, S(20)), 1_000_020);
        assert_eq!(epoch_at(answer, Duration::from_millis(20_999)), 1_000_020);
    }
}
