//! GetCost on the sample plan: a one-span call and one crossing boundaries.
//! Run: `cargo bench -p rater --bench cost`

use chrono::{DateTime, TimeDelta, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use rater::{load_folder, CallDescriptor};
use std::hint::black_box;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn bench(c: &mut Criterion) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../conf/tariffplans/sample");
    let plan = load_folder(dir, chrono_tz::Tz::UTC).expect("sample plan loads");
    // Mobile call on a Wednesday afternoon: one span.
    let one = CallDescriptor::new(
        "vdf",
        "call",
        "rif",
        "0723456789",
        at("2024-03-06T14:00:00Z"),
        TimeDelta::seconds(95),
    );
    assert_eq!(plan.get_cost(&one).unwrap().timespans.len(), 1);
    // Landline call from Friday 07:59:30 for 16.5 h: crosses the first-minute
    // rate group, peak at 08:00, off-peak at 19:00 and the weekend at midnight.
    let crossing = CallDescriptor::new(
        "vdf",
        "call",
        "rif",
        "0256123456",
        at("2024-03-08T07:59:30Z"),
        TimeDelta::seconds(59_400),
    );
    let spans = plan.get_cost(&crossing).unwrap().timespans.len();
    assert!(
        spans >= 4,
        "expected at least three boundaries, got {spans} spans"
    );
    c.bench_function("get_cost/one_span", |b| {
        b.iter(|| plan.get_cost(black_box(&one)).unwrap())
    });
    c.bench_function("get_cost/three_boundaries", |b| {
        b.iter(|| plan.get_cost(black_box(&crossing)).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
