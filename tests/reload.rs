//! Hot reload of the tariff plan while clients keep asking for costs: no
//! request fails and every answer comes from one whole plan.

mod common;

use common::{sample_plan, seed_cd, RpcClient, Server};
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// A copy of the sample plan whose peak landline minutes cost 0.12.
fn pricier_copy(dir: &std::path::Path) -> std::path::PathBuf {
    let copy = dir.join("pricier");
    std::fs::create_dir_all(&copy).unwrap();
    for entry in std::fs::read_dir(sample_plan()).unwrap() {
        let entry = entry.unwrap();
        let text = std::fs::read_to_string(entry.path()).unwrap();
        let text = text.replace(
            "RT_FIXED_PEAK,0.05,0.06,60s,1s,60s",
            "RT_FIXED_PEAK,0.05,0.12,60s,1s,60s",
        );
        std::fs::write(copy.join(entry.file_name()), text).unwrap();
    }
    copy
}

#[test]
fn reload_under_load_fails_no_request() {
    let server = Server::start(json!({}));
    let tmp = tempfile::tempdir().unwrap();
    let plans = [
        sample_plan().display().to_string(),
        pricier_copy(tmp.path()).display().to_string(),
    ];
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (stop, done, addr) = (stop.clone(), done.clone(), server.rpc);
            std::thread::spawn(move || {
                let mut c = RpcClient::connect(addr);
                let mut seen = std::collections::BTreeSet::new();
                while !stop.load(Ordering::Relaxed) {
                    // Pipeline 16 at a time.
                    let mut batch = String::new();
                    for id in 0..16 {
                        batch.push_str(
                            &json!({"id": id, "method": "Responder.GetCost", "params": [seed_cd()]})
                                .to_string(),
                        );
                    }
                    c.send_raw(batch.as_bytes());
                    for id in 0..16 {
                        let r = c.read_reply().expect("reply");
                        assert_eq!(r["id"], id);
                        assert!(r["error"].is_null(), "failed during reload: {r}");
                        let cost = r["result"]["Cost"].to_string();
                        assert!(cost == "3.69" || cost == "7.23", "half a plan? {cost}");
                        seen.insert(cost);
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
                seen
            })
        })
        .collect();
    let mut admin = server.client();
    for i in 0..20 {
        let folder = &plans[(i + 1) % 2];
        assert_eq!(
            admin.ok(
                "ApierV1.LoadTariffPlanFromFolder",
                json!({"FolderPath": folder})
            ),
            json!("OK")
        );
    }
    // Ends on the sample plan (i = 19 loads plans[0]).
    stop.store(true, Ordering::Relaxed);
    let mut seen = std::collections::BTreeSet::new();
    for w in workers {
        seen.extend(w.join().expect("no failed request"));
    }
    assert!(done.load(Ordering::Relaxed) > 0);
    assert!(seen.contains("3.69"));
    assert_eq!(
        admin.ok("Responder.GetCost", seed_cd())["Cost"].to_string(),
        "3.69"
    );
    let (_, metrics) = server.get("/metrics");
    assert!(
        metrics.contains("tollgate_tariffplan_loads_total 20"),
        "{metrics}"
    );
}
