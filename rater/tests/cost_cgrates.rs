//! The cases CGRateS's own fixture and tutorial give, priced exactly.

mod support;

use rust_decimal_macros::dec;
use support::*;

#[test]
fn evening_call_crossing_18_00_costs_2701() {
    let plan = cgrates_fixture();
    let cc = plan
        .get_cost(&cd("vdf", "0", "rif", "0256", "2012-02-02T17:30:00Z", 3600))
        .unwrap();
    assert_eq!(cc.cost, dec!(2701));
    assert_eq!(cc.connect_fee, dec!(1));
    assert_eq!(cc.timespans.len(), 2);
    assert_eq!(cc.timespans[0].time_end, t("2012-02-02T18:00:00Z"));
    assert_eq!(cc.timespans[0].cost, dec!(1800));
    assert_eq!(cc.timespans[1].cost, dec!(900));
    assert_eq!(cc.timespans[1].duration_index, secs(3600));
    assert_eq!(&*cc.timespans[0].matched_prefix, "0256");
    assert_eq!(&*cc.timespans[0].matched_destination, "NAT");
    assert_eq!(cc.rated_usage, secs(3600));
}

#[test]
fn evening_call_with_loop_index_1_has_no_connect_fee() {
    let plan = cgrates_fixture();
    let mut d = cd("vdf", "0", "rif", "0256", "2012-02-02T17:30:00Z", 3600);
    d.loop_index = 1;
    let cc = plan.get_cost(&d).unwrap();
    assert_eq!(cc.cost, dec!(2700));
    assert_eq!(cc.connect_fee, dec!(0));
}

#[test]
fn landline_offpeak_rate_groups_cost_132_for_132_seconds() {
    let plan = cgrates_fixture();
    let cc = plan
        .get_cost(&cd(
            "vdf",
            "0",
            "landline",
            "0256",
            "2012-02-02T17:30:00Z",
            132,
        ))
        .unwrap();
    assert_eq!(cc.cost, dec!(132));
    assert_eq!(cc.timespans.len(), 2);
    assert_eq!(cc.timespans[0].duration(), secs(60));
    assert_eq!(cc.timespans[0].increments[0].compress_factor, 1);
    assert_eq!(cc.timespans[1].duration(), secs(72));
    assert_eq!(cc.timespans[1].increments[0].compress_factor, 72);
}

#[test]
fn tutorial_rate_is_exact_where_cgrates_drifts() {
    // CGRateS's float arithmetic reports 0.7002 for this call.
    let plan = cgrates_fixture();
    let cc = plan
        .get_cost(&cd(
            "cgrates.org",
            "call",
            "tutorial",
            "1002",
            "2014-08-04T13:00:00Z",
            120,
        ))
        .unwrap();
    assert_eq!(cc.cost, dec!(0.7));
    assert_eq!(cc.connect_fee, dec!(0.4));
}

#[test]
fn weekend_call_uses_the_weekend_rate_all_day() {
    let plan = cgrates_fixture();
    // 2012-02-04 is a Saturday.
    let cc = plan
        .get_cost(&cd("vdf", "0", "rif", "0257", "2012-02-04T10:00:00Z", 100))
        .unwrap();
    assert_eq!(cc.cost, dec!(50));
    assert_eq!(cc.connect_fee, dec!(0));
}

#[test]
fn call_cost_serializes_with_cgrates_field_names() {
    let plan = cgrates_fixture();
    let cc = plan
        .get_cost(&cd("vdf", "0", "rif", "0256", "2012-02-02T17:30:00Z", 3600))
        .unwrap();
    let json = serde_json::to_value(&cc).unwrap();
    assert_eq!(json["Cost"], serde_json::json!(2701));
    assert_eq!(json["ConnectFee"], serde_json::json!(1));
    assert_eq!(json["ToR"], "*voice");
    assert_eq!(json["RatedUsage"], serde_json::json!(3_600_000_000_000i64));
    let ts = &json["Timespans"][0];
    assert_eq!(ts["TimeStart"], "2012-02-02T17:30:00Z");
    assert_eq!(ts["RateInterval"]["Timing"]["StartTime"], "00:00:00");
    assert_eq!(
        ts["RateInterval"]["Timing"]["WeekDays"],
        serde_json::json!([1, 2, 3, 4, 5])
    );
    assert_eq!(
        ts["RateInterval"]["Rating"]["ConnectFee"],
        serde_json::json!(1)
    );
    assert_eq!(ts["RateInterval"]["Rating"]["RoundingMethod"], "*middle");
    assert_eq!(
        ts["RateInterval"]["Rating"]["Rates"][0]["RateUnit"],
        serde_json::json!(1_000_000_000i64)
    );
    assert_eq!(
        ts["Increments"][0]["CompressFactor"],
        serde_json::json!(1800)
    );
    assert_eq!(ts["MatchedDestId"], "NAT");
    assert_eq!(ts["RatingPlanId"], "EVENING");
    assert_eq!(ts["MatchedSubject"], "vdf:0:rif");
}
