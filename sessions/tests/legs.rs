//! One call, one bill, on the real topology (testdata/freeswitch-1.10):
//! a loopback pair whose `-b` leg is parked and billed, bridged on to a
//! gateway through a second loopback pair. The other three legs are
//! answered without a park; with the default request type (`*prepaid`)
//! and a bridge string that does not mark them `*none`, they must still be
//! neither billed nor killed (R1: the caller's call died 20 ms after its
//! answer).

mod common;

use common::*;
use integration::{CallSpec, LegRole};
use rust_decimal_macros::dec;

/// The recordings' call from `account` to 1002, its bridge marked as an
/// operator who never heard of `*none` would write it.
fn bridged_call(account: &str, talk: f64, bridge: &[(&str, &str)]) -> CallSpec {
    CallSpec::new(account, "1002")
        .loopback()
        .partner_var("origination_caller_id_number", account)
        .var("cgr_reqtype", "*prepaid")
        .var("cgr_account", account)
        .bridge(bridge)
        .ring(0.5)
        .talk(talk)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bridged_legs_of_a_call_are_neither_billed_nor_killed() {
    for bridge in [
        &[("cgr_bleg", "1")][..],
        &[("cgr_bleg", "1"), ("cgr_reqtype", "*none")],
    ] {
        let Rig {
            dir: _dir,
            sw,
            engine,
            ctl,
        } = rig(dec!(10), |_| {}).await;
        let uuid = sw.place_call(bridged_call("1001", 30.0, bridge)).unwrap();
        let rec = sw.wait_for_end(&uuid, WAIT).await.expect("call ends");
        assert_eq!(rec.billsec, 30, "{bridge:?}: {:?}", rec.log);
        let legs = sw.legs(&uuid);
        assert_eq!(legs.len(), 4, "{legs:?}");
        for leg in &legs {
            assert!(
                !leg.logged("uuid_kill"),
                "{bridge:?}: leg {:?} killed: {:?}",
                leg.role,
                leg.log
            );
        }
        assert!(legs.iter().any(|l| l.role == LegRole::BridgeA));
        assert_eq!(cdr(&ctl, &uuid, WAIT).await.cost, dec!(0.3));
        // Only the parked leg has a record, and the account paid once.
        for leg in legs.iter().filter(|l| l.uuid != uuid) {
            let filter = sessions::CdrFilter {
                origin_ids: vec![leg.uuid.clone()],
                ..Default::default()
            };
            assert!(
                ctl.cdrs(&filter).unwrap().is_empty(),
                "{:?} has a record",
                leg.role
            );
        }
        assert_eq!(money(&engine, "1001").await, dec!(9.7));
        ctl.shutdown().await;
    }
}
