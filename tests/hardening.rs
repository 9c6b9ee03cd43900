//! Bounded work and memory per request: what one unauthenticated client
//! can make the server do (docs/server.md, "Limits").

mod common;

use common::{seed_cd, Server};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// The seed's descriptor lasting `years` (365-day years), from the year
/// 1000 when that is long (RFC 3339 stops at 9999).
fn cd_years(years: i64) -> Value {
    let mut cd = seed_cd();
    let start = if years > 100 {
        "1000-02-02T17:30:00Z"
    } else {
        "2012-02-02T17:30:00Z"
    };
    let end =
        chrono::DateTime::parse_from_rfc3339(start).unwrap() + chrono::TimeDelta::days(365 * years);
    cd["TimeStart"] = json!(start);
    cd["TimeEnd"] = json!(end.to_rfc3339());
    cd
}

const MB: u64 = 1 << 20;

#[test]
fn huge_usages_are_refused_at_once_with_flat_memory() {
    let server = Server::start(json!({}));
    let mut other = server.client();
    other.ok("Responder.GetCost", seed_cd());
    let before = server.rss();
    // The review's requests: a 1,000-year and an 8,000-year GetCost, and
    // an exact GetMaxSessionTime over 250 years, each several times.
    let abusers: Vec<_> = (0..4)
        .map(|_| {
            let mut c = server.client();
            std::thread::spawn(move || {
                for _ in 0..5 {
                    for years in [1_000, 8_000] {
                        let started = Instant::now();
                        let e = c.err("Responder.GetCost", cd_years(years));
                        assert_eq!(e, "MAX_USAGE_EXCEEDED");
                        // Used to take 4 s and more; refused before any work.
                        assert!(started.elapsed() < Duration::from_secs(2));
                    }
                    let mut cd = seed_cd();
                    cd["Amount"] = json!(250 * 365 * 86_400_i64);
                    cd["MaxSessionMethod"] = json!("exact");
                    let started = Instant::now();
                    let e = c.err("Responder.GetMaxSessionTime", cd);
                    assert_eq!(e, "MAX_USAGE_EXCEEDED");
                    assert!(started.elapsed() < Duration::from_secs(2));
                    let e = c.err("Responder.GetMaxSessionTime", cd_years(250));
                    assert_eq!(e, "MAX_USAGE_EXCEEDED");
                    let e = c.err("Responder.Debit", cd_years(1_000));
                    assert_eq!(e, "MAX_USAGE_EXCEEDED");
                }
            })
        })
        .collect();
    // Another client is answered meanwhile.
    for _ in 0..20 {
        assert!(other.ok("Responder.GetCost", seed_cd())["Cost"].is_number());
    }
    for a in abusers {
        a.join().unwrap();
    }
    let after = server.rss();
    assert!(
        after < before + 64 * MB,
        "resident memory grew from {before} to {after} bytes"
    );
    // Absurd numbers are refused too, never a panic.
    let mut cd = seed_cd();
    cd["Amount"] = json!(1e27);
    assert_eq!(
        other.err("Responder.GetMaxSessionTime", cd),
        "MAX_USAGE_EXCEEDED"
    );
    let mut cd = seed_cd();
    cd.as_object_mut().unwrap().remove("TimeEnd");
    cd["DurationIndex"] = json!(i64::MAX);
    assert_eq!(other.err("Responder.GetCost", cd), "MAX_USAGE_EXCEEDED");
    // Over HTTP the refusal is a 422 with the same word.
    let (status, body) = server.get(
        "/getcost?cstmid=vdf&subj=rif&dest=0256&start=2012-02-02T17:30:00Z&end=3012-02-02T17:30:00Z",
    );
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("MAX_USAGE_EXCEEDED"), "{body}");
    assert!(other.ok("Responder.GetCost", seed_cd())["Cost"].is_number());
}

#[test]
fn usages_up_to_the_cap_are_answered() {
    let server = Server::start(json!({"limits": {"max_usage": "72h"}}));
    let mut c = server.client();
    // 72 h: over the inline threshold, so rated on the blocking pool.
    let mut cd = seed_cd();
    cd["TimeEnd"] = json!("2012-02-05T17:30:00Z");
    let cost = c.ok("Responder.GetCost", cd.clone());
    assert_eq!(cost["RatedUsage"], json!(72 * 3600 * 1_000_000_000_i64));
    cd["TimeEnd"] = json!("2012-02-05T17:30:01Z");
    assert_eq!(c.err("Responder.GetCost", cd), "MAX_USAGE_EXCEEDED");
    let mut cd = seed_cd();
    cd["Amount"] = json!(72 * 3600);
    cd["MaxSessionMethod"] = json!("exact");
    assert!(c.ok("Responder.GetMaxSessionTime", cd.clone()).is_number());
    cd["Amount"] = json!(72 * 3600 + 1);
    assert_eq!(
        c.err("Responder.GetMaxSessionTime", cd),
        "MAX_USAGE_EXCEEDED"
    );
}

#[test]
fn long_requests_leave_the_runtime_workers_free() {
    // A cap of a year: each of these rates 365 days on the blocking pool.
    let server = Server::start(json!({"limits": {"max_usage": "8760h"}}));
    let long: Vec<_> = (0..4)
        .map(|_| {
            let mut c = server.client();
            std::thread::spawn(move || c.ok("Responder.GetCost", cd_years(1)))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(50));
    let mut other = server.client();
    for _ in 0..10 {
        let started = Instant::now();
        assert!(other.ok("Responder.GetCost", seed_cd())["Cost"].is_number());
        // Generous: a short request waits for no long one.
        assert!(started.elapsed() < Duration::from_secs(2));
    }
    for l in long {
        assert!(l.join().unwrap()["Timespans"].as_array().unwrap().len() > 365);
    }
}

#[test]
fn replies_over_the_size_limit_are_refused() {
    let server = Server::start(json!({"limits": {"max_reply_bytes": 1000}}));
    let mut c = server.client();
    // The seed's hour answers 1,794 bytes.
    assert_eq!(
        c.err("Responder.GetCost", seed_cd()),
        "SERVER_ERROR: reply larger than 1000 bytes"
    );
    let mut cd = seed_cd();
    cd["TimeEnd"] = json!("2012-02-02T17:31:00Z");
    assert!(c.ok("Responder.GetCost", cd)["Cost"].is_number());
}

#[test]
fn limits_are_checked_in_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.json");
    std::fs::write(&path, r#"{"limits": {"max_usage": "1h"}}"#).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["serve", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("limits.max_usage"), "{err}");
}
