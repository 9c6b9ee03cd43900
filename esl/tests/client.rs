//! The inbound client against an in-process scripted switch (tokio TCP on
//! loopback, speaking through esl's own ServerCodec). Timeouts run on tokio's
//! paused clock where no socket I/O races them, and on real time scaled down
//! to milliseconds elsewhere, so the whole file takes about a second.

use std::time::Duration;

use esl::{
    api::Leg, ApiError, Backoff, Client, ClientConfig, ClientError, ClientEvent, Command,
    CommandKind, Event, EventFormat, Message, Reply, ServerCodec,
};
use futures::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::codec::Framed;

type Conn = Framed<TcpStream, ServerCodec>;

struct Switch {
    listener: TcpListener,
}

impl Switch {
    async fn start() -> Switch {
        Switch {
            listener: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        }
    }

    fn config(&self) -> ClientConfig {
        let mut c = ClientConfig::new(self.listener.local_addr().unwrap().to_string(), "ClueCon");
        c.reconnect = None;
        c.liveness_timeout = None;
        c
    }

    async fn accept(&self) -> Conn {
        let (stream, _) = self.listener.accept().await.unwrap();
        Framed::new(stream, ServerCodec::new())
    }

    /// Greets, accepts the password, answers the client's own subscription.
    async fn accept_client(&self, auto_events: &str) -> Conn {
        let mut conn = self.accept().await;
        send(&mut conn, Message::auth_request()).await;
        let auth = recv(&mut conn).await;
        assert_eq!(
            auth.kind(),
            CommandKind::Auth {
                password: "ClueCon"
            }
        );
        send(&mut conn, Message::reply_ok("accepted")).await;
        let sub = recv(&mut conn).await;
        assert_eq!(sub.line(), format!("event plain {auto_events}"));
        send(&mut conn, Message::reply_ok("event listener enabled plain")).await;
        conn
    }
}

async fn send(conn: &mut Conn, msg: Message) {
    conn.send(msg).await.unwrap();
}

async fn recv(conn: &mut Conn) -> Command {
    conn.next().await.expect("a command").expect("decodes")
}

async fn next_event(events: &mut mpsc::Receiver<ClientEvent>) -> ClientEvent {
    events.recv().await.expect("event channel open")
}

fn channel_event(name: &str, uuid: &str) -> Message {
    Message::Event(Event::new(name).with_header("Unique-ID", uuid))
}

fn job_done(job_uuid: &str, body: &str) -> Message {
    Message::Event(
        Event::new("BACKGROUND_JOB")
            .with_header("Job-UUID", job_uuid)
            .with_body(body.to_owned()),
    )
}

#[tokio::test]
async fn auth_failure_is_reported() {
    let switch = Switch::start().await;
    let cfg = switch.config();
    let server = async {
        let mut conn = switch.accept().await;
        send(&mut conn, Message::auth_request()).await;
        assert_eq!(recv(&mut conn).await.line(), "auth ClueCon");
        send(&mut conn, Message::reply_err("invalid")).await;
    };
    let (result, ()) = tokio::join!(Client::connect(cfg), server);
    match result {
        Err(ClientError::AuthFailed(text)) => assert_eq!(text, "-ERR invalid"),
        other => panic!("expected AuthFailed, got {other:?}"),
    }
}

#[tokio::test]
async fn rude_rejection_is_reported() {
    let switch = Switch::start().await;
    let cfg = switch.config();
    let server = async {
        let mut conn = switch.accept().await;
        send(
            &mut conn,
            Message::RudeRejection("Access Denied, go away.\n".into()),
        )
        .await;
    };
    let (result, ()) = tokio::join!(Client::connect(cfg), server);
    assert!(matches!(result, Err(ClientError::Rejected(t)) if t == "Access Denied, go away."));
}

#[tokio::test]
async fn replies_match_commands_while_events_interleave() {
    let switch = Switch::start().await;
    let (client, mut events) = {
        let cfg = switch.config();
        let (c, conn) = tokio::join!(Client::connect(cfg), switch.accept_client("BACKGROUND_JOB"));
        let (client, events) = c.unwrap();
        let mut conn = conn;
        let server = async move {
            let sub = recv(&mut conn).await;
            assert_eq!(sub.line(), "event plain CHANNEL_PARK CHANNEL_ANSWER");
            send(&mut conn, channel_event("CHANNEL_PARK", "u0")).await;
            send(&mut conn, Message::reply_ok("event listener enabled plain")).await;
            assert_eq!(recv(&mut conn).await.line(), "api status");
            assert_eq!(recv(&mut conn).await.line(), "api version");
            send(&mut conn, channel_event("CHANNEL_PARK", "u1")).await;
            send(&mut conn, Message::api_response("UP 0 years")).await;
            send(&mut conn, channel_event("CHANNEL_ANSWER", "u1")).await;
            send(&mut conn, channel_event("CHANNEL_PARK", "u2")).await;
            send(&mut conn, Message::api_response("FreeSWITCH Version 1.10")).await;
            // An internal event the caller did not ask for is not forwarded.
            send(
                &mut conn,
                Message::Event(Event::new("BACKGROUND_JOB").with_header("Job-UUID", "other")),
            )
            .await;
            send(&mut conn, channel_event("CHANNEL_ANSWER", "u2")).await;
            conn
        };
        let client_side = async {
            client
                .subscribe(EventFormat::Plain, &["CHANNEL_PARK", "CHANNEL_ANSWER"])
                .await
                .unwrap();
            let (a, b) = tokio::join!(client.api("status"), client.api("version"));
            assert_eq!(a.unwrap().text(), "UP 0 years");
            assert_eq!(b.unwrap().text(), "FreeSWITCH Version 1.10");
        };
        let (_conn, ()) = tokio::join!(server, client_side);
        (client, events)
    };
    let mut seen = Vec::new();
    for _ in 0..5 {
        match next_event(&mut events).await {
            ClientEvent::Event(e) => seen.push(format!(
                "{}/{}",
                e.event_name().unwrap(),
                e.unique_id().unwrap()
            )),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        seen,
        [
            "CHANNEL_PARK/u0",
            "CHANNEL_PARK/u1",
            "CHANNEL_ANSWER/u1",
            "CHANNEL_PARK/u2",
            "CHANNEL_ANSWER/u2"
        ]
    );
    drop(client);
}

#[tokio::test]
async fn bgapi_results_are_correlated_by_job_uuid_through_filters() {
    let switch = Switch::start().await;
    let cfg = switch.config();
    let (c, mut conn) = tokio::join!(Client::connect(cfg), switch.accept_client("BACKGROUND_JOB"));
    let (client, _events) = c.unwrap();
    let server = async move {
        // A filter would block BACKGROUND_JOB: the client lets it through.
        assert_eq!(recv(&mut conn).await.line(), "filter Unique-ID u1");
        send(
            &mut conn,
            Message::reply_ok("filter added. [Unique-ID]=[u1]"),
        )
        .await;
        assert_eq!(
            recv(&mut conn).await.line(),
            "filter Event-Name BACKGROUND_JOB"
        );
        send(
            &mut conn,
            Message::reply_ok("filter added. [Event-Name]=[BACKGROUND_JOB]"),
        )
        .await;
        let mut jobs = Vec::new();
        for _ in 0..2 {
            let cmd = recv(&mut conn).await;
            let CommandKind::BgApi {
                command,
                job_uuid: Some(uuid),
            } = cmd.kind()
            else {
                panic!("expected bgapi with Job-UUID, got {cmd:?}");
            };
            send(&mut conn, Message::CommandReply(Reply::job_accepted(uuid))).await;
            jobs.push((command.to_owned(), uuid.to_owned()));
        }
        // Results in reverse order, an event in between.
        send(&mut conn, job_done(&jobs[1].1, "+OK second\n")).await;
        send(&mut conn, channel_event("CHANNEL_ANSWER", "u1")).await;
        send(&mut conn, job_done(&jobs[0].1, "+OK first\n")).await;
        (jobs, conn)
    };
    let client_side = async {
        client.filter("Unique-ID", "u1").await.unwrap();
        let j1 = client.bgapi("originate a &park()").await.unwrap();
        let j2 = client.bgapi("originate b &park()").await.unwrap();
        assert_ne!(j1.uuid(), j2.uuid());
        let (u1, u2) = (j1.uuid().to_owned(), j2.uuid().to_owned());
        let (r1, r2) = tokio::join!(j1.wait(), j2.wait());
        let (r1, r2) = (r1.unwrap(), r2.unwrap());
        assert_eq!(r1.body_text().as_deref(), Some("+OK first\n"));
        assert_eq!(r2.body_text().as_deref(), Some("+OK second\n"));
        (u1, u2)
    };
    let ((jobs, _conn), (u1, u2)) = tokio::join!(server, client_side);
    assert_eq!(jobs[0], ("originate a &park()".to_owned(), u1));
    assert_eq!(jobs[1], ("originate b &park()".to_owned(), u2));
}

#[tokio::test(start_paused = true)]
async fn command_timeout_then_late_reply_is_not_misattributed() {
    let switch = Switch::start().await;
    let mut cfg = switch.config();
    cfg.command_timeout = Duration::from_secs(5);
    let (c, mut conn) = tokio::join!(Client::connect(cfg), switch.accept_client("BACKGROUND_JOB"));
    let (client, _events) = c.unwrap();
    let slow = client.api("slow").await;
    assert!(
        matches!(&slow, Err(ClientError::Timeout { command, after }) if command == "api slow" && *after == Duration::from_secs(5)),
        "{slow:?}"
    );
    assert_eq!(
        slow.unwrap_err().to_string(),
        "command `api slow` timed out after 5s"
    );
    // Back to real time: a paused clock auto-advances past in-flight
    // loopback I/O, which would fire the next timeout spuriously.
    tokio::time::resume();
    let server = async {
        assert_eq!(recv(&mut conn).await.line(), "api slow");
        assert_eq!(recv(&mut conn).await.line(), "api next");
        send(&mut conn, Message::api_response("late")).await;
        send(&mut conn, Message::api_response("next")).await;
    };
    let (next, ()) = tokio::join!(client.api("next"), server);
    assert_eq!(next.unwrap().text(), "next");
}

#[tokio::test]
async fn server_closing_mid_frame_fails_the_command_and_reports_the_gap() {
    let switch = Switch::start().await;
    let cfg = switch.config();
    let (c, conn) = tokio::join!(Client::connect(cfg), switch.accept_client("BACKGROUND_JOB"));
    let (client, mut events) = c.unwrap();
    let server = async move {
        let mut conn = conn;
        assert_eq!(recv(&mut conn).await.line(), "api status");
        let mut stream = conn.into_inner();
        stream
            .write_all(b"Content-Type: api/response\nContent-Length: 100\n\nUP 0 ye")
            .await
            .unwrap();
        drop(stream);
    };
    let (result, ()) = tokio::join!(client.api("status"), server);
    assert!(
        matches!(&result, Err(ClientError::ConnectionLost(r)) if r.contains("middle of a frame")),
        "{result:?}"
    );
    match next_event(&mut events).await {
        ClientEvent::Disconnected { reason } => {
            assert!(reason.contains("middle of a frame"), "{reason}")
        }
        other => panic!("expected Disconnected, got {other:?}"),
    }
    assert!(
        events.recv().await.is_none(),
        "no reconnect configured: channel closes"
    );
    assert!(matches!(
        client.api("status").await,
        Err(ClientError::Closed)
    ));
}

/// Real time, scaled down: backoff of 20-100 ms.
#[tokio::test]
async fn reconnects_reauthenticates_and_resubscribes() {
    let switch = Switch::start().await;
    let mut cfg = switch.config();
    cfg.liveness_timeout = Some(Duration::from_secs(60));
    cfg.reconnect = Some(Backoff {
        initial: Duration::from_millis(20),
        max: Duration::from_millis(100),
        jitter: true,
    });
    let auto = "HEARTBEAT BACKGROUND_JOB";
    let (c, mut conn) = tokio::join!(Client::connect(cfg), switch.accept_client(auto));
    let (client, mut events) = c.unwrap();
    let server = async {
        assert_eq!(
            recv(&mut conn).await.line(),
            "event json CHANNEL_ANSWER CHANNEL_HANGUP_COMPLETE"
        );
        send(&mut conn, Message::reply_ok("event listener enabled json")).await;
        assert_eq!(
            recv(&mut conn).await.line(),
            "filter Caller-Context prepaid"
        );
        send(&mut conn, Message::reply_ok("filter added.")).await;
        for line in [
            "filter Event-Name HEARTBEAT",
            "filter Event-Name BACKGROUND_JOB",
        ] {
            assert_eq!(recv(&mut conn).await.line(), line);
            send(&mut conn, Message::reply_ok("filter added.")).await;
        }
    };
    let client_side = async {
        client
            .subscribe(
                EventFormat::Json,
                &["CHANNEL_ANSWER", "CHANNEL_HANGUP_COMPLETE"],
            )
            .await
            .unwrap();
        client.filter("Caller-Context", "prepaid").await.unwrap();
    };
    tokio::join!(server, client_side);

    // The switch goes away.
    drop(conn);
    match next_event(&mut events).await {
        ClientEvent::Disconnected { reason } => assert!(reason.contains("closed"), "{reason}"),
        other => panic!("expected Disconnected, got {other:?}"),
    }
    assert!(matches!(
        client.api("status").await,
        Err(ClientError::NotConnected)
    ));

    // It comes back: the client authenticates and replays everything.
    let mut conn = switch.accept().await;
    send(&mut conn, Message::auth_request()).await;
    assert_eq!(recv(&mut conn).await.line(), "auth ClueCon");
    send(&mut conn, Message::reply_ok("accepted")).await;
    let mut replayed = Vec::new();
    for _ in 0..4 {
        replayed.push(recv(&mut conn).await.line().to_owned());
        send(&mut conn, Message::reply_ok("")).await;
    }
    assert_eq!(
        replayed,
        [
            "event json CHANNEL_ANSWER CHANNEL_HANGUP_COMPLETE HEARTBEAT BACKGROUND_JOB",
            "filter Caller-Context prepaid",
            "filter Event-Name HEARTBEAT",
            "filter Event-Name BACKGROUND_JOB",
        ]
    );
    match next_event(&mut events).await {
        ClientEvent::Reconnected { attempts, .. } => assert!(attempts >= 1),
        other => panic!("expected Reconnected, got {other:?}"),
    }
    // Resync, then events flow again.
    let server = async {
        assert_eq!(recv(&mut conn).await.line(), "api show channels as json");
        send(&mut conn, Message::api_response("{\"row_count\": 0}\n")).await;
        send(&mut conn, Message::EventJson(Event::new("HEARTBEAT"))).await;
        send(
            &mut conn,
            Message::EventJson(Event::new("CHANNEL_ANSWER").with_header("Unique-ID", "u9")),
        )
        .await;
    };
    let (channels, ()) = tokio::join!(client.show_channels(), server);
    assert!(channels.unwrap().is_empty());
    match next_event(&mut events).await {
        ClientEvent::Event(e) => assert_eq!(e.unique_id(), Some("u9"), "HEARTBEAT is internal"),
        other => panic!("expected the event, got {other:?}"),
    }
}

/// Real time, scaled down: heartbeats every 100 ms, liveness 300 ms.
#[tokio::test]
async fn silence_past_the_liveness_timeout_means_dead() {
    let switch = Switch::start().await;
    let mut cfg = switch.config();
    let liveness = Duration::from_millis(300);
    cfg.liveness_timeout = Some(liveness);
    cfg.reconnect = Some(Backoff {
        initial: Duration::from_millis(10),
        max: Duration::from_millis(10),
        jitter: false,
    });
    let (c, mut conn) = tokio::join!(
        Client::connect(cfg),
        switch.accept_client("HEARTBEAT BACKGROUND_JOB")
    );
    let (_client, mut events) = c.unwrap();
    let start = tokio::time::Instant::now();
    // Heartbeats keep it alive past several liveness periods...
    for _ in 0..6 {
        tokio::time::sleep(liveness / 3).await;
        send(&mut conn, Message::Event(Event::new("HEARTBEAT"))).await;
    }
    let last_heartbeat = start.elapsed();
    // ...then the switch hangs without closing the socket.
    match next_event(&mut events).await {
        ClientEvent::Disconnected { reason } => assert!(reason.contains("heartbeat"), "{reason}"),
        other => panic!("expected Disconnected, got {other:?}"),
    }
    assert!(
        start.elapsed() >= last_heartbeat + liveness,
        "{:?}",
        start.elapsed()
    );
    let _new = switch.accept_client("HEARTBEAT BACKGROUND_JOB").await;
    assert!(matches!(
        next_event(&mut events).await,
        ClientEvent::Reconnected { .. }
    ));
    drop(conn);
}

#[tokio::test]
async fn typed_helpers_send_the_right_commands_and_read_answers() {
    let switch = Switch::start().await;
    let cfg = switch.config();
    let (c, mut conn) = tokio::join!(Client::connect(cfg), switch.accept_client("BACKGROUND_JOB"));
    let (client, _events) = c.unwrap();
    let script: Vec<(&str, &str)> = vec![
        ("api uuid_kill u1 CALL_REJECTED", "+OK\n"),
        ("api uuid_kill gone", "-ERR No such channel!\n"),
        ("api sched_hangup +30 u1 ALLOTTED_TIMEOUT", "+OK\n"),
        ("api sched_hangup 1795318987 u1 ALLOTTED_TIMEOUT", "+OK\n"),
        ("api sched_del u1", "+OK Deleted: 2\n"),
        ("api uuid_setvar u1 cgr_debit 1.5", "+OK\n"),
        ("api uuid_setvar_multi u1 a=1;b=two words", "+OK\n"),
        ("api uuid_transfer u1 1000 XML default", "+OK\n"),
        (
            "api uuid_broadcast u1 /tmp/low_credit.wav aleg",
            "+OK Message sent\n",
        ),
        (
            "api uuid_broadcast gone /tmp/x.wav both",
            "-ERR invalid uuid\n",
        ),
        ("api uuid_exists u1", "true"),
        ("api uuid_exists u2", "false"),
        (
            "api hupall MANAGER_REQUEST cgr_account 1001",
            "+OK hangup all channels matching [cgr_account]=[1001] with cause: MANAGER_REQUEST\n",
        ),
        (
            "api show channels as json",
            "{\"row_count\":1,\"rows\":[{\"uuid\":\"u1\",\"state\":\"CS_EXECUTE\"}]}\n",
        ),
    ];
    let expected: Vec<String> = script.iter().map(|(l, _)| l.to_string()).collect();
    let server = async move {
        let mut got = Vec::new();
        for (_, answer) in &script {
            got.push(recv(&mut conn).await.line().to_owned());
            send(&mut conn, Message::api_response(answer.to_string())).await;
        }
        let msg = recv(&mut conn).await;
        assert_eq!(msg.line(), "sendmsg gone");
        assert_eq!(msg.header("call-command"), Some("hangup"));
        send(&mut conn, Message::reply_err("invalid session id [gone]")).await;
        got
    };
    let client_side = async {
        client.uuid_kill("u1", Some("CALL_REJECTED")).await.unwrap();
        assert!(matches!(
            client.uuid_kill("gone", None).await,
            Err(ApiError::NoSuchChannel)
        ));
        client
            .sched_hangup("u1", 30, Some("ALLOTTED_TIMEOUT"))
            .await
            .unwrap();
        client
            .sched_hangup_at("u1", 1_795_318_987, Some("ALLOTTED_TIMEOUT"))
            .await
            .unwrap();
        assert_eq!(client.sched_del("u1").await.unwrap(), 2);
        client
            .uuid_setvar("u1", "cgr_debit", Some("1.5"))
            .await
            .unwrap();
        client
            .uuid_setvar_multi("u1", &[("a", "1"), ("b", "two words")])
            .await
            .unwrap();
        client
            .uuid_transfer("u1", "1000", Some("XML"), Some("default"))
            .await
            .unwrap();
        client
            .uuid_broadcast("u1", "/tmp/low_credit.wav", Leg::A)
            .await
            .unwrap();
        assert!(matches!(
            client.uuid_broadcast("gone", "/tmp/x.wav", Leg::Both).await,
            Err(ApiError::NoSuchChannel)
        ));
        assert!(client.uuid_exists("u1").await.unwrap());
        assert!(!client.uuid_exists("u2").await.unwrap());
        client
            .hupall("MANAGER_REQUEST", Some(("cgr_account", "1001")))
            .await
            .unwrap();
        let rows = client.show_channels().await.unwrap();
        assert_eq!(rows[0].uuid(), Some("u1"));
        assert!(matches!(
            client.hangup("gone", "NORMAL_CLEARING").await,
            Err(ApiError::NoSuchChannel)
        ));
        // Refused before anything is sent.
        assert!(matches!(
            client.uuid_kill("a b", None).await,
            Err(ApiError::InvalidArgument(_))
        ));
        assert!(matches!(
            client.uuid_setvar_multi("u1", &[("a", "x;y")]).await,
            Err(ApiError::InvalidArgument(_))
        ));
    };
    let (got, ()) = tokio::join!(server, client_side);
    assert_eq!(got, expected);
}

#[tokio::test]
async fn exit_ends_without_reconnecting() {
    let switch = Switch::start().await;
    let mut cfg = switch.config();
    cfg.reconnect = Some(Backoff::default());
    let (c, mut conn) = tokio::join!(Client::connect(cfg), switch.accept_client("BACKGROUND_JOB"));
    let (client, mut events) = c.unwrap();
    let server = async move {
        assert_eq!(recv(&mut conn).await.kind(), CommandKind::Exit);
        send(&mut conn, Message::reply_ok("bye")).await;
        send(
            &mut conn,
            Message::disconnect_notice("Disconnected, goodbye.\n"),
        )
        .await;
    };
    let (r, ()) = tokio::join!(client.exit(), server);
    r.unwrap();
    assert!(matches!(
        next_event(&mut events).await,
        ClientEvent::DisconnectNotice(_)
    ));
    assert!(events.recv().await.is_none());
}
