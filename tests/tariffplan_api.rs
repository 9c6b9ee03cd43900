//! The ApierV1 tariff-plan API: the seed's requests verbatim, a whole plan
//! built over the API and activated, StorDb across restarts.

mod common;

use common::{RpcClient, Server};
use serde_json::{json, Value};

/// The seed's SetTPRate request, verbatim.
const SET_TP_RATE: &str = r#"{
 "id": 1,
 "method": "ApierV1.SetTPRate",
 "params": [
     {
         "RateId": "SAMPLE_RATE_2",
         "RateSlots": [
             {
                 "ConnectFee": 0.2,
                 "Rate": 2,
                 "RateIncrements": 60,
                 "RatedUnits": 1,
                 "RoundingDecimals": 2,
                 "GroupInterval": 0,
                 "RoundingMethod": "*up",
                 "Weight": 10.0
             },
             {
                 "ConnectFee": 0.2,
                 "Rate": 2.1,
                 "RateIncrements": 1,
                 "RatedUnits": 1,
                 "RoundingDecimals": 2,
                 "GroupInterval": 60,
                 "RoundingMethod": "*up",
                 "Weight": 20.0
             }
         ],
         "TPid": "SAMPLE_TP"
     }
 ]
}"#;

/// The seed's GetTPRate reply sample (its result).
const GET_TP_RATE_RESULT: &str = r#"{
     "RateId": "SAMPLE_RATE_2",
     "RateSlots": [
         {
             "ConnectFee": 0.2,
             "Rate": 2,
             "RateIncrement": "60s",
             "RateUnit": "1s",
             "RoundingDecimals": 2,
             "GroupIntervalStart": "0s",
             "RoundingMethod": "*up",
             "Weight": 10
         },
         {
             "ConnectFee": 0.2,
             "Rate": 2.1,
             "RateIncrement": "1s",
             "RateUnit": "1s",
             "RoundingDecimals": 2,
             "GroupIntervalStart": "60s",
             "RoundingMethod": "*up",
             "Weight": 20
         }
     ],
     "TPid": "SAMPLE_TP"
 }"#;

fn send(c: &mut RpcClient, raw: &str) -> Value {
    c.send_raw(raw.as_bytes());
    c.read_reply().expect("a reply")
}

#[test]
fn seed_002_verbatim() {
    let server = Server::start(json!({}));
    let mut c = server.client();
    let reply = send(&mut c, SET_TP_RATE);
    assert_eq!(reply, json!({"id": 1, "result": "OK", "error": null}));
    // Again: DUPLICATE, and nothing changes.
    let reply = send(&mut c, SET_TP_RATE);
    assert_eq!(reply["error"], "DUPLICATE");
    // The seed's GetTPRate request names SAMPLE_RATE_4, which this plan lacks.
    let reply = send(
        &mut c,
        r#"{
 "id": 1,
 "method": "ApierV1.GetTPRate",
 "params": [
     {
         "RateId": "SAMPLE_RATE_4",
         "TPid": "SAMPLE_TP"
     }
 ]
}"#,
    );
    assert_eq!(reply["error"], "NOT_FOUND");
    let got = c.ok(
        "ApierV1.GetTPRate",
        json!({"RateId": "SAMPLE_RATE_2", "TPid": "SAMPLE_TP"}),
    );
    let expected: Value = serde_json::from_str(GET_TP_RATE_RESULT).unwrap();
    assert_eq!(got, expected);
    // Numbers come back with the seed's exact text (2.1, not 2.1000000000000001).
    let raw = {
        c.send_raw(br#"{"id":9,"method":"ApierV1.GetTPRate","params":[{"RateId":"SAMPLE_RATE_2","TPid":"SAMPLE_TP"}]}"#);
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(&c.stream), &mut line).unwrap();
        line
    };
    assert!(raw.contains(r#""Rate":2.1,"#), "{raw}");
    let reply = send(
        &mut c,
        r#"{
 "id": 1,
 "method": "ApierV1.GetTPRateIds",
 "params": [
     {
         "TPid": "SAMPLE_TP"
     }
 ]
}"#,
    );
    assert_eq!(
        reply,
        json!({"id": 1, "result": ["SAMPLE_RATE_2"], "error": null})
    );
}

#[test]
fn mandatory_fields_and_not_found() {
    let server = Server::start(json!({}));
    let mut c = server.client();
    assert_eq!(
        c.err("ApierV1.SetTPRate", json!({})),
        "MANDATORY_IE_MISSING: [TPid RateId RateSlots]"
    );
    assert_eq!(
        c.err(
            "ApierV1.SetTPRate",
            json!({"TPid": "T", "RateId": "R", "RateSlots": [{"Rate": 1}]})
        ),
        "MANDATORY_IE_MISSING: [RateSlots[0].RateUnit RateSlots[0].RateIncrement]"
    );
    assert_eq!(
        c.err("ApierV1.GetTPRate", json!({"TPid": "T"})),
        "MANDATORY_IE_MISSING: [RateId]"
    );
    assert_eq!(
        c.err("ApierV1.GetTPRateIds", json!({})),
        "MANDATORY_IE_MISSING: [TPid]"
    );
    assert_eq!(
        c.err("ApierV1.GetTPRateIds", json!({"TPid": "T"})),
        "NOT_FOUND"
    );
    assert_eq!(
        c.err("ApierV1.RemTPRate", json!({"TPid": "T", "RateId": "R"})),
        "NOT_FOUND"
    );
    assert_eq!(c.err("ApierV1.GetTPIds", json!({})), "NOT_FOUND");
    // A bad value is refused and changes nothing.
    let e = c.err(
        "ApierV1.SetTPRate",
        json!({"TPid": "T", "RateId": "R", "RateSlots": [{"Rate": 1, "RateUnit": "60s", "RateIncrement": "0s"}]}),
    );
    assert!(
        e.starts_with("SERVER_ERROR: RateSlots[0].RateIncrement"),
        "{e}"
    );
    assert_eq!(c.err("ApierV1.GetTPIds", json!({})), "NOT_FOUND");
}

/// A small plan: one destination, peak/off-peak, over the API.
fn build_plan(c: &mut RpcClient, tp: &str) {
    let ok = |c: &mut RpcClient, m: &str, p: Value| assert_eq!(c.ok(m, p), json!("OK"), "{m}");
    ok(
        c,
        "ApierV1.SetTPDestination",
        json!({"TPid": tp, "DestinationId": "DST_NL", "Prefixes": ["+31", "0031"]}),
    );
    ok(
        c,
        "ApierV1.SetTPTiming",
        json!({"TPid": tp, "TimingId": "DAYTIME", "Years": "*any", "Months": "*any", "MonthDays": "*any", "WeekDays": "*any", "Time": "08:00:00"}),
    );
    ok(
        c,
        "ApierV1.SetTPTiming",
        json!({"TPid": tp, "TimingId": "NIGHT", "Years": "*any", "Months": "*any", "MonthDays": "*any", "WeekDays": "*any", "Time": "20:00:00"}),
    );
    ok(
        c,
        "ApierV1.SetTPRate",
        json!({"TPid": tp, "RateId": "RT_DAY", "RateSlots": [{"ConnectFee": 0.1, "Rate": 0.6, "RateUnit": "60s", "RateIncrement": "1s", "GroupIntervalStart": "0s"}]}),
    );
    ok(
        c,
        "ApierV1.SetTPRate",
        json!({"TPid": tp, "RateId": "RT_NIGHT", "RateSlots": [{"ConnectFee": 0, "Rate": 0.3, "RatedUnits": 60, "RateIncrements": 60, "GroupInterval": 0}]}),
    );
    ok(
        c,
        "ApierV1.SetTPDestinationRate",
        json!({"TPid": tp, "DestinationRateId": "DR_DAY", "DestinationRates": [{"DestinationId": "DST_NL", "RateId": "RT_DAY", "RoundingMethod": "*up", "RoundingDecimals": 2}]}),
    );
    ok(
        c,
        "ApierV1.SetTPDestinationRate",
        json!({"TPid": tp, "DestinationRateId": "DR_NIGHT", "DestinationRates": [{"DestinationId": "DST_NL", "RateId": "RT_NIGHT", "RoundingMethod": "*up", "RoundingDecimals": 2}]}),
    );
    ok(
        c,
        "ApierV1.SetTPRatingPlan",
        json!({"TPid": tp, "RatingPlanId": "RP_NL", "RatingPlanBindings": [
        {"DestinationRatesId": "DR_NIGHT", "TimingId": "*any", "Weight": 10},
        {"DestinationRatesId": "DR_DAY", "TimingId": "DAYTIME", "Weight": 10},
        {"DestinationRatesId": "DR_NIGHT", "TimingId": "NIGHT", "Weight": 10}]}),
    );
    ok(
        c,
        "ApierV1.SetTPRatingProfile",
        json!({"TPid": tp, "LoadId": "L1", "Direction": "*out", "Tenant": "acme", "Category": "call", "Subject": "*any",
        "RatingPlanActivations": [{"ActivationTime": "2020-01-01T00:00:00Z", "RatingPlanId": "RP_NL", "FallbackSubjects": ""}]}),
    );
}

fn nl_cost(c: &mut RpcClient, start: &str) -> Value {
    c.call(
        "Responder.GetCost",
        json!({"Tenant": "acme", "Subject": "alice", "Destination": "+31201234567", "TimeStart": start, "DurationIndex": 90_000_000_000i64}),
    )
}

#[test]
fn a_plan_built_over_the_api_goes_live_atomically() {
    let server = Server::start(json!({}));
    let mut c = server.client();
    build_plan(&mut c, "TP_NL");
    // Not live before it is loaded.
    assert_eq!(
        nl_cost(&mut c, "2024-03-01T10:00:00Z")["error"],
        "RATING_PLAN_NOT_FOUND"
    );
    assert_eq!(c.ok("ApierV1.GetTPIds", json!({})), json!(["TP_NL"]));
    assert_eq!(
        c.ok("ApierV1.GetTPTimingIds", json!({"TPid": "TP_NL"})),
        json!(["DAYTIME", "NIGHT"])
    );
    assert_eq!(
        c.ok("ApierV1.GetTPRatingProfileIds", json!({"TPid": "TP_NL"})),
        json!(["acme:call:*any"])
    );
    let profile = c.ok(
        "ApierV1.GetTPRatingProfile",
        json!({"TPid": "TP_NL", "RatingProfileId": "L1:*out:acme:call:*any"}),
    );
    assert_eq!(profile["RatingPlanActivations"][0]["RatingPlanId"], "RP_NL");
    assert_eq!(
        c.ok(
            "ApierV1.GetTPRate",
            json!({"TPid": "TP_NL", "RateId": "RT_NIGHT"})
        )["RateSlots"][0]["RateUnit"],
        "60s"
    );
    assert_eq!(
        c.ok("ApierV1.LoadTariffPlanFromStorDb", json!({"TPid": "TP_NL"})),
        json!("OK")
    );
    // 90 s by day: 0.1 + 90 × 0.01 = 1.0; by night two whole minutes at 0.3.
    let day = nl_cost(&mut c, "2024-03-01T10:00:00Z");
    assert_eq!(day["result"]["Cost"].to_string(), "1", "{day}");
    let night = nl_cost(&mut c, "2024-03-01T22:00:00Z");
    assert_eq!(night["result"]["Cost"].to_string(), "0.6", "{night}");
    // The sample plan is gone: the loaded plan replaced it whole.
    let cd = common::seed_cd();
    assert_eq!(c.err("Responder.GetCost", cd), "RATING_PLAN_NOT_FOUND");

    // A broken plan (a rating plan naming an unknown timing) fails with
    // the loader's words and changes nothing.
    c.ok("ApierV1.SetTPRatingPlan", json!({"TPid": "TP_BAD", "RatingPlanId": "RP", "RatingPlanBindings": [{"DestinationRatesId": "DR_X", "TimingId": "NOPE", "Weight": 1}]}));
    let e = c.err(
        "ApierV1.LoadTariffPlanFromStorDb",
        json!({"TPid": "TP_BAD"}),
    );
    assert!(
        e.starts_with("SERVER_ERROR: TP_BAD/RatingPlans.csv line 1"),
        "{e}"
    );
    assert_eq!(
        nl_cost(&mut c, "2024-03-01T10:00:00Z")["result"]["Cost"].to_string(),
        "1"
    );
    assert_eq!(
        c.err("ApierV1.LoadTariffPlanFromStorDb", json!({"TPid": "NOPE"})),
        "NOT_FOUND"
    );

    // Removing records.
    assert_eq!(
        c.ok(
            "ApierV1.RemTPRatingPlan",
            json!({"TPid": "TP_BAD", "RatingPlanId": "RP"})
        ),
        json!("OK")
    );
    assert_eq!(c.ok("ApierV1.GetTPIds", json!({})), json!(["TP_NL"]));

    // Back to the sample plan from its folder.
    let folder = common::sample_plan().display().to_string();
    assert_eq!(
        c.ok(
            "ApierV1.LoadTariffPlanFromFolder",
            json!({"FolderPath": folder})
        ),
        json!("OK")
    );
    assert_eq!(
        c.ok("Responder.GetCost", common::seed_cd())["Cost"].to_string(),
        "3.69"
    );
    let e = c.err(
        "ApierV1.LoadTariffPlanFromFolder",
        json!({"FolderPath": "/nonexistent"}),
    );
    assert!(e.contains("/nonexistent"), "{e}");
    // Without FolderPath: the configured folder (the console's reload).
    let (_, before) = server.get("/health");
    let before: serde_json::Value = serde_json::from_str(&before).unwrap();
    assert_eq!(
        c.ok("ApierV1.LoadTariffPlanFromFolder", json!({})),
        json!("OK")
    );
    let (_, after) = server.get("/health");
    let after: serde_json::Value = serde_json::from_str(&after).unwrap();
    assert_eq!(
        after["tariffplan"]["loads_since_start"].as_u64(),
        before["tariffplan"]["loads_since_start"]
            .as_u64()
            .map(|n| n + 1)
    );
    assert!(after["tariffplan"]["loaded_at"].is_string(), "{after}");
}

#[test]
fn stordb_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), json!({}));
    let mut c = server.client();
    build_plan(&mut c, "TP_NL");
    send(&mut c, SET_TP_RATE);
    drop(c);
    assert!(server.stop().success());
    let server = Server::start_in(dir.path(), json!({}));
    let mut c = server.client();
    assert_eq!(
        c.ok("ApierV1.GetTPIds", json!({})),
        json!(["SAMPLE_TP", "TP_NL"])
    );
    let expected: Value = serde_json::from_str(GET_TP_RATE_RESULT).unwrap();
    assert_eq!(
        c.ok(
            "ApierV1.GetTPRate",
            json!({"RateId": "SAMPLE_RATE_2", "TPid": "SAMPLE_TP"})
        ),
        expected
    );
    assert_eq!(
        c.ok("ApierV1.LoadTariffPlanFromStorDb", json!({"TPid": "TP_NL"})),
        json!("OK")
    );
    assert_eq!(
        nl_cost(&mut c, "2024-03-01T10:00:00Z")["result"]["Cost"].to_string(),
        "1"
    );
    assert!(dir.path().join("data/stordb/TP_NL.json").is_file());
}

#[test]
fn modern_service_name_and_id_field() {
    let server = Server::start(json!({}));
    let mut c = server.client();
    assert_eq!(
        c.ok(
            "APIerSv1.SetTPDestination",
            json!({"TPid": "T", "ID": "D", "Prefixes": ["1"]})
        ),
        json!("OK")
    );
    let d = c.ok(
        "ApierV1.GetTPDestination",
        json!({"tpid": "T", "destinationid": "D"}),
    );
    assert_eq!(d["Prefixes"], json!(["1"]));
}
