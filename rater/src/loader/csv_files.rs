//! Reading the CSV files of a CGRateS tariff-plan folder into rows.
//! `#` starts a comment line, fields are trimmed, a missing file is an
//! empty one, and every bad field is reported with file, line and column.

use super::error::{LoadError, Origin};
use super::rows::*;
use crate::timing::Timing;
use chrono_tz::Tz;
use std::path::Path;
use std::sync::Arc;

/// Line numbers from byte offsets that only grow, counted once.
#[derive(Default)]
struct LineCounter {
    offset: usize,
    line: u64,
}

impl LineCounter {
    /// The line of the record at `offset`, past any blank or comment
    /// lines the CSV reader skipped before it.
    fn line_at(&mut self, content: &[u8], offset: usize) -> u64 {
        let mut offset = offset.min(content.len());
        while let Some(&b) = content.get(offset) {
            match b {
                b'\n' | b'\r' => offset += 1,
                b'#' => match content[offset..].iter().position(|c| *c == b'\n') {
                    Some(nl) => offset += nl + 1,
                    None => offset = content.len(),
                },
                _ => break,
            }
        }
        if offset >= self.offset {
            self.line += content[self.offset..offset]
                .iter()
                .filter(|b| **b == b'\n')
                .count() as u64;
            self.offset = offset;
        }
        self.line + 1
    }
}

/// The widest file has this many columns.
const MAX_COLUMNS: usize = 21;

/// Calls `each` with the fields and origin of every record of `file` in
/// `dir`, after checking the column count. A missing file yields nothing.
fn for_each_record(
    dir: &Path,
    file: &str,
    columns: &'static [&'static str],
    mut each: impl FnMut(&[&str], &Origin) -> Result<(), LoadError>,
) -> Result<(), LoadError> {
    let path = dir.join(file);
    let content = match std::fs::read(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(LoadError::Io {
                path: path.display().to_string(),
                message: e.to_string(),
            })
        }
    };
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .comment(Some(b'#'))
        .flexible(true)
        .trim(csv::Trim::All)
        .buffer_capacity(1 << 16)
        .from_reader(content.as_slice());
    let name: Arc<str> = Arc::from(file);
    let mut record = csv::ByteRecord::new();
    let mut lines = LineCounter::default();
    loop {
        let more = csv.read_byte_record(&mut record).map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or(0);
            LoadError::record(
                &Origin {
                    file: name.clone(),
                    line,
                },
                e.to_string(),
            )
        })?;
        if !more {
            return Ok(());
        }
        let offset = record.position().map_or(0, |p| p.byte() as usize);
        let origin = Origin {
            file: name.clone(),
            line: lines.line_at(&content, offset),
        };
        if record.len() == 1 && record[0].is_empty() {
            continue;
        }
        if record.len() != columns.len() {
            return Err(LoadError::record(
                &origin,
                format!(
                    "expected {} columns ({}), found {}",
                    columns.len(),
                    columns.join(","),
                    record.len()
                ),
            ));
        }
        let mut fields = [""; MAX_COLUMNS];
        for (i, raw) in record.iter().enumerate() {
            fields[i] = std::str::from_utf8(raw)
                .map_err(|_| LoadError::at(&origin, columns, i, "is not valid UTF-8"))?;
        }
        each(&fields[..columns.len()], &origin)?;
    }
}

fn row<T>(
    origin: &Origin,
    columns: &'static [&'static str],
    parsed: Result<T, (usize, String)>,
) -> Result<Row<T>, LoadError> {
    parsed
        .map(|data| Row {
            origin: origin.clone(),
            data,
        })
        .map_err(|(i, msg)| LoadError::at(origin, columns, i, msg))
}

/// Reads the six rating files of a folder.
pub fn read_folder(dir: &Path, tz: Tz) -> Result<TariffPlanData, LoadError> {
    if !dir.is_dir() {
        return Err(LoadError::Io {
            path: dir.display().to_string(),
            message: "not a directory".into(),
        });
    }
    let mut data = TariffPlanData::default();
    for_each_record(dir, "Destinations.csv", DESTINATIONS, |f, origin| {
        if f[0].is_empty() {
            return Err(LoadError::at(origin, DESTINATIONS, 0, "must not be empty"));
        }
        if f[1].is_empty() {
            return Err(LoadError::at(origin, DESTINATIONS, 1, "must not be empty"));
        }
        data.destinations.add(f[0], f[1]);
        Ok(())
    })?;
    for_each_record(dir, "Timings.csv", TIMINGS, |f, origin| {
        let parsed = if f[0].is_empty() {
            Err((0, "must not be empty".to_string()))
        } else {
            Timing::parse(f[0], f[1], f[2], f[3], f[4], f[5]).map_err(|(i, m)| (i + 1, m))
        };
        data.timings.push(row(origin, TIMINGS, parsed)?);
        Ok(())
    })?;
    for_each_record(dir, "Rates.csv", RATES, |f, origin| {
        data.rates.push(row(origin, RATES, RateRow::parse(f))?);
        Ok(())
    })?;
    for_each_record(
        dir,
        "DestinationRates.csv",
        DESTINATION_RATES,
        |f, origin| {
            let parsed = DestinationRateRow::parse(f);
            data.destination_rates
                .push(row(origin, DESTINATION_RATES, parsed)?);
            Ok(())
        },
    )?;
    for_each_record(dir, "RatingPlans.csv", RATING_PLANS, |f, origin| {
        data.rating_plans
            .push(row(origin, RATING_PLANS, RatingPlanRow::parse(f))?);
        Ok(())
    })?;
    for_each_record(dir, "RatingProfiles.csv", RATING_PROFILES, |f, origin| {
        let parsed = RatingProfileRow::parse(f, tz);
        data.rating_profiles
            .push(row(origin, RATING_PROFILES, parsed)?);
        Ok(())
    })?;
    read_account_files(dir, tz, &mut data.accounts)?;
    Ok(data)
}

/// Reads the account files: Actions, ActionPlans, ActionTriggers,
/// AccountActions and VolumeDiscounts.
fn read_account_files(dir: &Path, tz: Tz, accounts: &mut AccountPlanData) -> Result<(), LoadError> {
    for_each_record(dir, "Actions.csv", ACTIONS, |f, origin| {
        accounts
            .actions
            .push(row(origin, ACTIONS, parse_action(f, tz))?);
        Ok(())
    })?;
    for_each_record(dir, "ActionPlans.csv", ACTION_PLANS, |f, origin| {
        accounts
            .action_plans
            .push(row(origin, ACTION_PLANS, parse_action_plan(f))?);
        Ok(())
    })?;
    for_each_record(dir, "ActionTriggers.csv", ACTION_TRIGGERS, |f, origin| {
        accounts
            .action_triggers
            .push(row(origin, ACTION_TRIGGERS, parse_action_trigger(f))?);
        Ok(())
    })?;
    for_each_record(dir, "AccountActions.csv", ACCOUNT_ACTIONS, |f, origin| {
        accounts
            .account_actions
            .push(row(origin, ACCOUNT_ACTIONS, parse_account_actions(f))?);
        Ok(())
    })?;
    for_each_record(dir, "VolumeDiscounts.csv", VOLUME_DISCOUNTS, |f, origin| {
        accounts
            .volume_discounts
            .push(row(origin, VOLUME_DISCOUNTS, parse_volume_discount(f))?);
        Ok(())
    })
}
