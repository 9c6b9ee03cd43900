//! Debits through the balancer, spread over three nodes: one account is
//! never overdrawn, and a debit retried on another node is charged once.

use crate::common::{decimal, RpcClient};
use crate::harness::{enabled, Cluster};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::str::FromStr;

fn base() -> Value {
    json!({"tariffplan": crate::common::sample_plan()})
}

/// 95 s to a mobile number: 0.2 (see tests/accounts_api.rs).
fn debit(cgr_id: &str) -> Value {
    json!({
        "Tenant": "cgrates.org", "Account": "1002", "Destination": "0723456789",
        "TimeStart": "2024-03-06T14:00:00Z", "TimeEnd": "2024-03-06T14:01:35Z",
        "CgrID": cgr_id, "RunID": "*default"
    })
}

#[test]
fn concurrent_debits_over_three_nodes_never_overdraw_and_add_up() {
    if !enabled() {
        return;
    }
    let cluster = Cluster::up(3, base());
    cluster.fund("1002", "3.1");
    let start = cluster.money("1002");
    assert_eq!(start, Decimal::from_str("3.1").unwrap());
    // 64 clients, each on its own connection (HAProxy spreads
    // connections over the nodes), 4 debits each: 256 asked, 15 paid.
    let rpc = cluster.rpc;
    let threads: Vec<_> = (0..64)
        .map(|c| {
            std::thread::spawn(move || {
                let mut client = RpcClient::connect(rpc);
                let mut paid = Decimal::ZERO;
                let mut refused = 0;
                for i in 0..4 {
                    let reply = client.call("Responder.Debit", debit(&format!("c{c}-{i}")));
                    match reply["error"].as_str() {
                        None => paid += decimal(&reply["result"]["Cost"]),
                        Some("INSUFFICIENT_CREDIT") => refused += 1,
                        Some(e) => panic!("client {c}: {e}"),
                    }
                }
                (paid, refused)
            })
        })
        .collect();
    let mut paid = Decimal::ZERO;
    let mut refused = 0;
    for t in threads {
        let (p, r) = t.join().unwrap();
        paid += p;
        refused += r;
    }
    let end = cluster.money("1002");
    assert!(end >= Decimal::ZERO, "overdrawn: {end}");
    assert_eq!(
        start - end,
        paid,
        "acknowledged debits add up to the change"
    );
    assert_eq!(
        paid,
        Decimal::from_str("3.0").unwrap(),
        "15 debits of 0.2 fit in 3.1"
    );
    assert_eq!(refused, 256 - 15);
    // The load really was spread: every node answered some of it.
    let mut served = HashSet::new();
    for (i, node) in cluster.nodes.iter().enumerate() {
        let (_, metrics) = crate::common::http_request(node.http, "GET", "/metrics", "");
        let answered = metrics
            .lines()
            .filter(|l| {
                l.starts_with("tollgate_requests_total") && l.contains("\"Responder.Debit\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>();
        if answered > 0.0 {
            served.insert(i);
        }
    }
    assert_eq!(served.len(), 3, "every node took debits");
}

#[test]
fn a_debit_retried_on_another_node_is_charged_once() {
    if !enabled() {
        return;
    }
    let cluster = Cluster::up(3, base());
    cluster.fund("1002", "10");
    let mut first = RpcClient::connect(cluster.nodes[0].rpc);
    let mut second = RpcClient::connect(cluster.nodes[1].rpc);
    let a = first.ok("Responder.Debit", debit("retried-call"));
    let b = second.ok("Responder.Debit", debit("retried-call"));
    assert_eq!(a, b, "the retry answers the first reply");
    assert_eq!(cluster.money("1002"), Decimal::from_str("9.8").unwrap());
    // The same through the balancer's HTTP frontend, and by OriginID.
    let mut by_origin = debit("");
    by_origin["CgrID"] = json!("");
    by_origin["OriginID"] = json!("origin-7");
    let third = cluster
        .http_call("Responder.Debit", by_origin.clone())
        .expect("an HTTP answer");
    assert_eq!(third.0, 200, "{:?}", third.1);
    let mut on_node = RpcClient::connect(cluster.nodes[2].rpc);
    let again = on_node.ok("Responder.Debit", by_origin);
    assert_eq!(third.1["result"], again);
    assert_eq!(cluster.money("1002"), Decimal::from_str("9.6").unwrap());
}
