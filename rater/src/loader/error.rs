//! Where a tariff-plan record came from, and the error that names it.

use std::fmt;
use std::sync::Arc;
use thiserror::Error;

/// The file (or API source) and line of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: Arc<str>,
    pub line: u64,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} line {}", self.file, self.line)
    }
}

/// A tariff plan that cannot be loaded; nothing of it is applied.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LoadError {
    /// A record is wrong: `column` is 1-based with its header name.
    #[error("{origin}{}: {message}", column_suffix(.column))]
    Record {
        origin: Origin,
        column: Option<(usize, &'static str)>,
        message: String,
    },
    /// The folder or a file could not be read at all.
    #[error("{path}: {message}")]
    Io { path: String, message: String },
}

fn column_suffix(column: &Option<(usize, &'static str)>) -> String {
    match column {
        Some((n, name)) => format!(", column {n} ({name})"),
        None => String::new(),
    }
}

impl LoadError {
    /// An error in column `index` (0-based) of a file with header `columns`.
    pub fn at(
        origin: &Origin,
        columns: &[&'static str],
        index: usize,
        message: impl Into<String>,
    ) -> Self {
        LoadError::Record {
            origin: origin.clone(),
            column: columns.get(index).map(|name| (index + 1, *name)),
            message: message.into(),
        }
    }

    /// An error about a whole record.
    pub fn record(origin: &Origin, message: impl Into<String>) -> Self {
        LoadError::Record {
            origin: origin.clone(),
            column: None,
            message: message.into(),
        }
    }
}
