//! Errors the rater reports, worded in the CGRateS error vocabulary so that
//! front ends can pass them to clients unchanged.

use thiserror::Error;

/// Why a cost could not be computed. The `Display` text of each variant is
/// the exact word CGRateS clients expect.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RatingError {
    /// No rating profile (nor a fallback nor `*any`) covers the subject at the call's time.
    #[error("RATING_PLAN_NOT_FOUND")]
    RatingPlanNotFound,
    /// A rating profile exists but none of its plans rates this destination.
    #[error("UNAUTHORIZED_DESTINATION")]
    UnauthorizedDestination,
    /// The descriptor is unusable (for example TimeEnd before TimeStart).
    #[error("MANDATORY_IE_MISSING: [{0}]")]
    MandatoryIeMissing(String),
    /// The descriptor carries a value the engine refuses (message says which).
    #[error("SERVER_ERROR: {0}")]
    Invalid(String),
}
