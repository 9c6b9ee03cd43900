//! PostgreSQL stopped for 10 s under live calls: the nodes answer a clear
//! error at once (never hang), `/health` says 503 "store unavailable", the
//! calls stay bounded by the switch; once it is back the nodes recover by
//! themselves, and every call is billed once, at the price of its talk.

use crate::common::{decimal, price, recorded_call, RpcClient};
use crate::harness::{enabled, wait_for};
use crate::takeover::{cluster_with_switch, ended, owner};
use rust_decimal::Decimal;
use serde_json::json;
use std::time::{Duration, Instant};

#[test]
fn postgres_down_for_10_s_fails_fast_and_bills_nothing_twice() {
    if !enabled() {
        return;
    }
    let (cluster, rt, sw) = cluster_with_switch();
    let _in_runtime = rt.enter();
    cluster.fund("1001", "100");
    let before = cluster.money("1001");
    let uuids: Vec<String> = (0..5)
        .map(|i| {
            sw.place_call(recorded_call("1001").talk(100.0 + 10.0 * i as f64))
                .unwrap()
        })
        .collect();
    owner(&cluster, 5);
    cluster.stop_postgres();
    let stopped = Instant::now();
    for (i, node) in cluster.nodes.iter().enumerate() {
        let asked = Instant::now();
        let mut c = RpcClient::connect(node.rpc);
        let reply = c.call(
            "APIerSv2.GetAccount",
            json!({"Tenant": "cgrates.org", "Account": "1001"}),
        );
        let took = asked.elapsed();
        let error = reply["error"].as_str().unwrap_or_default().to_string();
        assert!(
            error.contains("SERVER_ERROR") && error.contains("postgres"),
            "node {i}: {reply}"
        );
        assert!(
            took < Duration::from_secs(5),
            "node {i} took {took:?} to fail"
        );
        wait_for(Duration::from_secs(5), "health 503", || {
            let (status, body) = cluster.health(i)?;
            (status == 503 && body.contains("store unavailable")).then_some(())
        });
    }
    let left = Duration::from_secs(10).saturating_sub(stopped.elapsed());
    std::thread::sleep(left);
    cluster.start_postgres();
    for i in 0..cluster.nodes.len() {
        wait_for(Duration::from_secs(20), "the node to recover", || {
            let (status, _) = cluster.health(i)?;
            (status == 200).then_some(())
        });
    }
    let mut total = Decimal::ZERO;
    for uuid in &uuids {
        let (talked, cdr) = ended(&cluster, &rt, &sw, uuid);
        assert_eq!(
            decimal(&cdr["Cost"]),
            price(talked),
            "{uuid} talked {talked} s: {cdr}"
        );
        total += decimal(&cdr["Cost"]);
    }
    assert_eq!(
        before - cluster.money("1001"),
        total,
        "nothing billed twice"
    );
    drop(sw);
}
