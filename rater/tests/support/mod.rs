//! Shared helpers: build a tariff plan from inline CSV text.
#![allow(dead_code)]

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use rater::{load_folder, CallDescriptor, LoadError, TariffPlan};

/// Writes `files` into a fresh folder and loads it.
pub fn try_plan_in(files: &[(&str, &str)], tz: Tz) -> Result<TariffPlan, LoadError> {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("write csv");
    }
    load_folder(dir.path(), tz)
}

pub fn plan(files: &[(&str, &str)]) -> TariffPlan {
    try_plan_in(files, Tz::UTC).expect("plan loads")
}

pub fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("rfc3339")
        .with_timezone(&Utc)
}

pub fn secs(s: i64) -> TimeDelta {
    TimeDelta::seconds(s)
}

pub fn cd(
    tenant: &str,
    category: &str,
    subject: &str,
    dest: &str,
    start: &str,
    dur: i64,
) -> CallDescriptor {
    CallDescriptor::new(tenant, category, subject, dest, t(start), secs(dur))
}

/// The CGRateS test fixture this project's tests lean on (EVENING plan and friends).
pub fn cgrates_fixture() -> TariffPlan {
    plan(&[
        (
            "Destinations.csv",
            "#Id,Prefix\nNAT,0256\nNAT,0257\nNAT,0723\nNAT,+49\nRET,0723\nRET,0724\n",
        ),
        (
            "Timings.csv",
            "#Id,Years,Months,MonthDays,WeekDays,Time\n\
             WORKDAYS_00,*any,*any,*any,1;2;3;4;5,00:00:00\n\
             WORKDAYS_18,*any,*any,*any,1;2;3;4;5,18:00:00\n\
             WEEKENDS,*any,*any,*any,6;7,00:00:00\n",
        ),
        (
            "Rates.csv",
            "#Id,ConnectFee,Rate,RateUnit,RateIncrement,GroupIntervalStart\n\
             R4,1,1,1s,1s,0s\n\
             R5,0,0.5,1s,1s,0s\n\
             LANDLINE_OFFPEAK,0,1,1s,60s,0s\n\
             LANDLINE_OFFPEAK,0,1,1s,1s,60s\n\
             TUT,0.4,0.2,60s,60s,0s\n\
             TUT,0.4,0.1,60s,1s,60s\n",
        ),
        (
            "DestinationRates.csv",
            "#Id,DestinationId,RatesTag,RoundingMethod,RoundingDecimals,MaxCost,MaxCostStrategy\n\
             DR_NAT_R4,NAT,R4,*middle,4,0,\n\
             DR_NAT_R5,NAT,R5,*middle,4,0,\n\
             DR_LANDLINE,NAT,LANDLINE_OFFPEAK,*middle,4,0,\n\
             DR_TUT,*any,TUT,*up,4,0,\n",
        ),
        (
            "RatingPlans.csv",
            "#Id,DestinationRatesId,TimingTag,Weight\n\
             EVENING,DR_NAT_R4,WORKDAYS_00,10\n\
             EVENING,DR_NAT_R5,WORKDAYS_18,10\n\
             EVENING,DR_NAT_R5,WEEKENDS,10\n\
             LANDLINE,DR_LANDLINE,*any,10\n\
             TUTORIAL,DR_TUT,*any,10\n",
        ),
        (
            "RatingProfiles.csv",
            "#Tenant,Category,Subject,ActivationTime,RatingPlanId,RatesFallbackSubject\n\
             vdf,0,rif,2012-01-01T00:00:00Z,EVENING,\n\
             vdf,0,landline,2012-01-01T00:00:00Z,LANDLINE,\n\
             cgrates.org,call,tutorial,2014-01-14T00:00:00Z,TUTORIAL,\n",
        ),
    ])
}

/// The throwaway PostgreSQL of `scripts/test.sh`, or `None` outside it.
/// Under CI its absence is a failure, so the PostgreSQL tests never skip there.
pub fn pg_url() -> Option<String> {
    pgschema::testing::cluster_url()
}

/// Creates (or replaces) `key` with one monetary balance "main" of `money`.
pub async fn seed(
    store: &dyn rater::store::AccountStore,
    key: &rater::account::AccountKey,
    money: rust_decimal::Decimal,
) {
    use rater::account::{Account, Balance, BalanceType};
    store
        .update(key, None, &mut |acc| {
            let mut a = Account::new(key);
            a.push_balance(BalanceType::Monetary, Balance::new("b1", "main", money));
            *acc = Some(a);
            Ok(serde_json::json!("OK"))
        })
        .await
        .unwrap();
}
