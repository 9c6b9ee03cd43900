//! Timed action plans: a monthly top-up runs once per start, across
//! restarts, catches up one missed start, and never back-fills.

mod support;

use chrono::{DateTime, Datelike, TimeDelta, TimeZone, Utc};
use rater::account::{AccountKey, BalanceType, MaxSessionMethod};
use rater::engine::{Engine, ScheduleRun};
use rater::store::embedded::EmbeddedStore;
use rater::store::AccountStore;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::collections::HashMap;
use std::sync::Arc;
use support::plan;

const TIMINGS: &str = "#Id,Years,Months,MonthDays,WeekDays,Time\nFIRST,*any,*any,1,*any,00:00:00\n";
const ACTIONS: &str = "#ActionsId,Action,ExtraParameters,Filter,BalanceId,BalanceType,Categories,DestinationIds,RatingSubject,SharedGroup,ExpiryTime,TimingIds,Units,BalanceWeight,BalanceBlocker,BalanceDisabled,Weight
ACT_START,*topup_reset,,,main,*monetary,,,,,*unlimited,,10,10,false,false,10
ACT_MONTHLY,*topup,,,main,*monetary,,,,,*unlimited,,5,10,false,false,10
";
const PLANS: &str =
    "#Id,ActionsId,TimingId,Weight\nAP,ACT_START,*asap,20\nAP,ACT_MONTHLY,FIRST,10\n";
const ACCOUNTS: &str = "#Tenant,Account,ActionPlanId,ActionTriggersId,AllowNegative,Disabled\nt,a,AP,,false,false\nt,b,AP,,false,false\n";

/// The first of the month `months` after `at`'s, at 00:00 UTC.
fn first_of_month(at: DateTime<Utc>, months: u32) -> DateTime<Utc> {
    let m = at.month0() + months;
    Utc.with_ymd_and_hms(at.year() + (m / 12) as i32, m % 12 + 1, 1, 0, 0, 0)
        .unwrap()
}

async fn money(e: &Engine, account: &str) -> Decimal {
    let key = AccountKey::new("t", account);
    e.store()
        .get(&key)
        .await
        .unwrap()
        .unwrap()
        .total(BalanceType::Monetary)
}

#[tokio::test]
async fn a_monthly_top_up_runs_once_per_start() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let e = Engine::new(
        rater::TariffPlan::empty(chrono_tz::Tz::UTC),
        store.clone(),
        MaxSessionMethod::Exact,
    );
    let p = plan(&[
        ("Timings.csv", TIMINGS),
        ("Actions.csv", ACTIONS),
        ("ActionPlans.csv", PLANS),
        ("AccountActions.csv", ACCOUNTS),
    ]);
    assert_eq!(e.install_plan(p).await.unwrap(), 2);
    let now = Utc::now();
    let mut done = HashMap::new();
    // Provisioned now: this month's start is not back-filled.
    let nothing = ScheduleRun::default();
    assert_eq!(e.run_due_actions(now, &mut done).await, nothing);
    assert_eq!(money(&e, "a").await, dec!(10));
    // The next first of the month: both accounts get 5, once.
    let next = first_of_month(now, 1) + TimeDelta::minutes(1);
    let ran = e.run_due_actions(next, &mut done).await;
    assert_eq!(ran.ran, 2);
    assert_eq!(e.run_due_actions(next, &mut done).await, nothing);
    // A restart (nothing cached) finds it done in the accounts.
    let mut fresh = HashMap::new();
    assert_eq!(e.run_due_actions(next, &mut fresh).await, nothing);
    assert_eq!(money(&e, "a").await, dec!(15));
    // Down for three months: the latest start runs once.
    let later = first_of_month(now, 4) + TimeDelta::hours(5);
    assert_eq!(e.run_due_actions(later, &mut fresh).await.ran, 2);
    assert_eq!(money(&e, "b").await, dec!(20));
    // An account with no record (from before timed plans) records, no run.
    let key = AccountKey::new("t", "b");
    store
        .update(&key, None, &mut |acc| {
            acc.as_mut().unwrap().plan_runs.clear();
            Ok(serde_json::Value::Null)
        })
        .await
        .unwrap();
    let even_later = first_of_month(now, 4) + TimeDelta::hours(6);
    let r = e.run_due_actions(even_later, &mut HashMap::new()).await;
    assert_eq!((r.ran, r.first_seen), (0, 1));
    assert_eq!(money(&e, "b").await, dec!(20));
    // Reopened, the record is still there.
    drop(e);
    drop(store);
    let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let acc = store.get(&key).await.unwrap().unwrap();
    assert_eq!(acc.plan_runs.len(), 1);
}

fn plan_with(accounts: &str, timings: &str) -> rater::TariffPlan {
    plan(&[
        ("Timings.csv", timings),
        ("Actions.csv", ACTIONS),
        (
            "ActionPlans.csv",
            "#Id,ActionsId,TimingId,Weight\nAP,ACT_START,*asap,20\nAP,ACT_MONTHLY,FIRST,10\nAP_NONE,ACT_START,*asap,10\n",
        ),
        ("AccountActions.csv", accounts),
    ])
}

#[tokio::test]
async fn joining_leaving_and_first_starts_in_the_future() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let e = Engine::new(
        rater::TariffPlan::empty(chrono_tz::Tz::UTC),
        store,
        MaxSessionMethod::Exact,
    );
    let now = Utc::now();
    let mut done = HashMap::new();
    // `c` exists (made through the API) before any plan binds it.
    let args = rater::engine::BalanceArgs {
        tenant: "t".into(),
        account: "c".into(),
        balance_type: Some(BalanceType::Monetary),
        id: Some("main".into()),
        value: Some(dec!(1)),
        ..Default::default()
    };
    e.set_balance(&args).await.unwrap();
    e.install_plan(plan_with(ACCOUNTS, TIMINGS)).await.unwrap();
    e.run_due_actions(now, &mut done).await;
    // The plan now binds `c` too: it joins from now and gets the next start,
    // although the scheduler had this month's start cached as done.
    let with_c = format!("{ACCOUNTS}t,c,AP,,false,false\n");
    e.install_plan_at(plan_with(&with_c, TIMINGS), now)
        .await
        .unwrap();
    let next = first_of_month(now, 1) + TimeDelta::minutes(1);
    assert_eq!(e.run_due_actions(next, &mut done).await.ran, 3);
    assert_eq!(money(&e, "c").await, dec!(6));
    // `c` leaves for a plan without timed entries, misses a start, then
    // rejoins: the start it missed is not back-filled.
    let away = format!("{ACCOUNTS}t,c,AP_NONE,,false,false\n");
    e.install_plan_at(plan_with(&away, TIMINGS), next)
        .await
        .unwrap();
    let month3 = first_of_month(now, 2) + TimeDelta::minutes(1);
    e.run_due_actions(month3, &mut done).await;
    e.install_plan_at(plan_with(&with_c, TIMINGS), month3)
        .await
        .unwrap();
    e.run_due_actions(month3 + TimeDelta::minutes(1), &mut HashMap::new())
        .await;
    assert_eq!(money(&e, "c").await, dec!(6));
    // A timing whose first start is next year runs when it comes.
    let year = now.year() + 1;
    let later =
        format!("#Id,Years,Months,MonthDays,WeekDays,Time\nFIRST,{year},1,1,*any,00:00:00\n");
    let fresh_dir = tempfile::tempdir().unwrap();
    let e2 = Engine::new(
        rater::TariffPlan::empty(chrono_tz::Tz::UTC),
        Arc::new(EmbeddedStore::open(fresh_dir.path()).unwrap()),
        MaxSessionMethod::Exact,
    );
    e2.install_plan(plan_with(ACCOUNTS, &later)).await.unwrap();
    let new_year = Utc.with_ymd_and_hms(year, 1, 1, 0, 0, 30).unwrap();
    assert_eq!(
        e2.run_due_actions(new_year, &mut HashMap::new()).await.ran,
        2
    );
    assert_eq!(money(&e2, "a").await, dec!(15));
}
