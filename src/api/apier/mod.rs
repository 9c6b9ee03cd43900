//! `ApierV1.*` (also answered as `APIerSv1.*`): the tariff-plan API.
//! Records are kept in StorDb by TPid and become live with
//! `LoadTariffPlanFromStorDb`; `LoadTariffPlanFromFolder` loads a CSV
//! folder directly.

pub mod get_tp_ids;
pub mod load_tariff_plan;
pub mod tp;
pub mod tp_destination;
pub mod tp_destination_rate;
pub mod tp_rate;
pub mod tp_rating_plan;
pub mod tp_rating_profile;
pub mod tp_timing;
