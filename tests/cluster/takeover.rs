//! kill -9 the node that controls a switch with 20 live prepaid calls:
//! another node takes the switch within the lease plus 5 s, resumes the
//! calls from the shared session records and goes on debiting them; the
//! call whose credit runs out is cut; every call is charged exactly the
//! price of its talk and has one call record; the accounts lose exactly
//! the sum of the records.

use crate::common::{decimal, free_addr, price, recorded_call};
use crate::harness::{enabled, wait_for, Cluster};
use integration::{FakeSwitch, JsonCdrConfig, SwitchConfig};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

/// Simulated seconds per real second. The lease (5 s real) and the
/// takeover are 20–30 s of call time: the grace covers them.
pub const SPEED: f64 = 4.0;

/// The nodes' shared config for a switch at `switch` (simulated time,
/// a grace longer than a takeover).
pub fn base(switch: SocketAddr) -> Value {
    json!({
        "tariffplan": crate::common::sample_plan(),
        "freeswitch": [{"address": switch.to_string(), "password": "ClueCon", "alias": "fs1"}],
        "sessions": {"clock_speed": SPEED, "limit_grace": "60s", "debit_interval": "10s"},
    })
}

/// A simulated switch on `listen` posting its CDRs to the balancer.
pub fn switch(rt: &tokio::runtime::Runtime, listen: SocketAddr, cluster: &Cluster) -> FakeSwitch {
    let mut config = SwitchConfig::with_speed(SPEED);
    config.listen = listen;
    config.json_cdr = Some(
        JsonCdrConfig::new(format!("http://{}/freeswitch/cdr", cluster.http))
            .retries(60, Duration::from_secs(4)),
    );
    rt.block_on(FakeSwitch::start(config)).unwrap()
}

/// Three nodes following one simulated switch, which posts its CDRs to
/// the balancer.
pub fn cluster_with_switch() -> (Cluster, tokio::runtime::Runtime, FakeSwitch) {
    let listen = free_addr();
    let cluster = Cluster::up(3, base(listen));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sw = switch(&rt, listen, &cluster);
    (cluster, rt, sw)
}

/// Waits for call `uuid` to end and for its one call record: how long it
/// talked (simulated seconds, by the switch) and the record.
pub fn ended(
    cluster: &Cluster,
    rt: &tokio::runtime::Runtime,
    sw: &FakeSwitch,
    uuid: &str,
) -> (f64, Value) {
    let rec = rt
        .block_on(sw.wait_for_end(uuid, Duration::from_secs(120)))
        .expect("call ends");
    let talked = (rec.ended_at.unwrap() - rec.answered_at.unwrap()) as f64 / 1e6;
    let cdr = wait_for(Duration::from_secs(60), "the call's record", || {
        let list = cluster.records(uuid);
        assert!(list.len() <= 1, "{uuid}: {list:?}");
        list.into_iter().next()
    });
    (talked, cdr)
}

/// The node that controls the switch, as the live sessions say.
pub fn owner(cluster: &Cluster, calls: usize) -> String {
    wait_for(
        Duration::from_secs(30),
        "every call listed with its node",
        || {
            let sessions = cluster.sessions();
            let nodes: HashSet<String> = sessions
                .iter()
                .filter_map(|s| s["NodeID"].as_str().map(str::to_string))
                .collect();
            (sessions.len() == calls
                && nodes.len() == 1
                && sessions.iter().all(|s| s["OriginHost"] == "fs1"))
            .then(|| nodes.into_iter().next().unwrap_or_default())
        },
    )
}

#[test]
fn killing_the_switch_owner_loses_no_call_and_bills_each_exactly_once() {
    if !enabled() {
        return;
    }
    let (cluster, rt, sw) = cluster_with_switch();
    let _in_runtime = rt.enter();
    cluster.fund("1001", "100");
    cluster.fund("1003", "0.1");
    let before: Decimal = cluster.money("1001") + cluster.money("1003");
    // 19 calls of 80 to 170 s, and one that can pay 50 s but would talk 300.
    let mut uuids: Vec<String> = (0..19)
        .map(|i| {
            sw.place_call(recorded_call("1001").talk(80.0 + 5.0 * i as f64))
                .unwrap()
        })
        .collect();
    let poor = sw.place_call(recorded_call("1003").talk(300.0)).unwrap();
    uuids.push(poor.clone());
    let dead = owner(&cluster, 20);
    let spent_before: Decimal = cluster
        .sessions()
        .iter()
        .map(|s| decimal(&s["MaxCostSoFar"]))
        .sum();
    let victim = cluster.node_of(&dead);
    cluster.kill(victim);
    let killed_at = std::time::Instant::now();
    // Another node owns the switch within the lease + 5 s.
    let heir = wait_for(
        Duration::from_secs(10),
        "another node to take the switch",
        || {
            let sessions = cluster.sessions();
            let nodes: HashSet<&str> = sessions
                .iter()
                .filter_map(|s| s["NodeID"].as_str())
                .collect();
            match (nodes.len(), nodes.iter().next()) {
                (1, Some(n)) if *n != dead => Some(n.to_string()),
                _ => None,
            }
        },
    );
    eprintln!(
        "{heir} took the switch {:?} after the kill",
        killed_at.elapsed()
    );
    // The calls go on being debited by their new owner.
    wait_for(
        Duration::from_secs(20),
        "a debit after the takeover",
        || {
            let spent: Decimal = cluster
                .sessions()
                .iter()
                .map(|s| decimal(&s["MaxCostSoFar"]))
                .sum();
            (spent > spent_before).then_some(())
        },
    );
    let mut total = Decimal::ZERO;
    for uuid in &uuids {
        let (talked, cdr) = ended(&cluster, &rt, &sw, uuid);
        let cost = decimal(&cdr["Cost"]);
        if *uuid == poor {
            assert!(talked < 120.0, "the poor call was cut: talked {talked} s");
            assert_eq!(cost, Decimal::from_str("0.1").unwrap(), "{cdr}");
        } else {
            assert_eq!(cost, price(talked), "{uuid} talked {talked} s: {cdr}");
            assert!(talked >= 79.0, "{uuid} was dropped after {talked} s");
        }
        total += cost;
    }
    let after = cluster.money("1001") + cluster.money("1003");
    assert_eq!(
        before - after,
        total,
        "the accounts lost exactly the records' costs"
    );
    assert_eq!(cluster.money("1003"), Decimal::ZERO);
    drop(sw);
}
