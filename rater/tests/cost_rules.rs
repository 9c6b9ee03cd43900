//! One test per rating rule: profile lookup and fallbacks, activation,
//! midnight, timing weights, rate groups, increments, connect fee, MaxCost,
//! rounding, time zones and the errors for what cannot be rated.

mod support;

use chrono_tz::Tz;
use rater::RatingError;
use rust_decimal_macros::dec;
use support::*;

const DEST: &str = "#Id,Prefix\nDE,49\nDE_MOB,4917\nRO,40\n";
const ANY_TIMING: &str = "";

fn rates_plan(rates: &str, dest_rates: &str, plans: &str, profiles: &str) -> rater::TariffPlan {
    plan(&[
        ("Destinations.csv", DEST),
        ("Timings.csv", ANY_TIMING),
        ("Rates.csv", rates),
        ("DestinationRates.csv", dest_rates),
        ("RatingPlans.csv", plans),
        ("RatingProfiles.csv", profiles),
    ])
}

fn simple() -> rater::TariffPlan {
    rates_plan(
        "R1,0.5,1,60s,1s,0s\nR2,0,2,60s,60s,0s\nR3,0,3,60s,1s,0s\n",
        "D1,DE,R1,*up,4,0,\nD2,DE_MOB,R2,*up,4,0,\nD3,RO,R3,*up,4,0,\n",
        "P1,D1,*any,10\nP1,D2,*any,10\nP2,D3,*any,10\n",
        "t,call,alice,2020-01-01T00:00:00Z,P1,\n\
         t,call,bob,2020-01-01T00:00:00Z,P1,alice\n\
         t,call,carol,2020-01-01T00:00:00Z,P2,bob\n\
         t,call,*any,2020-01-01T00:00:00Z,P2,\n",
    )
}

#[test]
fn longest_prefix_wins() {
    let p = simple();
    let c = p
        .get_cost(&cd(
            "t",
            "call",
            "alice",
            "4917123",
            "2021-03-01T10:00:00Z",
            60,
        ))
        .unwrap();
    assert_eq!(c.cost, dec!(2));
    assert_eq!(&*c.timespans[0].matched_prefix, "4917");
    let c = p
        .get_cost(&cd(
            "t",
            "call",
            "alice",
            "4930123",
            "2021-03-01T10:00:00Z",
            60,
        ))
        .unwrap();
    assert_eq!(c.cost, dec!(1.5));
    assert_eq!(&*c.timespans[0].matched_destination, "DE");
}

#[test]
fn fallback_subject_then_any_subject() {
    let p = simple();
    // carol's plan P2 rates only RO: DE falls back to bob, whose plan P1 rates it.
    let c = p
        .get_cost(&cd(
            "t",
            "call",
            "carol",
            "4930",
            "2021-03-01T10:00:00Z",
            60,
        ))
        .unwrap();
    assert_eq!(c.cost, dec!(1.5));
    assert_eq!(&*c.timespans[0].matched_subject, "t:call:bob");
    // An unknown subject is rated by *any.
    let c = p
        .get_cost(&cd("t", "call", "zed", "40722", "2021-03-01T10:00:00Z", 60))
        .unwrap();
    assert_eq!(c.cost, dec!(3));
    assert_eq!(&*c.timespans[0].matched_subject, "t:call:*any");
}

#[test]
fn fallbacks_stop_at_depth_three() {
    let chain = rates_plan(
        "R1,0,1,1s,1s,0s\n",
        "D1,DE,R1,*up,4,0,\nD3,RO,R1,*up,4,0,\n",
        "PDE,D1,*any,10\nPRO,D3,*any,10\n",
        "t,call,s0,2020-01-01T00:00:00Z,PRO,s1\n\
         t,call,s1,2020-01-01T00:00:00Z,PRO,s2\n\
         t,call,s2,2020-01-01T00:00:00Z,PRO,s3\n\
         t,call,s3,2020-01-01T00:00:00Z,PRO,s4\n\
         t,call,s4,2020-01-01T00:00:00Z,PDE,\n",
    );
    let deep = chain.get_cost(&cd("t", "call", "s0", "49", "2021-01-01T00:00:00Z", 10));
    assert_eq!(deep.unwrap_err(), RatingError::UnauthorizedDestination);
    let shallow = chain.get_cost(&cd("t", "call", "s1", "49", "2021-01-01T00:00:00Z", 10));
    assert_eq!(shallow.unwrap().cost, dec!(10));
}

#[test]
fn unrated_destination_and_unknown_subject_are_errors() {
    let p = rates_plan(
        "R1,0,1,1s,1s,0s\n",
        "D1,DE,R1,*up,4,0,\n",
        "P1,D1,*any,10\n",
        "t,call,alice,2020-01-01T00:00:00Z,P1,\n",
    );
    let e = p.get_cost(&cd(
        "t",
        "call",
        "alice",
        "40722",
        "2021-01-01T00:00:00Z",
        10,
    ));
    assert_eq!(e.unwrap_err(), RatingError::UnauthorizedDestination);
    let e = p.get_cost(&cd("t", "call", "nobody", "49", "2021-01-01T00:00:00Z", 10));
    assert_eq!(e.unwrap_err(), RatingError::RatingPlanNotFound);
    // Before the first activation there is no plan.
    let e = p.get_cost(&cd("t", "call", "alice", "49", "2019-01-01T00:00:00Z", 10));
    assert_eq!(e.unwrap_err(), RatingError::RatingPlanNotFound);
    assert_eq!(
        RatingError::UnauthorizedDestination.to_string(),
        "UNAUTHORIZED_DESTINATION"
    );
}

#[test]
fn any_destination_is_the_fallback() {
    let p = rates_plan(
        "R1,0,1,1s,1s,0s\nR9,0,9,1s,1s,0s\n",
        "D1,DE,R1,*up,4,0,\nDANY,*any,R9,*up,4,0,\n",
        "P1,D1,*any,10\nP1,DANY,*any,10\n",
        "t,call,alice,2020-01-01T00:00:00Z,P1,\n",
    );
    let c = p
        .get_cost(&cd("t", "call", "alice", "49", "2021-01-01T00:00:00Z", 10))
        .unwrap();
    assert_eq!(c.cost, dec!(10));
    let c = p
        .get_cost(&cd(
            "t",
            "call",
            "alice",
            "1555",
            "2021-01-01T00:00:00Z",
            10,
        ))
        .unwrap();
    assert_eq!(c.cost, dec!(90));
    assert_eq!(&*c.timespans[0].matched_destination, "*any");
}

#[test]
fn call_splits_at_plan_activation() {
    let p = rates_plan(
        "R1,0,1,1s,1s,0s\nR2,0,2,1s,1s,0s\n",
        "D1,DE,R1,*up,4,0,\nD2,DE,R2,*up,4,0,\n",
        "P1,D1,*any,10\nP2,D2,*any,10\n",
        "t,call,alice,2020-01-01T00:00:00Z,P1,\nt,call,alice,2021-01-01T12:00:00Z,P2,\n",
    );
    let c = p
        .get_cost(&cd("t", "call", "alice", "49", "2021-01-01T11:59:00Z", 120))
        .unwrap();
    assert_eq!(c.cost, dec!(60) + dec!(120));
    assert_eq!(c.timespans[0].rating_plan.id, "P1");
    assert_eq!(c.timespans[1].rating_plan.id, "P2");
}

#[test]
fn call_splits_at_midnight_and_by_weight() {
    let p = plan(&[
        ("Destinations.csv", DEST),
        (
            "Timings.csv",
            "PEAK,*any,*any,*any,1;2;3;4;5,08:00:00\nOFF,*any,*any,*any,*any,00:00:00\nXMAS,*any,12,25,*any,00:00:00\n",
        ),
        ("Rates.csv", "RP,0,2,1s,1s,0s\nRO,0,1,1s,1s,0s\nRX,0,0,1s,1s,0s\n"),
        ("DestinationRates.csv", "DP,DE,RP,*up,4,0,\nDO,DE,RO,*up,4,0,\nDX,DE,RX,*up,4,0,\n"),
        ("RatingPlans.csv", "P,DP,PEAK,10\nP,DO,OFF,10\nP,DX,XMAS,20\n"),
        ("RatingProfiles.csv", "t,call,a,2020-01-01T00:00:00Z,P,\n"),
    ]);
    // Thursday 2021-12-23 07:59:00 → 08:01:00: one minute off-peak, one peak.
    let c = p
        .get_cost(&cd("t", "call", "a", "49", "2021-12-23T07:59:00Z", 120))
        .unwrap();
    assert_eq!(c.cost, dec!(60) + dec!(120));
    // Friday 24th 23:59 → Saturday 25th 00:01: peak into Christmas, free by weight 20.
    let c = p
        .get_cost(&cd("t", "call", "a", "49", "2021-12-24T23:59:00Z", 120))
        .unwrap();
    assert_eq!(c.timespans.len(), 2);
    assert_eq!(c.timespans[0].time_end, t("2021-12-25T00:00:00Z"));
    assert_eq!(c.cost, dec!(120));
    // Saturday 2021-12-18 across midnight into Sunday: same interval, still split at midnight.
    let c = p
        .get_cost(&cd("t", "call", "a", "49", "2021-12-18T23:59:00Z", 120))
        .unwrap();
    assert_eq!(c.timespans.len(), 2);
    assert_eq!(c.cost, dec!(120));
}

#[test]
fn timings_are_read_in_the_configured_zone() {
    let files = [
        ("Destinations.csv", DEST),
        (
            "Timings.csv",
            "DAY,*any,*any,*any,*any,08:00:00\nNIGHT,*any,*any,*any,*any,00:00:00\n",
        ),
        ("Rates.csv", "RD,0,2,1s,1s,0s\nRN,0,1,1s,1s,0s\n"),
        (
            "DestinationRates.csv",
            "DD,DE,RD,*up,4,0,\nDN,DE,RN,*up,4,0,\n",
        ),
        ("RatingPlans.csv", "P,DD,DAY,10\nP,DN,NIGHT,10\n"),
        ("RatingProfiles.csv", "t,call,a,2020-01-01T00:00:00Z,P,\n"),
    ];
    let utc = try_plan_in(&files, Tz::UTC).unwrap();
    let bucharest = try_plan_in(&files, Tz::Europe__Bucharest).unwrap();
    // 06:30 UTC is 08:30 in Bucharest (UTC+2 in winter).
    let call = cd("t", "call", "a", "49", "2021-01-10T06:30:00Z", 60);
    assert_eq!(utc.get_cost(&call).unwrap().cost, dec!(60));
    assert_eq!(bucharest.get_cost(&call).unwrap().cost, dec!(120));
    // 21:59:30 UTC → 22:00:30 UTC crosses local midnight in Bucharest only.
    let call = cd("t", "call", "a", "49", "2021-01-10T21:59:30Z", 60);
    assert_eq!(
        bucharest.get_cost(&call).unwrap().timespans[0].time_end,
        t("2021-01-10T22:00:00Z")
    );
    assert_eq!(utc.get_cost(&call).unwrap().timespans.len(), 1);
}

#[test]
fn increments_round_spans_up() {
    let p = rates_plan(
        "R60,0,1,60s,60s,0s\nR30,0,1,60s,30s,0s\n",
        "D1,DE,R60,*up,4,0,\nD2,RO,R30,*up,4,0,\n",
        "P,D1,*any,10\nP,D2,*any,10\n",
        "t,call,a,2020-01-01T00:00:00Z,P,\n",
    );
    let c = p
        .get_cost(&cd("t", "call", "a", "49", "2021-01-01T00:00:00Z", 61))
        .unwrap();
    assert_eq!(c.cost, dec!(2));
    assert_eq!(c.rated_usage, secs(120));
    let c = p
        .get_cost(&cd("t", "call", "a", "40", "2021-01-01T00:00:00Z", 31))
        .unwrap();
    assert_eq!(c.cost, dec!(1));
    assert_eq!(c.timespans[0].time_end, t("2021-01-01T00:01:00Z"));
}

#[test]
fn an_increment_that_crosses_a_boundary_is_charged_at_its_own_rate() {
    let p = plan(&[
        ("Destinations.csv", DEST),
        (
            "Timings.csv",
            "A,*any,*any,*any,*any,00:00:00\nB,*any,*any,*any,*any,12:00:00\n",
        ),
        ("Rates.csv", "RA,0,1,60s,60s,0s\nRB,0,10,60s,60s,0s\n"),
        (
            "DestinationRates.csv",
            "DA,DE,RA,*up,4,0,\nDB,DE,RB,*up,4,0,\n",
        ),
        ("RatingPlans.csv", "P,DA,A,10\nP,DB,B,10\n"),
        ("RatingProfiles.csv", "t,call,a,2020-01-01T00:00:00Z,P,\n"),
    ]);
    // 11:59:30 → 12:01:30: the first increment runs to 12:00:30 at rate A,
    // the rest (60 s) is B.
    let c = p
        .get_cost(&cd("t", "call", "a", "49", "2021-01-01T11:59:30Z", 120))
        .unwrap();
    assert_eq!(c.timespans[0].time_end, t("2021-01-01T12:00:30Z"));
    assert_eq!(c.timespans[1].time_start, t("2021-01-01T12:00:30Z"));
    assert_eq!(c.cost, dec!(1) + dec!(10));
}

#[test]
fn rate_groups_continue_across_pieces_with_duration_index() {
    let p = cgrates_fixture();
    // Seconds 60..90 of a call: already in the 1s-step group.
    let mut d = cd("vdf", "0", "landline", "0256", "2012-02-02T17:31:00Z", 30);
    d.duration_index = secs(90);
    d.loop_index = 1;
    let c = p.get_cost(&d).unwrap();
    assert_eq!(c.cost, dec!(30));
    assert_eq!(c.timespans[0].rate_group, 1);
    assert_eq!(c.timespans[0].duration_index, secs(90));
}

#[test]
fn max_cost_free_caps_the_charge() {
    let p = rates_plan(
        "R1,1,1,1s,1s,0s\n",
        "D1,DE,R1,*up,4,50,*free\n",
        "P,D1,*any,10\n",
        "t,call,a,2020-01-01T00:00:00Z,P,\n",
    );
    let c = p
        .get_cost(&cd("t", "call", "a", "49", "2021-01-01T00:00:00Z", 30))
        .unwrap();
    assert_eq!(c.cost, dec!(31));
    let c = p
        .get_cost(&cd("t", "call", "a", "49", "2021-01-01T00:00:00Z", 600))
        .unwrap();
    assert_eq!(c.cost, dec!(50));
    let incs = &c.timespans[0].increments;
    assert_eq!(incs[0].compress_factor, 49);
    assert_eq!(incs.last().unwrap().cost, dec!(0));
    assert_eq!(incs.iter().map(|i| i.compress_factor).sum::<u64>(), 600);
}

#[test]
fn max_cost_disconnect_marks_where_usage_stops() {
    let p = rates_plan(
        "R1,1,1,1s,1s,0s\n",
        "D1,DE,R1,*up,4,50,*disconnect\n",
        "P,D1,*any,10\n",
        "t,call,a,2020-01-01T00:00:00Z,P,\n",
    );
    let c = p
        .get_cost(&cd("t", "call", "a", "49", "2021-01-01T00:00:00Z", 600))
        .unwrap();
    assert_eq!(c.cost, dec!(601));
    assert_eq!(c.max_cost_reached_at, Some(secs(49)));
    let c = p
        .get_cost(&cd("t", "call", "a", "49", "2021-01-01T00:00:00Z", 20))
        .unwrap();
    assert_eq!(c.max_cost_reached_at, None);
}

#[test]
fn rounding_methods_apply_per_span() {
    let p = rates_plan(
        "R1,0,0.01,60s,1s,0s\n",
        "DU,DE,R1,*up,2,0,\nDD,DE_MOB,R1,*down,2,0,\nDM,RO,R1,*middle,2,0,\n",
        "P,DU,*any,10\nP,DD,*any,10\nP,DM,*any,10\n",
        "t,call,a,2020-01-01T00:00:00Z,P,\n",
    );
    // 50 s at 0.01/min = 0.008333…
    let at = "2021-01-01T00:00:00Z";
    assert_eq!(
        p.get_cost(&cd("t", "call", "a", "49", at, 50))
            .unwrap()
            .cost,
        dec!(0.01)
    );
    assert_eq!(
        p.get_cost(&cd("t", "call", "a", "4917", at, 50))
            .unwrap()
            .cost,
        dec!(0)
    );
    assert_eq!(
        p.get_cost(&cd("t", "call", "a", "40", at, 50))
            .unwrap()
            .cost,
        dec!(0.01)
    );
    assert_eq!(
        p.get_cost(&cd("t", "call", "a", "40", at, 29))
            .unwrap()
            .cost,
        dec!(0)
    );
    let c = p.get_cost(&cd("t", "call", "a", "49", at, 50)).unwrap();
    assert!(c.unrounded_cost > dec!(0.0083) && c.unrounded_cost < dec!(0.0084));
}

#[test]
fn zero_length_call_costs_nothing_but_must_be_rated() {
    let p = simple();
    let c = p
        .get_cost(&cd("t", "call", "alice", "49", "2021-01-01T00:00:00Z", 0))
        .unwrap();
    assert_eq!(c.cost, dec!(0));
    assert!(c.timespans.is_empty());
    let e = simple().get_cost(&cd("t", "nocat", "alice", "49", "2021-01-01T00:00:00Z", 0));
    assert_eq!(e.unwrap_err(), RatingError::RatingPlanNotFound);
}

#[test]
fn bad_descriptors_are_refused() {
    let p = simple();
    let mut d = cd("t", "call", "alice", "49", "2021-01-01T00:00:00Z", 10);
    d.time_end = d.time_start - secs(1);
    assert!(matches!(p.get_cost(&d), Err(RatingError::Invalid(_))));
    let d = cd("", "call", "alice", "49", "2021-01-01T00:00:00Z", 10);
    assert_eq!(
        p.get_cost(&d).unwrap_err().to_string(),
        "MANDATORY_IE_MISSING: [Tenant]"
    );
}

#[test]
fn subject_defaults_to_account() {
    let p = simple();
    let mut d = cd("t", "call", "", "49", "2021-01-01T00:00:00Z", 60);
    d.account = "alice".into();
    let c = p.get_cost(&d).unwrap();
    assert_eq!(c.subject, "alice");
    assert_eq!(c.cost, dec!(1.5));
}
