//! GetMaxSessionTime, exact and step_down, on the sample plan's landline
//! rate (a connect fee, a first minute billed whole, then per second).
//! Run: `cargo bench -p rater --bench maxsession`

use chrono::{DateTime, TimeDelta, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use rater::account::{
    max_session_time, Account, AccountKey, Balance, BalanceType, MaxSessionMethod,
};
use rater::CallDescriptor;
use rust_decimal::Decimal;
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../conf/tariffplans/sample");
    let plan = rater::load_folder(dir, chrono_tz::Tz::UTC).expect("sample plan");
    let mut account = Account::new(&AccountKey::new("vdf", "rif"));
    account.push_balance(
        BalanceType::Monetary,
        Balance::new("u", "main", Decimal::new(137, 2)),
    );
    let start = DateTime::parse_from_rfc3339("2024-03-06T14:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let cd = CallDescriptor::new(
        "vdf",
        "call",
        "rif",
        "0256123456",
        start,
        TimeDelta::seconds(10_800),
    );
    let exact =
        max_session_time(&plan, &account, &cd, MaxSessionMethod::Exact, Decimal::ZERO).unwrap();
    let step = max_session_time(
        &plan,
        &account,
        &cd,
        MaxSessionMethod::StepDown,
        Decimal::ZERO,
    )
    .unwrap();
    assert!(exact >= step, "{exact} < {step}");
    c.bench_function("max_session_time/exact", |b| {
        b.iter(|| {
            max_session_time(
                &plan,
                black_box(&account),
                black_box(&cd),
                MaxSessionMethod::Exact,
                Decimal::ZERO,
            )
            .unwrap()
        })
    });
    c.bench_function("max_session_time/step_down", |b| {
        b.iter(|| {
            max_session_time(
                &plan,
                black_box(&account),
                black_box(&cd),
                MaxSessionMethod::StepDown,
                Decimal::ZERO,
            )
            .unwrap()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
