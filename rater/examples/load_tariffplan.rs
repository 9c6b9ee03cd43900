//! Loads a tariff-plan folder once and reports time and peak memory:
//! `cargo run --release -p rater --example load_tariffplan -- DIR`

use std::time::Instant;

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/bigplan".into());
    let started = Instant::now();
    match rater::load_folder(&dir, chrono_tz::Tz::UTC) {
        Ok(plan) => {
            let took = started.elapsed();
            println!(
                "loaded {} prefixes, {} destinations, {} rating plans in {:.2?}; peak RSS {} MiB",
                plan.destinations.prefix_count(),
                plan.destinations.len(),
                plan.rating_plans.len(),
                took,
                peak_rss_kib().unwrap_or(0) / 1024
            );
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
