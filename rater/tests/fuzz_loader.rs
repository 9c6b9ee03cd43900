//! Bounded, structure-aware fuzzing of the tariff-plan loader and of
//! rating on stable Rust (proptest): the six rating files written as rows
//! whose cells come from small vocabularies of valid, borderline and wrong
//! values (ids that do or do not resolve, self-referencing fallbacks,
//! overflowing numbers and durations, impossible calendar values). A plan
//! must load or be refused with an error naming a file; a plan that loads
//! must rate any call up to two days without panicking.
//!
//! Cases: `TOLLGATE_FUZZ_CASES` (default 300, a few seconds). A failure
//! prints the minimal plan; add it to `regressions` below.

mod support;

use chrono_tz::Tz;
use proptest::prelude::*;
use support::{cd, try_plan_in};

fn cases() -> u32 {
    std::env::var("TOLLGATE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

fn pick(values: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::sample::select(values).prop_map(String::from)
}

/// Mostly a good value, sometimes a bad one: plans must often load for
/// rating to be exercised.
fn cell(good: &'static [&'static str], bad: &'static [&'static str]) -> BoxedStrategy<String> {
    prop_oneof![40 => pick(good), 1 => pick(bad)].boxed()
}

const IDS: &[&str] = &["A"];
const BAD_IDS: &[&str] = &["B", "*any", ""];
const PREFIXES: &[&str] = &["49", "4915", "0", "+49"];
const BAD_PREFIXES: &[&str] = &["x", "", "49;50"];
const YEARS: &[&str] = &["*any", "2012", "2012;2013"];
const BAD_YEARS: &[&str] = &["0", "-1", "99999", "x", ""];
const MONTHS: &[&str] = &["*any", "1;2", "12", "3"];
const BAD_MONTHS: &[&str] = &["13", "0", ""];
const MONTH_DAYS: &[&str] = &["*any", "31", "1;15", "29"];
const BAD_MONTH_DAYS: &[&str] = &["32", "-1", ""];
const WEEK_DAYS: &[&str] = &["*any", "1;2;3;4;5", "0", "7", "6;0"];
const BAD_WEEK_DAYS: &[&str] = &["8", ""];
const TIMES: &[&str] = &["00:00:00", "08:00:00", "*asap", "23:59:59"];
const BAD_TIMES: &[&str] = &["24:00:00", "x", ""];
const MONEY: &[&str] = &[
    "0",
    "0.05",
    "1",
    "0.0000000000000000000000000001",
    "1000000",
];
const BAD_MONEY: &[&str] = &["-1", "1e30", "abc", "79228162514264337593543950335", ""];
const DURATIONS: &[&str] = &["1s", "60s", "1ns", "1", "1m30s"];
const BAD_DURATIONS: &[&str] = &["0s", "-1s", "9223372036854775807ns", "106751d", "x", ""];
const STARTS: &[&str] = &["60s", "1h", "2m", "30s"];
const BAD_STARTS: &[&str] = &["0s", "-1s", "x"];
const ROUNDING: &[&str] = &["*up", "*down", "*middle"];
const BAD_ROUNDING: &[&str] = &["x", ""];
const DECIMALS: &[&str] = &["4", "0", "20"];
const BAD_DECIMALS: &[&str] = &["28", "-1", "100", "x"];
const MAX_COST: &[&str] = &["0,", "0.5,*free", "10,*disconnect", "0,*free"];
const BAD_MAX_COST: &[&str] = &["1,", "x,x", "-1,*free"];
const WEIGHTS: &[&str] = &["10", "0", "20"];
const BAD_WEIGHTS: &[&str] = &["-1", "1e40", "x", ""];
const TIMING_IDS: &[&str] = &["T1", "T2", "T3", "*any"];
const BAD_TIMING_IDS: &[&str] = &["NOPE"];
const ACTIVATION: &[&str] = &[
    "2012-01-01T00:00:00Z",
    "0001-01-01T00:00:00Z",
    "2013-01-01T00:00:00+02:00",
];
const BAD_ACTIVATION: &[&str] = &["9999-12-31T23:59:59Z", "x", ""];
const FALLBACK: &[&str] = &["", "a", "b", "b;a", "a;a", "*any"];
const NONE: &[&str] = &["?"];

fn rows(cells: Vec<BoxedStrategy<String>>, max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(cells, 0..max).prop_map(|rows| {
        let mut text = String::new();
        for row in rows {
            text.push_str(&row.join(","));
            text.push('\n');
        }
        text
    })
}

fn plan_files() -> impl Strategy<Value = Vec<(&'static str, String)>> {
    (
        rows(vec![cell(IDS, BAD_IDS), cell(PREFIXES, BAD_PREFIXES)], 5),
        rows(
            vec![
                cell(&["T3"], BAD_TIMING_IDS),
                cell(YEARS, BAD_YEARS),
                cell(MONTHS, BAD_MONTHS),
                cell(MONTH_DAYS, BAD_MONTH_DAYS),
                cell(WEEK_DAYS, BAD_WEEK_DAYS),
                cell(TIMES, BAD_TIMES),
            ],
            2,
        ),
        rows(
            vec![
                cell(IDS, BAD_IDS),
                cell(MONEY, BAD_MONEY),
                cell(MONEY, BAD_MONEY),
                cell(DURATIONS, BAD_DURATIONS),
                cell(DURATIONS, BAD_DURATIONS),
                cell(STARTS, BAD_STARTS),
            ],
            4,
        ),
        rows(
            vec![
                cell(&["B"], BAD_IDS),
                cell(IDS, BAD_IDS),
                cell(IDS, BAD_IDS),
                cell(ROUNDING, BAD_ROUNDING),
                cell(DECIMALS, BAD_DECIMALS),
                cell(MAX_COST, BAD_MAX_COST),
            ],
            2,
        ),
        rows(
            vec![
                cell(&["A", "P2"], BAD_IDS),
                cell(&["A", "A", "B"], BAD_IDS),
                cell(TIMING_IDS, BAD_TIMING_IDS),
                cell(WEIGHTS, BAD_WEIGHTS),
            ],
            4,
        ),
        rows(
            vec![
                cell(&["t"], NONE),
                cell(&["call", "*any"], NONE),
                cell(&["a", "b", "*any"], NONE),
                cell(ACTIVATION, BAD_ACTIVATION),
                cell(&["A", "P2"], BAD_IDS),
                cell(FALLBACK, NONE),
            ],
            4,
        ),
    )
        .prop_map(|(d, t, r, dr, rp, prof)| {
            // A valid chain first, so that the random rows extend a plan
            // that loads (the rows are refused, or change how it rates).
            vec![
                ("Destinations.csv", format!("A,49\n{d}")),
                ("Timings.csv", format!("T1,*any,*any,*any,*any,00:00:00\nT2,*any,*any,*any,1;2;3;4;5,08:00:00\n{t}")),
                ("Rates.csv", format!("A,0.05,1,60s,60s,0s\n{r}")),
                ("DestinationRates.csv", format!("A,A,A,*up,4,0,\n{dr}")),
                ("RatingPlans.csv", format!("A,A,*any,10\n{rp}")),
                ("RatingProfiles.csv", format!("t,call,*any,2012-01-01T00:00:00Z,A,\n{prof}")),
            ]
        })
}

fn calls() -> impl Strategy<Value = Vec<(String, String, &'static str, i64)>> {
    prop::collection::vec(
        (
            pick(&["a", "b", "c"]),
            pick(&["49", "4915123", "0", "+49", "", "50"]),
            prop::sample::select(
                &[
                    "2012-02-02T17:30:00Z",
                    "2012-12-31T23:59:59Z",
                    "2013-03-31T01:59:00Z",
                    "2000-02-29T00:00:00Z",
                ][..],
            ),
            prop_oneof![0i64..7200, Just(2 * 86_400)],
        ),
        1..4,
    )
}

fn check(files: &[(&str, String)], calls: &[(String, String, &str, i64)]) {
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    match try_plan_in(&files, Tz::Europe__Bucharest) {
        Err(e) => {
            let text = e.to_string();
            assert!(text.contains(".csv"), "an error names its file: {text}");
        }
        Ok(plan) => {
            for (subject, dest, start, secs) in calls {
                let _ = plan.get_cost(&cd("t", "call", subject, dest, start, *secs));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn plans_load_or_are_refused_and_rate_without_panic(files in plan_files(), calls in calls()) {
        check(&files, &calls);
    }
}

/// Plans found wrong by fuzzing, kept as plain tests.
#[test]
fn regressions() {
    // A subject that falls back to itself.
    let files = vec![
        ("Destinations.csv", "A,49\n".to_string()),
        ("Rates.csv", "A,0,1,60s,60s,0s\n".to_string()),
        ("DestinationRates.csv", "A,A,A,*up,4,0,\n".to_string()),
        ("RatingPlans.csv", "A,A,*any,10\n".to_string()),
        (
            "RatingProfiles.csv",
            "t,call,a,2012-01-01T00:00:00Z,A,a;a\n".to_string(),
        ),
    ];
    check(
        &files,
        &[("a".into(), "50".into(), "2012-02-02T17:30:00Z", 60)],
    );
    // Found by this fuzzer: a rate of Decimal::MAX per second overflowed
    // the pricing multiplication (a panic); now refused with SERVER_ERROR.
    let files: Vec<(&str, &str)> = vec![
        ("Destinations.csv", "A,49\n"),
        (
            "Rates.csv",
            "A,0.05,1,60s,60s,0s\nA,0,79228162514264337593543950335,1s,1s,60s\n",
        ),
        ("DestinationRates.csv", "A,A,A,*up,4,0,\n"),
        ("RatingPlans.csv", "A,A,*any,10\n"),
        (
            "RatingProfiles.csv",
            "t,call,*any,2012-01-01T00:00:00Z,A,\n",
        ),
    ];
    let plan = try_plan_in(&files, Tz::UTC).unwrap();
    let e = plan
        .get_cost(&cd("t", "call", "a", "49", "2012-02-02T17:30:00Z", 61))
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("SERVER_ERROR: the cost is beyond the decimal range"),
        "{e}"
    );
    assert!(plan
        .get_cost(&cd("t", "call", "a", "49", "2012-02-02T17:30:00Z", 60))
        .is_ok());
    // And a MaxCostSoFar at the top of the range, plus a 0.05 connect fee
    // and 1 per minute (the sum rounds up past the range).
    let mut call = cd("t", "call", "a", "49", "2012-02-02T17:30:00Z", 60);
    call.max_cost_so_far = rust_decimal::Decimal::MAX;
    assert!(plan.get_cost(&call).is_err());
}
