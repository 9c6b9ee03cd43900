//! Simulated calls driven through `esl::Client`, as tollgate drives them:
//! the call state machine, the events it fires, and every way a call ends.

mod common;

use std::time::Duration;

use common::*;
use esl::{api::Leg, ApiError, SendMsg};
use integration::{CallSpec, HangupBy};

const CALL_EVENTS: &[&str] = &[
    "CHANNEL_CREATE",
    "CHANNEL_PARK",
    "CHANNEL_UNPARK",
    "CHANNEL_ANSWER",
    "CHANNEL_HANGUP",
    "CHANNEL_HANGUP_COMPLETE",
    "CHANNEL_EXECUTE",
];

fn prepaid(caller: &str) -> CallSpec {
    CallSpec::new(caller, "1002")
        .var("cgr_tenant", "cgrates.org")
        .var("cgr_account", caller)
        .var("cgr_subject", caller)
        .var("cgr_destination", "1002")
        .var("cgr_reqtype", "*prepaid")
        .var("cgr_notify", "+AUTH_OK")
}

#[tokio::test]
async fn parked_call_transferred_answered_and_hung_up_by_the_caller() {
    let sw = switch(100.0).await;
    let (client, mut rx) = subscribed(sw.addr(), CALL_EVENTS).await;
    let uuid = sw.place_call(prepaid("1001").ring(2.0).talk(30.0)).unwrap();

    let create = next_event(&mut rx, "CHANNEL_CREATE", &uuid).await;
    assert_eq!(create.header("Caller-Caller-ID-Number"), Some("1001"));
    assert_eq!(create.header("Caller-Username"), Some("1001"));
    assert_eq!(create.header("Caller-Destination-Number"), Some("1002"));
    assert_eq!(create.header("Call-Direction"), Some("inbound"));
    assert_eq!(create.header("Answer-State"), Some("ringing"));
    let park = next_event(&mut rx, "CHANNEL_PARK", &uuid).await;
    assert_eq!(park.variable("cgr_account"), Some("1001"));
    assert_eq!(park.variable("cgr_notify"), Some("+AUTH_OK"));
    assert_eq!(park.variable("current_application"), Some("park"));
    assert_eq!(park.header("Channel-State"), Some("CS_EXECUTE"));

    // Parked calls wait for the controller, however long.
    tokio::time::sleep(Duration::from_millis(100)).await; // 10 s simulated
    assert!(!sw.record(&uuid).unwrap().answered);

    client
        .uuid_transfer(&uuid, "1002", None, None)
        .await
        .unwrap();
    let unpark = next_event(&mut rx, "CHANNEL_UNPARK", &uuid).await;
    let answer = next_event(&mut rx, "CHANNEL_ANSWER", &uuid).await;
    assert_eq!(answer.header("Answer-State"), Some("answered"));
    assert_eq!(
        num(&answer, "Event-Date-Timestamp") - num(&unpark, "Event-Date-Timestamp"),
        2_000_000,
        "rings 2 simulated seconds after the transfer"
    );
    assert_eq!(
        num(&answer, "Caller-Channel-Answered-Time"),
        num(&answer, "Event-Date-Timestamp")
    );

    let hangup = next_event(&mut rx, "CHANNEL_HANGUP", &uuid).await;
    assert_eq!(hangup.header("Hangup-Cause"), Some("NORMAL_CLEARING"));
    let done = next_event(&mut rx, "CHANNEL_HANGUP_COMPLETE", &uuid).await;
    assert_eq!(done.headers_all("Hangup-Cause").count(), 2);
    assert_eq!(done.header("Answer-State"), Some("hangup"));
    assert_eq!(done.header_as::<u64>("variable_billsec"), Some(Ok(30)));
    assert_eq!(
        done.header_as::<u64>("variable_billusec"),
        Some(Ok(30_000_000))
    );
    let answered_at = num(&answer, "Event-Date-Timestamp");
    assert_eq!(num(&done, "variable_answer_uepoch"), answered_at);
    assert_eq!(num(&done, "variable_answer_epoch"), answered_at / 1_000_000);
    assert_eq!(
        num(&done, "Caller-Channel-Hangup-Time") - answered_at,
        30_000_000
    );
    assert_eq!(
        num(&done, "variable_duration"),
        num(&done, "Caller-Channel-Hangup-Time") / 1_000_000
            - num(&done, "Caller-Channel-Created-Time") / 1_000_000
    );
    assert!(num(&done, "variable_duration") >= 32);
    assert_eq!(done.variable("cgr_reqtype"), Some("*prepaid"));
    assert_eq!(done.variable("sip_hangup_disposition"), Some("recv_bye"));

    let rec = sw.wait_for_end(&uuid, WAIT).await.unwrap();
    assert!(rec.parked && rec.transferred && rec.answered);
    assert_eq!(rec.billsec, 30);
    assert_eq!(rec.hangup_by, Some(HangupBy::Caller));
    assert_eq!(rec.hangup_cause.as_deref(), Some("NORMAL_CLEARING"));
    assert!(rec.logged("uuid_transfer 1002"));
}

#[tokio::test]
async fn a_call_that_does_not_park_goes_from_create_to_answer() {
    let sw = switch(100.0).await;
    let (_client, mut rx) = subscribed(sw.addr(), CALL_EVENTS).await;
    let uuid = sw
        .place_call(prepaid("1001").park(false).ring(1.0).talk(5.0))
        .unwrap();
    let create = next_event(&mut rx, "CHANNEL_CREATE", &uuid).await;
    let mut next = Vec::new();
    while next.last().and_then(|e: &esl::Event| e.event_name()) != Some("CHANNEL_HANGUP_COMPLETE") {
        next.push(next_any(&mut rx).await);
    }
    let names: Vec<_> = next.iter().filter_map(|e| e.event_name()).collect();
    assert_eq!(
        names,
        [
            "CHANNEL_ANSWER",
            "CHANNEL_HANGUP",
            "CHANNEL_HANGUP_COMPLETE"
        ]
    );
    assert_eq!(
        num(&next[0], "Event-Date-Timestamp") - num(&create, "Event-Date-Timestamp"),
        1_000_000
    );
    let rec = sw.record(&uuid).unwrap();
    assert!(!rec.parked && rec.answered && rec.ended());
    assert_eq!(rec.billsec, 5);
}

#[tokio::test]
async fn uuid_kill_refuses_a_parked_call() {
    let sw = switch(100.0).await;
    let (client, mut rx) = subscribed(sw.addr(), CALL_EVENTS).await;
    let uuid = sw.place_call(prepaid("1001")).unwrap();
    next_event(&mut rx, "CHANNEL_PARK", &uuid).await;
    client
        .uuid_kill(&uuid, Some("CALL_REJECTED"))
        .await
        .unwrap();
    let done = next_event(&mut rx, "CHANNEL_HANGUP_COMPLETE", &uuid).await;
    assert_eq!(done.header("Hangup-Cause"), Some("CALL_REJECTED"));
    assert_eq!(done.header_as::<u64>("variable_billsec"), Some(Ok(0)));
    assert_eq!(done.header_as::<u64>("variable_answer_epoch"), Some(Ok(0)));
    assert!(matches!(
        client.uuid_kill(&uuid, None).await,
        Err(ApiError::NoSuchChannel)
    ));
    let rec = sw.record(&uuid).unwrap();
    assert!(!rec.answered);
    assert_eq!(rec.hangup_by, Some(HangupBy::UuidKill));
}

/// A ten-minute call, cut at two minutes by `sched_hangup`, in a fraction of
/// a second.
#[tokio::test]
async fn sched_hangup_cuts_a_ten_minute_call() {
    let sw = switch(100.0).await;
    let (client, mut rx) = subscribed(sw.addr(), CALL_EVENTS).await;
    let uuid = sw
        .place_call(prepaid("1001").park(false).ring(0.5).talk(600.0))
        .unwrap();
    next_event(&mut rx, "CHANNEL_ANSWER", &uuid).await;
    client
        .sched_hangup(&uuid, 120, Some("ALLOTTED_TIMEOUT"))
        .await
        .unwrap();
    let done = next_event(&mut rx, "CHANNEL_HANGUP_COMPLETE", &uuid).await;
    assert_eq!(done.header("Hangup-Cause"), Some("ALLOTTED_TIMEOUT"));
    let rec = sw.record(&uuid).unwrap();
    assert_eq!(rec.hangup_by, Some(HangupBy::SchedHangup));
    // Exactly 120 simulated seconds after the command reached the switch;
    // the round trip before it took a little simulated time at speed 100.
    let set_at = rec
        .log
        .iter()
        .find(|e| e.what == "sched_hangup +120 ALLOTTED_TIMEOUT")
        .expect("logged")
        .at;
    assert_eq!(rec.ended_at.unwrap() - set_at, 120_000_000);
    let billsec = num(&done, "variable_billsec");
    assert!((120..=180).contains(&billsec), "billsec {billsec}");
}

#[tokio::test]
async fn a_ten_minute_call_takes_a_second_at_speed_600() {
    let sw = switch(600.0).await;
    let started = std::time::Instant::now();
    let uuid = sw
        .place_call(
            CallSpec::new("1001", "1002")
                .park(false)
                .ring(0.0)
                .talk(600.0),
        )
        .unwrap();
    let rec = sw.wait_for_end(&uuid, WAIT).await.unwrap();
    assert_eq!(rec.billsec, 600);
    assert_eq!(rec.billusec, 600_000_000);
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// tollgate's way: `execute_on_answer` set while parked, then the transfer.
/// The cause `alloted_timeout` (one T) is not a cause name, so the switch
/// hangs up with NORMAL_CLEARING.
#[tokio::test]
async fn execute_on_answer_sched_hangup() {
    let sw = switch(100.0).await;
    let (client, mut rx) = subscribed(sw.addr(), CALL_EVENTS).await;
    let uuid = sw
        .place_call(prepaid("1001").ring(1.0).talk(600.0))
        .unwrap();
    next_event(&mut rx, "CHANNEL_PARK", &uuid).await;
    client
        .uuid_setvar(
            &uuid,
            "execute_on_answer",
            Some("sched_hangup +60 alloted_timeout"),
        )
        .await
        .unwrap();
    client
        .uuid_transfer(&uuid, "1002", None, None)
        .await
        .unwrap();
    let answer = next_event(&mut rx, "CHANNEL_ANSWER", &uuid).await;
    let exec = next_event(&mut rx, "CHANNEL_EXECUTE", &uuid).await;
    assert_eq!(exec.header("Application"), Some("sched_hangup"));
    assert_eq!(exec.header("Application-Data"), Some("+60 alloted_timeout"));
    let done = next_event(&mut rx, "CHANNEL_HANGUP_COMPLETE", &uuid).await;
    assert_eq!(done.header("Hangup-Cause"), Some("NORMAL_CLEARING"));
    assert_eq!(
        num(&done, "Caller-Channel-Hangup-Time") - num(&answer, "Event-Date-Timestamp"),
        60_000_000
    );
    assert_eq!(done.variable("last_app"), Some("sched_hangup"));
    assert_eq!(
        done.variable("execute_on_answer"),
        Some("sched_hangup +60 alloted_timeout")
    );
    let rec = sw.record(&uuid).unwrap();
    assert_eq!(rec.hangup_by, Some(HangupBy::SchedHangup));
    assert_eq!(rec.billsec, 60);
}

#[tokio::test]
async fn sched_del_removes_every_task_of_the_call() {
    // Slow enough that the tasks cannot fire before sched_del arrives.
    let sw = switch(20.0).await;
    let (client, mut rx) = subscribed(sw.addr(), CALL_EVENTS).await;
    let uuid = sw
        .place_call(prepaid("1001").park(false).ring(0.0).talk(20.0))
        .unwrap();
    next_event(&mut rx, "CHANNEL_ANSWER", &uuid).await;
    client.sched_hangup(&uuid, 10, None).await.unwrap();
    client.sched_hangup(&uuid, 15, None).await.unwrap();
    assert_eq!(client.sched_del(&uuid).await.unwrap(), 2);
    assert_eq!(client.sched_del(&uuid).await.unwrap(), 0);
    let rec = sw.wait_for_end(&uuid, WAIT).await.unwrap();
    assert_eq!(rec.hangup_by, Some(HangupBy::Caller));
    assert_eq!(rec.billsec, 20);
}

#[tokio::test]
async fn sendmsg_hangup_and_execute() {
    let sw = switch(100.0).await;
    let (client, mut rx) = subscribed(sw.addr(), CALL_EVENTS).await;
    let uuid = sw.place_call(prepaid("1001")).unwrap();
    next_event(&mut rx, "CHANNEL_PARK", &uuid).await;
    client
        .sendmsg(
            Some(&uuid),
            SendMsg::execute("set", Some("cgr_route=supplier1")),
        )
        .await
        .unwrap();
    let exec = next_event(&mut rx, "CHANNEL_EXECUTE", &uuid).await;
    assert_eq!(exec.header("Application"), Some("set"));
    assert_eq!(
        client
            .api(&format!("uuid_getvar {uuid} cgr_route"))
            .await
            .unwrap()
            .text(),
        "supplier1"
    );
    client.hangup(&uuid, "USER_BUSY").await.unwrap();
    let done = next_event(&mut rx, "CHANNEL_HANGUP_COMPLETE", &uuid).await;
    assert_eq!(done.header("Hangup-Cause"), Some("USER_BUSY"));
    let rec = sw.record(&uuid).unwrap();
    assert_eq!(rec.hangup_by, Some(HangupBy::SendMsg));
    assert_eq!(rec.variable("cgr_route"), Some("supplier1"));
    assert!(rec.logged("sendmsg hangup USER_BUSY"));
}

#[tokio::test]
async fn hupall_matching_a_variable_then_all() {
    let sw = switch(100.0).await;
    let (client, _rx) = subscribed(sw.addr(), CALL_EVENTS).await;
    let a1 = sw.place_call(prepaid("A").var("cgr_account", "A")).unwrap();
    let a2 = sw.place_call(prepaid("A").var("cgr_account", "A")).unwrap();
    let b = sw.place_call(prepaid("B").var("cgr_account", "B")).unwrap();
    let out = client
        .api("hupall NORMAL_CLEARING cgr_account A")
        .await
        .unwrap();
    assert_eq!(
        out.text(),
        "+OK hangup all channels matching [cgr_account]=[A] with cause: NORMAL_CLEARING\n"
    );
    for u in [&a1, &a2] {
        let r = sw.record(u).unwrap();
        assert_eq!(r.hangup_by, Some(HangupBy::Hupall));
    }
    assert!(!sw.record(&b).unwrap().ended());
    client.hupall("MANAGER_REQUEST", None).await.unwrap();
    let r = sw.record(&b).unwrap();
    assert_eq!(r.hangup_cause.as_deref(), Some("MANAGER_REQUEST"));
    assert!(client.show_channels().await.unwrap().is_empty());
}

#[tokio::test]
async fn typed_helpers_against_a_live_call() {
    let sw = switch(100.0).await;
    let (client, _rx) = client(sw.addr()).await;
    let uuid = sw.place_call(prepaid("1001")).unwrap();
    assert!(client.uuid_exists(&uuid).await.unwrap());
    client
        .uuid_setvar_multi(&uuid, &[("cgr_a", "1"), ("cgr_b", "2")])
        .await
        .unwrap();
    assert_eq!(sw.record(&uuid).unwrap().variable("cgr_b"), Some("2"));
    client
        .uuid_broadcast(&uuid, "tone.wav", Leg::A)
        .await
        .unwrap();
    let rows = client.show_channels().await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].uuid(), Some(uuid.as_str()));
    assert_eq!(rows[0].state(), Some("CS_EXECUTE"));
    assert!(rows[0].created_epoch().is_some());
    client.uuid_kill(&uuid, None).await.unwrap();
    assert!(!client.uuid_exists(&uuid).await.unwrap());
    assert!(client.show_channels().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_caller_who_gives_up_while_parked() {
    let sw = switch(100.0).await;
    let uuid = sw.place_call(prepaid("1001").abandon(5.0)).unwrap();
    let rec = sw.wait_for_end(&uuid, WAIT).await.unwrap();
    assert_eq!(rec.hangup_by, Some(HangupBy::Abandon));
    assert_eq!(rec.hangup_cause.as_deref(), Some("ORIGINATOR_CANCEL"));
    assert_eq!(rec.ended_at.unwrap() - rec.created_at, 5_000_000);
    assert!(!rec.answered);
}

#[tokio::test]
async fn bgapi_through_the_client() {
    let sw = switch(100.0).await;
    let (client, _rx) = client(sw.addr()).await;
    let uuid = sw.place_call(prepaid("1001")).unwrap();
    let job = client.bgapi(&format!("uuid_exists {uuid}")).await.unwrap();
    let ev = job.wait().await.unwrap();
    assert_eq!(ev.body_text().as_deref(), Some("true"));
}

#[tokio::test]
async fn sim_commands_over_the_socket() {
    let sw = switch(100.0).await;
    let (client, _rx) = client(sw.addr()).await;
    let out = client
        .api(r#"sim_call {"uuid":"s-1","caller":"2001","destination":"2002","park":false,"ring":0,"talk":1}"#)
        .await
        .unwrap();
    assert_eq!(out.text(), "+OK s-1\n");
    let rec = sw.wait_for_end("s-1", WAIT).await.unwrap();
    assert_eq!(rec.billsec, 1);
    let json = client.api("sim_record s-1").await.unwrap();
    let r: integration::CallRecord = serde_json::from_str(json.text().trim()).unwrap();
    assert_eq!(r, rec);
    let all = client.api("sim_records").await.unwrap();
    let v: Vec<integration::CallRecord> = serde_json::from_str(all.text().trim()).unwrap();
    assert_eq!(v.len(), 1);
    assert!(client
        .api(r#"sim_call {"uuid":"s-1"}"#)
        .await
        .unwrap()
        .text()
        .starts_with("-ERR invalid call: duplicate uuid"));
}

#[tokio::test]
async fn channel_table_lags_the_events_but_uuid_lookups_do_not() {
    let sw = integration::FakeSwitch::start(integration::SwitchConfig {
        speed: 1.0,
        channel_table_lag: Duration::from_millis(300),
        ..Default::default()
    })
    .await
    .unwrap();
    let mut raw = Raw::authed(sw.addr()).await;
    let uuid = sw.place_call(prepaid("1001")).unwrap();
    assert_eq!(
        raw.api("show channels as json").await,
        "{\"row_count\": 0}\n"
    );
    assert_eq!(raw.api("show channels count").await, "\n0 total.\n");
    assert_eq!(raw.api(&format!("uuid_exists {uuid}")).await, "true");
    assert_eq!(
        raw.api(&format!("uuid_getvar {uuid} cgr_account")).await,
        "1001"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    let rows = raw.api("show channels as json").await;
    assert!(rows.starts_with("{\"row_count\":1,"), "{rows}");
    assert!(rows.contains(&uuid));
}

#[tokio::test]
async fn default_channel_table_lag_is_what_freeswitch_showed() {
    assert_eq!(
        integration::SwitchConfig::default().channel_table_lag,
        Duration::from_millis(20)
    );
}
