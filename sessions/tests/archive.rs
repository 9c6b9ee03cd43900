//! Call records leave the session journal for the hourly archive once
//! older than the retention: the API still finds them, before and after a
//! restart, and a crash between archiving and forgetting one does not
//! archive it twice.

mod common;

use chrono::{DurationRound, TimeDelta, Utc};
use common::*;
use rust_decimal_macros::dec;
use sessions::archive::Archive;
use sessions::journal::Journal;
use sessions::{Cdr, CdrFilter, SessionsConfig};
use std::path::Path;
use std::time::Duration;

/// Every archived line, across hour files.
fn archived_lines(dir: &Path) -> Vec<String> {
    let mut out = vec![];
    for day in std::fs::read_dir(dir.join("cdrs")).unwrap() {
        for hour in std::fs::read_dir(day.unwrap().path()).unwrap() {
            let text = std::fs::read_to_string(hour.unwrap().path()).unwrap();
            out.extend(text.lines().map(str::to_string));
        }
    }
    out
}

async fn journal_cdrs(dir: &Path) -> usize {
    Journal::open(dir.join("sessions.journal"))
        .unwrap()
        .scan("cdr:")
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_call_records_move_to_the_archive_and_stay_queryable() {
    let Rig {
        dir,
        sw,
        engine,
        ctl,
    } = rig(dec!(10), |c| c.cdr_retention = Duration::ZERO).await;
    let a = sw.place_call(prepaid("1001", "1002", 30.0)).unwrap();
    let b = sw.place_call(prepaid("1001", "1002", 50.0)).unwrap();
    for uuid in [&a, &b] {
        sw.wait_for_end(uuid, WAIT).await.expect("call ends");
        cdr(&ctl, uuid, WAIT).await;
    }
    no_sessions(&ctl).await;
    ctl.archive_due_cdrs().await.unwrap();
    let lines = archived_lines(dir.path());
    assert_eq!(lines.len(), 2, "{lines:?}");
    // Listed in the order they were stored: the 30 s call ended first.
    let all = ctl.cdrs(&CdrFilter::default()).unwrap();
    let ids: Vec<_> = all.iter().map(|c| c.origin_id.clone()).collect();
    assert_eq!(ids, [a.clone(), b.clone()]);
    assert!(all[0].order_id < all[1].order_id);
    let only_b = CdrFilter {
        origin_ids: vec![b.clone()],
        ..Default::default()
    };
    assert_eq!(ctl.cdrs(&only_b).unwrap()[0].cost, dec!(0.5));
    let paged = CdrFilter {
        offset: 1,
        limit: Some(1),
        ..Default::default()
    };
    assert_eq!(ctl.cdrs(&paged).unwrap()[0].origin_id, b);
    ctl.shutdown().await;
    drop(ctl);
    assert_eq!(journal_cdrs(dir.path()).await, 0);
    // After a restart the archive still answers.
    let ctl = start(&engine, config(&[&sw]), dir.path());
    assert_eq!(ctl.cdrs(&CdrFilter::default()).unwrap().len(), 2);
    ctl.shutdown().await;
}

fn old_record(id: &str) -> Cdr {
    let answered = Utc::now() - TimeDelta::hours(3);
    Cdr {
        cgr_id: id.into(),
        run_id: "*default".into(),
        origin_host: "fs1".into(),
        origin_id: id.into(),
        request_type: "*prepaid".into(),
        tenant: "cgrates.org".into(),
        category: "call".into(),
        account: "1001".into(),
        subject: "1001".into(),
        destination: "1002".into(),
        setup_time: None,
        answer_time: Some(answered),
        usage: 60_000_000_000,
        cost: dec!(0.6),
        charges: vec![],
        unpaid: false,
        disconnect_cause: "NORMAL_CLEARING".into(),
        extra_info: String::new(),
        order_id: (answered + TimeDelta::minutes(1))
            .timestamp_nanos_opt()
            .unwrap(),
        estimated: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_archived_just_before_a_crash_is_not_archived_twice() {
    let dir = tempfile::tempdir().unwrap();
    let (kept, fresh) = (old_record("kept"), old_record("fresh"));
    {
        let j = Journal::open(dir.path().join("sessions.journal")).unwrap();
        for c in [&kept, &fresh] {
            let key = format!("cdr:{}", c.cgr_id);
            j.put(&key, Some(serde_json::to_value(c).unwrap()))
                .await
                .unwrap();
        }
    }
    // The crash: `kept` reached its hour file, the journal still holds it.
    let hour = kept
        .stored_at()
        .duration_trunc(TimeDelta::hours(1))
        .unwrap();
    Archive::new(dir.path().join("cdrs"))
        .append(hour, std::slice::from_ref(&kept))
        .unwrap();
    let engine = engine(dir.path()).await;
    let cfg = SessionsConfig::default(); // one hour of retention; these are 3 h old
    let ctl = start(&engine, cfg, dir.path());
    ctl.archive_due_cdrs().await.unwrap();
    let lines = archived_lines(dir.path());
    assert_eq!(lines.len(), 2, "{lines:?}");
    let all = ctl.cdrs(&CdrFilter::default()).unwrap();
    assert_eq!(all, [kept.clone(), fresh.clone()]);
    // By id, and by when they were stored, from the archive.
    let by_id = CdrFilter {
        cgr_ids: vec!["fresh".into()],
        ..Default::default()
    };
    assert_eq!(ctl.cdrs(&by_id).unwrap(), std::slice::from_ref(&fresh));
    let mut later = CdrFilter::default();
    later.order_id.start = Some(fresh.order_id);
    assert_eq!(ctl.cdrs(&later).unwrap(), [fresh]);
    ctl.shutdown().await;
    drop(ctl);
    assert_eq!(journal_cdrs(dir.path()).await, 0);
}
