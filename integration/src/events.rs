//! Building events as FreeSWITCH fires them, and the frames they become.
//!
//! Every event starts with the header block `switch_event_prep_for_delivery`
//! adds (Event-Name, Core-UUID, FreeSWITCH-Hostname/-Switchname/-IPv4/-IPv6,
//! Event-Date-Local/-GMT/-Timestamp, Event-Calling-File/-Function/-Line-Number,
//! Event-Sequence), then the event's own headers. An event is built once and
//! shared by every connection that receives it; each wire format is encoded
//! at most once ([`Fired`]).

use std::sync::{Arc, OnceLock};

use bytes::{Bytes, BytesMut};
use chrono::{Local, TimeZone, Utc};
use esl::{Event, Message};

use crate::clock::SimTime;

/// Event names `switch_name_event` knows (`EVENT_NAMES` in `switch_event.c`).
pub(crate) const EVENT_NAMES: &[&str] = &[
    "CUSTOM",
    "CLONE",
    "CHANNEL_CREATE",
    "CHANNEL_DESTROY",
    "CHANNEL_STATE",
    "CHANNEL_CALLSTATE",
    "CHANNEL_ANSWER",
    "CHANNEL_HANGUP",
    "CHANNEL_HANGUP_COMPLETE",
    "CHANNEL_EXECUTE",
    "CHANNEL_EXECUTE_COMPLETE",
    "CHANNEL_HOLD",
    "CHANNEL_UNHOLD",
    "CHANNEL_BRIDGE",
    "CHANNEL_UNBRIDGE",
    "CHANNEL_PROGRESS",
    "CHANNEL_PROGRESS_MEDIA",
    "CHANNEL_OUTGOING",
    "CHANNEL_PARK",
    "CHANNEL_UNPARK",
    "CHANNEL_APPLICATION",
    "CHANNEL_ORIGINATE",
    "CHANNEL_UUID",
    "API",
    "LOG",
    "INBOUND_CHAN",
    "OUTBOUND_CHAN",
    "STARTUP",
    "SHUTDOWN",
    "PUBLISH",
    "UNPUBLISH",
    "TALK",
    "NOTALK",
    "SESSION_CRASH",
    "MODULE_LOAD",
    "MODULE_UNLOAD",
    "DTMF",
    "MESSAGE",
    "PRESENCE_IN",
    "NOTIFY_IN",
    "PRESENCE_OUT",
    "PRESENCE_PROBE",
    "MESSAGE_WAITING",
    "MESSAGE_QUERY",
    "ROSTER",
    "CODEC",
    "BACKGROUND_JOB",
    "DETECTED_SPEECH",
    "DETECTED_TONE",
    "PRIVATE_COMMAND",
    "HEARTBEAT",
    "TRAP",
    "ADD_SCHEDULE",
    "DEL_SCHEDULE",
    "EXE_SCHEDULE",
    "RE_SCHEDULE",
    "RELOADXML",
    "NOTIFY",
    "PHONE_FEATURE",
    "PHONE_FEATURE_SUBSCRIBE",
    "SEND_MESSAGE",
    "RECV_MESSAGE",
    "REQUEST_PARAMS",
    "CHANNEL_DATA",
    "GENERAL",
    "COMMAND",
    "SESSION_HEARTBEAT",
    "CLIENT_DISCONNECTED",
    "SERVER_DISCONNECTED",
    "SEND_INFO",
    "RECV_INFO",
    "RECV_RTCP_MESSAGE",
    "SEND_RTCP_MESSAGE",
    "CALL_SECURE",
    "NAT",
    "RECORD_START",
    "RECORD_STOP",
    "PLAYBACK_START",
    "PLAYBACK_STOP",
    "CALL_UPDATE",
    "FAILURE",
    "SOCKET_DATA",
    "MEDIA_BUG_START",
    "MEDIA_BUG_STOP",
    "CONFERENCE_DATA_QUERY",
    "CONFERENCE_DATA",
    "CALL_SETUP_REQ",
    "CALL_SETUP_RESULT",
    "CALL_DETAIL",
    "DEVICE_STATE",
    "TEXT",
    "SHUTDOWN_REQUESTED",
    "CERT_RELOAD",
    "ALL",
];

/// `switch_name_event`: the canonical name of a keyword (case-insensitive,
/// an optional `SWITCH_EVENT_` prefix allowed), or `None` when unknown.
pub(crate) fn name_event(word: &str) -> Option<&'static str> {
    let bare = if word.len() > 13 { &word[13..] } else { "" };
    EVENT_NAMES.iter().copied().find(|n| {
        n.eq_ignore_ascii_case(word) || (!bare.is_empty() && n.eq_ignore_ascii_case(bare))
    })
}

/// Where an event is fired from (`Event-Calling-*`), as in FreeSWITCH 1.10.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Site(pub &'static str, pub &'static str, pub u32);

/// Where mod_commands' `uuid_dump` creates its event.
pub(crate) const SITE_DUMP: Site = Site("mod_commands.c", "uuid_dump_function", 5917);
pub(crate) const SITE_CREATE: Site = Site(
    "switch_core_state_machine.c",
    "switch_core_session_run",
    509,
);
pub(crate) const SITE_STATE: Site = Site(
    "switch_channel.c",
    "switch_channel_perform_set_running_state",
    2161,
);
pub(crate) const SITE_CALLSTATE: Site = Site(
    "switch_channel.c",
    "switch_channel_perform_set_callstate",
    324,
);
pub(crate) const SITE_EXECUTE: Site =
    Site("switch_core_session.c", "switch_core_session_exec", 2866);
pub(crate) const SITE_EXECUTE_COMPLETE: Site =
    Site("switch_core_session.c", "switch_core_session_exec", 2906);
pub(crate) const SITE_PARK: Site = Site("switch_ivr.c", "switch_ivr_park", 950);
pub(crate) const SITE_UNPARK: Site = Site("switch_ivr.c", "switch_ivr_park", 1101);
pub(crate) const SITE_ANSWER: Site = Site(
    "switch_channel.c",
    "switch_channel_perform_mark_answered",
    3848,
);
pub(crate) const SITE_HANGUP: Site =
    Site("switch_channel.c", "switch_channel_perform_hangup", 3447);
pub(crate) const SITE_HANGUP_COMPLETE: Site = Site(
    "switch_core_state_machine.c",
    "switch_core_session_reporting_state",
    943,
);
pub(crate) const SITE_DESTROY: Site = Site(
    "switch_core_session.c",
    "switch_core_session_perform_destroy",
    1630,
);
pub(crate) const SITE_BRIDGE: Site = Site(
    "switch_ivr_bridge.c",
    "switch_ivr_multi_threaded_bridge",
    1689,
);
pub(crate) const SITE_UNBRIDGE: Site = Site(
    "switch_ivr_bridge.c",
    "switch_ivr_multi_threaded_bridge",
    1879,
);
pub(crate) const SITE_HEARTBEAT: Site = Site("switch_core.c", "send_heartbeat", 95);
pub(crate) const SITE_API: Site = Site("switch_loadable_module.c", "switch_api_execute", 3164);
pub(crate) const SITE_BGJOB: Site = Site("mod_event_socket.c", "api_exec", 1588);

/// Who the switch says it is, in every event.
#[derive(Clone, Debug)]
pub(crate) struct Identity {
    pub core_uuid: String,
    pub hostname: String,
    pub ipv4: String,
    pub ipv6: String,
}

/// Appends a header the way `switch_event_serialize` shows it: an empty
/// value is written `_undef_`.
pub(crate) fn put(ev: &mut Event, name: &str, value: &str) {
    ev.push_header(name, if value.is_empty() { "_undef_" } else { value });
}

/// `2015-07-07 16:53:14` in local time (`Event-Date-Local`, `*_stamp`).
pub(crate) fn local_stamp(at: SimTime) -> String {
    match Local.timestamp_micros(at) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
            t.format("%Y-%m-%d %H:%M:%S").to_string()
        }
        chrono::LocalResult::None => utc(at).format("%Y-%m-%d %H:%M:%S").to_string(),
    }
}

fn utc(at: SimTime) -> chrono::DateTime<Utc> {
    Utc.timestamp_micros(at).single().unwrap_or_default()
}

/// `Tue, 07 Jul 2015 14:53:14 GMT` (`Event-Date-GMT`).
pub(crate) fn gmt_stamp(at: SimTime) -> String {
    utc(at).format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

impl Identity {
    /// A new event with the delivery headers.
    pub(crate) fn base(&self, name: &str, at: SimTime, site: Site, seq: u64) -> Event {
        let mut ev = Event::new(name);
        put(&mut ev, "Core-UUID", &self.core_uuid);
        put(&mut ev, "FreeSWITCH-Hostname", &self.hostname);
        put(&mut ev, "FreeSWITCH-Switchname", &self.hostname);
        put(&mut ev, "FreeSWITCH-IPv4", &self.ipv4);
        put(&mut ev, "FreeSWITCH-IPv6", &self.ipv6);
        put(&mut ev, "Event-Date-Local", &local_stamp(at));
        put(&mut ev, "Event-Date-GMT", &gmt_stamp(at));
        put(&mut ev, "Event-Date-Timestamp", &at.to_string());
        put(&mut ev, "Event-Calling-File", site.0);
        put(&mut ev, "Event-Calling-Function", site.1);
        put(&mut ev, "Event-Calling-Line-Number", &site.2.to_string());
        put(&mut ev, "Event-Sequence", &seq.to_string());
        ev
    }
}

/// Event serialisation a connection asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Format {
    #[default]
    Plain,
    Json,
    Xml,
}

impl Format {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Format::Plain => "plain",
            Format::Json => "json",
            Format::Xml => "xml",
        }
    }
}

/// A fired event, shared by the connections it goes to, with each frame
/// encoded on first use.
#[derive(Debug)]
pub(crate) struct Fired {
    pub event: Event,
    plain: OnceLock<Bytes>,
    json: OnceLock<Bytes>,
    xml: OnceLock<Bytes>,
}

impl Fired {
    pub(crate) fn new(event: Event) -> Arc<Fired> {
        Arc::new(Fired {
            event,
            plain: OnceLock::new(),
            json: OnceLock::new(),
            xml: OnceLock::new(),
        })
    }

    /// The whole frame (outer head and body) in `format`.
    pub(crate) fn frame(&self, format: Format) -> Bytes {
        let (cell, msg): (&OnceLock<Bytes>, fn(Event) -> Message) = match format {
            Format::Plain => (&self.plain, Message::Event),
            Format::Json => (&self.json, Message::EventJson),
            Format::Xml => (&self.xml, |e| Message::EventXml(xmlize(&e))),
        };
        cell.get_or_init(|| {
            let mut out = BytesMut::new();
            // Header names are ours and valid: encoding cannot fail.
            msg(self.event.clone())
                .encode(&mut out)
                .expect("simulator events encode");
            out.freeze()
        })
        .clone()
    }
}

/// `switch_event_xmlize`, simplified: `<event><headers>…</headers><body>…</body></event>`.
fn xmlize(ev: &Event) -> Bytes {
    fn esc(s: &str, out: &mut String) {
        for c in s.chars() {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '"' => out.push_str("&quot;"),
                '\'' => out.push_str("&apos;"),
                c => out.push(c),
            }
        }
    }
    let mut out = String::from("<event>\n  <headers>\n");
    for (k, v) in ev.headers().iter() {
        out.push_str("    <");
        out.push_str(k);
        out.push('>');
        esc(v, &mut out);
        out.push_str("</");
        out.push_str(k);
        out.push_str(">\n");
    }
    out.push_str("  </headers>\n");
    if let Some(body) = ev.body_text() {
        out.push_str("  <body>");
        esc(&body, &mut out);
        out.push_str("</body>\n");
    }
    out.push_str("</event>");
    Bytes::from(out)
}

/// `5 years, 1 day, …`: FreeSWITCH's uptime text (`Up-Time`, `status`).
pub(crate) fn uptime_text(uptime: std::time::Duration) -> String {
    let us = uptime.as_micros() as u64;
    let mms = us % 1000;
    let ms = (us / 1000) % 1000;
    let total_s = us / 1_000_000;
    let sec = total_s % 60;
    let min = (total_s / 60) % 60;
    let hr = (total_s / 3600) % 24;
    let days = total_s / 86_400;
    let yr = days / 365;
    let day = days % 365;
    let p = |n: u64| if n == 1 { "" } else { "s" };
    format!(
        "{yr} year{}, {day} day{}, {hr} hour{}, {min} minute{}, {sec} second{}, {ms} millisecond{}, {mms} microsecond{}",
        p(yr),
        p(day),
        p(hr),
        p(min),
        p(sec),
        p(ms),
        p(mms)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(name_event("channel_answer"), Some("CHANNEL_ANSWER"));
        assert_eq!(name_event("SWITCH_EVENT_HEARTBEAT"), Some("HEARTBEAT"));
        assert_eq!(name_event("NOPE"), None);
    }

    #[test]
    fn stamps() {
        assert_eq!(
            gmt_stamp(1_436_280_794_030_635),
            "Tue, 07 Jul 2015 14:53:14 GMT"
        );
        assert_eq!(
            uptime_text(std::time::Duration::from_micros(3_600_000_000 + 61_001_001)),
            "0 years, 0 days, 1 hour, 1 minute, 1 second, 1 millisecond, 1 microsecond"
        );
    }
}
