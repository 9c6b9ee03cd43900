//! Errors a method answers, worded in CGRateS's vocabulary so that clients
//! written for CGRateS recognise them (`NOT_FOUND`, `MANDATORY_IE_MISSING:
//! [TPid RateId]`, …), and Go `net/rpc`'s words for unknown names.

use thiserror::Error;

/// An error answered to a client. `Display` is the exact text sent.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ApiError {
    /// Mandatory fields absent, null or empty, in the order they were checked.
    #[error("MANDATORY_IE_MISSING: [{}]", .0.join(" "))]
    MandatoryIeMissing(Vec<String>),
    #[error("NOT_FOUND")]
    NotFound,
    #[error("DUPLICATE")]
    Duplicate,
    #[error("UNAUTHORIZED_DESTINATION")]
    UnauthorizedDestination,
    #[error("RATING_PLAN_NOT_FOUND")]
    RatingPlanNotFound,
    #[error("INSUFFICIENT_CREDIT")]
    InsufficientCredit,
    #[error("ACCOUNT_NOT_FOUND")]
    AccountNotFound,
    /// The usage asked for exceeds `limits.max_usage` (CGRateS's
    /// `ErrMaxUsageExceeded`); refused before any work.
    #[error("MAX_USAGE_EXCEEDED")]
    MaxUsageExceeded,
    /// Something failed on the server side, or a value is unusable.
    #[error("SERVER_ERROR: {0}")]
    ServerError(String),
    /// A value the client sent is unusable (CGRateS reports these as
    /// `SERVER_ERROR` too, but they are the client's to fix).
    #[error("SERVER_ERROR: {0}")]
    Invalid(String),
    /// A request body field has the wrong JSON type (Go's decoding error).
    #[error("json: cannot unmarshal {found} into Go struct field {field} of type {expected}")]
    WrongType {
        field: String,
        found: &'static str,
        expected: &'static str,
    },
    /// The request itself is not a JSON-RPC request.
    #[error("{0}")]
    BadRequest(String),
    /// `rpc: can't find service X` (Go net/rpc, full `Service.Method`).
    #[error("rpc: can't find service {0}")]
    NoService(String),
    /// `rpc: can't find method X` (Go net/rpc, full `Service.Method`).
    #[error("rpc: can't find method {0}")]
    NoMethod(String),
    /// A method name without a dot.
    #[error("rpc: service/method request ill-formed: {0}")]
    IllFormed(String),
    /// Any other text, sent verbatim (for example a tariff-plan loader error).
    #[error("{0}")]
    Other(String),
}

/// Broad classes of errors, for HTTP status codes, JSON-RPC 2.0 error codes
/// and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The method does not exist.
    UnknownMethod,
    /// The request is malformed.
    BadRequest,
    /// The request is well-formed but names something absent or conflicting,
    /// or the engine refuses it (no rate, no credit).
    Refused,
    /// The server failed.
    Server,
}

impl ApiError {
    /// Shorthand for `MANDATORY_IE_MISSING` of some fields.
    pub fn missing<S: AsRef<str>>(fields: &[S]) -> Self {
        ApiError::MandatoryIeMissing(fields.iter().map(|f| f.as_ref().to_string()).collect())
    }

    /// Shorthand for `SERVER_ERROR: …`.
    pub fn server(message: impl std::fmt::Display) -> Self {
        ApiError::ServerError(message.to_string())
    }

    /// The error whose text is `text` in CGRateS's words: `NOT_FOUND`,
    /// `MANDATORY_IE_MISSING: [A B]`, `SERVER_ERROR: …`, … (anything else
    /// is sent verbatim). Maps any error type whose `Display` already
    /// speaks CGRateS (the rater's account errors) without knowing it.
    pub fn from_words(text: impl std::fmt::Display) -> Self {
        let text = text.to_string();
        match text.as_str() {
            "NOT_FOUND" => return ApiError::NotFound,
            "DUPLICATE" => return ApiError::Duplicate,
            "UNAUTHORIZED_DESTINATION" => return ApiError::UnauthorizedDestination,
            "RATING_PLAN_NOT_FOUND" => return ApiError::RatingPlanNotFound,
            "INSUFFICIENT_CREDIT" => return ApiError::InsufficientCredit,
            "ACCOUNT_NOT_FOUND" => return ApiError::AccountNotFound,
            "MAX_USAGE_EXCEEDED" => return ApiError::MaxUsageExceeded,
            _ => {}
        }
        if let Some(list) = text
            .strip_prefix("MANDATORY_IE_MISSING: [")
            .and_then(|l| l.strip_suffix(']'))
        {
            return ApiError::MandatoryIeMissing(
                list.split_whitespace().map(String::from).collect(),
            );
        }
        if let Some(message) = text.strip_prefix("SERVER_ERROR: ") {
            return ApiError::ServerError(message.to_string());
        }
        ApiError::Other(text)
    }

    pub fn class(&self) -> ErrorClass {
        match self {
            ApiError::NoService(_) | ApiError::NoMethod(_) | ApiError::IllFormed(_) => {
                ErrorClass::UnknownMethod
            }
            ApiError::MandatoryIeMissing(_)
            | ApiError::WrongType { .. }
            | ApiError::Invalid(_)
            | ApiError::BadRequest(_) => ErrorClass::BadRequest,
            ApiError::ServerError(_) => ErrorClass::Server,
            _ => ErrorClass::Refused,
        }
    }

    /// The JSON-RPC 2.0 error code.
    pub fn code(&self) -> i64 {
        match self.class() {
            ErrorClass::UnknownMethod => -32601,
            ErrorClass::BadRequest => -32602,
            ErrorClass::Refused | ErrorClass::Server => -32000,
        }
    }
}

impl From<rater::RatingError> for ApiError {
    fn from(e: rater::RatingError) -> Self {
        use rater::RatingError as R;
        match e {
            R::RatingPlanNotFound => ApiError::RatingPlanNotFound,
            R::UnauthorizedDestination => ApiError::UnauthorizedDestination,
            R::MandatoryIeMissing(fields) => {
                ApiError::MandatoryIeMissing(fields.split_whitespace().map(String::from).collect())
            }
            R::Invalid(message) => ApiError::Invalid(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_words_round_trips() {
        for e in [
            ApiError::NotFound,
            ApiError::InsufficientCredit,
            ApiError::AccountNotFound,
            ApiError::missing(&["Tenant", "Account"]),
            ApiError::ServerError("disk full".into()),
            ApiError::Other("SOMETHING_ELSE".into()),
        ] {
            assert_eq!(ApiError::from_words(&e), e);
        }
    }

    #[test]
    fn words_are_cgrates_and_go() {
        assert_eq!(
            ApiError::missing(&["TPid", "RateId"]).to_string(),
            "MANDATORY_IE_MISSING: [TPid RateId]"
        );
        assert_eq!(
            ApiError::NoMethod("Responder.Foo".into()).to_string(),
            "rpc: can't find method Responder.Foo"
        );
        assert_eq!(
            ApiError::from(rater::RatingError::MandatoryIeMissing(
                "Subject Account".into()
            ))
            .to_string(),
            "MANDATORY_IE_MISSING: [Subject Account]"
        );
    }
}
