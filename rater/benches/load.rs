//! Loading a generated plan of 1,000,000 prefixes (see examples/gen_tariffplan.rs).
//! Run: `cargo bench -p rater --bench load`; memory: the load_tariffplan example.

use criterion::{criterion_group, criterion_main, Criterion};
use std::process::Command;

fn bench(c: &mut Criterion) {
    let dir = std::env::temp_dir().join("tollgate-bigplan-1m");
    if !dir.join("RatingProfiles.csv").exists() {
        let status = Command::new(env!("CARGO"))
            .args([
                "run",
                "--release",
                "-q",
                "-p",
                "rater",
                "--example",
                "gen_tariffplan",
                "--",
            ])
            .arg(&dir)
            .arg("1000000")
            .status()
            .expect("run generator");
        assert!(status.success());
    }
    let mut group = c.benchmark_group("load");
    group.sample_size(10);
    group.bench_function("1m_prefixes", |b| {
        b.iter(|| rater::load_folder(&dir, chrono_tz::Tz::UTC).expect("loads"))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
