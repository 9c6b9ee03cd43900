//! The engine end to end on the sample tariff plan and an embedded store:
//! provisioning, debits with idempotency, the 2012 budget calls and the
//! APIer balance calls.

use chrono::{DateTime, TimeDelta, Utc};
use rater::account::{BalanceType, MaxSessionMethod};
use rater::engine::{BalanceArgs, Engine, Origin};
use rater::store::embedded::EmbeddedStore;
use rater::CallDescriptor;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::json;
use std::sync::Arc;

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../conf/tariffplans/sample");

async fn engine(dir: &std::path::Path) -> Engine {
    let plan = rater::load_folder(SAMPLE, chrono_tz::Tz::UTC).unwrap();
    let store = Arc::new(EmbeddedStore::open(dir).unwrap());
    let engine = Engine::new(
        rater::TariffPlan::empty(chrono_tz::Tz::UTC),
        store,
        MaxSessionMethod::StepDown,
    );
    assert_eq!(engine.install_plan(plan).await.unwrap(), 5);
    engine
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn call(tenant: &str, account: &str, dest: &str, start: &str, secs: i64) -> CallDescriptor {
    CallDescriptor::new(
        tenant,
        "call",
        account,
        dest,
        at(start),
        TimeDelta::seconds(secs),
    )
}

async fn total(e: &Engine, tenant: &str, account: &str, kind: BalanceType) -> Decimal {
    let key = rater::account::AccountKey::new(tenant, account);
    e.store().get(&key).await.unwrap().unwrap().total(kind)
}

#[tokio::test]
async fn plan_provisions_new_accounts_once() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path()).await;
    assert_eq!(
        total(&e, "vdf", "rif", BalanceType::Monetary).await,
        dec!(1000)
    );
    assert_eq!(
        total(&e, "vdf", "rif", BalanceType::Voice).await,
        dec!(3600)
    );
    e.debit_units(
        &call("vdf", "rif", "", "2024-01-01T00:00:00Z", 0),
        BalanceType::Monetary,
        Some(dec!(1)),
    )
    .await
    .unwrap();
    // Reloading the plan keeps existing balances.
    let again = rater::load_folder(SAMPLE, chrono_tz::Tz::UTC).unwrap();
    assert_eq!(e.install_plan(again).await.unwrap(), 0);
    assert_eq!(
        total(&e, "vdf", "rif", BalanceType::Monetary).await,
        dec!(999)
    );
}

#[tokio::test]
async fn debit_is_idempotent_by_origin() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path()).await;
    // A mobile call: 0.12/min in 10 s steps, 95 s → 100 s → 0.20.
    let cd = call(
        "cgrates.org",
        "1001",
        "0723456789",
        "2024-03-06T14:00:00Z",
        95,
    );
    let origin = Origin {
        cgr_id: "call-1".into(),
        run_id: String::new(),
        step: None,
    };
    let first = e.debit(&cd, &origin, false).await.unwrap();
    assert_eq!(first.cost, dec!(0.2));
    assert_eq!(first.usage, TimeDelta::seconds(100));
    let retry = e.debit(&cd, &origin, false).await.unwrap();
    assert_eq!(first, retry);
    assert_eq!(
        total(&e, "cgrates.org", "1001", BalanceType::Monetary).await,
        dec!(9.8)
    );
    assert_eq!(
        first.json["AccountSummary"]["BalanceSummaries"][0]["Value"],
        json!(9.8)
    );
    // Refund gives it back exactly.
    e.refund(&cd, &first.charges, &Origin::default())
        .await
        .unwrap();
    assert_eq!(
        total(&e, "cgrates.org", "1001", BalanceType::Monetary).await,
        dec!(10)
    );
}

#[tokio::test]
async fn dry_run_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path()).await;
    let cd = call(
        "cgrates.org",
        "1001",
        "0723456789",
        "2024-03-06T14:00:00Z",
        95,
    );
    let r = e.debit(&cd, &Origin::default(), true).await.unwrap();
    assert_eq!(r.cost, dec!(0.2));
    assert_eq!(
        total(&e, "cgrates.org", "1001", BalanceType::Monetary).await,
        dec!(10)
    );
}

#[tokio::test]
async fn free_voice_pays_landlines_before_money() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path()).await;
    let cd = call("vdf", "rif", "0256123456", "2024-03-06T14:00:00Z", 120);
    let r = e.debit(&cd, &Origin::default(), false).await.unwrap();
    assert_eq!(r.charges.len(), 2, "{:?}", r.charges);
    assert_eq!(
        total(&e, "vdf", "rif", BalanceType::Voice).await,
        dec!(3480)
    );
    // The connect fee is money even when units pay the minutes.
    assert_eq!(
        total(&e, "vdf", "rif", BalanceType::Monetary).await,
        dec!(999.95)
    );
}

#[tokio::test]
async fn max_session_time_and_max_debit() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path()).await;
    // Mobile at 0.12/min: 10 money buys 5000 s; ask for 3 hours.
    let cd = call(
        "cgrates.org",
        "1002",
        "0723456789",
        "2024-03-06T14:00:00Z",
        10_800,
    );
    let step = e
        .max_session_time(&cd, Some(MaxSessionMethod::StepDown))
        .await
        .unwrap();
    let exact = e
        .max_session_time(&cd, Some(MaxSessionMethod::Exact))
        .await
        .unwrap();
    assert_eq!(step, TimeDelta::seconds(4320));
    assert_eq!(exact, TimeDelta::seconds(5000));
    let r = e.max_debit(&cd, &Origin::default(), false).await.unwrap();
    assert_eq!(r.usage, TimeDelta::seconds(5000));
    assert_eq!(
        total(&e, "cgrates.org", "1002", BalanceType::Monetary).await,
        dec!(0)
    );
    let e2 = e.debit(&cd, &Origin::default(), false).await.unwrap_err();
    assert_eq!(e2.to_string(), "INSUFFICIENT_CREDIT");
}

#[tokio::test]
async fn budget_calls_of_2012() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path()).await;
    let cd = call("vdf", "rif", "0257", "2024-03-06T14:00:00Z", 60);
    assert_eq!(
        e.debit_units(&cd, BalanceType::Monetary, Some(dec!(100)))
            .await
            .unwrap(),
        json!(900)
    );
    assert_eq!(
        e.debit_units(&cd, BalanceType::Sms, Some(dec!(100)))
            .await
            .unwrap(),
        json!(900)
    );
    assert_eq!(
        e.debit_units(&cd, BalanceType::Voice, Some(dec!(100)))
            .await
            .unwrap(),
        json!(3500)
    );
    assert_eq!(
        e.debit_units(&cd, BalanceType::Sms, Some(dec!(5000)))
            .await
            .unwrap_err()
            .to_string(),
        "INSUFFICIENT_CREDIT"
    );
    assert_eq!(
        e.debit_units(&cd, BalanceType::Sms, None)
            .await
            .unwrap_err()
            .to_string(),
        "MANDATORY_IE_MISSING: [Amount]"
    );
    // Received seconds: 300 earn 60 bonus voice seconds and reset the counter.
    assert_eq!(
        e.add_received_call_seconds(&cd, Some(dec!(200)))
            .await
            .unwrap(),
        json!(200)
    );
    assert_eq!(
        e.add_received_call_seconds(&cd, Some(dec!(100)))
            .await
            .unwrap(),
        json!(0)
    );
    assert_eq!(
        total(&e, "vdf", "rif", BalanceType::Voice).await,
        dec!(3560)
    );
    // Volume discount: 5 % from 3600 placed seconds.
    let mobile = call("vdf", "rif", "0723456789", "2024-03-06T14:00:00Z", 60);
    assert_eq!(
        e.debit(&mobile, &Origin::default(), true)
            .await
            .unwrap()
            .cost,
        dec!(0.12)
    );
    assert_eq!(
        e.add_volume_discount_seconds(&cd, Some(dec!(3600)))
            .await
            .unwrap(),
        json!(3600)
    );
    assert_eq!(
        e.debit(&mobile, &Origin::default(), true)
            .await
            .unwrap()
            .cost,
        dec!(0.114)
    );
    e.reset_volume_discount_seconds(&cd).await.unwrap();
    assert_eq!(
        e.debit(&mobile, &Origin::default(), true)
            .await
            .unwrap()
            .cost,
        dec!(0.12)
    );
    // ResetUserBudget: back to the plan's amounts.
    assert_eq!(e.reset_user_budget(&cd).await.unwrap(), json!("OK"));
    assert_eq!(
        total(&e, "vdf", "rif", BalanceType::Monetary).await,
        dec!(1000)
    );
    assert_eq!(total(&e, "vdf", "rif", BalanceType::Sms).await, dec!(1000));
    let stranger = call("vdf", "nobody", "0257", "2024-03-06T14:00:00Z", 60);
    assert_eq!(
        e.reset_user_budget(&stranger)
            .await
            .unwrap_err()
            .to_string(),
        "ACCOUNT_NOT_FOUND"
    );
}

#[tokio::test]
async fn apier_balance_calls() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path()).await;
    let set = BalanceArgs {
        tenant: "cgrates.org".into(),
        account: "1003".into(),
        balance_type: Some(BalanceType::Monetary),
        id: Some("23456".into()),
        value: Some(dec!(12)),
        ..Default::default()
    };
    assert_eq!(e.set_balance(&set).await.unwrap(), json!("OK"));
    let add = BalanceArgs {
        id: Some("123456".into()),
        value: Some(dec!(10)),
        ..set.clone()
    };
    e.add_balance(&add).await.unwrap();
    let debit = BalanceArgs {
        value: Some(dec!(5)),
        ..set.clone()
    };
    e.debit_balance(&debit).await.unwrap();
    let acc = e.get_account("cgrates.org", "1003").await.unwrap();
    let money = acc["BalanceMap"]["*monetary"].as_array().unwrap();
    let value_of = |id: &str| money.iter().find(|b| b["ID"] == id).unwrap()["Value"].clone();
    assert_eq!(value_of("23456"), json!(7));
    assert_eq!(value_of("123456"), json!(10));
    assert_eq!(value_of("main"), json!(10));
    let too_much = BalanceArgs {
        value: Some(dec!(50)),
        ..set.clone()
    };
    assert_eq!(
        e.debit_balance(&too_much).await.unwrap_err().to_string(),
        "INSUFFICIENT_CREDIT"
    );
    let page = e
        .get_accounts("cgrates.org", None, 1, Some(1))
        .await
        .unwrap();
    assert_eq!(page[0]["ID"], "cgrates.org:1002");
    assert_eq!(
        e.remove_account("cgrates.org", "1003").await.unwrap(),
        json!("OK")
    );
    assert_eq!(
        e.get_account("cgrates.org", "1003")
            .await
            .unwrap_err()
            .to_string(),
        "NOT_FOUND"
    );
    assert_eq!(
        e.remove_account("cgrates.org", "1003")
            .await
            .unwrap_err()
            .to_string(),
        "NOT_FOUND"
    );
}

#[tokio::test]
async fn an_interval_debit_says_what_the_credit_left_covers_next() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path()).await;
    let origin = Origin {
        cgr_id: "call-1".into(),
        run_id: "*default".into(),
        step: None,
    };
    // Peak landline for 1001 (10 money): the first minute costs the connect
    // fee and 0.10; what follows is 0.06/min per second, with no second
    // connect fee, so the 9.85 left covers 9850 s (a fresh call would get
    // only 9760 s: connect fee and first minute again).
    let mut cd = call(
        "cgrates.org",
        "1001",
        "0256123456",
        "2024-03-06T14:00:00Z",
        60,
    );
    cd.duration_index = TimeDelta::seconds(60);
    let rest = TimeDelta::seconds(10_800 - 60);
    let r = e.interval_debit(&cd, &origin, rest).await.unwrap();
    assert_eq!(r.cost, dec!(0.15));
    assert_eq!(r.more, Some(TimeDelta::seconds(9850)));
    // A retry is answered from the op's record, limit included.
    let again = e.interval_debit(&cd, &origin, rest).await.unwrap();
    assert_eq!(again.more, r.more);
    assert_eq!(
        total(&e, "cgrates.org", "1001", BalanceType::Monetary).await,
        dec!(9.85)
    );
    // The limit is capped by the rest of the call.
    let mut second = call(
        "cgrates.org",
        "1001",
        "0256123456",
        "2024-03-06T14:01:00Z",
        60,
    );
    second.loop_index = 1;
    second.duration_index = TimeDelta::seconds(120);
    let r = e
        .interval_debit(&second, &origin, TimeDelta::seconds(600))
        .await
        .unwrap();
    assert_eq!(r.cost, dec!(0.06));
    assert_eq!(r.more, Some(TimeDelta::seconds(600)));
    // An interval the credit cannot cover whole says nothing more.
    let mut long = call(
        "cgrates.org",
        "1001",
        "0256123456",
        "2024-03-06T14:02:00Z",
        20_000,
    );
    long.loop_index = 2;
    long.duration_index = TimeDelta::seconds(20_120);
    let r = e
        .interval_debit(&long, &origin, TimeDelta::seconds(600))
        .await
        .unwrap();
    assert!(r.usage < long.duration());
    assert_eq!(r.more, None);
}
