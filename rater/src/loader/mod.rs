//! Loading a CGRateS tariff plan: CSV folder → checked rows → compiled
//! `TariffPlan`. Either the whole plan loads or an error names the file,
//! line and column of the first bad record; nothing is half-loaded.

mod compile;
mod csv_files;
mod error;
mod rows;

pub use compile::compile;
pub use csv_files::read_folder;
pub use error::{LoadError, Origin};
pub use rows::*;

use crate::tariff::TariffPlan;
use chrono_tz::Tz;
use std::path::Path;

/// Loads and compiles the tariff plan in folder `dir`, with time-of-day
/// rules read in `timezone`.
pub fn load_folder(dir: impl AsRef<Path>, timezone: Tz) -> Result<TariffPlan, LoadError> {
    let data = read_folder(dir.as_ref(), timezone)?;
    compile(data, timezone)
}
