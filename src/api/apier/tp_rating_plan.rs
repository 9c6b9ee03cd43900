//! `SetTPRatingPlan` / `GetTPRatingPlan` / `GetTPRatingPlanIds` /
//! `RemTPRatingPlan`: `{TPid, RatingPlanId, RatingPlanBindings:
//! [{DestinationRatesId, TimingId, Weight}]}`.

use super::tp::{self, invalid, require_in, TpKind};
use crate::rpc::{ApiError, Obj, RegistryBuilder};
use crate::state::AppState;
use crate::stordb::records::{rating_plan_row, RatingPlanBinding, RatingPlanRec};
use crate::stordb::TpData;
use rater::loader::RATING_PLANS;
use std::collections::BTreeMap;

pub struct RatingPlan;

impl TpKind for RatingPlan {
    type Record = RatingPlanRec;
    const KIND: &'static str = "RatingPlan";
    const STRUCT: &'static str = "TPRatingPlan";
    const ID_FIELD: &'static str = "RatingPlanId";
    const REQUIRED: &'static [&'static str] = &["RatingPlanBindings"];

    fn decode(obj: &Obj<'_>, _: &AppState) -> Result<(Option<String>, RatingPlanRec), ApiError> {
        let mut bindings = Vec::new();
        for (i, b) in obj
            .objects("RatingPlanBindings", "TPRatingPlanBinding")?
            .iter()
            .enumerate()
        {
            require_in(
                b,
                "RatingPlanBindings",
                i,
                &["DestinationRatesId", "TimingId"],
            )?;
            let binding = RatingPlanBinding {
                destination_rates_id: b.string("DestinationRatesId")?,
                timing_id: b.string("TimingId")?,
                weight: b.decimal("Weight")?.unwrap_or_default().normalize(),
            };
            rating_plan_row("check", &binding).map_err(|(c, m)| {
                invalid(format!("RatingPlanBindings[{i}].{}", RATING_PLANS[c]), m)
            })?;
            bindings.push(binding);
        }
        Ok((
            None,
            RatingPlanRec {
                rating_plan_bindings: bindings,
            },
        ))
    }

    fn map(tp: &TpData) -> &BTreeMap<String, RatingPlanRec> {
        &tp.rating_plans
    }

    fn map_mut(tp: &mut TpData) -> &mut BTreeMap<String, RatingPlanRec> {
        &mut tp.rating_plans
    }
}

pub fn register(r: &mut RegistryBuilder) {
    tp::register::<RatingPlan>(r);
}
