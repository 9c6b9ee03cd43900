//! Replays the scripted controllers of `testdata/freeswitch-1.10/fs_*.wire`
//! (a real FreeSWITCH 1.10.12) against the simulator and compares what a
//! controller sees: per leg (by role, from `Channel-Name`), the sequence of
//! channel events and the headers a controller reads; and the shape of
//! every command's reply.
//!
//! The client's commands are sent in the recorded order; each one waits for
//! the event the recorded client had last seen before sending it (same
//! name, same leg role, same occurrence), then for the recorded gap in
//! simulated time. Uuids in commands are mapped from the recording to the
//! simulation by role, and absolute epochs shifted by the clocks'
//! difference.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use common::*;
use futures::StreamExt;
use integration::wire::{parse_plain_event, Recording, WireEvent};
use integration::{FakeSwitch, SwitchConfig};

/// Channel events compared leg by leg.
const COMPARED: &[&str] = &[
    "CHANNEL_CREATE",
    "CHANNEL_PARK",
    "CHANNEL_UNPARK",
    "CHANNEL_ANSWER",
    "CHANNEL_BRIDGE",
    "CHANNEL_UNBRIDGE",
    "CHANNEL_HANGUP",
    "CHANNEL_HANGUP_COMPLETE",
    "CHANNEL_DESTROY",
    "CHANNEL_EXECUTE",
    "CHANNEL_EXECUTE_COMPLETE",
];

/// Headers compared on each of those events, after mapping uuids to roles.
const HEADERS: &[&str] = &[
    "Unique-ID",
    "Channel-Name",
    "Call-Direction",
    "Channel-HIT-Dialplan",
    "Other-Leg-Unique-ID",
    "Other-Type",
    "Channel-Call-UUID",
    "Caller-Destination-Number",
    "Caller-Context",
    "Caller-Channel-Answered-Time",
    "Hangup-Cause",
    "Application",
    "variable_originator",
    "variable_other_loopback_leg_uuid",
    "variable_other_loopback_from_uuid",
    "variable_loopback_leg",
    "variable_billsec",
];

const SPEED: f64 = 20.0;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/freeswitch-1.10")
}

/// A leg's role from its channel name.
fn role_of(name: &str) -> &'static str {
    if name.starts_with("loopback/9999-a") {
        "bridge_a"
    } else if name.starts_with("loopback/9999-b") {
        "bridge_b"
    } else if name.ends_with("-a") {
        "caller_a"
    } else if name.ends_with("-b") {
        "parked_b"
    } else {
        "other"
    }
}

/// uuid → role, from the CHANNEL_CREATE events.
fn roles(events: &[WireEvent]) -> HashMap<String, &'static str> {
    events
        .iter()
        .filter(|e| e.name() == "CHANNEL_CREATE")
        .filter_map(|e| {
            Some((
                e.header("Unique-ID")?.to_owned(),
                role_of(e.header("Channel-Name")?),
            ))
        })
        .collect()
}

/// An event's key for waiting: name and role.
fn key(e: &WireEvent, roles: &HashMap<String, &'static str>) -> Option<(String, &'static str)> {
    let name = e.name();
    if name == "BACKGROUND_JOB" {
        return Some((name.to_owned(), ""));
    }
    if !COMPARED.contains(&name) {
        return None;
    }
    let role = roles.get(e.header("Unique-ID")?)?;
    Some((name.to_owned(), role))
}

/// The (n-th) occurrence of `k` in `events`.
fn occurrence(
    events: &[WireEvent],
    roles: &HashMap<String, &'static str>,
    k: &(String, &'static str),
    n: usize,
) -> Option<usize> {
    events
        .iter()
        .enumerate()
        .filter(|(_, e)| key(e, roles).as_ref() == Some(k))
        .nth(n)
        .map(|(i, _)| i)
}

/// What a reply is, for comparison: its first line with numbers, uuids and
/// JSON rows blanked.
fn shape(reply: &str) -> String {
    if reply.starts_with("{\"row_count\"") {
        return "<channels json>".into();
    }
    let first = reply.lines().next().unwrap_or("");
    let words: Vec<String> = first
        .split(' ')
        .map(|w| {
            if !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit()) {
                "<n>".to_owned()
            } else if w.len() == 36 && w.bytes().filter(|b| *b == b'-').count() == 4 {
                "<uuid>".to_owned()
            } else {
                w.to_owned()
            }
        })
        .collect();
    let nl = if reply.ends_with('\n') { "\\n" } else { "" };
    format!("{}{nl}", words.join(" "))
}

/// The headers compared, normalised: uuids as roles, times as set/unset.
fn normalised(e: &WireEvent, roles: &HashMap<String, &'static str>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for h in HEADERS {
        let Some(v) = e.header(h) else {
            continue;
        };
        let v = match *h {
            "Caller-Channel-Answered-Time" => if v == "0" { "0" } else { "<time>" }.to_owned(),
            // Compared as numbers below (whole-second epochs: ±1).
            "variable_billsec" => "<present>".to_owned(),
            _ => roles
                .get(v)
                .map_or_else(|| v.to_owned(), |r| format!("<{r}>")),
        };
        out.push((h.to_string(), v));
    }
    let mut cgr: Vec<(String, String)> = e
        .headers
        .iter()
        .filter(|(k, _)| k.starts_with("variable_cgr_"))
        .cloned()
        .collect();
    cgr.sort();
    out.extend(cgr);
    out
}

/// Per role, the compared events in order.
fn by_role<'a>(
    events: &'a [WireEvent],
    roles: &HashMap<String, &'static str>,
) -> HashMap<&'static str, Vec<&'a WireEvent>> {
    let mut out: HashMap<&'static str, Vec<&WireEvent>> = HashMap::new();
    for e in events {
        if !COMPARED.contains(&e.name()) {
            continue;
        }
        if let Some(r) = e.header("Unique-ID").and_then(|u| roles.get(u)) {
            out.entry(r).or_default().push(e);
        }
    }
    out
}

/// Replays one recording; returns every difference found.
async fn replay(file: &str) -> Vec<String> {
    let rec = Recording::read(&data_dir().join(file)).expect("recording");
    let ev_conn = rec
        .commands
        .iter()
        .find(|c| c.text.starts_with("event "))
        .expect("an event connection")
        .conn;
    let cmd_conn = rec
        .commands
        .iter()
        .find(|c| c.conn != ev_conn && c.text.starts_with("api "))
        .expect("a command connection")
        .conn;
    let rec_events = rec.events(ev_conn);
    let rec_roles = roles(&rec_events);
    let commands: Vec<_> = rec
        .commands
        .iter()
        .filter(|c| c.conn == cmd_conn && c.text.starts_with("api "))
        .collect();
    let replies: Vec<_> = rec
        .replies(cmd_conn)
        .into_iter()
        .filter(|f| f.content_type() == Some("api/response"))
        .collect();
    assert_eq!(commands.len(), replies.len(), "{file}: one reply per api");

    let start = rec.chunks[0].at;
    let sw = FakeSwitch::start(SwitchConfig {
        speed: SPEED,
        start_time: Some(UNIX_EPOCH + Duration::from_micros(start as u64)),
        ..Default::default()
    })
    .await
    .unwrap();
    // The event connection: `event plain ALL`, everything kept.
    let mut evc = Raw::authed(sw.addr()).await;
    assert_eq!(
        evc.command("event plain ALL").await,
        "+OK event listener enabled plain"
    );
    let seen: Arc<Mutex<Vec<WireEvent>>> = Arc::default();
    let sink = seen.clone();
    tokio::spawn(async move {
        while let Some(Ok(f)) = evc.rd.next().await {
            if f.header("Content-Type") == Some("text/event-plain") {
                let body = f.body.as_ref().map(|b| b.to_vec()).unwrap_or_default();
                let headers = parse_plain_event(&body);
                let at = headers
                    .iter()
                    .find(|(k, _)| k == "Event-Date-Timestamp")
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0);
                sink.lock().unwrap().push(WireEvent {
                    conn: 1,
                    at,
                    headers,
                });
            }
        }
    });
    let mut cmd = Raw::authed(sw.addr()).await;
    let mut diffs = Vec::new();
    let mut prev_at = 0;
    for (c, reply) in commands.iter().zip(&replies) {
        // The event the recorded client had last seen, and the gap since.
        let trigger = rec_events
            .iter()
            .enumerate()
            .rfind(|(_, e)| e.at <= c.at && key(e, &rec_roles).is_some());
        if let Some((i, e)) = trigger {
            let k = key(e, &rec_roles).unwrap();
            let n = rec_events[..i]
                .iter()
                .filter(|x| key(x, &rec_roles).as_ref() == Some(&k))
                .count();
            let deadline = tokio::time::Instant::now() + WAIT;
            loop {
                let found = {
                    let sim = seen.lock().unwrap();
                    occurrence(&sim, &roles(&sim), &k, n).is_some()
                };
                if found {
                    break;
                }
                if tokio::time::Instant::now() > deadline {
                    diffs.push(format!("{file}: never saw {k:?} #{n} before {:?}", c.text));
                    break;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            // From the trigger, or from the previous command when later.
            let gap = Duration::from_micros((c.at - e.at.max(prev_at)).max(0) as u64);
            sw.clock().sleep(gap).await;
        }
        // Map uuids by role, shift absolute epochs.
        let sim_roles: HashMap<&'static str, String> = {
            let sim = seen.lock().unwrap();
            roles(&sim).into_iter().map(|(u, r)| (r, u)).collect()
        };
        let shift = (sw.now() - c.at + 500_000).div_euclid(1_000_000);
        let line: Vec<String> = c.text["api ".len()..]
            .split(' ')
            .map(|w| {
                if let Some(r) = rec_roles.get(w) {
                    return sim_roles.get(r).cloned().unwrap_or_else(|| w.to_owned());
                }
                if w.len() == 10 {
                    if let Ok(epoch) = w.parse::<i64>() {
                        if (epoch - start / 1_000_000).abs() < 86_400 {
                            return (epoch + shift).to_string();
                        }
                    }
                }
                w.to_owned()
            })
            .collect();
        let line = line.join(" ");
        prev_at = c.at;
        let got = cmd.api(&line).await;
        let want = reply.body_text();
        if shape(&got) != shape(&want) {
            diffs.push(format!(
                "{file}: {:?} answered {:?}, the switch {:?}",
                c.text, got, want
            ));
        }
    }
    // Let the call finish, then compare the legs.
    if !sw.wait_idle(WAIT).await {
        diffs.push(format!("{file}: calls still up at the end"));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let sim_events = seen.lock().unwrap().clone();
    let sim_roles = roles(&sim_events);
    let rec_legs = by_role(&rec_events, &rec_roles);
    let sim_legs = by_role(&sim_events, &sim_roles);
    if rec_legs.values().map(Vec::len).sum::<usize>() < 10 {
        diffs.push(format!(
            "{file}: too few recorded channel events to compare"
        ));
    }
    let mut role_names: Vec<_> = rec_legs.keys().chain(sim_legs.keys()).copied().collect();
    role_names.sort();
    role_names.dedup();
    for role in role_names {
        let r = rec_legs.get(role).cloned().unwrap_or_default();
        let s = sim_legs.get(role).cloned().unwrap_or_default();
        let names = |v: &[&WireEvent]| v.iter().map(|e| e.name().to_owned()).collect::<Vec<_>>();
        if names(&r) != names(&s) {
            diffs.push(format!(
                "{file}: {role} events\n  switch:    {:?}\n  simulator: {:?}",
                names(&r),
                names(&s)
            ));
            continue;
        }
        for (re, se) in r.iter().zip(&s) {
            let billsec = |e: &WireEvent| e.variable("billsec").and_then(|v| v.parse::<i64>().ok());
            if let (Some(a), Some(b)) = (billsec(re), billsec(se)) {
                if (a - b).abs() > 1 {
                    diffs.push(format!(
                        "{file}: {role} {}: billsec {a} on the switch, {b} simulated",
                        re.name()
                    ));
                }
            }
            let (rh, sh) = (normalised(re, &rec_roles), normalised(se, &sim_roles));
            if rh != sh {
                let only_r: Vec<_> = rh.iter().filter(|x| !sh.contains(x)).collect();
                let only_s: Vec<_> = sh.iter().filter(|x| !rh.contains(x)).collect();
                diffs.push(format!(
                    "{file}: {role} {}\n  switch only:    {only_r:?}\n  simulator only: {only_s:?}",
                    re.name()
                ));
            }
        }
    }
    diffs
}

async fn check(file: &str) {
    let diffs = replay(file).await;
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

#[tokio::test]
async fn fs_bridge_ok() {
    check("fs_bridge_ok.wire").await;
}

#[tokio::test]
async fn fs_run_out() {
    check("fs_run_out.wire").await;
}

#[tokio::test]
async fn fs_refused() {
    check("fs_refused.wire").await;
}

#[tokio::test]
async fn fs_hangup_before_auth() {
    check("fs_hangup_before_auth.wire").await;
}

#[test]
fn every_scripted_recording_is_replayed() {
    let mut files: Vec<String> = std::fs::read_dir(data_dir())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("fs_") && n.ends_with(".wire"))
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "fs_bridge_ok.wire",
            "fs_hangup_before_auth.wire",
            "fs_refused.wire",
            "fs_run_out.wire"
        ]
    );
}

#[test]
fn the_recordings_show_the_real_replies() {
    // The texts the simulator copies, straight from the recordings.
    let rec = Recording::read(&data_dir().join("fs_bridge_ok.wire")).unwrap();
    let pairs: Vec<(String, String)> = rec
        .commands
        .iter()
        .filter(|c| c.conn == 2 && c.text.starts_with("api "))
        .map(|c| c.text.clone())
        .zip(
            rec.replies(2)
                .into_iter()
                .filter(|f| f.content_type() == Some("api/response"))
                .map(|f| f.body_text()),
        )
        .collect();
    let reply = |cmd: &str| {
        pairs
            .iter()
            .find(|(c, _)| c == cmd)
            .map(|(_, r)| r.clone())
            .unwrap()
    };
    assert_eq!(reply("api strftime %s"), "-ERR no reply\n");
    let epoch = reply("api strepoch");
    assert_eq!(epoch.len(), 10);
    assert!(epoch.bytes().all(|b| b.is_ascii_digit()));
}

/// `tollgate_default_config_bridge.wire`: tollgate killed the bridged legs
/// of an answered call (`uuid_kill <9999-a|9999-b> CALL_REJECTED`, on two
/// connections) and the caller's call died with them. The simulator, given
/// the same kills, ends the same legs with the same causes.
#[tokio::test]
async fn tollgate_killing_a_bridged_leg_ends_the_call_as_recorded() {
    let rec = Recording::read(&data_dir().join("tollgate_default_config_bridge.wire")).unwrap();
    let conns: std::collections::BTreeSet<u32> = rec.frames.iter().map(|f| f.conn).collect();
    let events: Vec<WireEvent> = conns.iter().flat_map(|c| rec.events(*c)).collect();
    // Channel names come from any event of the leg (tollgate subscribed to few).
    let rec_roles: HashMap<String, &'static str> = events
        .iter()
        .filter_map(|e| {
            Some((
                e.header("Unique-ID")?.to_owned(),
                role_of(e.header("Channel-Name")?),
            ))
        })
        .collect();
    let mut kills: Vec<_> = rec
        .commands
        .iter()
        .filter(|c| c.text.starts_with("api uuid_kill "))
        .collect();
    kills.sort_by_key(|c| c.at);
    let kills: Vec<(&str, String)> = kills
        .iter()
        .map(|c| {
            let words: Vec<&str> = c.text.split(' ').collect();
            (rec_roles[words[2]], words[3].to_owned())
        })
        .collect();
    assert_eq!(
        kills,
        [
            ("bridge_a", "CALL_REJECTED".to_owned()),
            ("bridge_b", "CALL_REJECTED".to_owned())
        ]
    );
    let mut want: Vec<(&str, String)> = events
        .iter()
        .filter(|e| e.name() == "CHANNEL_HANGUP_COMPLETE")
        .map(|e| {
            (
                rec_roles[e.header("Unique-ID").unwrap()],
                e.header("Hangup-Cause").unwrap().to_owned(),
            )
        })
        .collect();
    want.sort();

    // At real speed, so that the second kill comes within the teardown.
    let sw = switch(1.0).await;
    let mut raw = Raw::authed(sw.addr()).await;
    let uuid = sw
        .place_call(
            integration::CallSpec::new("1001", "0723045326")
                .context("prepaid")
                .partner_var("cgr_reqtype", "*none")
                .var("cgr_reqtype", "*prepaid")
                .bridge(&[("cgr_bleg", "1")])
                .ring(0.0)
                .talk_forever(),
        )
        .unwrap();
    raw.api(&format!("uuid_transfer {uuid} 0723045326 XML prepaid"))
        .await;
    sw.wait_record(&uuid, WAIT, |r| r.answered).await.unwrap();
    let legs = sw.legs(&uuid);
    for (role, cause) in &kills {
        let target = legs
            .iter()
            .find(|r| role_of(&r.channel_name) == *role)
            .unwrap();
        // The first kill takes every leg; the second, while they are still
        // hanging up (SwitchConfig::teardown_lag), is answered +OK as on
        // the switch, and changes nothing.
        assert_eq!(
            raw.api(&format!("uuid_kill {} {cause}", target.uuid)).await,
            "+OK\n"
        );
    }
    assert!(sw.wait_idle(WAIT).await);
    let mut got: Vec<(&str, String)> = sw
        .legs(&uuid)
        .iter()
        .map(|r| (role_of(&r.channel_name), r.hangup_cause.clone().unwrap()))
        .collect();
    got.sort();
    assert_eq!(got, want);
}
