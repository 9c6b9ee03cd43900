//! Turning checked rows into a `TariffPlan`: resolving every reference
//! (rate, destination, timing, destination rates, rating plan), refusing
//! duplicates, and building the per-destination indexes the engine reads.

use super::error::LoadError;
use super::rows::*;
use crate::tariff::*;
use crate::timing::Timing;
use chrono_tz::Tz;
use rustc_hash::FxHashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

/// Builds the plan, or names the first record that is wrong.
pub fn compile(data: TariffPlanData, timezone: Tz) -> Result<TariffPlan, LoadError> {
    let mut plan = TariffPlan::empty(timezone);
    plan.timings.insert("*any".into(), Arc::new(Timing::any()));
    for row in data.timings {
        match plan.timings.entry(row.data.id.clone()) {
            Entry::Occupied(_) => {
                return Err(LoadError::at(
                    &row.origin,
                    TIMINGS,
                    0,
                    format!("duplicate timing {:?}", row.data.id),
                ))
            }
            Entry::Vacant(v) => {
                v.insert(Arc::new(row.data));
            }
        }
    }
    compile_rates(&mut plan, data.rates)?;
    plan.destinations = data.destinations;
    compile_destination_rates(&mut plan, data.destination_rates)?;
    compile_rating_plans(&mut plan, data.rating_plans)?;
    compile_profiles(&mut plan, data.rating_profiles)?;
    compile_accounts(&mut plan, data.accounts)?;
    Ok(plan)
}

fn compile_rates(plan: &mut TariffPlan, rows: Vec<Row<RateRow>>) -> Result<(), LoadError> {
    let mut rates: FxHashMap<String, Rate> = FxHashMap::default();
    for row in rows {
        let r = row.data;
        let rate = rates.entry(r.id.clone()).or_insert_with(|| Rate {
            id: r.id.clone(),
            groups: vec![],
        });
        if rate
            .groups
            .iter()
            .any(|g| g.group_interval_start == r.group_interval_start)
        {
            return Err(LoadError::at(
                &row.origin,
                RATES,
                5,
                format!(
                    "rate {:?} already has a group starting at {}",
                    r.id,
                    crate::duration::format_duration(r.group_interval_start)
                ),
            ));
        }
        rate.groups.push(RateGroup {
            group_interval_start: r.group_interval_start,
            value: r.rate,
            rate_increment: r.rate_increment,
            rate_unit: r.rate_unit,
            connect_fee: r.connect_fee,
        });
    }
    for (id, mut rate) in rates {
        rate.groups.sort_by_key(|g| g.group_interval_start);
        plan.rates.insert(id, Arc::new(rate));
    }
    Ok(())
}

fn compile_destination_rates(
    plan: &mut TariffPlan,
    rows: Vec<Row<DestinationRateRow>>,
) -> Result<(), LoadError> {
    for row in rows {
        let r = row.data;
        let destination = if r.destination_id == "*any" {
            None
        } else {
            Some(plan.destinations.id(&r.destination_id).ok_or_else(|| {
                LoadError::at(
                    &row.origin,
                    DESTINATION_RATES,
                    1,
                    format!("unknown destination {:?}", r.destination_id),
                )
            })?)
        };
        let rate = plan.rates.get(&r.rates_tag).cloned().ok_or_else(|| {
            LoadError::at(
                &row.origin,
                DESTINATION_RATES,
                2,
                format!("unknown rate {:?}", r.rates_tag),
            )
        })?;
        let max_cost = match r.max_cost_strategy {
            Some(strategy) if !r.max_cost.is_zero() => Some(MaxCost {
                amount: r.max_cost,
                strategy,
            }),
            _ => None,
        };
        let entries = plan.destination_rates.entry(r.id.clone()).or_default();
        if entries.iter().any(|(d, _)| *d == destination) {
            return Err(LoadError::at(
                &row.origin,
                DESTINATION_RATES,
                1,
                format!(
                    "destination {:?} appears twice in {:?}",
                    r.destination_id, r.id
                ),
            ));
        }
        entries.push((
            destination,
            Arc::new(Rating {
                destination_rate_id: r.id,
                rate,
                rounding_method: r.rounding_method,
                rounding_decimals: r.rounding_decimals,
                max_cost,
            }),
        ));
    }
    Ok(())
}

fn compile_rating_plans(
    plan: &mut TariffPlan,
    rows: Vec<Row<RatingPlanRow>>,
) -> Result<(), LoadError> {
    let mut plans: FxHashMap<String, RatingPlan> = FxHashMap::default();
    for row in rows {
        let r = row.data;
        let entries = plan
            .destination_rates
            .get(&r.destination_rates_id)
            .ok_or_else(|| {
                LoadError::at(
                    &row.origin,
                    RATING_PLANS,
                    1,
                    format!("unknown destination rates {:?}", r.destination_rates_id),
                )
            })?;
        let timing = plan.timings.get(&r.timing_tag).cloned().ok_or_else(|| {
            LoadError::at(
                &row.origin,
                RATING_PLANS,
                2,
                format!("unknown timing {:?}", r.timing_tag),
            )
        })?;
        let rp = plans
            .entry(r.id.clone())
            .or_insert_with(|| RatingPlan::new(&r.id));
        for (destination, rating) in entries {
            let interval = Arc::new(RateInterval {
                timing: timing.clone(),
                weight: r.weight,
                rating: rating.clone(),
            });
            match destination {
                Some(d) => rp.by_destination.entry(*d).or_default().push(interval),
                None => rp.any_destination.push(interval),
            }
        }
    }
    for (id, mut rp) in plans {
        let by_weight = |a: &Arc<RateInterval>, b: &Arc<RateInterval>| b.weight.cmp(&a.weight);
        for intervals in rp.by_destination.values_mut() {
            intervals.sort_by(by_weight);
        }
        rp.any_destination.sort_by(by_weight);
        plan.rating_plans.insert(id, Arc::new(rp));
    }
    Ok(())
}

fn compile_profiles(
    plan: &mut TariffPlan,
    rows: Vec<Row<RatingProfileRow>>,
) -> Result<(), LoadError> {
    for row in rows {
        let r = row.data;
        let rating_plan = plan
            .rating_plans
            .get(&r.rating_plan_id)
            .cloned()
            .ok_or_else(|| {
                LoadError::at(
                    &row.origin,
                    RATING_PROFILES,
                    4,
                    format!("unknown rating plan {:?}", r.rating_plan_id),
                )
            })?;
        let key = TariffPlan::profile_key(&r.tenant, &r.category, &r.subject);
        let profile = plan
            .profiles
            .entry(key.clone())
            .or_insert_with(|| RatingProfile {
                key: Arc::from(key),
                activations: vec![],
            });
        if profile
            .activations
            .iter()
            .any(|a| a.at == r.activation_time)
        {
            return Err(LoadError::at(
                &row.origin,
                RATING_PROFILES,
                3,
                format!(
                    "{}:{}:{} already has a plan activated at {}",
                    r.tenant,
                    r.category,
                    r.subject,
                    r.activation_time.to_rfc3339()
                ),
            ));
        }
        profile.activations.push(Activation {
            at: r.activation_time,
            plan: rating_plan,
            fallback_subjects: r.fallback_subjects,
        });
    }
    for profile in plan.profiles.values_mut() {
        profile.activations.sort_by_key(|a| a.at);
    }
    Ok(())
}

fn compile_accounts(plan: &mut TariffPlan, data: AccountPlanData) -> Result<(), LoadError> {
    let accounts = &mut plan.accounts;
    for row in data.actions {
        accounts
            .actions
            .entry(row.data.id.clone())
            .or_default()
            .push(row.data);
    }
    for list in accounts.actions.values_mut() {
        list.sort_by_key(|a| std::cmp::Reverse(a.weight));
    }
    for row in data.action_plans {
        if !accounts.actions.contains_key(&row.data.timing.actions_id) {
            return Err(LoadError::at(
                &row.origin,
                ACTION_PLANS,
                1,
                format!("unknown actions {:?}", row.data.timing.actions_id),
            ));
        }
        let t = &row.data.timing.timing_id;
        if t != "*asap" && !plan.timings.contains_key(t) {
            return Err(LoadError::at(
                &row.origin,
                ACTION_PLANS,
                2,
                format!("unknown timing {t:?}"),
            ));
        }
        accounts
            .action_plans
            .entry(row.data.id)
            .or_default()
            .push(row.data.timing);
    }
    for list in accounts.action_plans.values_mut() {
        list.sort_by_key(|a| std::cmp::Reverse(a.weight));
    }
    for row in data.action_triggers {
        if !accounts.actions.contains_key(&row.data.actions_id) {
            return Err(LoadError::at(
                &row.origin,
                ACTION_TRIGGERS,
                19,
                format!("unknown actions {:?}", row.data.actions_id),
            ));
        }
        accounts
            .action_triggers
            .entry(row.data.id.clone())
            .or_default()
            .push(row.data);
    }
    for row in data.account_actions {
        let aa = &row.data;
        if !aa.action_plan_id.is_empty() && !accounts.action_plans.contains_key(&aa.action_plan_id)
        {
            return Err(LoadError::at(
                &row.origin,
                ACCOUNT_ACTIONS,
                2,
                format!("unknown action plan {:?}", aa.action_plan_id),
            ));
        }
        if !aa.action_triggers_id.is_empty()
            && !accounts
                .action_triggers
                .contains_key(&aa.action_triggers_id)
        {
            return Err(LoadError::at(
                &row.origin,
                ACCOUNT_ACTIONS,
                3,
                format!("unknown action triggers {:?}", aa.action_triggers_id),
            ));
        }
        if accounts.account(&aa.key).is_some() {
            return Err(LoadError::at(
                &row.origin,
                ACCOUNT_ACTIONS,
                1,
                format!("account {} appears twice", aa.key),
            ));
        }
        accounts.account_actions.push(row.data);
    }
    accounts.volume_discounts = data.volume_discounts.into_iter().map(|r| r.data).collect();
    Ok(())
}
