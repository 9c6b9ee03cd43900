//! Cutting rated pieces into spans that each have one rate interval and
//! one rate group: at local midnight, where the winning timing changes
//! (highest weight, then the latest start), and at GroupIntervalStart
//! boundaries of elapsed call time; then rounding each span up to whole
//! increments, the extension eating into the spans that follow.

use super::resolve::RatedPiece;
use crate::descriptor::CallDescriptor;
use crate::error::RatingError;
use crate::tariff::RateInterval;
use crate::timing::DAY_SECS;
use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use std::sync::Arc;

/// A span before pricing.
#[derive(Debug, Clone)]
pub(crate) struct RawSpan<'a> {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub interval: &'a Arc<RateInterval>,
    pub group: usize,
    pub piece: usize,
}

/// The instant of local `tod` seconds on `date`; a time inside a DST gap
/// is taken at the end of the gap.
fn local_instant(tz: Tz, date: NaiveDate, tod: u32) -> DateTime<Utc> {
    let mut naive = date.and_hms_opt(0, 0, 0).unwrap_or_default() + TimeDelta::seconds(tod.into());
    for _ in 0..4 {
        if let Some(t) = tz.from_local_datetime(&naive).earliest() {
            return t.with_timezone(&Utc);
        }
        naive += TimeDelta::minutes(30);
    }
    Utc.from_utc_datetime(&naive)
}

/// The interval in force at `tod` on `date`: active ones only, the highest
/// weight, then the one that started latest.
fn winner(
    intervals: &[Arc<RateInterval>],
    date: NaiveDate,
    tod: u32,
) -> Option<&Arc<RateInterval>> {
    let mut best: Option<&Arc<RateInterval>> = None;
    for ri in intervals {
        if !ri.timing.matches_day(date) || !ri.timing.active_at(tod) {
            continue;
        }
        best = match best {
            Some(b) if (b.weight, b.timing.start_time) >= (ri.weight, ri.timing.start_time) => {
                Some(b)
            }
            _ => Some(ri),
        };
    }
    best
}

/// The next time of day after `tod` where the winner differs from `current`.
fn next_change(
    intervals: &[Arc<RateInterval>],
    date: NaiveDate,
    mut tod: u32,
    current: &Arc<RateInterval>,
) -> Option<u32> {
    loop {
        let next = intervals
            .iter()
            .filter(|ri| ri.timing.matches_day(date))
            .flat_map(|ri| [Some(ri.timing.start_time), ri.timing.end_time])
            .flatten()
            .filter(|t| *t > tod && *t < DAY_SECS)
            .min()?;
        match winner(intervals, date, next) {
            Some(w) if Arc::ptr_eq(w, current) => tod = next,
            _ => return Some(next),
        }
    }
}

/// Splits every piece into spans of one interval and one rate group.
pub(crate) fn split<'a>(
    tz: Tz,
    cd: &CallDescriptor,
    pieces: &[RatedPiece<'a>],
    out: &mut Vec<RawSpan<'a>>,
) -> Result<(), RatingError> {
    for (index, piece) in pieces.iter().enumerate() {
        let mut cur = piece.start;
        while cur < piece.end {
            let local = cur.with_timezone(&tz);
            let date = local.date_naive();
            let tod = local.time().num_seconds_from_midnight();
            let day_end = date
                .succ_opt()
                .map_or(piece.end, |next| local_instant(tz, next, 0))
                .min(piece.end);
            let best =
                winner(piece.intervals, date, tod).ok_or(RatingError::UnauthorizedDestination)?;
            let seg_end = next_change(piece.intervals, date, tod, best)
                .map(|t| local_instant(tz, date, t))
                .filter(|t| *t > cur)
                .map_or(day_end, |t| t.min(day_end));
            let seg_end = if seg_end > cur { seg_end } else { piece.end };
            split_groups(cd, cur, seg_end, best, index, out);
            cur = seg_end;
        }
    }
    Ok(())
}

fn split_groups<'a>(
    cd: &CallDescriptor,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    interval: &'a Arc<RateInterval>,
    piece: usize,
    out: &mut Vec<RawSpan<'a>>,
) {
    let rate = &interval.rating.rate;
    let elapsed0 = cd.elapsed_at_start();
    let mut cur = start;
    while cur < end {
        let group = rate.group_at(elapsed0 + (cur - cd.time_start));
        let group_end = rate.groups.get(group + 1).map_or(end, |next| {
            (cd.time_start + (next.group_interval_start - elapsed0)).min(end)
        });
        out.push(RawSpan {
            start: cur,
            end: group_end,
            interval,
            group,
            piece,
        });
        cur = group_end;
    }
}

/// Rounds each span up to whole rate increments. A span that grows pushes
/// the start of the next ones forward, dropping those it covers entirely.
pub(crate) fn round_to_increments(spans: &mut Vec<RawSpan<'_>>) {
    let mut i = 0;
    while i < spans.len() {
        let inc = spans[i].interval.rating.rate.groups[spans[i].group].rate_increment;
        let inc_ns = inc.num_nanoseconds().unwrap_or(i64::MAX).max(1);
        let dur_ns = (spans[i].end - spans[i].start)
            .num_nanoseconds()
            .unwrap_or(i64::MAX);
        let rem = dur_ns % inc_ns;
        if rem != 0 {
            let new_end = spans[i].end + TimeDelta::nanoseconds(inc_ns - rem);
            spans[i].end = new_end;
            let mut j = i + 1;
            while j < spans.len() && spans[j].start < new_end {
                if spans[j].end <= new_end {
                    spans.remove(j);
                } else {
                    spans[j].start = new_end;
                    j += 1;
                }
            }
        }
        i += 1;
    }
}
