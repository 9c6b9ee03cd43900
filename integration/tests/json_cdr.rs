//! mod_json_cdr: one JSON CDR POSTed per channel when it reports, retried
//! `retries` times `delay` apart, as `mod_json_cdr.c` does it. The receiver
//! here is a few lines of tokio: it reads a request, answers a scripted
//! status, and keeps what it got.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use integration::{
    url_decode, CallSpec, CdrEncoding, CdrOutcome, FakeSwitch, JsonCdrConfig, LegRole, SwitchConfig,
};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request as the receiver read it.
#[derive(Clone, Debug)]
struct Request {
    line: String,
    headers: Vec<(String, String)>,
    body: String,
    /// It asked for `100 Continue` (and got it).
    expected_continue: bool,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

/// A receiver answering `script` in turn, then 200.
struct Receiver {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<Request>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start(script: &[u16]) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::on(listener, script)
    }

    fn on(listener: TcpListener, script: &[u16]) -> Receiver {
        let addr = listener.local_addr().unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(script.to_vec()));
        let seen = got.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (seen, script) = (seen.clone(), script.clone());
                tokio::spawn(async move {
                    if let Some(req) = serve(stream, script).await {
                        seen.lock().unwrap().push(req);
                    }
                });
            }
        });
        Receiver { addr, got, task }
    }

    fn url(&self) -> String {
        format!("http://{}/freeswitch/cdr", self.addr)
    }

    fn requests(&self) -> Vec<Request> {
        self.got.lock().unwrap().clone()
    }

    fn stop(self) {
        self.task.abort();
    }
}

async fn serve(mut stream: TcpStream, script: Arc<Mutex<Vec<u16>>>) -> Option<Request> {
    let mut buf = Vec::new();
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..end].to_vec()).ok()?;
    let mut rest = buf[end + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let line = lines.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let get = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
    };
    let len: usize = get("Content-Length")?.parse().ok()?;
    let expected_continue = get("Expect").as_deref() == Some("100-continue");
    if expected_continue {
        stream
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .await
            .ok()?;
    }
    while rest.len() < len {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        rest.extend_from_slice(&chunk[..n]);
    }
    let status = {
        let mut s = script.lock().unwrap();
        if s.is_empty() {
            200
        } else {
            s.remove(0)
        }
    };
    let answer = format!("HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    stream.write_all(answer.as_bytes()).await.ok()?;
    Some(Request {
        line,
        headers,
        body: String::from_utf8(rest).ok()?,
        expected_continue,
    })
}

async fn switch_with(cdr: JsonCdrConfig) -> FakeSwitch {
    FakeSwitch::start(SwitchConfig {
        json_cdr: Some(cdr),
        ..SwitchConfig::with_speed(100.0)
    })
    .await
    .expect("switch starts")
}

fn prepaid_call() -> CallSpec {
    CallSpec::new("1001", "1002")
        .var("cgr_account", "1001")
        .var("cgr_reqtype", "*prepaid")
        .var("cgr_destination", "1002")
        .park(true)
        .ring(1.0)
        .talk(30.0)
}

fn s<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut v = v;
    for p in path {
        v = match p.parse::<usize>() {
            Ok(i) => &v[i],
            Err(_) => &v[*p],
        };
    }
    v.as_str()
        .unwrap_or_else(|| panic!("{path:?} is not a string: {v}"))
}

#[tokio::test]
async fn one_post_per_channel_with_the_call_record_in_it() {
    let rx = Receiver::start(&[]).await;
    let sw = switch_with(JsonCdrConfig::new(rx.url())).await;
    let uuid = sw.place_call(prepaid_call()).unwrap();
    let mut raw = Raw::authed(sw.addr()).await;
    assert_eq!(
        raw.api(&format!("uuid_transfer {uuid} 1002")).await,
        "+OK\n"
    );
    let record = sw.wait_for_end(&uuid, WAIT).await.expect("ended");
    let post = sw.wait_cdr_post(&uuid, WAIT).await.expect("posted");
    assert_eq!(post.outcome, CdrOutcome::Delivered);
    assert_eq!(post.attempts.len(), 1);
    assert_eq!(post.attempts[0].status, Some(200));
    assert_eq!(post.attempts[0].at, post.at, "posted as it reports");
    assert_eq!(post.at, record.ended_at.unwrap());

    let reqs = rx.requests();
    assert_eq!(reqs.len(), 1, "one channel, one post");
    let req = &reqs[0];
    assert_eq!(
        req.line,
        format!("POST /freeswitch/cdr?uuid={uuid} HTTP/1.1")
    );
    assert_eq!(req.header("Content-Type"), Some("application/json"));
    assert_eq!(req.header("User-Agent"), Some("freeswitch-json/1.0"));
    assert_eq!(req.header("Host"), Some(rx.addr.to_string().as_str()));
    assert_eq!(req.header("Authorization"), None);
    // A CDR is a few kB: libcurl announces it.
    assert!(req.expected_continue);
    assert_eq!(req.body, post.body);

    let cdr = req.json();
    assert_eq!(cdr, post.cdr);
    assert_eq!(s(&cdr, &["switchname"]), "fake-freeswitch");
    assert_eq!(s(&cdr, &["core-uuid"]).len(), 36);
    assert_eq!(s(&cdr, &["channel_data", "state"]), "CS_REPORTING");
    assert_eq!(s(&cdr, &["channel_data", "state_number"]), "11");
    assert_eq!(s(&cdr, &["channel_data", "direction"]), "inbound");
    let var = |k: &str| s(&cdr, &["variables", k]).to_owned();
    assert_eq!(var("uuid"), uuid);
    assert_eq!(var("cgr_account"), "1001");
    assert_eq!(var("cgr_reqtype"), "*prepaid");
    assert_eq!(var("hangup_cause"), "NORMAL_CLEARING");
    let answered = record.answered_at.unwrap();
    let ended = record.ended_at.unwrap();
    assert_eq!(var("answer_uepoch"), answered.to_string());
    assert_eq!(var("end_uepoch"), ended.to_string());
    assert_eq!(var("start_uepoch"), record.created_at.to_string());
    assert_eq!(var("answer_epoch"), (answered / 1_000_000).to_string());
    assert_eq!(var("billsec"), record.billsec.to_string());
    assert_eq!(var("billusec"), record.billusec.to_string());
    assert_eq!(var("duration"), record.duration.to_string());
    assert_eq!(record.billsec, 30);
    // encode-values (the default): every value url-encoded.
    assert_eq!(var("caller_id"), "%221001%22%20%3C1001%3E");
    assert_eq!(url_decode(&var("caller_id")), "\"1001\" <1001>");
    assert_eq!(
        post.variable_decoded("sip_from_uri").as_deref(),
        record.variable("sip_from_uri")
    );
    assert_eq!(
        var("end_stamp"),
        record
            .variable("end_stamp")
            .unwrap()
            .replace(' ', "%20")
            .replace(':', "%3A")
    );

    // The callflow, newest profile first: the transfer's, then the dialplan's.
    let flow = cdr["callflow"].as_array().unwrap();
    assert_eq!(flow.len(), 2);
    assert_eq!(s(&cdr, &["callflow", "0", "profile_index"]), "2");
    assert_eq!(s(&cdr, &["callflow", "1", "profile_index"]), "1");
    let cp = |i: &str, k: &str| s(&cdr, &["callflow", i, "caller_profile", k]).to_owned();
    assert_eq!(cp("0", "uuid"), uuid);
    assert_eq!(cp("0", "destination_number"), "1002");
    assert_eq!(cp("0", "rdnis"), "1002");
    assert_eq!(cp("0", "caller_id_number"), "1001");
    assert_eq!(cp("0", "context"), "default");
    assert_eq!(cp("0", "dialplan"), "XML");
    assert_eq!(cp("0", "chan_name"), "sofia/internal/1001@127.0.0.1");
    assert_eq!(cp("0", "source"), "mod_sofia");
    let t = |i: &str, k: &str| {
        s(&cdr, &["callflow", i, "times", k])
            .parse::<i64>()
            .unwrap()
    };
    assert_eq!(t("0", "created_time"), record.created_at);
    assert_eq!(t("0", "answered_time"), answered);
    assert_eq!(t("0", "hangup_time"), ended);
    assert_eq!(t("1", "created_time"), record.created_at);
    assert_eq!(t("1", "answered_time"), 0, "answered after the transfer");
    assert_eq!(t("1", "hangup_time"), 0);
    assert_eq!(t("1", "transfer_time"), t("0", "profile_created_time"));
    assert_eq!(t("0", "transfer_time"), 0, "stamped on the old profile");
    assert!(t("0", "profile_created_time") > record.created_at);
    // The applications it ran.
    let apps: Vec<&str> = cdr["app_log"]["applications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["app_name"].as_str().unwrap())
        .collect();
    assert_eq!(apps, ["park"]);
    // Unformatted, keys in cJSON's order.
    assert!(
        req.body.starts_with("{\"core-uuid\":\""),
        "{}",
        &req.body[..40]
    );
    assert!(!req.body.contains('\n'));
    rx.stop();
}

/// The recordings' four-channel call: every leg is posted by default; with
/// `log-b-leg` false, the bridge's `9999-a` (the only one with an
/// originator) is not.
#[tokio::test]
async fn b_legs_are_the_channels_with_an_originator() {
    for log_b_leg in [true, false] {
        let rx = Receiver::start(&[]).await;
        let sw = switch_with(JsonCdrConfig {
            log_b_leg,
            ..JsonCdrConfig::new(rx.url())
        })
        .await;
        let uuid = sw
            .place_call(
                CallSpec::new("1001", "0723045326")
                    .context("prepaid")
                    .partner_var("cgr_reqtype", "*none")
                    .var("cgr_reqtype", "*prepaid")
                    .var("cgr_account", "1001")
                    .bridge(&[("cgr_bleg", "1"), ("cgr_reqtype", "*none")])
                    .ring(0.5)
                    .talk(4.0),
            )
            .unwrap();
        let mut raw = Raw::authed(sw.addr()).await;
        raw.api(&format!("uuid_transfer {uuid} 0723045326 XML prepaid"))
            .await;
        sw.wait_for_end(&uuid, WAIT).await.expect("ended");
        let legs = sw.legs(&uuid);
        assert_eq!(legs.len(), 4);
        for leg in &legs {
            sw.wait_for_end(&leg.uuid, WAIT).await.expect("leg ended");
        }
        let expected: Vec<&str> = legs
            .iter()
            .filter(|l| log_b_leg || l.role != LegRole::BridgeA)
            .map(|l| l.uuid.as_str())
            .collect();
        for u in &expected {
            let post = sw.wait_cdr_post(u, WAIT).await.expect("posted");
            assert_eq!(post.outcome, CdrOutcome::Delivered);
        }
        let mut posted: Vec<String> = sw.cdr_posts().into_iter().map(|p| p.uuid).collect();
        posted.sort();
        let mut want: Vec<String> = expected.iter().map(|u| u.to_string()).collect();
        want.sort();
        assert_eq!(posted, want, "log_b_leg {log_b_leg}");
        assert_eq!(rx.requests().len(), want.len());

        let posts = sw.cdr_posts();
        let own = posts.iter().find(|p| p.uuid == uuid).unwrap();
        assert_eq!(own.variable("cgr_reqtype"), Some("*prepaid"));
        // The parked leg names its originatee, the bridged -a leg.
        let ba = &legs
            .iter()
            .find(|l| l.role == LegRole::BridgeA)
            .unwrap()
            .uuid;
        assert_eq!(
            s(
                &own.cdr,
                &[
                    "callflow",
                    "0",
                    "caller_profile",
                    "originatee",
                    "originatee_caller_profiles",
                    "0",
                    "uuid"
                ]
            ),
            ba
        );
        if log_b_leg {
            let b = posts.iter().find(|p| &p.uuid == ba).unwrap();
            assert_eq!(b.variable("cgr_bleg"), Some("1"));
            assert_eq!(s(&b.cdr, &["channel_data", "direction"]), "outbound");
            assert_eq!(
                s(
                    &b.cdr,
                    &[
                        "callflow",
                        "0",
                        "caller_profile",
                        "originator",
                        "originator_caller_profiles",
                        "0",
                        "uuid"
                    ]
                ),
                uuid
            );
        }
        rx.stop();
    }
}

#[tokio::test]
async fn a_non_2xx_answer_is_retried_after_delay() {
    let rx = Receiver::start(&[500]).await;
    let sw = switch_with(JsonCdrConfig::new(rx.url()).retries(2, Duration::from_secs(10))).await;
    let uuid = sw
        .place_call(CallSpec::new("1001", "1002").park(false).talk(3.0))
        .unwrap();
    sw.wait_for_end(&uuid, WAIT).await.expect("ended");
    let post = sw.wait_cdr_post(&uuid, WAIT).await.expect("posted");
    assert_eq!(post.outcome, CdrOutcome::Delivered);
    let statuses: Vec<_> = post.attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [Some(500), Some(200)]);
    assert_eq!(post.attempts[1].at - post.attempts[0].done, 10_000_000);
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].body, reqs[1].body, "the same document again");
    rx.stop();
}

#[tokio::test]
async fn a_receiver_down_at_the_hangup_gets_it_after_delay() {
    // A port nobody listens on, for now.
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let sw = switch_with(
        JsonCdrConfig::new(format!("http://{port}/freeswitch/cdr"))
            .retries(3, Duration::from_secs(60)),
    )
    .await;
    let uuid = sw
        .place_call(CallSpec::new("1001", "1002").park(false).talk(3.0))
        .unwrap();
    // The first attempt is refused…
    let deadline = tokio::time::Instant::now() + WAIT;
    while sw.cdr_posts().first().is_none_or(|p| p.attempts.is_empty()) {
        assert!(tokio::time::Instant::now() < deadline, "no attempt");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let first = sw.cdr_posts()[0].attempts[0].clone();
    assert_eq!(first.status, None);
    assert!(first.error.as_deref().unwrap().contains("connect"));
    // …and the channel, hung up, waits in CS_REPORTING for the module.
    assert!(sw.is_up(&uuid));
    let waiting = sw.record(&uuid).unwrap();
    assert!(!waiting.ended());
    assert_eq!(waiting.variable("hangup_cause"), Some("NORMAL_CLEARING"));
    // …the receiver comes up within the 60 s (0.6 s real) delay…
    let rx = Receiver::on(TcpListener::bind(port).await.unwrap(), &[]);
    let post = sw.wait_cdr_post(&uuid, WAIT).await.expect("posted");
    assert_eq!(post.outcome, CdrOutcome::Delivered);
    assert_eq!(post.attempts.len(), 2);
    assert_eq!(post.attempts[1].at - post.attempts[0].done, 60_000_000);
    assert_eq!(rx.requests().len(), 1);
    let record = sw.wait_for_end(&uuid, WAIT).await.expect("ended");
    assert_eq!(record.ended_at, Some(post.at), "ended_at: the hangup");
    assert!(!sw.is_up(&uuid));
    rx.stop();
}

/// Without a queue the module posts in the channel's reporting state:
/// CHANNEL_HANGUP_COMPLETE comes once the post is done (after the retry
/// here); with `queue` it comes at the hangup.
#[tokio::test]
async fn hangup_complete_waits_for_the_post_unless_queued() {
    for queue in [false, true] {
        let rx = Receiver::start(&[500]).await;
        let sw = switch_with(JsonCdrConfig {
            queue,
            ..JsonCdrConfig::new(rx.url()).retries(1, Duration::from_secs(20))
        })
        .await;
        let (_client, mut events) =
            subscribed(sw.addr(), &["CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE"]).await;
        let uuid = sw
            .place_call(CallSpec::new("1001", "1002").park(false).talk(3.0))
            .unwrap();
        let hangup = next_event(&mut events, "CHANNEL_HANGUP", &uuid).await;
        let complete = next_event(&mut events, "CHANNEL_HANGUP_COMPLETE", &uuid).await;
        let post = sw.wait_cdr_post(&uuid, WAIT).await.expect("posted");
        assert_eq!(post.attempts.len(), 2);
        let hung = num(&hangup, "Event-Date-Timestamp");
        let done = num(&complete, "Event-Date-Timestamp");
        assert_eq!(num(&complete, "Caller-Channel-Hangup-Time"), hung);
        assert_eq!(
            complete.variable("end_uepoch"),
            Some(hung.to_string().as_str())
        );
        if queue {
            assert_eq!(done, hung);
        } else {
            assert_eq!(done, post.attempts[1].done, "once the post is done");
            assert!(done - hung >= 20_000_000);
        }
        rx.stop();
    }
}

#[tokio::test]
async fn after_the_last_retry_the_switch_gives_up() {
    let rx = Receiver::start(&[503, 503, 503]).await;
    let sw = switch_with(JsonCdrConfig::new(rx.url()).retries(2, Duration::ZERO)).await;
    let uuid = sw
        .place_call(CallSpec::new("1001", "1002").park(false).talk(1.0))
        .unwrap();
    sw.wait_for_end(&uuid, WAIT).await.expect("ended");
    let post = sw.wait_cdr_post(&uuid, WAIT).await.expect("done");
    assert_eq!(post.outcome, CdrOutcome::GaveUp);
    assert_eq!(post.attempts.len(), 3, "retries + 1");
    // delay 0 with retries set: the module makes it 5 s.
    assert_eq!(post.attempts[2].at - post.attempts[1].done, 5_000_000);
    assert_eq!(rx.requests().len(), 3);
    rx.stop();
}

#[tokio::test]
async fn encode_and_cred_as_the_module_posts_them() {
    for encode in [CdrEncoding::Url, CdrEncoding::Base64] {
        let rx = Receiver::start(&[]).await;
        let sw = switch_with(JsonCdrConfig {
            encode,
            encode_values: false,
            cred: Some("tollgate:secret".into()),
            expect_100_continue: false,
            ..JsonCdrConfig::new(rx.url())
        })
        .await;
        let uuid = sw
            .place_call(
                CallSpec::new("1001", "1002")
                    .var("cgr_account", "1001")
                    .park(false)
                    .talk(1.0),
            )
            .unwrap();
        sw.wait_for_end(&uuid, WAIT).await.expect("ended");
        let post = sw.wait_cdr_post(&uuid, WAIT).await.expect("posted");
        assert_eq!(post.outcome, CdrOutcome::Delivered);
        let req = rx.requests().remove(0);
        assert!(!req.expected_continue);
        assert_eq!(
            req.header("Authorization"),
            Some("Basic dG9sbGdhdGU6c2VjcmV0")
        );
        let form = req.body.strip_prefix("cdr=").expect("cdr=…");
        let json = match encode {
            CdrEncoding::Url => {
                assert_eq!(
                    req.header("Content-Type"),
                    Some("application/x-www-form-urlencoded")
                );
                url_decode(form)
            }
            _ => {
                assert_eq!(
                    req.header("Content-Type"),
                    Some("application/x-www-form-base64-encoded")
                );
                String::from_utf8(b64_decode(form)).unwrap()
            }
        };
        let cdr: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(cdr, post.cdr);
        // encode-values false: plain values.
        assert_eq!(s(&cdr, &["variables", "caller_id"]), "\"1001\" <1001>");
        rx.stop();
    }
}

#[tokio::test]
async fn process_cdr_false_skips_the_channel() {
    let rx = Receiver::start(&[]).await;
    let sw = switch_with(JsonCdrConfig::new(rx.url())).await;
    let skipped = sw
        .place_call(
            CallSpec::new("1001", "1002")
                .var("process_cdr", "false")
                .park(false)
                .talk(1.0),
        )
        .unwrap();
    let posted = sw
        .place_call(CallSpec::new("1003", "1002").park(false).talk(1.0))
        .unwrap();
    sw.wait_for_end(&skipped, WAIT).await.expect("ended");
    sw.wait_cdr_post(&posted, WAIT).await.expect("posted");
    let uuids: Vec<String> = sw.cdr_posts().into_iter().map(|p| p.uuid).collect();
    assert_eq!(uuids, [posted]);
    rx.stop();
}

fn b64_decode(s: &str) -> Vec<u8> {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().filter(|&c| c != b'=') {
        acc = acc << 6 | A.iter().position(|&x| x == c).expect("base64") as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// With `queue` one task posts the CDRs in turn: a receiver that is down
/// holds up the ones behind. `api sim_cdr_posts` shows them.
#[tokio::test]
async fn a_queue_posts_one_cdr_after_the_other() {
    let rx = Receiver::start(&[500, 500]).await;
    let sw = switch_with(JsonCdrConfig {
        queue: true,
        ..JsonCdrConfig::new(rx.url()).retries(2, Duration::from_secs(10))
    })
    .await;
    let first = sw
        .place_call(CallSpec::new("1001", "1002").park(false).talk(2.0))
        .unwrap();
    let second = sw
        .place_call(CallSpec::new("1003", "1002").park(false).talk(3.0))
        .unwrap();
    let a = sw.wait_cdr_post(&first, WAIT).await.expect("first");
    let b = sw.wait_cdr_post(&second, WAIT).await.expect("second");
    assert_eq!(a.attempts.len(), 3);
    assert_eq!(a.outcome, CdrOutcome::Delivered);
    assert_eq!(b.attempts.len(), 1);
    assert!(b.attempts[0].at >= a.attempts[2].at, "queued behind");
    // Not held: both calls ended at their hangup.
    assert!(sw.record(&second).unwrap().ended());
    let mut raw = Raw::authed(sw.addr()).await;
    let listed: Value = serde_json::from_str(raw.api("sim_cdr_posts").await.trim()).unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["uuid"], first.as_str());
    assert_eq!(listed[0]["outcome"], "delivered");
    assert_eq!(listed[0]["attempts"][0]["status"], 500);
    rx.stop();
}

/// What the CDR endpoint is for: the Event Socket is down when the call
/// ends, so no controller hears CHANNEL_HANGUP_COMPLETE, but the CDR
/// carries what it needs to settle the call.
#[tokio::test]
async fn the_cdr_settles_a_call_whose_hangup_no_controller_heard() {
    let rx = Receiver::start(&[]).await;
    let sw = switch_with(JsonCdrConfig::new(rx.url())).await;
    let (_client, mut events) = subscribed(sw.addr(), &["CHANNEL_ANSWER"]).await;
    let uuid = sw
        .place_call(prepaid_call().park(false).talk(120.0))
        .unwrap();
    next_event(&mut events, "CHANNEL_ANSWER", &uuid).await;
    sw.stop_listening().await;
    assert_eq!(sw.drop_connections(), 1);
    let record = sw.wait_for_end(&uuid, WAIT).await.expect("ended");
    assert_eq!(record.billsec, 120);
    let post = sw.wait_cdr_post(&uuid, WAIT).await.expect("posted");
    assert_eq!(post.outcome, CdrOutcome::Delivered);
    let cdr = rx.requests()[0].json();
    assert_eq!(s(&cdr, &["variables", "uuid"]), uuid);
    assert_eq!(s(&cdr, &["variables", "cgr_account"]), "1001");
    assert_eq!(s(&cdr, &["variables", "billsec"]), "120");
    assert_eq!(
        s(&cdr, &["variables", "answer_uepoch"]),
        record.answered_at.unwrap().to_string()
    );
    assert_eq!(
        s(&cdr, &["variables", "end_uepoch"]),
        record.ended_at.unwrap().to_string()
    );
    rx.stop();
}
