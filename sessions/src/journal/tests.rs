use super::*;
use rater::store::frames::Frames;
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};

/// The `(offset, len)` of every intact record in the file at `path`.
fn records(path: &Path) -> Vec<(usize, usize)> {
    let bytes = std::fs::read(path).unwrap();
    let mut frames = Frames::new(&bytes);
    let mut out = vec![];
    let mut at = 0;
    while frames.next().is_some() {
        out.push((at, frames.valid_len() - at));
        at = frames.valid_len();
    }
    out
}

fn flip_byte(path: &Path, offset: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset] ^= 0xff;
    std::fs::write(path, bytes).unwrap();
}

#[tokio::test]
async fn durable_across_reopen_and_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.journal");
    {
        let j = Journal::open(&path).unwrap();
        j.put("session:a", Some(json!({"n": 1}))).await.unwrap();
        j.put("session:b", Some(json!({"n": 2}))).await.unwrap();
        j.put("session:a", None).await.unwrap();
        j.put("cdr:b", Some(json!({"cost": 1.5}))).await.unwrap();
    }
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(&[9, 9, 9]);
    std::fs::write(&path, bytes).unwrap();
    let j = Journal::open(&path).unwrap();
    assert_eq!(j.get("session:a"), None);
    assert_eq!(
        j.scan("session:"),
        vec![("session:b".to_string(), json!({"n": 2}))]
    );
    assert_eq!(j.get("cdr:b"), Some(json!({"cost": 1.5})));
    j.put("session:c", Some(json!(3))).await.unwrap();
    drop(j);
    assert_eq!(Journal::open(&path).unwrap().scan("session:").len(), 2);
}

#[tokio::test]
async fn a_rewritten_journal_reads_back_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    let j = Journal::open_with(&path, 0).unwrap();
    j.put("session:\"quoted\"", Some(json!({"a": [1, 2.5, "x"]})))
        .await
        .unwrap();
    for n in 0..10 {
        j.put("cdr:b", Some(json!({"Cost": n}))).await.unwrap();
    }
    drop(j);
    assert!(records(&path).len() < 11, "rewritten");
    let j = Journal::open(&path).unwrap();
    assert_eq!(
        j.get("session:\"quoted\""),
        Some(json!({"a": [1, 2.5, "x"]}))
    );
    assert_eq!(j.get("cdr:b"), Some(json!({"Cost": 9})));
}

#[tokio::test]
async fn rewrite_keeps_every_live_value_and_drops_dead_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    let rewrite_at = 2048;
    let j = Journal::open_with(&path, rewrite_at).unwrap();
    for n in 0..40 {
        for i in 0..5 {
            let value = json!({"i": i, "n": n, "pad": "x".repeat(50)});
            j.put(&format!("session:{i}"), Some(value)).await.unwrap();
        }
        j.put(&format!("cdr:{n}"), Some(json!({"n": n})))
            .await
            .unwrap();
    }
    j.put("session:0", None).await.unwrap();
    assert!(j.rewrites() > 0);
    let expect = |j: &Journal| {
        let sessions = j.scan("session:");
        let keys: Vec<_> = sessions.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["session:1", "session:2", "session:3", "session:4"]);
        for (i, (_, v)) in sessions.iter().enumerate() {
            assert_eq!(v["i"], i + 1);
            assert_eq!(v["n"], 39);
        }
        assert_eq!(j.scan("cdr:").len(), 40);
        assert_eq!(j.get("cdr:7"), Some(json!({"n": 7})));
    };
    expect(&j);
    drop(j);
    // 240 records were written; at most twice the live ones (44) remain.
    let len: usize = records(&path).iter().map(|r| r.1).sum();
    assert!(
        records(&path).len() < 88,
        "{} records",
        records(&path).len()
    );
    assert_eq!(len as u64, std::fs::metadata(&path).unwrap().len());
    expect(&Journal::open(&path).unwrap());
}

#[tokio::test]
async fn tombstones_survive_rewrite_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    let big = |n: u32| Some(json!({"n": n, "pad": "x".repeat(1000)}));
    // With sizes s:a = 23 and s:b = 1030 bytes, each rewrite comes after
    // the second overwrite of session:b.
    let j = Journal::open_with(&path, 0).unwrap();
    j.put("session:a", Some(json!(1))).await.unwrap();
    for n in 0..3 {
        j.put("session:b", big(n)).await.unwrap();
    }
    j.put("session:a", None).await.unwrap();
    drop(j);
    assert_eq!(records(&path).len(), 3, "session:a, session:b, tombstone");
    let j = Journal::open_with(&path, 0).unwrap();
    assert_eq!(j.get("session:a"), None);
    assert!(!j.contains("session:a"));
    for n in 3..6 {
        j.put("session:b", big(n)).await.unwrap();
    }
    drop(j);
    assert_eq!(records(&path).len(), 1, "session:b alone");
    let j = Journal::open(&path).unwrap();
    assert_eq!(j.get("session:a"), None);
    assert_eq!(j.get("session:b"), big(5));
}

#[tokio::test]
async fn a_corrupt_record_ends_replay_there() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    {
        let j = Journal::open(&path).unwrap();
        for key in ["session:a", "session:b", "session:c"] {
            j.put(key, Some(json!({"k": key}))).await.unwrap();
        }
    }
    let recs = records(&path);
    flip_byte(&path, recs[1].0 + recs[1].1 / 2);
    let j = Journal::open(&path).unwrap();
    assert_eq!(
        j.scan(""),
        vec![("session:a".to_string(), json!({"k": "session:a"}))]
    );
    assert_eq!(std::fs::metadata(&path).unwrap().len(), recs[0].1 as u64);
    j.put("session:d", Some(json!(4))).await.unwrap();
    drop(j);
    let j = Journal::open(&path).unwrap();
    let keys: Vec<_> = j.scan("session:").into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["session:a", "session:d"]);
}

#[tokio::test]
async fn a_record_corrupted_on_disk_reads_as_absent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    let j = Journal::open(&path).unwrap();
    j.put("session:a", Some(json!(1))).await.unwrap();
    j.put("session:b", Some(json!(2))).await.unwrap();
    let recs = records(&path);
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    let offset = (recs[0].0 + recs[0].1 - 2) as u64;
    std::os::unix::fs::FileExt::write_all_at(&file, b"xx", offset).unwrap();
    assert_eq!(j.get("session:a"), None);
    assert_eq!(
        j.scan("session:"),
        vec![("session:b".to_string(), json!(2))]
    );
}

#[tokio::test]
async fn replay_reads_records_across_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    let value = |n: usize, len: usize| json!({"n": n, "pad": "y".repeat(len)});
    let sizes = [300_000, 3 << 20, 10, 700_000, 500_000];
    {
        let j = Journal::open(&path).unwrap();
        for (n, len) in sizes.into_iter().enumerate() {
            j.put(&format!("cdr:{n}"), Some(value(n, len)))
                .await
                .unwrap();
        }
    }
    let j = Journal::open(&path).unwrap();
    let all = j.scan("cdr:");
    assert_eq!(all.len(), sizes.len());
    for (n, (key, v)) in all.into_iter().enumerate() {
        assert_eq!(key, format!("cdr:{n}"));
        assert_eq!(v, value(n, sizes[n]));
    }
}

#[tokio::test]
async fn an_oversized_value_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(dir.path().join("j")).unwrap();
    let huge = json!("z".repeat(rater::store::frames::MAX_PAYLOAD));
    assert!(j.put("cdr:x", Some(huge)).await.is_err());
    assert!(!j.contains("cdr:x"));
}

const WRITERS: usize = 8;

fn session(i: usize, n: usize) -> Value {
    json!({"i": i, "n": n, "pad": "p".repeat(100 + 40 * i)})
}

/// Reads every session until `done`, checking each value is whole and no
/// older than the one read before.
async fn read_until(j: Arc<Journal>, done: Arc<AtomicBool>) -> usize {
    let mut seen = [0; WRITERS];
    let mut reads = 0;
    while !done.load(Ordering::Acquire) {
        for (i, last) in seen.iter_mut().enumerate() {
            let v = j.get(&format!("session:{i}")).expect("a live key reads");
            assert_eq!(v, session(i, v["n"].as_u64().unwrap() as usize));
            assert!(v["n"].as_u64().unwrap() as usize >= *last);
            *last = v["n"].as_u64().unwrap() as usize;
        }
        let all = j.scan("session:");
        assert_eq!(all.len(), WRITERS);
        for (i, (key, v)) in all.into_iter().enumerate() {
            assert_eq!(key, format!("session:{i}"));
            assert_eq!(v["i"], i);
        }
        reads += 1;
        tokio::task::yield_now().await;
    }
    reads
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_racing_puts_and_rewrites_see_whole_values() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    let j = Arc::new(Journal::open_with(&path, 8192).unwrap());
    for i in 0..WRITERS {
        j.put(&format!("session:{i}"), Some(session(i, 0)))
            .await
            .unwrap();
    }
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|_| tokio::spawn(read_until(j.clone(), done.clone())))
        .collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|i| {
            let j = j.clone();
            tokio::spawn(async move {
                for n in 1..=150 {
                    j.put(&format!("session:{i}"), Some(session(i, n)))
                        .await
                        .unwrap();
                    j.put(&format!("cdr:{i}"), Some(json!(n))).await.unwrap();
                    j.put(&format!("cdr:{i}"), None).await.unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    done.store(true, Ordering::Release);
    for r in readers {
        assert!(r.await.unwrap() > 0);
    }
    assert!(j.rewrites() > 5, "{} rewrites", j.rewrites());
    // The puts went on while rewrites copied the file.
    assert!(j.caught_up() > 0);
    assert_eq!(j.scan("cdr:"), vec![]);
    let last = |j: &Journal| {
        (0..WRITERS)
            .map(|i| j.get(&format!("session:{i}")))
            .collect::<Vec<_>>()
    };
    let expected: Vec<_> = (0..WRITERS).map(|i| Some(session(i, 150))).collect();
    assert_eq!(last(&j), expected);
    drop(Arc::try_unwrap(j).ok().unwrap());
    assert_eq!(last(&Journal::open(&path).unwrap()), expected);
}

#[tokio::test]
async fn puts_that_may_wait_are_durable_when_they_return() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.journal");
    {
        let j = Journal::open(&path).unwrap();
        // Alone, then along with an urgent put.
        j.put_json("session:a", Some(&json!({"n": 1})), Commit::Soon)
            .await
            .unwrap();
        let two = json!({"n": 2});
        let soon = j.put_json("session:b", Some(&two), Commit::Soon);
        let now = j.put("session:c", Some(json!({"n": 3})));
        let (b, c) = tokio::join!(soon, now);
        b.unwrap();
        c.unwrap();
        assert_eq!(j.get("session:b"), Some(json!({"n": 2})));
        // A record and a tombstone in one write: seen together.
        j.put_then_delete("cdr:a", &json!({"cost": 1}), "session:a", Commit::Soon)
            .await
            .unwrap();
        assert_eq!(j.get("session:a"), None);
        assert_eq!(j.get("cdr:a"), Some(json!({"cost": 1})));
    }
    let j = Journal::open(&path).unwrap();
    assert_eq!(
        j.scan("session:"),
        vec![
            ("session:b".to_string(), json!({"n": 2})),
            ("session:c".to_string(), json!({"n": 3}))
        ]
    );
    assert_eq!(j.get("cdr:a"), Some(json!({"cost": 1})));
    assert_eq!(records(&path).len(), 5);
}

#[tokio::test]
async fn a_rewrite_cut_short_leaves_the_journal_whole() {
    // A crash while a rewrite copies (or catches up) leaves `<path>.tmp`
    // half written beside the journal, which is whole: reopened, nothing
    // is lost, and the next rewrite writes its copy over the leftover.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    {
        let j = Journal::open(&path).unwrap();
        j.put("session:a", Some(json!({"n": 1}))).await.unwrap();
        j.put("cdr:b", Some(json!({"cost": 2}))).await.unwrap();
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, b"\x05\x00\x00\x00half a copy").unwrap();
    let j = Journal::open_with(&path, 0).unwrap();
    assert_eq!(j.get("session:a"), Some(json!({"n": 1})));
    for n in 2..8 {
        j.put("session:a", Some(json!({"n": n}))).await.unwrap();
    }
    drop(j);
    // Rewritten (8 records were written), and the copy renamed over it.
    assert!(
        records(&path).len() <= 3,
        "{} records",
        records(&path).len()
    );
    assert!(!Path::new(&tmp).exists());
    let j = Journal::open(&path).unwrap();
    assert_eq!(j.get("session:a"), Some(json!({"n": 7})));
    assert_eq!(j.get("cdr:b"), Some(json!({"cost": 2})));
}
