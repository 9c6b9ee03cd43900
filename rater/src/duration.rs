//! Durations in Go syntax (`10s`, `1m30s`, `1.5h`, `250ms`), the notation of
//! CGRateS tariff plans and tollgate's config. A bare integer means seconds,
//! as CGRateS's `ParseDurationWithSecs` does.

use chrono::TimeDelta;
use thiserror::Error;

/// A duration string that is not Go syntax.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "invalid duration {0:?} (expected Go syntax such as 60s, 1m30s, 0s or a number of seconds)"
)]
pub struct DurationError(pub String);

const NANOS_PER: [(&str, i128); 8] = [
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Parses a Go duration, or a plain number of seconds.
pub fn parse_duration(input: &str) -> Result<TimeDelta, DurationError> {
    let err = || DurationError(input.to_string());
    let s = input.trim();
    if s.is_empty() {
        return Err(err());
    }
    let (negative, mut rest) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if rest.is_empty() {
        return Err(err());
    }
    let mut total: i128 = 0;
    if rest.bytes().all(|b| b.is_ascii_digit()) {
        let secs: i128 = rest.parse().map_err(|_| err())?;
        total = secs.checked_mul(1_000_000_000).ok_or_else(err)?;
        rest = "";
    }
    if rest == "0" {
        rest = "";
    }
    while !rest.is_empty() {
        let num_len = rest
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'.')
            .count();
        if num_len == 0 {
            return Err(err());
        }
        let (num, after) = rest.split_at(num_len);
        let unit_len = after
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map(|(i, _)| i)
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let scale = NANOS_PER
            .iter()
            .find(|(u, _)| *u == unit)
            .map(|(_, n)| *n)
            .ok_or_else(err)?;
        total = total
            .checked_add(scaled(num, scale).ok_or_else(err)?)
            .ok_or_else(err)?;
        rest = next;
    }
    let nanos = i64::try_from(if negative { -total } else { total }).map_err(|_| err())?;
    Ok(TimeDelta::nanoseconds(nanos))
}

/// `num` (digits with at most one dot) times `scale` nanoseconds, exactly.
fn scaled(num: &str, scale: i128) -> Option<i128> {
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if int.is_empty() && frac.is_empty() || frac.contains('.') {
        return None;
    }
    let mut value: i128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    value = value.checked_mul(scale)?;
    let mut unit = scale;
    for digit in frac.bytes() {
        unit /= 10;
        value = value.checked_add(i128::from(digit - b'0') * unit)?;
    }
    Some(value)
}

/// Formats a duration the way tariff plans write it: whole seconds as `60s`,
/// anything finer in Go's notation (`1.5s`, `250ms`).
pub fn format_duration(d: TimeDelta) -> String {
    let nanos = d.num_nanoseconds().unwrap_or(i64::MAX);
    if nanos % 1_000_000_000 == 0 {
        return format!("{}s", nanos / 1_000_000_000);
    }
    if nanos.abs() < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos.abs() < 1_000_000 {
        return format!("{}µs", trim_fraction(nanos, 1_000));
    }
    if nanos.abs() < 1_000_000_000 {
        return format!("{}ms", trim_fraction(nanos, 1_000_000));
    }
    format!("{}s", trim_fraction(nanos, 1_000_000_000))
}

fn trim_fraction(nanos: i64, unit: i64) -> String {
    let whole = nanos / unit;
    let frac = (nanos % unit).abs();
    if frac == 0 {
        return whole.to_string();
    }
    let width = unit.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// Go's JSON encoding of a `time.Duration`: integer nanoseconds.
pub mod serde_nanos {
    use chrono::TimeDelta;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &TimeDelta, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(d.num_nanoseconds().unwrap_or(i64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<TimeDelta, D::Error> {
        Ok(TimeDelta::nanoseconds(i64::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: i64) -> TimeDelta {
        TimeDelta::seconds(s)
    }

    #[test]
    fn parses_go_syntax() {
        assert_eq!(parse_duration("60s").unwrap(), secs(60));
        assert_eq!(parse_duration("1m").unwrap(), secs(60));
        assert_eq!(parse_duration("0s").unwrap(), secs(0));
        assert_eq!(parse_duration("0").unwrap(), secs(0));
        assert_eq!(parse_duration("1m30s").unwrap(), secs(90));
        assert_eq!(parse_duration("3h").unwrap(), secs(10_800));
        assert_eq!(
            parse_duration("1.5s").unwrap(),
            TimeDelta::milliseconds(1500)
        );
        assert_eq!(
            parse_duration("250ms").unwrap(),
            TimeDelta::milliseconds(250)
        );
        assert_eq!(parse_duration("10us").unwrap(), TimeDelta::microseconds(10));
        assert_eq!(parse_duration("-2s").unwrap(), secs(-2));
    }

    #[test]
    fn bare_numbers_are_seconds() {
        assert_eq!(parse_duration("60").unwrap(), secs(60));
        assert_eq!(parse_duration(" 1 ").unwrap(), secs(1));
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "s",
            "10x",
            "1..5s",
            "abc",
            "10s5",
            "-",
            "1.s.",
            "99999999999999999999h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn formats_like_tariff_plans() {
        assert_eq!(format_duration(secs(60)), "60s");
        assert_eq!(format_duration(secs(0)), "0s");
        assert_eq!(format_duration(TimeDelta::milliseconds(1500)), "1.5s");
        assert_eq!(format_duration(TimeDelta::milliseconds(250)), "250ms");
        assert_eq!(format_duration(TimeDelta::nanoseconds(5)), "5ns");
    }

    #[test]
    fn format_then_parse_round_trips() {
        for n in [
            0i64,
            1,
            999,
            1_000,
            1_500_000,
            1_000_000_000,
            61_500_000_000,
        ] {
            let d = TimeDelta::nanoseconds(n);
            assert_eq!(parse_duration(&format_duration(d)).unwrap(), d);
        }
    }
}
