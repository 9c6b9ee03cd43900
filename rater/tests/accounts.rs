//! Debits, refunds and max session time on accounts.

mod support;

use chrono::TimeDelta;
use rater::account::*;
use rater::{CallDescriptor, TariffPlan};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use support::*;

fn plan() -> TariffPlan {
    support::plan(&[
        ("Destinations.csv", "RO,40\nRO_MOB,407\nDE,49\n"),
        (
            "Rates.csv",
            "HALF,0,0.5,1s,1s,0s\nCF1,1,1,1s,1s,0s\nMIN,0,0.6,60s,60s,0s\nMIN,0,0.6,60s,1s,60s\nTENTH,0,0.1,1s,1s,0s\n",
        ),
        (
            "DestinationRates.csv",
            "D_HALF,*any,HALF,*up,4,0,\nD_CF1,*any,CF1,*up,4,0,\nD_MIN,*any,MIN,*up,4,0,\nD_TENTH,*any,TENTH,*up,4,0,\n",
        ),
        (
            "RatingPlans.csv",
            "P_HALF,D_HALF,*any,10\nP_CF1,D_CF1,*any,10\nP_MIN,D_MIN,*any,10\nP_TENTH,D_TENTH,*any,10\n",
        ),
        (
            "RatingProfiles.csv",
            "t,call,half,2020-01-01T00:00:00Z,P_HALF,\n\
             t,call,cf1,2020-01-01T00:00:00Z,P_CF1,\n\
             t,call,min,2020-01-01T00:00:00Z,P_MIN,\n\
             t,call,tenth,2020-01-01T00:00:00Z,P_TENTH,\n",
        ),
    ])
}

fn account(balances: &[(BalanceType, &str, Decimal)]) -> Account {
    let mut a = Account::new(&AccountKey::new("t", "acc"));
    for (kind, id, value) in balances {
        a.push_balance(*kind, Balance::new(&format!("uuid-{id}"), id, *value));
    }
    a
}

fn call(subject: &str, dest: &str, secs: i64) -> CallDescriptor {
    let mut d = cd("t", "call", subject, dest, "2021-06-01T10:00:00Z", secs);
    d.account = "acc".into();
    d
}

fn value(a: &Account, kind: BalanceType, id: &str) -> Decimal {
    a.balances(kind).iter().find(|b| b.id == id).unwrap().value
}

use BalanceType::{Monetary as M, Voice as V};

#[test]
fn money_pays_in_weight_order_and_refund_restores_exactly() {
    let p = plan();
    let mut a = account(&[(M, "low", dec!(10)), (M, "high", dec!(3))]);
    a.balance_map.get_mut(&M).unwrap()[1].weight = dec!(20);
    let before = a.clone();
    let r = debit(&p, &mut a, &call("half", "4021", 10), Decimal::ZERO).unwrap();
    assert_eq!(r.cost.cost, dec!(5));
    assert_eq!(value(&a, M, "high"), dec!(0));
    assert_eq!(value(&a, M, "low"), dec!(8));
    assert_eq!(r.debited.money(), dec!(5));
    refund_charges(&mut a, &r.debited.charges);
    assert_eq!(a, before);
}

#[test]
fn most_specific_destination_pays_first() {
    let p = plan();
    let mut a = account(&[
        (M, "general", dec!(10)),
        (M, "ro", dec!(10)),
        (M, "mobile", dec!(10)),
    ]);
    {
        let list = a.balance_map.get_mut(&M).unwrap();
        list[0].weight = dec!(100);
        list[1].destination_ids = balance::parse_filter("RO");
        list[2].destination_ids = balance::parse_filter("RO_MOB");
    }
    debit(&p, &mut a, &call("half", "40721", 4), Decimal::ZERO).unwrap();
    assert_eq!(value(&a, M, "mobile"), dec!(8));
    debit(&p, &mut a, &call("half", "40256", 4), Decimal::ZERO).unwrap();
    assert_eq!(value(&a, M, "ro"), dec!(8));
    // A German number: only the unfiltered balance may pay.
    debit(&p, &mut a, &call("half", "4930", 4), Decimal::ZERO).unwrap();
    assert_eq!(value(&a, M, "general"), dec!(8));
}

#[test]
fn expired_disabled_and_wrong_category_balances_are_skipped() {
    let p = plan();
    let mut a = account(&[
        (M, "old", dec!(100)),
        (M, "off", dec!(100)),
        (M, "sms", dec!(100)),
        (M, "ok", dec!(100)),
    ]);
    {
        let list = a.balance_map.get_mut(&M).unwrap();
        list[0].expiration_date = Some(t("2021-01-01T00:00:00Z"));
        list[0].weight = dec!(9);
        list[1].disabled = true;
        list[1].weight = dec!(9);
        list[2].categories = balance::parse_filter("sms");
        list[2].weight = dec!(9);
    }
    debit(&p, &mut a, &call("half", "40", 2), Decimal::ZERO).unwrap();
    assert_eq!(value(&a, M, "ok"), dec!(99));
    assert_eq!(
        value(&a, M, "old") + value(&a, M, "off") + value(&a, M, "sms"),
        dec!(300)
    );
}

#[test]
fn voice_units_pay_before_money() {
    let p = plan();
    let mut a = account(&[(V, "minutes", dec!(30)), (M, "cash", dec!(100))]);
    let r = debit(&p, &mut a, &call("half", "40", 50), Decimal::ZERO).unwrap();
    assert_eq!(value(&a, V, "minutes"), dec!(0));
    assert_eq!(value(&a, M, "cash"), dec!(90));
    assert_eq!(r.debited.total(V), dec!(30));
    assert_eq!(r.debited.money(), dec!(10));
}

#[test]
fn zero_step_unit_balances_round_units_up() {
    let p = plan();
    let mut a = account(&[(V, "minutes", dec!(120))]);
    a.balance_map.get_mut(&V).unwrap()[0].rating_subject = "*zero60s".into();
    debit(&p, &mut a, &call("half", "40", 1), Decimal::ZERO).unwrap();
    assert_eq!(value(&a, V, "minutes"), dec!(60));
}

#[test]
fn rated_unit_balances_also_charge_money_at_their_subject() {
    let p = plan();
    let mut a = account(&[(V, "minutes", dec!(100)), (M, "cash", dec!(100))]);
    a.balance_map.get_mut(&V).unwrap()[0].rating_subject = "tenth".into();
    debit(&p, &mut a, &call("half", "40", 10), Decimal::ZERO).unwrap();
    assert_eq!(value(&a, V, "minutes"), dec!(90));
    assert_eq!(value(&a, M, "cash"), dec!(99));
}

#[test]
fn a_blocker_stops_the_search() {
    let p = plan();
    let mut a = account(&[(M, "blocker", dec!(2)), (M, "backup", dec!(100))]);
    {
        let list = a.balance_map.get_mut(&M).unwrap();
        list[0].blocker = true;
        list[0].weight = dec!(10);
    }
    let before = a.clone();
    let e = debit(&p, &mut a, &call("half", "40", 10), Decimal::ZERO).unwrap_err();
    assert_eq!(e, AccountError::InsufficientCredit);
    assert_eq!(a, before);
}

#[test]
fn insufficient_credit_changes_nothing_unless_negative_is_allowed() {
    let p = plan();
    let mut a = account(&[(M, "cash", dec!(3))]);
    let before = a.clone();
    assert_eq!(
        debit(&p, &mut a, &call("half", "40", 10), Decimal::ZERO)
            .unwrap_err()
            .to_string(),
        "INSUFFICIENT_CREDIT"
    );
    assert_eq!(a, before);
    a.allow_negative = true;
    let r = debit(&p, &mut a, &call("half", "40", 10), Decimal::ZERO).unwrap();
    assert_eq!(value(&a, M, "cash"), dec!(-2));
    refund_charges(&mut a, &r.debited.charges);
    assert_eq!(value(&a, M, "cash"), dec!(3));
    // No monetary balance at all: a *default one is created and goes negative.
    let mut empty = account(&[]);
    empty.allow_negative = true;
    debit(&p, &mut empty, &call("half", "40", 10), Decimal::ZERO).unwrap();
    assert_eq!(value(&empty, M, "*default"), dec!(-5));
}

#[test]
fn an_increment_is_paid_whole_by_one_balance() {
    let p = plan();
    // Increments of 0.6 (a whole first minute): 0.5 + 0.5 cannot pay one.
    let mut a = account(&[(M, "a", dec!(0.5)), (M, "b", dec!(0.5))]);
    let e = debit(&p, &mut a, &call("min", "40", 30), Decimal::ZERO);
    assert_eq!(e.unwrap_err(), AccountError::InsufficientCredit);
    let mut a = account(&[(M, "a", dec!(0.5)), (M, "b", dec!(0.7))]);
    debit(&p, &mut a, &call("min", "40", 30), Decimal::ZERO).unwrap();
    assert_eq!(value(&a, M, "a"), dec!(0.5));
    assert_eq!(value(&a, M, "b"), dec!(0.1));
}

#[test]
fn disabled_accounts_are_refused() {
    let p = plan();
    let mut a = account(&[(M, "cash", dec!(100))]);
    a.disabled = true;
    let e = debit(&p, &mut a, &call("half", "40", 1), Decimal::ZERO).unwrap_err();
    assert_eq!(e, AccountError::AccountDisabled);
}

fn mst(subject: &str, balance: Decimal, secs: i64, method: MaxSessionMethod) -> TimeDelta {
    let a = account(&[(M, "cash", balance)]);
    max_session_time(
        &plan(),
        &a,
        &call(subject, "40", secs),
        method,
        Decimal::ZERO,
    )
    .unwrap()
}

#[test]
fn step_down_worked_examples() {
    use MaxSessionMethod::*;
    assert_eq!(
        mst("half", dec!(100), 1000, StepDown),
        TimeDelta::seconds(200)
    );
    assert_eq!(mst("cf1", dec!(100), 100, StepDown), TimeDelta::seconds(90));
    assert_eq!(mst("cf1", dec!(100), 100, Exact), TimeDelta::seconds(99));
    assert_eq!(mst("cf1", dec!(5), 100, StepDown), TimeDelta::zero());
    assert_eq!(mst("cf1", dec!(5), 100, Exact), TimeDelta::seconds(4));
    assert_eq!(mst("cf1", dec!(1000), 100, Exact), TimeDelta::seconds(100));
    assert_eq!(mst("cf1", dec!(0), 100, Exact), TimeDelta::zero());
}

#[test]
fn exact_respects_rate_groups_and_increments() {
    use MaxSessionMethod::*;
    // MIN: first minute whole at 0.6, then 0.01 per second.
    assert_eq!(mst("min", dec!(0.5), 600, Exact), TimeDelta::zero());
    assert_eq!(mst("min", dec!(0.6), 600, Exact), TimeDelta::seconds(60));
    assert_eq!(mst("min", dec!(0.75), 600, Exact), TimeDelta::seconds(75));
}

#[test]
fn max_debit_takes_what_the_credit_covers() {
    let p = plan();
    let mut a = account(&[(M, "cash", dec!(10))]);
    let r = max_debit(&p, &mut a, &call("cf1", "40", 100), Decimal::ZERO).unwrap();
    assert_eq!(r.cost.rated_usage, TimeDelta::seconds(9));
    assert_eq!(value(&a, M, "cash"), dec!(0));
    let r = max_debit(&p, &mut a, &call("cf1", "40", 100), Decimal::ZERO).unwrap();
    assert_eq!(r.cost.rated_usage, TimeDelta::zero());
}

#[test]
fn unrated_destination_is_an_error_not_zero() {
    let p = support::plan(&[
        ("Destinations.csv", "RO,40\n"),
        ("Rates.csv", "R,0,1,1s,1s,0s\n"),
        ("DestinationRates.csv", "D,RO,R,*up,4,0,\n"),
        ("RatingPlans.csv", "P,D,*any,10\n"),
        ("RatingProfiles.csv", "t,call,x,2020-01-01T00:00:00Z,P,\n"),
    ]);
    let a = account(&[(M, "cash", dec!(10))]);
    let e = max_session_time(
        &p,
        &a,
        &call("x", "49", 10),
        MaxSessionMethod::Exact,
        Decimal::ZERO,
    );
    assert_eq!(e.unwrap_err().to_string(), "UNAUTHORIZED_DESTINATION");
}

#[test]
fn volume_discount_lowers_the_price() {
    let p = plan();
    let mut a = account(&[(M, "cash", dec!(100))]);
    let r = debit(&p, &mut a, &call("half", "40", 10), dec!(20)).unwrap();
    assert_eq!(r.cost.cost, dec!(4));
    assert_eq!(value(&a, M, "cash"), dec!(96));
}

mod exact_properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// `exact` is payable, one more second is not (unless all was granted),
        /// and it is never below `step_down`.
        #[test]
        fn exact_is_the_longest_payable_and_beats_step_down(
            subject in prop::sample::select(vec!["half", "cf1", "min", "tenth"]),
            cents in 0i64..50_000,
            split in 0i64..100,
            secs in 1i64..7_200,
        ) {
            let p = plan();
            let money = Decimal::new(cents, 2);
            let first = money * Decimal::new(split, 2);
            let a = account(&[(M, "a", first), (M, "b", money - first)]);
            let cd = call(subject, "40", secs);
            let exact = max_session_time(&p, &a, &cd, MaxSessionMethod::Exact, Decimal::ZERO).unwrap();
            let step = max_session_time(&p, &a, &cd, MaxSessionMethod::StepDown, Decimal::ZERO).unwrap();
            prop_assert!(exact >= step, "exact {exact} < step_down {step}");
            let pays = |d: i64| {
                let mut acc = a.clone();
                let mut c = cd.clone();
                c.time_end = c.time_start + TimeDelta::seconds(d);
                debit(&p, &mut acc, &c, Decimal::ZERO).is_ok()
            };
            prop_assert!(pays(exact.num_seconds()));
            if exact.num_seconds() < secs {
                prop_assert!(!pays(exact.num_seconds() + 1), "{} more seconds were payable", 1);
            }
        }
    }
}
