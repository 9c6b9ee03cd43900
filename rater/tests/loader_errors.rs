//! The loader refuses each kind of bad input, naming file, line and column.

mod support;

use chrono_tz::Tz;
use rater::LoadError;
use support::try_plan_in;

const OK_DEST: &str = "#Id,Prefix\nDE,49\n";
const OK_RATES: &str = "R1,0,1,1s,1s,0s\n";
const OK_DR: &str = "D1,DE,R1,*up,4,0,\n";
const OK_RP: &str = "P1,D1,*any,10\n";
const OK_PROF: &str = "t,call,a,2020-01-01T00:00:00Z,P1,\n";

/// Loads the valid plan with `file` replaced by `text`; returns the error text.
fn error_with(file: &str, text: &str) -> String {
    let mut files = vec![
        ("Destinations.csv", OK_DEST),
        ("Rates.csv", OK_RATES),
        ("DestinationRates.csv", OK_DR),
        ("RatingPlans.csv", OK_RP),
        ("RatingProfiles.csv", OK_PROF),
    ];
    files.retain(|(f, _)| *f != file);
    files.push((file, text));
    match try_plan_in(&files, Tz::UTC) {
        Ok(_) => panic!("{file} with {text:?} should be refused"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_valid_plan_loads() {
    let files = [
        ("Destinations.csv", OK_DEST),
        ("Rates.csv", OK_RATES),
        ("DestinationRates.csv", OK_DR),
        ("RatingPlans.csv", OK_RP),
        ("RatingProfiles.csv", OK_PROF),
    ];
    let plan = try_plan_in(&files, Tz::UTC).unwrap();
    assert_eq!(plan.rating_plans.len(), 1);
}

#[test]
fn wrong_column_count() {
    let e = error_with("Rates.csv", "# comment\nR1,0,1,1s,1s,0s\nR2,0,1,1s\n");
    assert_eq!(e, "Rates.csv line 3: expected 6 columns (Id,ConnectFee,Rate,RateUnit,RateIncrement,GroupIntervalStart), found 4");
}

#[test]
fn unparsable_number() {
    let e = error_with("Rates.csv", "R1,0,abc,1s,1s,0s\n");
    assert_eq!(
        e,
        "Rates.csv line 1, column 3 (Rate): \"abc\" is not a number"
    );
    let e = error_with("RatingPlans.csv", "P1,D1,*any,heavy\n");
    assert_eq!(
        e,
        "RatingPlans.csv line 1, column 4 (Weight): \"heavy\" is not a number"
    );
    let e = error_with("DestinationRates.csv", "D1,DE,R1,*up,four,0,\n");
    assert!(
        e.starts_with("DestinationRates.csv line 1, column 5 (RoundingDecimals)"),
        "{e}"
    );
}

#[test]
fn unparsable_duration() {
    let e = error_with("Rates.csv", "R1,0,1,1s,1x,0s\n");
    assert!(
        e.starts_with("Rates.csv line 1, column 5 (RateIncrement): invalid duration \"1x\""),
        "{e}"
    );
    let e = error_with("Rates.csv", "R1,0,1,0s,1s,0s\n");
    assert_eq!(
        e,
        "Rates.csv line 1, column 4 (RateUnit): RateUnit must be greater than 0s"
    );
}

#[test]
fn bad_words_and_times() {
    let e = error_with("DestinationRates.csv", "D1,DE,R1,*sideways,4,0,\n");
    assert!(
        e.starts_with("DestinationRates.csv line 1, column 4 (RoundingMethod)"),
        "{e}"
    );
    let e = error_with("DestinationRates.csv", "D1,DE,R1,*up,4,10,*maybe\n");
    assert!(
        e.starts_with("DestinationRates.csv line 1, column 7 (MaxCostStrategy)"),
        "{e}"
    );
    let e = error_with("RatingProfiles.csv", "t,call,a,yesterday,P1,\n");
    assert!(
        e.starts_with("RatingProfiles.csv line 1, column 4 (ActivationTime)"),
        "{e}"
    );
    let e = error_with("Timings.csv", "T,*any,13,*any,*any,00:00:00\n");
    assert!(
        e.starts_with("Timings.csv line 1, column 3 (Months)"),
        "{e}"
    );
}

#[test]
fn unknown_references() {
    let e = error_with("DestinationRates.csv", "D1,NOWHERE,R1,*up,4,0,\n");
    assert_eq!(
        e,
        "DestinationRates.csv line 1, column 2 (DestinationId): unknown destination \"NOWHERE\""
    );
    let e = error_with("DestinationRates.csv", "\n\nD1,DE,R9,*up,4,0,\n");
    assert_eq!(
        e,
        "DestinationRates.csv line 3, column 3 (RatesTag): unknown rate \"R9\""
    );
    let e = error_with("RatingPlans.csv", "P1,D9,*any,10\n");
    assert_eq!(
        e,
        "RatingPlans.csv line 1, column 2 (DestinationRatesId): unknown destination rates \"D9\""
    );
    let e = error_with("RatingPlans.csv", "P1,D1,NIGHTS,10\n");
    assert_eq!(
        e,
        "RatingPlans.csv line 1, column 3 (TimingTag): unknown timing \"NIGHTS\""
    );
    let e = error_with("RatingProfiles.csv", "t,call,a,2020-01-01T00:00:00Z,P9,\n");
    assert_eq!(
        e,
        "RatingProfiles.csv line 1, column 5 (RatingPlanId): unknown rating plan \"P9\""
    );
}

#[test]
fn duplicates() {
    let e = error_with("Rates.csv", "R1,0,1,1s,1s,0s\nR1,0,2,1s,1s,0s\n");
    assert!(
        e.starts_with("Rates.csv line 2, column 6 (GroupIntervalStart)"),
        "{e}"
    );
    let e = error_with(
        "RatingProfiles.csv",
        "t,call,a,2020-01-01T00:00:00Z,P1,\nt,call,a,2020-01-01T00:00:00Z,P1,\n",
    );
    assert!(
        e.starts_with("RatingProfiles.csv line 2, column 4 (ActivationTime)"),
        "{e}"
    );
}

#[test]
fn empty_ids_and_bad_utf8() {
    let e = error_with("Destinations.csv", "DE,\n");
    assert_eq!(
        e,
        "Destinations.csv line 1, column 2 (Prefix): must not be empty"
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Destinations.csv"), b"DE,4\xff9\n").unwrap();
    let e = rater::load_folder(dir.path(), Tz::UTC).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Destinations.csv line 1, column 2 (Prefix): is not valid UTF-8"
    );
}

#[test]
fn missing_files_are_fine_and_a_missing_folder_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let plan = rater::load_folder(dir.path(), Tz::UTC).unwrap();
    assert!(plan.profiles.is_empty());
    let e = rater::load_folder(dir.path().join("nope"), Tz::UTC).unwrap_err();
    assert!(matches!(e, LoadError::Io { .. }));
}

#[test]
fn account_files_are_checked_too() {
    let e = error_with("Actions.csv", "A1,*teleport,,,,*monetary,,,,,,,10,,,,10\n");
    assert!(
        e.starts_with("Actions.csv line 1, column 2 (Action)"),
        "{e}"
    );
    let e = error_with("Actions.csv", "A1,*topup,,,,*gold,,,,,,,10,,,,10\n");
    assert!(
        e.starts_with("Actions.csv line 1, column 6 (BalanceType)"),
        "{e}"
    );
    let e = error_with("Actions.csv", "A1,*topup,,,,*monetary,,,,,,,ten,,,,10\n");
    assert!(
        e.starts_with("Actions.csv line 1, column 13 (Units)"),
        "{e}"
    );
    let e = error_with("ActionPlans.csv", "AP,NOPE,*asap,10\n");
    assert_eq!(
        e,
        "ActionPlans.csv line 1, column 2 (ActionsId): unknown actions \"NOPE\""
    );
    let e = error_with("AccountActions.csv", "t,1001,AP_NONE,,false,false\n");
    assert_eq!(
        e,
        "AccountActions.csv line 1, column 3 (ActionPlanId): unknown action plan \"AP_NONE\""
    );
    let e = error_with("AccountActions.csv", "t,1001,,,maybe,false\n");
    assert!(
        e.starts_with("AccountActions.csv line 1, column 5 (AllowNegative)"),
        "{e}"
    );
    let e = error_with("VolumeDiscounts.csv", "t,*any,60,150\n");
    assert!(
        e.starts_with("VolumeDiscounts.csv line 1, column 4 (DiscountPercent)"),
        "{e}"
    );
    let e = error_with(
        "ActionTriggers.csv",
        "T,,*min_balance,1,,,,,,,,,,,,,,,,A,10\n",
    );
    assert!(
        e.starts_with("ActionTriggers.csv line 1, column 3 (ThresholdType)"),
        "{e}"
    );
}
