//! Properties of GetCost that must hold for any call on the fixture plans.

mod support;

use chrono::TimeDelta;
use proptest::prelude::*;
use rater::{CallDescriptor, TariffPlan};
use rust_decimal::Decimal;
use std::sync::OnceLock;
use support::*;

fn fixture() -> &'static TariffPlan {
    static PLAN: OnceLock<TariffPlan> = OnceLock::new();
    PLAN.get_or_init(cgrates_fixture)
}

/// (subject, destination) pairs the fixture rates, including rate groups and timing changes.
const CALLS: &[(&str, &str, &str)] = &[
    ("0", "rif", "0256"),
    ("0", "landline", "0723"),
    ("call", "tutorial", "1002"),
];

fn descriptor(which: usize, start_offset: i64, duration: i64) -> CallDescriptor {
    let (category, subject, dest) = CALLS[which];
    let tenant = if category == "call" {
        "cgrates.org"
    } else {
        "vdf"
    };
    let mut d = cd(
        tenant,
        category,
        subject,
        dest,
        "2014-02-06T00:00:00Z",
        duration,
    );
    d.time_start += TimeDelta::seconds(start_offset);
    d.time_end += TimeDelta::seconds(start_offset);
    d
}

proptest! {
    #[test]
    fn cost_never_decreases_when_a_call_gets_longer(
        which in 0..CALLS.len(),
        start in 0i64..(7 * 86_400),
        dur in 0i64..7_200,
        extra in 1i64..3_600,
    ) {
        let p = fixture();
        let short = p.get_cost(&descriptor(which, start, dur)).unwrap();
        let long = p.get_cost(&descriptor(which, start, dur + extra)).unwrap();
        prop_assert!(long.cost >= short.cost, "{} < {}", long.cost, short.cost);
    }

    #[test]
    fn pieces_sum_to_the_whole_before_rounding(
        which in 0..CALLS.len(),
        start_min in 0i64..(7 * 1_440),
        cuts in proptest::collection::vec(1i64..30, 1..6),
    ) {
        // Pieces are whole minutes, so they align with every increment in the fixture.
        let p = fixture();
        let start = start_min * 60;
        let total: i64 = cuts.iter().sum::<i64>() * 60;
        let whole = p.get_cost(&descriptor(which, start, total)).unwrap();
        let mut sum = Decimal::ZERO;
        let mut at = 0;
        for (i, minutes) in cuts.iter().enumerate() {
            let len = minutes * 60;
            let mut piece = descriptor(which, start + at, len);
            piece.loop_index = i as u32;
            piece.duration_index = TimeDelta::seconds(at + len);
            sum += p.get_cost(&piece).unwrap().unrounded_cost;
            at += len;
        }
        prop_assert_eq!(sum.round_dp(18), whole.unrounded_cost.round_dp(18));
    }

    #[test]
    fn a_zero_rate_costs_only_its_connect_fee(
        fee_cents in 0i64..10_000,
        unit in 1i64..120,
        inc in 1i64..120,
        dur in 0i64..100_000,
    ) {
        let fee = Decimal::new(fee_cents, 2);
        let plan = support::plan(&[
            ("Destinations.csv", "D,1\n"),
            ("Rates.csv", &format!("Z,{fee},0,{unit}s,{inc}s,0s\n")),
            ("DestinationRates.csv", "DZ,D,Z,*up,4,0,\n"),
            ("RatingPlans.csv", "P,DZ,*any,10\n"),
            ("RatingProfiles.csv", "t,call,a,2020-01-01T00:00:00Z,P,\n"),
        ]);
        let c = plan.get_cost(&cd("t", "call", "a", "123", "2021-05-05T05:05:05Z", dur)).unwrap();
        let expected = if dur == 0 { Decimal::ZERO } else { fee };
        prop_assert_eq!(c.cost, expected.normalize());
    }
}
