//! Timings: the calendar rules (years, months, month days, week days, time
//! of day) that say when a rate interval of a rating plan applies.

use chrono::{DateTime, Datelike, Days, NaiveDate, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;

/// Seconds in a day, the exclusive upper bound of a time of day.
pub const DAY_SECS: u32 = 86_400;

/// One row of `Timings.csv`. Empty lists mean "any".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Timing {
    #[serde(rename = "ID")]
    pub id: String,
    pub years: Vec<i32>,
    pub months: Vec<u32>,
    pub month_days: Vec<u32>,
    /// 0 = Sunday … 6 = Saturday (a 7 in a tariff plan is read as Sunday).
    pub week_days: Vec<u32>,
    #[serde(serialize_with = "ser_tod")]
    pub start_time: u32,
    /// Exclusive end of the day window, in seconds since midnight; none means midnight.
    #[serde(serialize_with = "ser_tod_opt")]
    pub end_time: Option<u32>,
}

impl Timing {
    /// The built-in `*any` timing: every day from 00:00:00.
    pub fn any() -> Self {
        Timing {
            id: "*any".to_string(),
            years: vec![],
            months: vec![],
            month_days: vec![],
            week_days: vec![],
            start_time: 0,
            end_time: None,
        }
    }

    /// Whether the calendar part of the rule admits this local date.
    pub fn matches_day(&self, date: NaiveDate) -> bool {
        (self.years.is_empty() || self.years.contains(&date.year()))
            && (self.months.is_empty() || self.months.contains(&date.month()))
            && (self.month_days.is_empty() || self.month_days.contains(&date.day()))
            && (self.week_days.is_empty()
                || self
                    .week_days
                    .contains(&date.weekday().num_days_from_sunday()))
    }

    /// The latest moment at or before `now` when this timing starts: a
    /// matching day of `tz` at its start time (a start in a daylight-saving
    /// gap moves an hour later). Looks back four years.
    pub fn last_start(&self, now: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        let today = now.with_timezone(&tz).date_naive();
        (0..=1461u64)
            .filter_map(|back| today.checked_sub_days(Days::new(back)))
            .filter(|day| self.matches_day(*day))
            .find_map(|day| {
                let start = day.and_hms_opt(0, 0, 0)? + TimeDelta::seconds(self.start_time.into());
                let at = tz
                    .from_local_datetime(&start)
                    .earliest()
                    .or_else(|| {
                        tz.from_local_datetime(&(start + TimeDelta::hours(1)))
                            .earliest()
                    })?
                    .with_timezone(&Utc);
                (at <= now).then_some(at)
            })
    }

    /// Whether the rule is active at `tod` seconds after local midnight of a matching day.
    pub fn active_at(&self, tod: u32) -> bool {
        tod >= self.start_time && self.end_time.is_none_or(|end| tod < end)
    }

    /// Parses the CSV columns Years, Months, MonthDays, WeekDays, Time.
    /// Returns the index (0..5) of the offending column with its message.
    pub fn parse(
        id: &str,
        years: &str,
        months: &str,
        month_days: &str,
        week_days: &str,
        time: &str,
    ) -> Result<Self, (usize, String)> {
        let years = parse_list(years, 1, 9999).map_err(|e| (0, e))?;
        let months = parse_list(months, 1, 12).map_err(|e| (1, e))?;
        let month_days = parse_list(month_days, 1, 31).map_err(|e| (2, e))?;
        let mut week_days: Vec<u32> = parse_list(week_days, 0, 7)
            .map_err(|e| (3, e))?
            .into_iter()
            .map(|d| if d == 7 { 0 } else { d })
            .collect();
        week_days.sort_unstable();
        week_days.dedup();
        let (start, end) = match time.split_once(';') {
            Some((s, e)) => (s, Some(e)),
            None => (time, None),
        };
        let start_time = parse_time_of_day(start).map_err(|e| (4, e))?;
        let end_time = match end {
            Some(e) if !e.trim().is_empty() => {
                let end = parse_time_of_day(e).map_err(|e| (4, e))?;
                if end <= start_time {
                    return Err((4, format!("end time {e:?} is not after the start time")));
                }
                Some(end)
            }
            _ => None,
        };
        Ok(Timing {
            id: id.to_string(),
            years: years.into_iter().map(|y| y as i32).collect(),
            months,
            month_days,
            week_days,
            start_time,
            end_time,
        })
    }
}

/// `*any`, empty, or `a;b;c` of integers within `min..=max`.
fn parse_list(s: &str, min: u32, max: u32) -> Result<Vec<u32>, String> {
    let s = s.trim();
    if s.is_empty() || s == "*any" {
        return Ok(vec![]);
    }
    s.split(';')
        .map(|item| {
            let v: u32 = item
                .trim()
                .parse()
                .map_err(|_| format!("{item:?} is not a number"))?;
            if v < min || v > max {
                return Err(format!("{v} is outside {min}..{max}"));
            }
            Ok(v)
        })
        .collect()
}

/// `HH:MM:SS` (or `HH:MM`); `*asap`, `*any` and empty mean 00:00:00.
pub fn parse_time_of_day(s: &str) -> Result<u32, String> {
    let s = s.trim();
    if s.is_empty() || s == "*asap" || s == "*any" {
        return Ok(0);
    }
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() < 2 || parts.len() > 3 {
        return Err(format!("time {s:?} is not HH:MM:SS"));
    }
    let num = |p: &str, max: u32| -> Result<u32, String> {
        p.parse::<u32>()
            .ok()
            .filter(|v| *v <= max)
            .ok_or_else(|| format!("time {s:?} is not HH:MM:SS"))
    };
    let h = num(parts[0], 23)?;
    let m = num(parts[1], 59)?;
    let sec = if parts.len() == 3 {
        num(parts[2], 59)?
    } else {
        0
    };
    Ok(h * 3600 + m * 60 + sec)
}

fn fmt_tod(t: u32) -> String {
    format!("{:02}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60)
}

fn ser_tod<S: serde::Serializer>(t: &u32, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&fmt_tod(*t))
}

fn ser_tod_opt<S: serde::Serializer>(t: &Option<u32>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.map(fmt_tod).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn weekdays_and_weekends() {
        let work = Timing::parse("W", "*any", "*any", "*any", "1;2;3;4;5", "18:00:00").unwrap();
        assert!(work.matches_day(date(2012, 2, 2))); // Thursday
        assert!(!work.matches_day(date(2012, 2, 4))); // Saturday
        assert_eq!(work.start_time, 18 * 3600);
        let weekend = Timing::parse("WE", "", "", "", "6;7", "00:00:00").unwrap();
        assert_eq!(weekend.week_days, vec![0, 6]);
        assert!(weekend.matches_day(date(2012, 2, 5))); // Sunday
    }

    #[test]
    fn years_months_monthdays() {
        let t = Timing::parse("X", "2013;2014", "12", "25", "*any", "*asap").unwrap();
        assert!(t.matches_day(date(2013, 12, 25)));
        assert!(!t.matches_day(date(2012, 12, 25)));
        assert!(!t.matches_day(date(2013, 12, 24)));
        assert_eq!(t.start_time, 0);
    }

    #[test]
    fn windows_with_an_end() {
        let t = Timing::parse("N", "", "", "", "", "08:00:00;18:00:00").unwrap();
        assert!(!t.active_at(7 * 3600));
        assert!(t.active_at(8 * 3600));
        assert!(!t.active_at(18 * 3600));
    }

    #[test]
    fn rejects_bad_columns() {
        assert_eq!(Timing::parse("B", "x", "", "", "", "").unwrap_err().0, 0);
        assert_eq!(Timing::parse("B", "", "13", "", "", "").unwrap_err().0, 1);
        assert_eq!(Timing::parse("B", "", "", "32", "", "").unwrap_err().0, 2);
        assert_eq!(Timing::parse("B", "", "", "", "8", "").unwrap_err().0, 3);
        assert_eq!(
            Timing::parse("B", "", "", "", "", "25:00:00")
                .unwrap_err()
                .0,
            4
        );
    }
}

#[cfg(test)]
mod last_start_tests {
    use super::*;

    #[test]
    fn the_latest_start_in_the_plan_zone() {
        let tz: Tz = "Europe/Bucharest".parse().unwrap();
        // Mondays at 08:00 local.
        let t = Timing::parse("MON8", "*any", "*any", "*any", "1", "08:00:00").unwrap();
        // Wednesday 2026-11-25 12:00 UTC: the Monday before, 08:00 EET (06:00 UTC).
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap();
        let want = Utc.with_ymd_and_hms(2026, 11, 23, 6, 0, 0).unwrap();
        assert_eq!(t.last_start(now, tz), Some(want));
        // Exactly at the start counts; a second before, the week before.
        assert_eq!(t.last_start(want, tz), Some(want));
        assert_eq!(
            t.last_start(want - TimeDelta::seconds(1), tz),
            Some(want - TimeDelta::days(7))
        );
        // 03:30 on the spring-forward day does not exist: an hour later.
        let gap = Timing::parse("G", "2026", "3", "29", "*any", "03:30:00").unwrap();
        let after = Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 0).unwrap();
        assert_eq!(
            gap.last_start(after, tz),
            Some(Utc.with_ymd_and_hms(2026, 3, 29, 1, 30, 0).unwrap())
        );
        // A date long past the look-back: none.
        let old = Timing::parse("O", "2001", "*any", "*any", "*any", "00:00:00").unwrap();
        assert_eq!(old.last_start(now, tz), None);
    }
}
