//! Outbound mode: a scripted switch connects to our listener as the `socket`
//! dialplan application would, answers `connect` with URL-encoded channel
//! data, and streams the call's events.

use esl::{
    ClientEvent, Command, CommandKind, Event, EventFormat, Message, OutboundConfig,
    OutboundListener, OutboundSession, ServerCodec,
};
use futures::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

/// What mod_event_socket writes for `connect`: the channel's event
/// serialised with URL-encoding, Content-Type among the headers.
const CONNECT_REPLY: &str = "Event-Name: CHANNEL_DATA\n\
Core-UUID: 651a8db2-4f67-4cf8-b622-169e8a482e50\n\
Channel-Name: sofia/cgrtest/1001%40127.0.0.1\n\
Unique-ID: e3133bf7-dcde-4daf-9663-9a79ffcef5ad\n\
Caller-Caller-ID-Name: Outbound%20Call\n\
variable_cgr_account: 1001\n\
variable_cgr_notify: %2BAUTH_OK\n\
Content-Type: command/reply\n\
Reply-Text: %2BOK%0A\n\
Socket-Mode: async\n\
Control: full\n\n";

async fn recv(conn: &mut Framed<TcpStream, ServerCodec>) -> Command {
    conn.next().await.expect("a command").expect("decodes")
}

#[tokio::test]
async fn outbound_session_connects_and_follows_the_call() {
    let listener = OutboundListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();

    let switch = tokio::spawn(async move {
        let stream = TcpStream::connect(addr).await.unwrap();
        let mut conn = Framed::new(stream, ServerCodec::new());
        assert_eq!(recv(&mut conn).await.kind(), CommandKind::Connect);
        conn.get_mut()
            .write_all(CONNECT_REPLY.as_bytes())
            .await
            .unwrap();
        assert_eq!(recv(&mut conn).await.line(), "myevents plain");
        conn.send(Message::reply_ok("Events Enabled"))
            .await
            .unwrap();
        assert_eq!(
            recv(&mut conn).await.kind(),
            CommandKind::Linger { seconds: None }
        );
        conn.send(Message::reply_ok("will linger")).await.unwrap();
        let exec = recv(&mut conn).await;
        assert_eq!(exec.line(), "sendmsg e3133bf7-dcde-4daf-9663-9a79ffcef5ad");
        assert_eq!(exec.header("execute-app-name"), Some("playback"));
        assert_eq!(exec.header("execute-app-arg"), Some("/tmp/welcome.wav"));
        conn.send(Message::reply_ok("")).await.unwrap();
        let uuid = "e3133bf7-dcde-4daf-9663-9a79ffcef5ad";
        conn.send(Message::Event(
            Event::new("CHANNEL_ANSWER").with_header("Unique-ID", uuid),
        ))
        .await
        .unwrap();
        let mut notice = esl::Notice::new("");
        notice.headers.push("Controlled-Session-UUID", uuid);
        notice.headers.push("Content-Disposition", "linger");
        conn.send(Message::DisconnectNotice(notice)).await.unwrap();
        conn.send(Message::Event(
            Event::new("CHANNEL_HANGUP_COMPLETE")
                .with_header("Unique-ID", uuid)
                .with_header("variable_billsec", "66"),
        ))
        .await
        .unwrap();
    });

    let (stream, _) = listener.accept().await.unwrap();
    let mut session = OutboundSession::start(stream, &OutboundConfig::default())
        .await
        .unwrap();
    let ch = &session.channel;
    assert_eq!(ch.unique_id(), Some("e3133bf7-dcde-4daf-9663-9a79ffcef5ad"));
    assert_eq!(ch.channel_name(), Some("sofia/cgrtest/1001@127.0.0.1"));
    assert_eq!(ch.header("Caller-Caller-ID-Name"), Some("Outbound Call"));
    assert_eq!(ch.variable("cgr_notify"), Some("+AUTH_OK"));
    assert_eq!(ch.socket_mode(), Some("async"));
    assert!(ch.header("Content-Type").is_none());

    session.client.myevents(EventFormat::Plain).await.unwrap();
    session.client.linger(None).await.unwrap();
    let uuid = ch.unique_id().unwrap().to_owned();
    session
        .client
        .execute(&uuid, "playback", Some("/tmp/welcome.wav"))
        .await
        .unwrap();

    let mut names = Vec::new();
    loop {
        match session.events.recv().await {
            Some(ClientEvent::Event(e)) => names.push(e.event_name().unwrap().to_owned()),
            Some(ClientEvent::DisconnectNotice(n)) => {
                assert_eq!(n.headers.get("Content-Disposition"), Some("linger"));
                names.push("linger".to_owned());
            }
            Some(ClientEvent::Disconnected { .. }) => names.push("closed".to_owned()),
            Some(other) => panic!("unexpected {other:?}"),
            None => break,
        }
    }
    assert_eq!(
        names,
        [
            "CHANNEL_ANSWER",
            "linger",
            "CHANNEL_HANGUP_COMPLETE",
            "closed"
        ]
    );
    switch.await.unwrap();
}
