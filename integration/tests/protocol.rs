//! The Event Socket server: handshake, command replies and event delivery,
//! checked frame by frame against the texts of `mod_event_socket.c`.

mod common;

use std::time::Duration;

use common::*;
use esl::{Message, Reply};
use integration::{CallSpec, FakeSwitch, SwitchConfig};

const GOODBYE: &str = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n";

#[tokio::test]
async fn handshake_and_bad_password() {
    let sw = switch(1.0).await;
    let mut raw = Raw::connect(sw.addr()).await;
    let greet = raw.frame().await;
    assert_eq!(greet.header("Content-Type"), Some("auth/request"));
    assert!(greet.body.is_none());
    assert_eq!(raw.command("auth wrong").await, "-ERR invalid");
    let notice = raw.frame().await;
    assert_eq!(
        notice.header("Content-Type"),
        Some("text/disconnect-notice")
    );
    assert_eq!(body_text(&notice), GOODBYE);
    assert!(raw.closed().await);

    let mut ok = Raw::authed(sw.addr()).await;
    assert_eq!(ok.command("exit").await, "+OK bye");
    assert_eq!(body_text(&ok.frame().await), GOODBYE);
    assert!(ok.closed().await);
}

#[tokio::test]
async fn commands_before_auth_are_not_found() {
    let sw = switch(1.0).await;
    let mut raw = Raw::connect(sw.addr()).await;
    raw.frame().await;
    assert_eq!(raw.command("api status").await, "-ERR command not found");
    assert_eq!(
        raw.command("event plain ALL").await,
        "-ERR command not found"
    );
    assert_eq!(raw.command("auth ClueCon").await, "+OK accepted");
    assert_eq!(
        raw.command("userauth a@b:c").await,
        "-ERR command not found"
    );
}

#[tokio::test]
async fn command_reply_texts() {
    let sw = switch(1.0).await;
    let mut raw = Raw::authed(sw.addr()).await;
    assert_eq!(raw.command("bogus").await, "-ERR command not found");
    assert_eq!(
        raw.command("event plain NOPE").await,
        "-ERR no keywords supplied"
    );
    assert_eq!(
        raw.command("event plain CHANNEL_ANSWER").await,
        "+OK event listener enabled plain"
    );
    assert_eq!(
        raw.command("event json HEARTBEAT").await,
        "+OK event listener enabled json"
    );
    assert_eq!(raw.command("nixevent HEARTBEAT").await, "+OK events nixed");
    assert_eq!(raw.command("nixevent").await, "-ERR no keywords supplied");
    assert_eq!(
        raw.command("filter Unique-ID abc").await,
        "+OK filter added. [Unique-ID]=[abc]"
    );
    assert_eq!(
        raw.command("filter delete Unique-ID abc").await,
        "+OK filter deleted. [Unique-ID][abc]"
    );
    assert_eq!(raw.command("filter Unique-ID").await, "-ERR invalid syntax");
    assert_eq!(
        raw.command("filter delete all").await,
        "+OK filter deleted. [all][]"
    );
    assert_eq!(
        raw.command("noevents").await,
        "+OK no longer listening for events"
    );
    assert_eq!(
        raw.command("noevents").await,
        "-ERR not listening for events"
    );
    assert_eq!(
        raw.command("linger").await,
        "-ERR not controlling a session"
    );
    assert_eq!(raw.command("log debug").await, "+OK log level debug [7]");
    assert_eq!(raw.command("nolog").await, "+OK no longer logging");
    assert_eq!(
        raw.command("sendmsg nope\ncall-command: hangup").await,
        "-ERR invalid session id [nope]"
    );
}

#[tokio::test]
async fn api_texts() {
    let sw = switch(1.0).await;
    let mut raw = Raw::authed(sw.addr()).await;
    assert_eq!(raw.api("uuid_kill nope").await, "-ERR No such channel!\n");
    assert_eq!(raw.api("uuid_kill").await, "-USAGE: <uuid> [cause]\n");
    assert_eq!(
        raw.api("sched_hangup +10 nope").await,
        "-ERR No such channel!\n"
    );
    assert_eq!(raw.api("sched_del nope").await, "+OK Deleted: 0\n");
    assert_eq!(
        raw.api("uuid_setvar nope a 1").await,
        "-ERR No such channel!\n"
    );
    assert_eq!(
        raw.api("uuid_getvar nope a").await,
        "-ERR No such channel!\n"
    );
    assert_eq!(
        raw.api("uuid_transfer nope 1002").await,
        "-ERR No such channel!\n"
    );
    assert_eq!(
        raw.api("uuid_broadcast nope x.wav aleg").await,
        "-ERR invalid uuid\n"
    );
    assert_eq!(raw.api("uuid_exists nope").await, "false");
    assert_eq!(
        raw.api("show channels as json").await,
        "{\"row_count\": 0}\n"
    );
    assert_eq!(raw.api("show channels").await, "\n0 total.\n");
    assert_eq!(
        raw.api("hupall").await,
        "+OK hangup all channels with cause MANAGER_REQUEST\n"
    );
    assert_eq!(raw.api("bogus x").await, "-ERR bogus Command not found!\n");
    let status = raw.api("status").await;
    assert!(status.starts_with("UP 0 years, 0 days"), "{status}");
    assert!(status.contains(") is ready\n"), "{status}");
}

#[tokio::test]
async fn uuid_commands_on_a_live_call() {
    let sw = switch(1.0).await;
    let uuid = sw
        .place_call(CallSpec::new("1001", "1002").var("cgr_account", "1001"))
        .unwrap();
    let mut raw = Raw::authed(sw.addr()).await;
    assert_eq!(raw.api(&format!("uuid_exists {uuid}")).await, "true");
    assert_eq!(
        raw.api(&format!("uuid_getvar {uuid} cgr_account")).await,
        "1001"
    );
    assert_eq!(
        raw.api(&format!("uuid_getvar {uuid} unset_var")).await,
        "_undef_"
    );
    assert_eq!(
        raw.api(&format!("uuid_setvar {uuid} a hello world")).await,
        "+OK\n"
    );
    assert_eq!(
        raw.api(&format!("uuid_getvar {uuid} a")).await,
        "hello world"
    );
    assert_eq!(raw.api(&format!("uuid_setvar {uuid} a")).await, "+OK\n");
    assert_eq!(raw.api(&format!("uuid_getvar {uuid} a")).await, "_undef_");
    assert_eq!(
        raw.api(&format!("uuid_setvar_multi {uuid} b=1;c=2")).await,
        "+OK\n"
    );
    assert_eq!(raw.api(&format!("uuid_getvar {uuid} c")).await, "2");
    assert_eq!(
        raw.api(&format!("uuid_broadcast {uuid} tone.wav aleg"))
            .await,
        "+OK Message sent\n"
    );
    assert_eq!(
        raw.api(&format!("sched_hangup +100 {uuid} ALLOTTED_TIMEOUT"))
            .await,
        "+OK\n"
    );
    assert_eq!(raw.api(&format!("sched_hangup +200 {uuid}")).await, "+OK\n");
    assert_eq!(
        raw.api(&format!("sched_del {uuid}")).await,
        "+OK Deleted: 2\n"
    );
    // The channel table lags the events (SwitchConfig::channel_table_lag).
    assert_eq!(raw.api("msleep 20").await, "+OK");
    let json = raw.api("show channels as json").await;
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["row_count"], 1);
    assert_eq!(v["rows"][0]["uuid"], uuid.as_str());
    assert_eq!(v["rows"][0]["callstate"], "RINGING");
    assert_eq!(v["rows"][0]["application"], "park");
    let text = raw.api("show channels").await;
    assert!(
        text.starts_with("uuid,direction,created,created_epoch,name,state"),
        "{text}"
    );
    assert!(text.ends_with("\n1 total.\n"), "{text}");
    assert_eq!(
        raw.api(&format!("uuid_transfer {uuid} 1003")).await,
        "+OK\n"
    );
    assert_eq!(
        raw.api(&format!("uuid_kill {uuid} USER_BUSY")).await,
        "+OK\n"
    );
    assert_eq!(raw.api(&format!("uuid_exists {uuid}")).await, "false");
    let rec = sw.record(&uuid).unwrap();
    assert_eq!(rec.hangup_cause.as_deref(), Some("USER_BUSY"));
    assert_eq!(rec.destination, "1003");
    assert!(rec.logged("uuid_broadcast tone.wav"));
}

/// `api` runs inside the connection's loop: events fired meanwhile wait
/// until its answer is written.
#[tokio::test]
async fn api_holds_the_connections_events() {
    let sw = switch(10.0).await;
    let mut raw = Raw::authed(sw.addr()).await;
    raw.command("event plain CHANNEL_CREATE").await;
    raw.send("api msleep 10000\n\n").await; // 1 s real
    tokio::time::sleep(Duration::from_millis(100)).await;
    let uuid = sw.place_call(CallSpec::new("1001", "1002")).unwrap();
    let first = raw.msg().await;
    assert!(
        matches!(&first, Message::ApiResponse(r) if r.text() == "+OK"),
        "{first:?}"
    );
    assert_eq!(raw.event().await.unique_id(), Some(uuid.as_str()));
}

#[tokio::test]
async fn bgapi_job_uuid_and_background_job() {
    let sw = switch(1.0).await;
    let mut raw = Raw::authed(sw.addr()).await;
    raw.command("event plain BACKGROUND_JOB").await;
    raw.send("bgapi uuid_exists nope\nJob-UUID: job-1\n\n")
        .await;
    match raw.msg().await {
        Message::CommandReply(r) => {
            assert_eq!(r, Reply::job_accepted("job-1"));
            assert_eq!(r.text(), "+OK Job-UUID: job-1");
        }
        other => panic!("{other:?}"),
    }
    let job = raw.event().await;
    assert_eq!(job.event_name(), Some("BACKGROUND_JOB"));
    assert_eq!(job.job_uuid(), Some("job-1"));
    assert_eq!(job.header("Job-Command"), Some("uuid_exists"));
    assert_eq!(job.header("Job-Command-Arg"), Some("nope"));
    assert_eq!(job.body_text().as_deref(), Some("false"));

    // Without a Job-UUID the switch makes one.
    raw.send("bgapi status\n\n").await;
    let made = match raw.msg().await {
        Message::CommandReply(r) => r.job_uuid().unwrap().to_owned(),
        other => panic!("{other:?}"),
    };
    assert_eq!(made.len(), 36);
    let job = raw.event().await;
    assert_eq!(job.job_uuid(), Some(made.as_str()));
    assert!(job.body_text().unwrap().starts_with("UP "));
}

#[tokio::test]
async fn filters_block_background_job_unless_one_lets_it_through() {
    let sw = switch(1.0).await;
    let mut raw = Raw::authed(sw.addr()).await;
    raw.command("event plain BACKGROUND_JOB CHANNEL_CREATE")
        .await;
    raw.command("filter Unique-ID some-call").await;
    raw.send("bgapi status\nJob-UUID: blocked\n\n").await;
    raw.msg().await;
    // The job is done long before this round trip ends; nothing else came.
    raw.send("api uuid_exists x\n\n").await;
    assert!(matches!(raw.msg().await, Message::ApiResponse(_)));
    raw.command("filter Event-Name BACKGROUND_JOB").await;
    raw.send("bgapi status\nJob-UUID: passes\n\n").await;
    raw.msg().await;
    assert_eq!(raw.event().await.job_uuid(), Some("passes"));
    // A matching call passes the Unique-ID filter; another does not.
    sw.place_call(CallSpec::new("1", "2").uuid("other"))
        .unwrap();
    sw.place_call(CallSpec::new("1", "2").uuid("some-call"))
        .unwrap();
    let ev = raw.event().await;
    assert_eq!(ev.unique_id(), Some("some-call"));
}

#[tokio::test]
async fn subscriptions_all_nixevent_noevents() {
    let sw = switch(1.0).await;
    let mut raw = Raw::authed(sw.addr()).await;
    raw.command("event plain ALL").await;
    raw.command("nixevent CHANNEL_STATE CHANNEL_CALLSTATE CHANNEL_EXECUTE API")
        .await;
    let uuid = sw.place_call(CallSpec::new("1", "2")).unwrap();
    assert_eq!(raw.event().await.event_name(), Some("CHANNEL_CREATE"));
    let park = raw.event().await;
    assert_eq!(park.event_name(), Some("CHANNEL_PARK"));
    assert_eq!(park.unique_id(), Some(uuid.as_str()));
    raw.command("noevents").await;
    sw.place_call(CallSpec::new("1", "2")).unwrap();
    assert!(raw.frame_within(Duration::from_millis(200)).await.is_none());
}

#[tokio::test]
async fn json_events() {
    let sw = switch(1.0).await;
    let mut raw = Raw::authed(sw.addr()).await;
    raw.command("event json CHANNEL_CREATE").await;
    let uuid = sw
        .place_call(CallSpec::new("1001", "1002").var("cgr_notify", "+AUTH_OK"))
        .unwrap();
    let frame = raw.frame().await;
    assert_eq!(frame.header("Content-Type"), Some("text/event-json"));
    let v: serde_json::Value = serde_json::from_slice(frame.body.as_ref().unwrap()).unwrap();
    assert_eq!(v["Unique-ID"], uuid.as_str());
    assert_eq!(v["variable_cgr_notify"], "+AUTH_OK");
}

#[tokio::test]
async fn heartbeat_every_20_simulated_seconds_when_subscribed() {
    let sw = switch(1000.0).await; // a heartbeat every 20 ms
    let mut quiet = Raw::authed(sw.addr()).await;
    quiet.command("event plain CHANNEL_ANSWER").await;
    let mut raw = Raw::authed(sw.addr()).await;
    raw.command("event plain HEARTBEAT").await;
    let a = raw.event().await;
    let b = raw.event().await;
    assert_eq!(a.event_name(), Some("HEARTBEAT"));
    assert_eq!(a.header("Event-Info"), Some("System Ready"));
    assert_eq!(
        num(&b, "Event-Date-Timestamp") - num(&a, "Event-Date-Timestamp"),
        20_000_000
    );
    assert!(num(&b, "Event-Sequence") > num(&a, "Event-Sequence"));
    assert!(quiet
        .frame_within(Duration::from_millis(100))
        .await
        .is_none());
}

#[tokio::test]
async fn shutdown_sends_the_notice() {
    let sw = FakeSwitch::start(SwitchConfig::default()).await.unwrap();
    let mut raw = Raw::authed(sw.addr()).await;
    sw.shutdown().await;
    let f = raw.frame().await;
    assert_eq!(f.header("Content-Type"), Some("text/disconnect-notice"));
    assert_eq!(body_text(&f), "The system is being shut down.\n");
    assert!(raw.closed().await);
}

#[tokio::test]
async fn strftime_and_strepoch_answer_as_freeswitch_1_10() {
    let sw = integration::FakeSwitch::start(integration::SwitchConfig::with_speed(100.0))
        .await
        .unwrap();
    let (c, mut ev) =
        esl::Client::connect(esl::ClientConfig::new(sw.addr().to_string(), "ClueCon"))
            .await
            .unwrap();
    tokio::spawn(async move { while ev.recv().await.is_some() {} });
    // testdata/freeswitch-1.10: `strftime %s` writes nothing (no `%s` in
    // FreeSWITCH's strftime), so the Event Socket answers `-ERR no reply\n`.
    let text = c.api("strftime %s").await.unwrap().text().into_owned();
    assert_eq!(text, "-ERR no reply\n");
    // `strepoch`: the epoch, no newline.
    let text = c.api("strepoch").await.unwrap().text().into_owned();
    assert!(!text.ends_with('\n'), "{text:?}");
    let secs: i64 = text.parse().unwrap();
    let sim = sw.now() / 1_000_000;
    assert!((secs - sim).abs() <= 1, "{secs} vs {sim}");
    let text = c.api("strftime %Y").await.unwrap().text().into_owned();
    assert_eq!(text.len(), 4, "{text:?}");
}
