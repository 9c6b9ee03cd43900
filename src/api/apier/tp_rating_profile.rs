//! `SetTPRatingProfile` / `GetTPRatingProfile` / `GetTPRatingProfileIds` /
//! `RemTPRatingProfile`: `{TPid, LoadId, Direction, Tenant, Category,
//! Subject, RatingPlanActivations: [{ActivationTime, RatingPlanId,
//! FallbackSubjects}]}`.
//!
//! A profile's id is `Tenant:Category:Subject`; Get and Rem also take
//! CGRateS's `LoadId:Direction:Tenant:Category:Subject` (or
//! `Direction:Tenant:Category:Subject`) in `RatingProfileId`.

use super::tp::{self, invalid, require_in, TpKind};
use crate::rpc::{ApiError, Obj, RegistryBuilder};
use crate::state::AppState;
use crate::stordb::records::{rating_profile_row, RatingPlanActivation, RatingProfileRec};
use crate::stordb::TpData;
use rater::loader::RATING_PROFILES;
use std::collections::BTreeMap;

pub struct RatingProfile;

impl TpKind for RatingProfile {
    type Record = RatingProfileRec;
    const KIND: &'static str = "RatingProfile";
    const STRUCT: &'static str = "TPRatingProfile";
    const ID_FIELD: &'static str = "RatingProfileId";
    const SET_TAKES_ID: bool = false;
    const REQUIRED: &'static [&'static str] =
        &["Tenant", "Category", "Subject", "RatingPlanActivations"];

    fn decode(
        obj: &Obj<'_>,
        state: &AppState,
    ) -> Result<(Option<String>, RatingProfileRec), ApiError> {
        let mut rec = RatingProfileRec {
            load_id: obj.string("LoadId")?,
            direction: obj.str("Direction")?.unwrap_or_else(|| "*out".into()),
            tenant: obj.string("Tenant")?,
            category: obj.str_or_number("Category")?.unwrap_or_default(),
            subject: obj.string("Subject")?,
            rating_plan_activations: Vec::new(),
        };
        let tz = state.config.general.timezone;
        for (i, a) in obj
            .objects("RatingPlanActivations", "TPRatingActivation")?
            .iter()
            .enumerate()
        {
            require_in(a, "RatingPlanActivations", i, &["RatingPlanId"])?;
            let activation = RatingPlanActivation {
                activation_time: a.string("ActivationTime")?,
                rating_plan_id: a.string("RatingPlanId")?,
                fallback_subjects: a.string("FallbackSubjects")?,
            };
            let row = rating_profile_row(&rec, &activation, tz).map_err(|(c, m)| {
                invalid(
                    format!("RatingPlanActivations[{i}].{}", RATING_PROFILES[c]),
                    m,
                )
            })?;
            for (j, other) in rec.rating_plan_activations.iter().enumerate() {
                let at = rating_profile_row(&rec, other, tz)
                    .map(|r| r.activation_time)
                    .ok();
                if at == Some(row.activation_time) {
                    return Err(invalid(
                        format!("RatingPlanActivations[{i}].ActivationTime"),
                        format!("same time as RatingPlanActivations[{j}]"),
                    ));
                }
            }
            rec.rating_plan_activations.push(activation);
        }
        let id = format!("{}:{}:{}", rec.tenant, rec.category, rec.subject);
        Ok((Some(id), rec))
    }

    fn map(tp: &TpData) -> &BTreeMap<String, RatingProfileRec> {
        &tp.rating_profiles
    }

    fn map_mut(tp: &mut TpData) -> &mut BTreeMap<String, RatingProfileRec> {
        &mut tp.rating_profiles
    }

    fn requested_id(raw: String) -> String {
        let parts: Vec<&str> = raw.split(':').collect();
        if parts.len() > 3 {
            parts[parts.len() - 3..].join(":")
        } else {
            raw
        }
    }
}

pub fn register(r: &mut RegistryBuilder) {
    tp::register::<RatingProfile>(r);
}
