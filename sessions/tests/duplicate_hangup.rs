//! A switch that repeats CHANNEL_HANGUP_COMPLETE (as a switch may after a
//! reconnect): the call is settled and recorded once. The switch here is a
//! tiny scripted Event Socket server, so the test decides every event.

mod common;

use chrono::Utc;
use common::*;
use esl::{CommandKind, Event, Message, ServerCodec};
use futures::{SinkExt, StreamExt};
use rust_decimal_macros::dec;
use sessions::{CdrFilter, SwitchConfig};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::codec::Framed;

#[derive(Default)]
struct Script {
    events: Mutex<Option<mpsc::Sender<Message>>>,
    apis: Mutex<Vec<String>>,
}

async fn scripted_switch() -> (std::net::SocketAddr, Arc<Script>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let script = Arc::new(Script::default());
    let shared = script.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let script = shared.clone();
            tokio::spawn(async move {
                let mut conn = Framed::new(stream, ServerCodec::new());
                let (tx, mut rx) = mpsc::channel::<Message>(16);
                if conn.send(Message::auth_request()).await.is_err() {
                    return;
                }
                loop {
                    tokio::select! {
                        cmd = conn.next() => {
                            let Some(Ok(cmd)) = cmd else { return };
                            let reply = match cmd.kind() {
                                CommandKind::Auth { .. } => Message::reply_ok("accepted"),
                                CommandKind::Event { names, .. } => {
                                    // The controller's event connection, not the
                                    // command one (which only asks for HEARTBEAT).
                                    if names.contains(&"CHANNEL_PARK") {
                                        *script.events.lock().unwrap() = Some(tx.clone());
                                    }
                                    Message::reply_ok("event listener enabled plain")
                                }
                                CommandKind::Api { command } => {
                                    script.apis.lock().unwrap().push(command.to_string());
                                    let text = if command.starts_with("show channels") {
                                        "{\"row_count\": 0}\n".to_string()
                                    } else if command.starts_with("strftime") {
                                        Utc::now().timestamp().to_string()
                                    } else if command.starts_with("sched_del") {
                                        "+OK Deleted: 1\n".to_string()
                                    } else {
                                        "+OK\n".to_string()
                                    };
                                    Message::api_response(text)
                                }
                                _ => Message::reply_ok(""),
                            };
                            if conn.send(reply).await.is_err() {
                                return;
                            }
                        }
                        Some(msg) = rx.recv() => {
                            if conn.send(msg).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    (addr, script)
}

fn event(name: &str, uuid: &str, extra: &[(&str, String)]) -> Message {
    let mut e = Event::new(name)
        .with_header("Unique-ID", uuid)
        .with_header(
            "Event-Date-Timestamp",
            Utc::now().timestamp_micros().to_string(),
        )
        .with_header("Caller-Username", "1001")
        .with_header("Caller-Destination-Number", "1002")
        .with_header("variable_cgr_reqtype", "*prepaid")
        .with_header("variable_cgr_account", "1001");
    for (k, v) in extra {
        e = e.with_header(*k, v.as_str());
    }
    Message::Event(e)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_hangup_complete_is_settled_once() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, script) = scripted_switch().await;
    let engine = engine(dir.path()).await;
    fund(&engine, "1001", dec!(10)).await;
    let mut cfg = sessions::SessionsConfig {
        clock_speed: 1.0,
        ..config(&[])
    };
    cfg.switches = vec![SwitchConfig {
        address: addr.to_string(),
        password: "ClueCon".into(),
        alias: "scripted".into(),
    }];
    let ctl = start(&engine, cfg, dir.path());
    connected(&ctl, 1).await;
    let events = loop {
        if let Some(tx) = script.events.lock().unwrap().clone() {
            break tx;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let uuid = "7d1f2b9e-0000-4000-8000-00000000dup1";
    events.send(event("CHANNEL_PARK", uuid, &[])).await.unwrap();
    for _ in 0..500 {
        if script
            .apis
            .lock()
            .unwrap()
            .iter()
            .any(|a| a.starts_with("uuid_transfer"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let answered = Utc::now().timestamp_micros();
    events
        .send(event(
            "CHANNEL_ANSWER",
            uuid,
            &[("Caller-Channel-Answered-Time", answered.to_string())],
        ))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let hangup = || {
        event(
            "CHANNEL_HANGUP_COMPLETE",
            uuid,
            &[
                ("Caller-Channel-Answered-Time", answered.to_string()),
                (
                    "Caller-Channel-Hangup-Time",
                    (answered + 30_000_000).to_string(),
                ),
                ("variable_billsec", "30".into()),
                ("Hangup-Cause", "NORMAL_CLEARING".into()),
            ],
        )
    };
    events.send(hangup()).await.unwrap();
    let first = cdr(&ctl, uuid, Duration::from_secs(10)).await;
    events.send(hangup()).await.unwrap();
    events.send(hangup()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let all = ctl
        .cdrs(&CdrFilter {
            origin_ids: vec![uuid.into()],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0], first);
    assert_eq!(first.cost, dec!(0.3));
    assert_eq!(money(&engine, "1001").await, dec!(9.7));
    ctl.shutdown().await;
}
