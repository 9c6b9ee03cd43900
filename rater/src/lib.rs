//! tollgate's rating and balance engine.
//!
//! The rater knows CGRateS tariff plans and computes exact call costs with
//! decimal money (never floating point). It does no I/O but reading tariff
//! plans (and, later, its account store). Its modules, from the bottom:
//!
//! - [`duration`], [`rounding`], [`timing`], [`destinations`]: the small
//!   vocabularies of tariff plans.
//! - [`loader`]: CSV folder → checked rows → compiled [`TariffPlan`].
//! - [`tariff`]: the compiled, immutable plan.
//! - [`cost`]: GetCost, producing a [`CallCost`] from a [`CallDescriptor`].

pub mod account;
pub mod actions;
pub mod callcost;
pub mod cost;
pub mod descriptor;
pub mod destinations;
pub mod duration;
pub mod engine;
pub mod error;
pub mod loader;
pub mod rounding;
pub mod store;
pub mod tariff;
pub mod timing;

pub use callcost::{CallCost, Increment, Timespan};
pub use descriptor::CallDescriptor;
pub use error::RatingError;
pub use loader::{load_folder, LoadError};
pub use rounding::RoundingMethod;
pub use tariff::TariffPlan;
