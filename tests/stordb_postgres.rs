//! StorDb on PostgreSQL: two nodes (two `AppState`s) on one database see
//! each other's TP records at once, and a plan built through one is loaded
//! through the other. Needs TOLLGATE_TEST_PG_URL (skipped when unset, a
//! failure under CI).

mod common;

use common::pg::PgDb;
use serde_json::{json, Value};
use std::sync::Arc;
use tollgate::config::Config;
use tollgate::rpc::Api;
use tollgate::state::AppState;

async fn node(url: &str, id: &str) -> Api {
    let config = json!({
        "store": {"type": "postgres", "url": url},
        "tariffplan": "",
        "freeswitch": [],
        "cluster": {"node_id": id},
    });
    let config = Config::parse(&config.to_string(), id).unwrap();
    let state = AppState::open(config).await.expect("node opens");
    assert!(state.stordb.dir().is_none(), "nothing of StorDb on disk");
    Api::new(Arc::new(state), tollgate::api::registry())
}

/// The result of `method`, or its error text.
async fn call(api: &Api, method: &str, params: Value) -> Result<Value, String> {
    let raw = serde_json::value::to_raw_value(&params).unwrap();
    let mut out = Vec::new();
    match api.call(method, &raw, &mut out).await {
        Ok(()) => Ok(serde_json::from_slice(&out).unwrap()),
        Err(e) => Err(e.to_string()),
    }
}

async fn ok(api: &Api, method: &str, params: Value) -> Value {
    call(api, method, params)
        .await
        .unwrap_or_else(|e| panic!("{method}: {e}"))
}

/// A one-destination plan: 0.6 per minute in 1 s steps, connect fee 0.1.
async fn build_plan(api: &Api, tp: &str) {
    for (method, params) in [
        (
            "ApierV1.SetTPDestination",
            json!({"TPid": tp, "DestinationId": "DST_NL", "Prefixes": ["+31"]}),
        ),
        (
            "ApierV1.SetTPRate",
            json!({"TPid": tp, "RateId": "RT", "RateSlots": [{"ConnectFee": 0.1, "Rate": 0.6, "RateUnit": "60s", "RateIncrement": "1s", "GroupIntervalStart": "0s"}]}),
        ),
        (
            "ApierV1.SetTPDestinationRate",
            json!({"TPid": tp, "DestinationRateId": "DR", "DestinationRates": [{"DestinationId": "DST_NL", "RateId": "RT", "RoundingMethod": "*up", "RoundingDecimals": 2}]}),
        ),
        (
            "ApierV1.SetTPRatingPlan",
            json!({"TPid": tp, "RatingPlanId": "RP", "RatingPlanBindings": [{"DestinationRatesId": "DR", "TimingId": "*any", "Weight": 10}]}),
        ),
        (
            "ApierV1.SetTPRatingProfile",
            json!({"TPid": tp, "LoadId": "L1", "Direction": "*out", "Tenant": "acme", "Category": "call", "Subject": "*any",
                   "RatingPlanActivations": [{"ActivationTime": "2020-01-01T00:00:00Z", "RatingPlanId": "RP", "FallbackSubjects": ""}]}),
        ),
    ] {
        assert_eq!(ok(api, method, params).await, json!("OK"), "{method}");
    }
}

fn cost_of_90s() -> Value {
    json!({"Tenant": "acme", "Subject": "alice", "Destination": "+31201234567", "TimeStart": "2024-05-01T10:00:00Z", "DurationIndex": 90_000_000_000i64})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_the_tp_records() {
    let Some(db) = PgDb::create() else { return };
    let a = node(&db.url, "a").await;
    let b = node(&db.url, "b").await;
    assert_eq!(
        call(&b, "ApierV1.GetTPIds", json!({})).await,
        Err("NOT_FOUND".into())
    );

    build_plan(&a, "TP_NL").await;
    // Read at once on the other node: no per-node cache.
    assert_eq!(
        ok(&b, "ApierV1.GetTPIds", json!({})).await,
        json!(["TP_NL"])
    );
    let dest = ok(
        &b,
        "ApierV1.GetTPDestination",
        json!({"TPid": "TP_NL", "DestinationId": "DST_NL"}),
    )
    .await;
    assert_eq!(dest["Prefixes"], json!(["+31"]));
    assert_eq!(
        call(
            &b,
            "ApierV1.SetTPDestination",
            json!({"TPid": "TP_NL", "DestinationId": "DST_NL", "Prefixes": ["+32"]}),
        )
        .await,
        Err("DUPLICATE".into())
    );

    // Loaded on B from what A wrote.
    assert_eq!(
        call(&b, "Responder.GetCost", cost_of_90s()).await.err(),
        Some("RATING_PLAN_NOT_FOUND".to_string()),
    );
    assert_eq!(
        ok(
            &b,
            "ApierV1.LoadTariffPlanFromStorDb",
            json!({"TPid": "TP_NL"})
        )
        .await,
        json!("OK")
    );
    let cost = ok(&b, "Responder.GetCost", cost_of_90s()).await;
    assert_eq!(
        common::decimal(&cost["Cost"]),
        rust_decimal::Decimal::ONE,
        "0.1 + 1.5 min × 0.6: {cost}"
    );
    // A has not loaded it: the live plan is per node, StorDb is shared.
    assert!(call(&a, "Responder.GetCost", cost_of_90s()).await.is_err());

    // A removal on B is seen on A; the last record gone, the TPid is gone.
    assert_eq!(
        ok(
            &b,
            "ApierV1.RemTPDestination",
            json!({"TPid": "TP_NL", "DestinationId": "DST_NL"})
        )
        .await,
        json!("OK")
    );
    assert_eq!(
        call(
            &a,
            "ApierV1.GetTPDestination",
            json!({"TPid": "TP_NL", "DestinationId": "DST_NL"})
        )
        .await,
        Err("NOT_FOUND".into())
    );
    for (method, id_field, id) in [
        ("RemTPRate", "RateId", "RT"),
        ("RemTPDestinationRate", "DestinationRateId", "DR"),
        ("RemTPRatingPlan", "RatingPlanId", "RP"),
        (
            "RemTPRatingProfile",
            "RatingProfileId",
            "L1:*out:acme:call:*any",
        ),
    ] {
        let params = json!({"TPid": "TP_NL", id_field: id});
        assert_eq!(
            ok(&a, &format!("ApierV1.{method}"), params).await,
            json!("OK"),
            "{method}"
        );
    }
    assert_eq!(
        call(&b, "ApierV1.GetTPIds", json!({})).await,
        Err("NOT_FOUND".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_changes_of_one_tpid_from_two_nodes_all_land() {
    let Some(db) = PgDb::create() else { return };
    let a = Arc::new(node(&db.url, "a").await);
    let b = Arc::new(node(&db.url, "b").await);
    let mut tasks = Vec::new();
    for i in 0..40 {
        let api = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            call(
                &api,
                "ApierV1.SetTPDestination",
                json!({"TPid": "TP_RACE", "DestinationId": format!("D{i:02}"), "Prefixes": [format!("{i}")]}),
            )
            .await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), Ok(json!("OK")));
    }
    let ids = ok(
        &b,
        "ApierV1.GetTPDestinationIds",
        json!({"TPid": "TP_RACE"}),
    )
    .await;
    assert_eq!(ids.as_array().map(Vec::len), Some(40), "{ids}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tpids_sort_by_bytes_and_long_tpids_are_refused() {
    let Some(db) = PgDb::create() else { return };
    let a = node(&db.url, "a").await;
    for tp in ["b", "B", "a_1", "A"] {
        ok(
            &a,
            "ApierV1.SetTPDestination",
            json!({"TPid": tp, "DestinationId": "D", "Prefixes": ["1"]}),
        )
        .await;
    }
    assert_eq!(
        ok(&a, "ApierV1.GetTPIds", json!({})).await,
        json!(["A", "B", "a_1", "b"])
    );
    let long = "x".repeat(65);
    let e = call(
        &a,
        "ApierV1.SetTPDestination",
        json!({"TPid": long, "DestinationId": "D", "Prefixes": ["1"]}),
    )
    .await
    .unwrap_err();
    assert!(e.starts_with("SERVER_ERROR: TPid longer than 64"), "{e}");
}
