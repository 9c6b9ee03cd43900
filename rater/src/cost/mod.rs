//! GetCost: the price of a call descriptor under a tariff plan, with the
//! semantics of CGRateS's rating (see the README for where tollgate is
//! exact and CGRateS's floats drift).

mod price;
mod resolve;
mod split;

pub use resolve::MAX_FALLBACK_DEPTH;

use crate::callcost::CallCost;
use crate::descriptor::CallDescriptor;
use crate::error::RatingError;
use crate::tariff::TariffPlan;

impl TariffPlan {
    /// Rates `cd`: finds the plans, splits the call into timespans, rounds
    /// them to increments and prices them.
    pub fn get_cost(&self, cd: &CallDescriptor) -> Result<CallCost, RatingError> {
        if cd.time_end < cd.time_start {
            return Err(RatingError::Invalid("TimeEnd is before TimeStart".into()));
        }
        if cd.tenant.is_empty() {
            return Err(RatingError::MandatoryIeMissing("Tenant".into()));
        }
        if cd.rating_subject().is_empty() {
            return Err(RatingError::MandatoryIeMissing("Subject Account".into()));
        }
        let mut pieces = Vec::with_capacity(1);
        self.resolve(cd, &mut pieces)?;
        let mut spans = Vec::with_capacity(2);
        split::split(self.timezone, cd, &pieces, &mut spans)?;
        split::round_to_increments(&mut spans);
        price::price(cd, &pieces, spans)
    }
}
