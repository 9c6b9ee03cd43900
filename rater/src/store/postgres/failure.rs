//! Failures of the database or of the connection to it, named with their
//! cause, and what may be tried again.

use crate::account::AccountError;
use std::error::Error as StdError;
use std::time::Duration;
use tokio_postgres::error::SqlState;

/// A failure of the database or of the connection to it, with its cause.
#[derive(Debug, Clone)]
pub(super) struct DbFailure {
    /// The SQLSTATE, when the server reported the error.
    pub code: Option<SqlState>,
    /// Whether the connection itself failed (lost, refused, timed out).
    pub connection: bool,
    pub text: String,
}

impl DbFailure {
    pub fn of_pg(e: &tokio_postgres::Error) -> Self {
        let text = format!("postgres: {}", pgschema::describe(e));
        if let Some(db) = e.as_db_error() {
            let class = &db.code().code()[..2];
            return DbFailure {
                code: Some(db.code().clone()),
                // 08: connection exception; 57P0x: the server is shutting
                // down or this backend was terminated.
                connection: class == "08" || db.code().code().starts_with("57P0"),
                text,
            };
        }
        DbFailure {
            code: None,
            connection: true,
            text,
        }
    }

    pub fn of_pool(e: &deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(pg) => DbFailure::of_pg(pg),
            other => DbFailure {
                code: None,
                connection: true,
                text: format!("postgres pool: {}", chain(other)),
            },
        }
    }

    /// No answer before the deadline: the connection is given up.
    pub fn timed_out(after: Duration) -> Self {
        DbFailure {
            code: None,
            connection: true,
            text: format!(
                "postgres: no answer within {} ms (server down or unreachable?)",
                after.as_millis()
            ),
        }
    }

    /// The transaction was rolled back and may succeed if repeated.
    pub fn rolled_back_retryable(&self) -> bool {
        matches!(
            &self.code,
            Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
        )
    }

    /// Another transaction recorded the same op id first: a repeat
    /// answers its record.
    pub fn unique_violation(&self) -> bool {
        self.code.as_ref() == Some(&SqlState::UNIQUE_VIOLATION)
    }

    pub fn into_error(self) -> AccountError {
        AccountError::Store(self.text)
    }

    pub fn sqlstate(&self) -> Option<&str> {
        self.code.as_ref().map(SqlState::code)
    }
}

/// `e: cause: cause …`, without repeating a cause already in the text.
pub(super) fn chain(e: &(dyn StdError + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

/// How a PostgreSQL failure reads in tollgate's errors and logs:
/// `postgres: ERROR 40001: …`, or the client side's chain of causes.
pub fn describe_pg(e: &tokio_postgres::Error) -> String {
    DbFailure::of_pg(e).text
}

/// As [`describe_pg`], for a failure to get a pooled connection.
pub fn describe_pool(e: &deadpool_postgres::PoolError) -> String {
    DbFailure::of_pool(e).text
}

pub(super) fn pg_err(e: tokio_postgres::Error) -> AccountError {
    DbFailure::of_pg(&e).into_error()
}

pub(super) fn pool_err(e: deadpool_postgres::PoolError) -> AccountError {
    DbFailure::of_pool(&e).into_error()
}

pub(super) fn db_err(e: impl std::fmt::Display) -> AccountError {
    AccountError::Store(format!("postgres: {e}"))
}

/// The pause before attempt `n` (1-based) is repeated.
pub(super) fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(5u64 << attempt.min(6))
}
