//! Pricing spans: `increments × RateIncrement × Rate / RateUnit`, exact in
//! decimal; the connect fee once; MaxCost (`*free` caps what is charged,
//! `*disconnect` records where usage must stop); rounding per span.

use super::resolve::RatedPiece;
use super::split::RawSpan;
use crate::callcost::{CallCost, Increment, Timespan};
use crate::descriptor::CallDescriptor;
use crate::error::RatingError;
use crate::tariff::MaxCostStrategy;
use chrono::TimeDelta;
use rust_decimal::Decimal;

fn nanos(d: TimeDelta) -> Decimal {
    Decimal::from(d.num_nanoseconds().unwrap_or(i64::MAX))
}

/// Increments of a span whose charge is capped at `allowed`: those paid in
/// full, one paid in part, the rest free.
fn capped_increments(
    inc: TimeDelta,
    inc_cost: Decimal,
    n: u64,
    allowed: Decimal,
) -> Vec<Increment> {
    let full = if inc_cost.is_zero() {
        n
    } else {
        (allowed / inc_cost)
            .floor()
            .to_string()
            .parse::<u64>()
            .unwrap_or(0)
            .min(n)
    };
    let partial = allowed - inc_cost * Decimal::from(full);
    let mut out = Vec::with_capacity(3);
    let mut push = |cost: Decimal, count: u64| {
        if count > 0 {
            out.push(Increment {
                duration: inc,
                cost,
                compress_factor: count,
            });
        }
    };
    push(inc_cost, full);
    let mut rest = n - full;
    if rest > 0 && partial > Decimal::ZERO {
        push(partial, 1);
        rest -= 1;
    }
    push(Decimal::ZERO, rest);
    out
}

/// The error of a cost beyond the decimal range (absurd rates, or an absurd
/// `MaxCostSoFar`): refused, never a panic.
fn overflow() -> RatingError {
    RatingError::Invalid(
        "the cost is beyond the decimal range (check the rates and MaxCostSoFar)".into(),
    )
}

/// `a × b / c`, or the overflow error.
fn mul_div(a: Decimal, b: Decimal, c: Decimal) -> Result<Decimal, RatingError> {
    a.checked_mul(b)
        .and_then(|v| v.checked_div(c))
        .ok_or_else(overflow)
}

fn add(a: Decimal, b: Decimal) -> Result<Decimal, RatingError> {
    a.checked_add(b).ok_or_else(overflow)
}

pub(crate) fn price(
    cd: &CallDescriptor,
    pieces: &[RatedPiece<'_>],
    spans: Vec<RawSpan<'_>>,
) -> Result<CallCost, RatingError> {
    let elapsed0 = cd.elapsed_at_start();
    let connect_fee = match spans.first() {
        Some(first) if cd.loop_index == 0 => first.interval.rating.connect_fee(),
        _ => Decimal::ZERO,
    };
    let mut so_far = add(cd.max_cost_so_far, connect_fee)?;
    let mut total = connect_fee;
    let mut unrounded = connect_fee;
    let mut rated = TimeDelta::zero();
    let mut reached_at = None;
    let mut timespans = Vec::with_capacity(spans.len());
    for span in spans {
        let rating = &span.interval.rating;
        let group = &rating.rate.groups[span.group];
        let duration = span.end - span.start;
        let inc_ns = group
            .rate_increment
            .num_nanoseconds()
            .unwrap_or(i64::MAX)
            .max(1);
        let n = (duration.num_nanoseconds().unwrap_or(0) / inc_ns).max(0) as u64;
        let unit = nanos(group.rate_unit);
        let inc_cost = mul_div(nanos(group.rate_increment), group.value, unit)?;
        let mut raw = mul_div(nanos(duration), group.value, unit)?;
        let mut increments = vec![Increment {
            duration: group.rate_increment,
            cost: inc_cost,
            compress_factor: n,
        }];
        let span_elapsed = elapsed0 + (span.start - cd.time_start);
        match rating.max_cost {
            Some(mc) if mc.strategy == MaxCostStrategy::Free && add(so_far, raw)? > mc.amount => {
                let allowed = (mc.amount - so_far).max(Decimal::ZERO);
                increments = capped_increments(group.rate_increment, inc_cost, n, allowed);
                raw = allowed;
            }
            Some(mc)
                if mc.strategy == MaxCostStrategy::Disconnect
                    && reached_at.is_none()
                    && add(so_far, raw)? >= mc.amount =>
            {
                let left = (mc.amount - so_far).max(Decimal::ZERO);
                let m = if inc_cost > Decimal::ZERO {
                    (left / inc_cost)
                        .ceil()
                        .to_string()
                        .parse::<i64>()
                        .unwrap_or(0)
                        .clamp(0, n as i64)
                } else {
                    n as i64
                };
                reached_at = Some(span_elapsed + TimeDelta::nanoseconds(m.saturating_mul(inc_ns)));
            }
            _ => {}
        }
        so_far = add(so_far, raw)?;
        unrounded = add(unrounded, raw)?;
        let cost = rating.round(raw);
        total = add(total, cost)?;
        rated += duration;
        let piece = &pieces[span.piece];
        timespans.push(Timespan {
            time_start: span.start,
            time_end: span.end,
            cost,
            unrounded_cost: raw,
            rate_interval: span.interval.clone(),
            rate_group: span.group,
            duration_index: elapsed0 + (span.end - cd.time_start),
            increments,
            matched_subject: piece.subject.clone(),
            matched_prefix: piece.prefix.clone(),
            matched_destination: piece.destination.clone(),
            rating_plan: piece.plan.clone(),
        });
    }
    Ok(CallCost {
        cost: total.normalize(),
        connect_fee,
        rated_usage: rated,
        timespans,
        unrounded_cost: unrounded,
        max_cost_reached_at: reached_at,
        ..CallCost::empty(cd)
    })
}
