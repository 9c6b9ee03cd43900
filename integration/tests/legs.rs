//! Loopback pairs, bridges, `originate` and `sched_api`: the topology of
//! the recordings in `testdata/freeswitch-1.10` (one billed call is four
//! channels, only one of them parked).

mod common;

use common::*;
use integration::{CallSpec, HangupBy, LegRole};

const EVENTS: &[&str] = &[
    "CHANNEL_CREATE",
    "CHANNEL_PARK",
    "CHANNEL_ANSWER",
    "CHANNEL_BRIDGE",
    "CHANNEL_HANGUP",
    "CHANNEL_HANGUP_COMPLETE",
];

/// The recordings' call: `originate {…}loopback/0723045326/prepaid`, parked
/// by the dialplan, bridged to `loopback/9999` once authorized.
fn recorded_call() -> CallSpec {
    CallSpec::new("1001", "0723045326")
        .context("prepaid")
        .loopback()
        .partner_var("origination_caller_id_number", "1001")
        .partner_var("cgr_reqtype", "*none")
        .var("cgr_reqtype", "*prepaid")
        .var("cgr_tenant", "cgrates.org")
        .var("cgr_account", "1001")
        .var("cgr_destination", "0723045326")
        .bridge(&[("cgr_bleg", "1"), ("cgr_reqtype", "*none")])
        .ring(0.5)
        .talk(4.0)
}

#[tokio::test]
async fn loopback_pair_bridge_and_caller_hangup_end_all_four_legs() {
    let sw = switch(100.0).await;
    let (client, mut rx) = subscribed(sw.addr(), EVENTS).await;
    let uuid = sw.place_call(recorded_call()).unwrap();
    let legs = sw.legs(&uuid);
    assert_eq!(legs.len(), 2);
    assert_eq!(legs[0].role, LegRole::Call);
    assert_eq!(legs[0].channel_name, "loopback/0723045326-b");
    let a = legs[1].uuid.clone();
    assert_eq!(legs[1].role, LegRole::LoopbackA);
    assert_eq!(legs[1].call.as_deref(), Some(uuid.as_str()));

    let create_a = next_event(&mut rx, "CHANNEL_CREATE", &a).await;
    assert_eq!(create_a.header("Call-Direction"), Some("outbound"));
    assert_eq!(
        create_a.header("Channel-Name"),
        Some("loopback/0723045326-a")
    );
    assert_eq!(create_a.variable("cgr_reqtype"), Some("*none"));
    assert_eq!(
        create_a.variable("other_loopback_leg_uuid"),
        Some(uuid.as_str())
    );
    assert_eq!(create_a.header("Other-Leg-Unique-ID"), None);
    let create_b = next_event(&mut rx, "CHANNEL_CREATE", &uuid).await;
    assert_eq!(create_b.header("Call-Direction"), Some("inbound"));
    // Inherited from the originate; the dialplan sets the call's own later.
    assert_eq!(create_b.variable("cgr_reqtype"), Some("*none"));
    assert_eq!(create_b.variable("cgr_account"), None);
    assert_eq!(
        create_b.variable("other_loopback_leg_uuid"),
        Some(a.as_str())
    );
    let park = next_event(&mut rx, "CHANNEL_PARK", &uuid).await;
    assert_eq!(park.variable("cgr_reqtype"), Some("*prepaid"));
    assert_eq!(park.variable("cgr_account"), Some("1001"));

    client
        .uuid_transfer(&uuid, "0723045326", Some("XML"), Some("prepaid"))
        .await
        .unwrap();
    let legs = sw.legs(&uuid);
    assert_eq!(legs.len(), 4);
    let (ba, bb) = (legs[2].uuid.clone(), legs[3].uuid.clone());
    assert_eq!(legs[2].role, LegRole::BridgeA);
    assert_eq!(legs[3].role, LegRole::BridgeB);
    let create_ba = next_event(&mut rx, "CHANNEL_CREATE", &ba).await;
    assert_eq!(create_ba.header("Channel-Name"), Some("loopback/9999-a"));
    assert_eq!(create_ba.header("Other-Leg-Unique-ID"), Some(uuid.as_str()));
    assert_eq!(create_ba.header("Other-Type"), Some("originator"));
    assert_eq!(create_ba.header("Channel-Call-UUID"), Some(uuid.as_str()));
    assert_eq!(create_ba.variable("originator"), Some(uuid.as_str()));
    assert_eq!(create_ba.variable("cgr_bleg"), Some("1"));
    assert_eq!(create_ba.variable("cgr_reqtype"), Some("*none"));
    let answer_ba = next_event(&mut rx, "CHANNEL_ANSWER", &ba).await;
    let answer_bb = next_event(&mut rx, "CHANNEL_ANSWER", &bb).await;
    assert_eq!(
        answer_bb.variable("other_loopback_from_uuid"),
        Some(uuid.as_str())
    );
    let answer_a = next_event(&mut rx, "CHANNEL_ANSWER", &a).await;
    let answer = next_event(&mut rx, "CHANNEL_ANSWER", &uuid).await;
    for ev in [&answer_ba, &answer_bb, &answer_a] {
        assert_eq!(
            num(ev, "Event-Date-Timestamp"),
            num(&answer, "Event-Date-Timestamp")
        );
    }
    let bridge = next_event(&mut rx, "CHANNEL_BRIDGE", &uuid).await;
    assert_eq!(bridge.header("Other-Leg-Unique-ID"), Some(ba.as_str()));
    assert_eq!(bridge.header("Other-Type"), Some("originatee"));

    let end = sw.wait_for_end(&uuid, WAIT).await.unwrap();
    assert_eq!(end.hangup_by, Some(HangupBy::Caller));
    assert_eq!(end.hangup_leg.as_deref(), Some(a.as_str()));
    assert_eq!(end.billsec, 4);
    for leg in [&a, &ba, &bb] {
        let r = sw.wait_for_end(leg, WAIT).await.unwrap();
        assert_eq!(r.hangup_cause.as_deref(), Some("NORMAL_CLEARING"));
        let done = next_event(&mut rx, "CHANNEL_HANGUP_COMPLETE", leg).await;
        assert!(done.header("Caller-Channel-Answered-Time").is_some());
        assert!(done.header("variable_billsec").is_some());
    }
    assert!(!sw.is_up(&uuid) && !sw.is_up(&ba));
    assert!(sw.wait_idle(WAIT).await);
}

#[tokio::test]
async fn killing_a_bridged_leg_kills_the_callers_call() {
    let sw = switch(100.0).await;
    let (client, _rx) = subscribed(sw.addr(), EVENTS).await;
    let uuid = sw.place_call(recorded_call().talk_forever()).unwrap();
    client
        .uuid_transfer(&uuid, "0723045326", Some("XML"), Some("prepaid"))
        .await
        .unwrap();
    sw.wait_record(&uuid, WAIT, |r| r.answered).await.unwrap();
    let ba = sw.legs(&uuid)[2].uuid.clone();
    client
        .api(&format!("uuid_kill {ba} CALL_REJECTED"))
        .await
        .unwrap();
    let end = sw.wait_for_end(&uuid, WAIT).await.unwrap();
    assert_eq!(end.hangup_by, Some(HangupBy::UuidKill));
    assert_eq!(end.hangup_leg.as_deref(), Some(ba.as_str()));
    assert_eq!(end.hangup_cause.as_deref(), Some("NORMAL_CLEARING"));
    let killed = sw.record(&ba).unwrap();
    assert_eq!(killed.hangup_cause.as_deref(), Some("CALL_REJECTED"));
    assert!(sw.wait_idle(WAIT).await);
}

#[tokio::test]
async fn a_refused_loopback_call_takes_its_partner_with_the_same_cause() {
    let sw = switch(100.0).await;
    let mut raw = Raw::authed(sw.addr()).await;
    let uuid = sw.place_call(recorded_call()).unwrap();
    let a = sw.legs(&uuid)[1].uuid.clone();
    raw.api(&format!(
        "uuid_setvar {uuid} cgr_notify -INSUFFICIENT_CREDIT"
    ))
    .await;
    assert_eq!(
        raw.api(&format!("uuid_kill {uuid} CALL_REJECTED")).await,
        "+OK\n"
    );
    let r = sw.wait_for_end(&a, WAIT).await.unwrap();
    assert_eq!(r.hangup_cause.as_deref(), Some("CALL_REJECTED"));
    assert_eq!(r.hangup_leg.as_deref(), Some(uuid.as_str()));
}

#[tokio::test]
async fn sched_api_runs_uuid_kill_and_sched_del_removes_by_id_or_group() {
    let sw = switch(100.0).await;
    let mut raw = Raw::authed(sw.addr()).await;
    let uuid = sw
        .place_call(
            CallSpec::new("1001", "1002")
                .park(false)
                .ring(0.0)
                .talk_forever(),
        )
        .unwrap();
    let added = raw
        .api(&format!(
            "sched_api +30 {uuid} uuid_kill {uuid} ALLOTTED_TIMEOUT"
        ))
        .await;
    let id: u32 = added
        .strip_prefix("+OK Added: ")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        raw.api(&format!("sched_del {id}")).await,
        "+OK Deleted: 1\n"
    );
    raw.api(&format!("sched_api +30 grp uuid_kill {uuid}"))
        .await;
    assert_eq!(raw.api("sched_del grp").await, "+OK Deleted: 1\n");
    assert_eq!(
        raw.api("sched_api +1").await,
        "-ERR Invalid syntax. USAGE: [+@]<time> <group_name> <command_string>[&]\n"
    );
    let t0 = sw.now();
    let added = raw
        .api(&format!(
            "sched_api +20 {uuid} uuid_kill {uuid} ALLOTTED_TIMEOUT&"
        ))
        .await;
    let id: u32 = added
        .strip_prefix("+OK Added: ")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let end = sw.wait_for_end(&uuid, WAIT).await.unwrap();
    assert_eq!(end.hangup_by, Some(HangupBy::SchedApi));
    assert_eq!(end.sched_task, Some(id));
    assert_eq!(end.hangup_cause.as_deref(), Some("ALLOTTED_TIMEOUT"));
    let took = end.ended_at.unwrap() - t0;
    assert!((20_000_000..21_000_000).contains(&took), "{took}");
    assert!(end.logged(&format!("sched_api task {id}: uuid_kill ALLOTTED_TIMEOUT")));
}

#[tokio::test]
async fn sched_hangup_at_an_epoch_fires_then() {
    let sw = switch(100.0).await;
    let mut raw = Raw::authed(sw.addr()).await;
    let uuid = sw
        .place_call(
            CallSpec::new("1001", "1002")
                .park(false)
                .ring(0.0)
                .talk_forever(),
        )
        .unwrap();
    let epoch = sw.now() / 1_000_000 + 3;
    assert_eq!(
        raw.api(&format!("sched_hangup {epoch} {uuid} ALLOTTED_TIMEOUT"))
            .await,
        "+OK\n"
    );
    let end = sw.wait_for_end(&uuid, WAIT).await.unwrap();
    assert_eq!(end.ended_at, Some(epoch * 1_000_000));
    assert_eq!(end.hangup_by, Some(HangupBy::SchedHangup));
    assert!(end.sched_task.is_some());
}

#[tokio::test]
async fn originate_makes_the_recordings_loopback_pair() {
    let sw = switch(100.0).await;
    let (client, mut rx) = subscribed(sw.addr(), &["CHANNEL_PARK", "BACKGROUND_JOB"]).await;
    let mut raw = Raw::authed(sw.addr()).await;
    let reply = raw
        .api("bgapi originate {origination_caller_id_number=1001,cgr_reqtype=*none}loopback/0723045326/prepaid &playback(silence_stream://-1)")
        .await;
    assert!(
        reply.starts_with("+OK Job-UUID: ") && reply.ends_with('\n'),
        "{reply}"
    );
    let park = loop {
        let ev = next_any(&mut rx).await;
        if ev.event_name() == Some("CHANNEL_PARK") {
            break ev;
        }
    };
    let uuid = park.unique_id().unwrap().to_owned();
    assert_eq!(park.header("Channel-Name"), Some("loopback/0723045326-b"));
    assert_eq!(park.variable("cgr_reqtype"), Some("*prepaid"));
    assert_eq!(park.variable("cgr_account"), Some("1001"));
    assert_eq!(park.variable("cgr_tenant"), Some("cgrates.org"));
    assert_eq!(park.variable("cgr_destination"), Some("0723045326"));
    assert_eq!(park.variable("origination_caller_id_number"), Some("1001"));
    let a = sw.legs(&uuid)[1].uuid.clone();
    raw.api(&format!("uuid_setvar {uuid} cgr_notify +AUTH_OK"))
        .await;
    client
        .uuid_transfer(&uuid, "0723045326", Some("XML"), Some("prepaid"))
        .await
        .unwrap();
    let job = loop {
        let ev = next_any(&mut rx).await;
        if ev.event_name() == Some("BACKGROUND_JOB") {
            break ev;
        }
    };
    assert_eq!(
        job.body_text().as_deref(),
        Some(format!("+OK {a}\n").as_str())
    );
    assert_eq!(sw.legs(&uuid).len(), 4);
    assert_eq!(raw.api(&format!("uuid_kill {a}")).await, "+OK\n");
    assert!(sw.wait_idle(WAIT).await);
}

#[tokio::test]
async fn at_answer_the_channel_table_may_list_only_the_loopback_pair() {
    // fs_run_out.wire: `show channels` at answer listed the loopback pair
    // but not the bridged legs created a few ms before.
    let sw = integration::FakeSwitch::start(integration::SwitchConfig {
        speed: 1.0,
        channel_table_lag: std::time::Duration::from_millis(300),
        ..Default::default()
    })
    .await
    .unwrap();
    let mut raw = Raw::authed(sw.addr()).await;
    let uuid = sw.place_call(recorded_call().ring(0.0)).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    raw.api(&format!("uuid_transfer {uuid} 0723045326 XML prepaid"))
        .await;
    sw.wait_record(&uuid, WAIT, |r| r.answered).await.unwrap();
    let rows = raw.api("show channels as json").await;
    assert!(rows.starts_with("{\"row_count\":2,"), "{rows}");
    assert!(rows.contains("loopback/0723045326-a") && !rows.contains("loopback/9999-a"));
    assert_eq!(
        raw.api(&format!("uuid_exists {}", sw.legs(&uuid)[2].uuid))
            .await,
        "true"
    );
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let rows = raw.api("show channels as json").await;
    assert!(rows.starts_with("{\"row_count\":4,"), "{rows}");
}
