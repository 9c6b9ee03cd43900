//! Writes a large synthetic tariff plan for load benchmarks:
//! `cargo run --release -p rater --example gen_tariffplan -- DIR [PREFIXES]`
//! (default 1,000,000 prefixes over 1,000 destinations, each rated).

use std::fmt::Write as _;
use std::io::Write;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().unwrap_or_else(|| "target/bigplan".into());
    let prefixes: usize = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let destinations = (prefixes / 1000).max(1);
    std::fs::create_dir_all(&dir)?;
    let path = std::path::Path::new(&dir);
    let mut out = std::io::BufWriter::new(std::fs::File::create(path.join("Destinations.csv"))?);
    writeln!(out, "#Id,Prefix")?;
    for i in 0..prefixes {
        // Distinct numbers that look like E.164 prefixes of 8 to 10 digits.
        writeln!(out, "DST_{},{}", i % destinations, 40_000_000 + i * 7)?;
    }
    out.flush()?;
    let mut rates = String::from("#Id,ConnectFee,Rate,RateUnit,RateIncrement,GroupIntervalStart\n");
    let mut dest_rates = String::from(
        "#Id,DestinationId,RatesTag,RoundingMethod,RoundingDecimals,MaxCost,MaxCostStrategy\n",
    );
    let mut plans = String::from("#Id,DestinationRatesId,TimingTag,Weight\n");
    for d in 0..destinations {
        let _ = writeln!(
            rates,
            "RT_{d},0.01,0.{:02},60s,60s,0s\nRT_{d},0.01,0.05,60s,1s,60s",
            d % 100
        );
        let _ = writeln!(dest_rates, "DR_{d},DST_{d},RT_{d},*up,4,0,");
    }
    for d in 0..destinations {
        let _ = writeln!(plans, "RP_BIG,DR_{d},*any,10");
    }
    std::fs::write(path.join("Rates.csv"), rates)?;
    std::fs::write(path.join("DestinationRates.csv"), dest_rates)?;
    std::fs::write(path.join("RatingPlans.csv"), plans)?;
    std::fs::write(
        path.join("RatingProfiles.csv"),
        "#Tenant,Category,Subject,ActivationTime,RatingPlanId,RatesFallbackSubject\nbig,call,*any,2020-01-01T00:00:00Z,RP_BIG,\n",
    )?;
    println!("wrote {prefixes} prefixes over {destinations} destinations to {dir}");
    Ok(())
}
