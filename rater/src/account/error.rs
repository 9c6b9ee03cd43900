//! Errors of account operations, in the CGRateS vocabulary.

use crate::error::RatingError;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AccountError {
    /// The balances cannot cover the debit and the account may not go negative.
    #[error("INSUFFICIENT_CREDIT")]
    InsufficientCredit,
    #[error("ACCOUNT_NOT_FOUND")]
    AccountNotFound,
    #[error("ACCOUNT_DISABLED")]
    AccountDisabled,
    /// A balance, action or record the request names does not exist.
    #[error("NOT_FOUND")]
    NotFound,
    #[error("MANDATORY_IE_MISSING: [{0}]")]
    MandatoryIeMissing(String),
    /// The request is well formed but cannot be carried out (message says why).
    #[error("SERVER_ERROR: {0}")]
    Invalid(String),
    #[error(transparent)]
    Rating(#[from] RatingError),
    /// The store failed; nothing was acknowledged.
    #[error("SERVER_ERROR: {0}")]
    Store(String),
}
