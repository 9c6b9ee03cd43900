//! One simulated channel: an inbound `sofia` leg with its caller profile,
//! variables and state, and the channel part of the events it fires
//! (`switch_channel_event_set_basic_data`, the caller profile of
//! `switch_caller_profile_event_set_data`, and the `variable_*` block).

use std::sync::Arc;

use esl::Event;
use tokio::sync::Notify;

use crate::clock::SimTime;
use crate::events::{local_stamp, put};
use crate::scenario::{CallSpec, Vars};

/// Where a call is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Parked, waiting for a controller.
    Parked,
    /// Ringing since then; answered after the spec's ring time.
    Ringing { since: SimTime },
    /// Answered then; the caller hangs up after the talk time.
    Answered { at: SimTime },
}

/// What a channel is in its call (see `CallSpec::loopback`, `CallSpec::bridge`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LegKind {
    /// The call's own channel, a SIP leg (`sofia/internal/…`): the one a
    /// `CallSpec` describes when it is not a loopback.
    Sofia,
    /// The call's own channel as the inbound (`-b`) leg of a loopback pair:
    /// `loopback/<dest>-b`, runs the dialplan, parks.
    LoopbackB,
    /// The outbound (`-a`) partner of a loopback pair: `loopback/<dest>-a`,
    /// the caller's side, carrying the originate variables.
    LoopbackA,
    /// The outbound leg a bridge makes: `loopback/9999-a`.
    BridgeA,
    /// Its inbound partner, which answers: `loopback/9999-b`.
    BridgeB,
}

impl LegKind {
    pub(crate) fn outbound(self) -> bool {
        matches!(self, LegKind::LoopbackA | LegKind::BridgeA)
    }

    pub(crate) fn loopback(self) -> bool {
        self != LegKind::Sofia
    }
}

/// `switch_caller_profile_t`, the fields events show.
#[derive(Clone, Debug)]
pub(crate) struct Profile {
    pub username: String,
    pub dialplan: String,
    pub cid_name: String,
    pub cid_number: String,
    pub network_addr: String,
    pub destination: String,
    pub context: String,
    pub rdnis: Option<String>,
    pub transfer_source: Option<String>,
    pub index: u32,
    pub created: SimTime,
    pub transferred: SimTime,
}

/// A running channel.
#[derive(Debug)]
pub(crate) struct Channel {
    pub uuid: String,
    pub spec: CallSpec,
    pub name: String,
    /// Running state name and number (`CS_EXECUTE`, 4).
    pub state: (&'static str, u8),
    /// Call state (`RINGING`, `ACTIVE`…).
    pub callstate: &'static str,
    pub phase: Phase,
    pub parked: bool,
    pub created: SimTime,
    pub answered: Option<SimTime>,
    pub hungup: Option<SimTime>,
    pub hangup_cause: Option<u16>,
    pub profile: Profile,
    pub vars: Vars,
    /// Scheduler task ids whose group is this channel.
    pub sched: Vec<u32>,
    /// Last application executed (`last_app`, `last_arg`).
    pub last_app: Option<(String, String)>,
    /// Wakes the task driving this call's timers (shared by all its legs).
    pub notify: Arc<Notify>,
    /// What the channel is in its call.
    pub kind: LegKind,
    /// The uuid of the call's own channel (the parked one): itself for it.
    pub owner: String,
    /// On the call's own channel: its other legs, in creation order.
    pub legs: Vec<String>,
    /// `Other-Type` and the `Other-Leg-*` headers (a snapshot of the other
    /// leg's caller profile, as the switch copies it).
    pub other: Option<(&'static str, Vec<(String, String)>)>,
    /// An application running until the hangup (`playback` on the loopback
    /// partner and on the bridge's `-b` leg): name, data, Application-UUID.
    pub running: Option<(String, String, String)>,
    /// Applications executed (name, data, when): the CDR's `app_log`.
    pub apps: Vec<(String, String, SimTime)>,
    /// The caller profiles a transfer replaced, oldest first (the CDR's
    /// `callflow`, with the current one).
    pub earlier: Vec<Profile>,
}

/// Call states (`switch_channel_callstate_t`) and their numbers.
pub(crate) fn callstate_number(cs: &str) -> u8 {
    match cs {
        "DOWN" => 0,
        "DIALING" => 1,
        "RINGING" => 2,
        "EARLY" => 3,
        "ACTIVE" => 4,
        "HELD" => 5,
        "RING_WAIT" => 6,
        "HANGUP" => 7,
        "UNHELD" => 8,
        _ => 0,
    }
}

pub(crate) const CS_INIT: (&str, u8) = ("CS_INIT", 2);
pub(crate) const CS_EXCHANGE_MEDIA: (&str, u8) = ("CS_EXCHANGE_MEDIA", 5);
pub(crate) const CS_CONSUME_MEDIA: (&str, u8) = ("CS_CONSUME_MEDIA", 7);
pub(crate) const CS_ROUTING: (&str, u8) = ("CS_ROUTING", 2);
pub(crate) const CS_EXECUTE: (&str, u8) = ("CS_EXECUTE", 4);
pub(crate) const CS_HANGUP: (&str, u8) = ("CS_HANGUP", 10);
pub(crate) const CS_REPORTING: (&str, u8) = ("CS_REPORTING", 11);
pub(crate) const CS_DESTROY: (&str, u8) = ("CS_DESTROY", 12);

/// A random v4 UUID, as FreeSWITCH's `switch_uuid_get` makes them.
pub(crate) fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn sdp(ip: &str, port: u16, session: u64) -> String {
    format!(
        "v=0\r\no=- {session} {session} IN IP4 {ip}\r\ns=fake-freeswitch caller\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\n"
    )
}

impl Channel {
    /// A new inbound channel for `spec`, created at `at` (`session_id`: the
    /// switch's session counter).
    pub(crate) fn new(
        uuid: String,
        spec: CallSpec,
        at: SimTime,
        session_id: u64,
        partner: Option<&str>,
    ) -> Channel {
        let domain = spec.domain.clone();
        let caller = spec.caller.clone();
        let cid_name = spec.caller_name.clone().unwrap_or_else(|| caller.clone());
        let name = format!("sofia/internal/{caller}@{domain}");
        let mut vars = Vars::new();
        if spec.loopback {
            // The inbound leg of a loopback pair: what mod_loopback sets,
            // the originate variables it inherits, then the call's own.
            vars.set("direction", "inbound");
            vars.set("uuid", &uuid);
            vars.set("call_uuid", &uuid);
            vars.set("session_id", &session_id.to_string());
            for (k, val) in spec.partner_variables.iter() {
                vars.set(k, val);
            }
            vars.set("other_loopback_leg_uuid", partner.unwrap_or_default());
            vars.set("loopback_leg", "B");
        } else {
            Self::sofia_vars(&mut vars, &uuid, &spec, session_id);
        }
        if !spec.loopback {
            for (k, val) in spec.variables.iter() {
                vars.set(k, val);
            }
        }
        let name = if spec.loopback {
            format!("loopback/{}-b", spec.destination)
        } else {
            name
        };
        let profile = Profile {
            username: caller.clone(),
            dialplan: "XML".to_owned(),
            cid_name,
            cid_number: caller,
            network_addr: "127.0.0.1".to_owned(),
            destination: spec.destination.clone(),
            context: spec.context.clone(),
            rdnis: None,
            transfer_source: None,
            index: 1,
            created: at,
            transferred: 0,
        };
        Channel {
            uuid: uuid.clone(),
            name,
            state: CS_INIT,
            callstate: "DOWN",
            phase: if spec.park {
                Phase::Parked
            } else {
                Phase::Ringing { since: at }
            },
            kind: if spec.loopback {
                LegKind::LoopbackB
            } else {
                LegKind::Sofia
            },
            spec,
            parked: false,
            created: at,
            answered: None,
            hungup: None,
            hangup_cause: None,
            profile,
            vars,
            sched: Vec::new(),
            last_app: None,
            notify: Arc::new(Notify::new()),
            owner: uuid,
            legs: Vec::new(),
            other: None,
            running: None,
            apps: Vec::new(),
            earlier: Vec::new(),
        }
    }

    /// Another leg of `owner`'s call (a loopback `-a` partner, or a bridge's
    /// pair): `name`, with `vars` in order, sharing `owner`'s wake-up handle.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn leg(
        uuid: String,
        kind: LegKind,
        name: String,
        owner: &Channel,
        destination: &str,
        context: &str,
        vars: Vars,
        at: SimTime,
    ) -> Channel {
        let mut spec = owner.spec.clone();
        spec.destination = destination.to_owned();
        spec.context = context.to_owned();
        spec.park = false;
        let profile = Profile {
            username: String::new(),
            dialplan: "XML".to_owned(),
            cid_name: String::new(),
            cid_number: owner.profile.cid_number.clone(),
            network_addr: String::new(),
            destination: destination.to_owned(),
            context: context.to_owned(),
            rdnis: None,
            transfer_source: None,
            index: 1,
            created: at,
            transferred: 0,
        };
        Channel {
            uuid,
            name,
            state: CS_INIT,
            callstate: "DOWN",
            phase: Phase::Ringing { since: at },
            kind,
            spec,
            parked: false,
            created: at,
            answered: None,
            hungup: None,
            hangup_cause: None,
            profile,
            vars,
            sched: Vec::new(),
            last_app: None,
            notify: owner.notify.clone(),
            owner: owner.uuid.clone(),
            legs: Vec::new(),
            other: None,
            running: None,
            apps: Vec::new(),
            earlier: Vec::new(),
        }
    }

    /// The `Other-Leg-*` headers describing this channel, as the switch
    /// copies a caller profile into the other leg's (`Other-Type` aside).
    pub(crate) fn other_leg_headers(&self, with_times: bool) -> Vec<(String, String)> {
        let p = &self.profile;
        let t = |v: Option<SimTime>| {
            if with_times {
                v.unwrap_or(0).to_string()
            } else {
                "0".to_owned()
            }
        };
        let dir = if self.kind.outbound() {
            "outbound"
        } else {
            "inbound"
        };
        let mut h = vec![
            ("Direction", dir.to_owned()),
            ("Logical-Direction", "inbound".to_owned()),
            ("Dialplan", p.dialplan.clone()),
            ("Caller-ID-Number", p.cid_number.clone()),
            ("Orig-Caller-ID-Number", p.cid_number.clone()),
            ("Callee-ID-Name", "Outbound Call".to_owned()),
            ("Callee-ID-Number", p.context.clone()),
            ("ANI", p.cid_number.clone()),
            ("Destination-Number", p.destination.clone()),
            ("Unique-ID", self.uuid.clone()),
            (
                "Source",
                if self.kind.loopback() {
                    "mod_loopback"
                } else {
                    "mod_sofia"
                }
                .to_owned(),
            ),
            ("Context", p.context.clone()),
        ];
        if let Some(r) = p.rdnis.as_ref().or(Some(&self.spec.destination)) {
            h.push(("RDNIS", r.clone()));
        }
        h.push(("Channel-Name", self.name.clone()));
        h.push(("Profile-Created-Time", t(Some(p.created))));
        h.push(("Channel-Created-Time", t(Some(self.created))));
        h.push(("Channel-Answered-Time", t(self.answered)));
        for k in [
            "Channel-Progress-Time",
            "Channel-Progress-Media-Time",
            "Channel-Hangup-Time",
            "Channel-Transfer-Time",
            "Channel-Resurrect-Time",
            "Channel-Bridged-Time",
            "Channel-Last-Hold",
            "Channel-Hold-Accum",
        ] {
            h.push((k, "0".to_owned()));
        }
        h.push(("Screen-Bit", "true".to_owned()));
        h.push(("Privacy-Hide-Name", "false".to_owned()));
        h.push(("Privacy-Hide-Number", "false".to_owned()));
        h.into_iter()
            .map(|(k, v)| (format!("Other-Leg-{k}"), v))
            .collect()
    }

    /// The variables of a sofia (SIP) leg.
    fn sofia_vars(vars: &mut Vars, uuid: &str, spec: &CallSpec, session_id: u64) {
        let domain = spec.domain.clone();
        let caller = spec.caller.clone();
        let cid_name = spec.caller_name.clone().unwrap_or_else(|| caller.clone());
        let name = format!("sofia/internal/{caller}@{domain}");
        let port = 5060 + (session_id % 1000) as u16 * 2;
        let rtp_port = 16384 + (session_id % 8000) as u16 * 2;
        let tag = &new_uuid()[..13];
        let call_id = new_uuid();
        let uuid = uuid.to_owned();
        let mut v = |k: &str, val: &str| vars.set(k, val);
        v("direction", "inbound");
        v("uuid", &uuid);
        v("session_id", &session_id.to_string());
        v("sip_from_user", &caller);
        v("sip_from_uri", &format!("{caller}@{domain}"));
        v("sip_from_host", &domain);
        v("channel_name", &name);
        v("sip_call_id", &call_id);
        v("sip_local_network_addr", "127.0.0.1");
        v("sip_network_ip", "127.0.0.1");
        v("sip_network_port", &port.to_string());
        v("sip_received_ip", "127.0.0.1");
        v("sip_received_port", &port.to_string());
        v("sip_via_protocol", "udp");
        v("sip_authorized", "true");
        v("sip_number_alias", &caller);
        v("sip_auth_username", &caller);
        v("sip_auth_realm", &domain);
        v("number_alias", &caller);
        v("user_name", &caller);
        v("domain_name", &domain);
        v("sip_from_user_stripped", &caller);
        v("sip_from_tag", tag);
        v("sofia_profile_name", "internal");
        v("recovery_profile_name", "internal");
        v(
            "sip_full_via",
            &format!("SIP/2.0/UDP 127.0.0.1:{port};rport={port};branch=z9hG4bK{tag}"),
        );
        v("sip_from_display", &cid_name);
        v(
            "sip_full_from",
            &format!("\"{cid_name}\" <sip:{caller}@{domain}>;tag={tag}"),
        );
        v(
            "sip_full_to",
            &format!("<sip:{}@{domain}>", spec.destination),
        );
        v("sip_req_user", &spec.destination);
        v("sip_req_uri", &format!("{}@{domain}", spec.destination));
        v("sip_req_host", &domain);
        v("sip_to_user", &spec.destination);
        v("sip_to_uri", &format!("{}@{domain}", spec.destination));
        v("sip_to_host", &domain);
        v("sip_contact_params", "ob");
        v("sip_contact_user", &caller);
        v("sip_contact_port", &port.to_string());
        v("sip_contact_uri", &format!("{caller}@127.0.0.1:{port}"));
        v("sip_contact_host", "127.0.0.1");
        v("sip_user_agent", "fake-freeswitch caller");
        v("sip_via_host", "127.0.0.1");
        v("sip_via_port", &port.to_string());
        v("sip_via_rport", &port.to_string());
        v("max_forwards", "70");
        v("presence_id", &format!("{caller}@{domain}"));
        v("switch_r_sdp", &sdp("127.0.0.1", rtp_port, session_id));
        v("remote_media_ip", "127.0.0.1");
        v("remote_media_port", &rtp_port.to_string());
        v("rtp_use_codec_name", "PCMU");
        v("rtp_use_codec_rate", "8000");
        v("rtp_use_codec_ptime", "20");
        v("read_codec", "PCMU");
        v("read_rate", "8000");
        v("write_codec", "PCMU");
        v("write_rate", "8000");
        v("dtmf_type", "rfc2833");
        v("endpoint_disposition", "RECEIVED");
        v("call_uuid", &uuid);
    }

    /// `Answer-State`.
    fn answer_state(&self) -> &'static str {
        if self.hangup_cause.is_some() {
            "hangup"
        } else if self.answered.is_some() {
            "answered"
        } else {
            "ringing"
        }
    }

    /// Channel headers, codec and caller profile.
    pub(crate) fn basic_data(&self, ev: &mut Event) {
        put(ev, "Channel-State", self.state.0);
        put(ev, "Channel-Call-State", self.callstate);
        put(ev, "Channel-State-Number", &self.state.1.to_string());
        put(ev, "Channel-Name", &self.name);
        put(ev, "Unique-ID", &self.uuid);
        let dir = self.direction();
        put(ev, "Call-Direction", dir);
        put(ev, "Presence-Call-Direction", dir);
        // Recorded: the outbound legs have not hit a dialplan, until the
        // loopback partner runs the originate's application.
        let hit =
            !self.kind.outbound() || (self.kind == LegKind::LoopbackA && self.last_app.is_some());
        put(
            ev,
            "Channel-HIT-Dialplan",
            if hit { "true" } else { "false" },
        );
        if let Some(p) = self.vars.get("presence_id") {
            put(ev, "Channel-Presence-ID", p);
        }
        put(
            ev,
            "Channel-Call-UUID",
            self.vars.get("call_uuid").unwrap_or(&self.uuid),
        );
        put(ev, "Answer-State", self.answer_state());
        if let Some(cause) = self.hangup_cause {
            put(ev, "Hangup-Cause", crate::cause::cause2str(cause));
        }
        let (codec, bits) = self.codec();
        for dir in ["Read", "Write"] {
            put(ev, &format!("Channel-{dir}-Codec-Name"), codec);
            put(ev, &format!("Channel-{dir}-Codec-Rate"), "8000");
            put(ev, &format!("Channel-{dir}-Codec-Bit-Rate"), bits);
        }
        self.profile_data(ev);
        if let Some((kind, headers)) = &self.other {
            put(ev, "Other-Type", kind);
            for (k, v) in headers {
                put(ev, k, v);
            }
        }
    }

    /// `inbound` / `outbound`.
    pub(crate) fn direction(&self) -> &'static str {
        if self.kind.outbound() {
            "outbound"
        } else {
            "inbound"
        }
    }

    fn codec(&self) -> (&'static str, &'static str) {
        if self.kind.loopback() {
            ("L16", "128000")
        } else {
            ("PCMU", "64000")
        }
    }

    fn profile_data(&self, ev: &mut Event) {
        let p = &self.profile;
        let t = |v: Option<SimTime>| v.unwrap_or(0).to_string();
        put(ev, "Caller-Direction", self.direction());
        put(ev, "Caller-Logical-Direction", self.direction());
        put(ev, "Caller-Username", &p.username);
        put(ev, "Caller-Dialplan", &p.dialplan);
        put(ev, "Caller-Caller-ID-Name", &p.cid_name);
        put(ev, "Caller-Caller-ID-Number", &p.cid_number);
        put(ev, "Caller-Orig-Caller-ID-Name", &p.cid_name);
        put(ev, "Caller-Orig-Caller-ID-Number", &p.cid_number);
        put(ev, "Caller-Network-Addr", &p.network_addr);
        put(ev, "Caller-ANI", &p.cid_number);
        put(ev, "Caller-Destination-Number", &p.destination);
        put(ev, "Caller-Unique-ID", &self.uuid);
        put(
            ev,
            "Caller-Source",
            if self.kind.loopback() {
                "mod_loopback"
            } else {
                "mod_sofia"
            },
        );
        if let Some(ts) = &p.transfer_source {
            put(ev, "Caller-Transfer-Source", ts);
        }
        put(ev, "Caller-Context", &p.context);
        if let Some(r) = &p.rdnis {
            put(ev, "Caller-RDNIS", r);
        }
        put(ev, "Caller-Channel-Name", &self.name);
        put(ev, "Caller-Profile-Index", &p.index.to_string());
        put(ev, "Caller-Profile-Created-Time", &p.created.to_string());
        put(ev, "Caller-Channel-Created-Time", &self.created.to_string());
        put(ev, "Caller-Channel-Answered-Time", &t(self.answered));
        put(ev, "Caller-Channel-Progress-Time", "0");
        put(ev, "Caller-Channel-Progress-Media-Time", "0");
        put(ev, "Caller-Channel-Hangup-Time", &t(self.hungup));
        put(
            ev,
            "Caller-Channel-Transfer-Time",
            &p.transferred.to_string(),
        );
        put(ev, "Caller-Channel-Resurrect-Time", "0");
        put(ev, "Caller-Channel-Bridged-Time", "0");
        put(ev, "Caller-Channel-Last-Hold", "0");
        put(ev, "Caller-Channel-Hold-Accum", "0");
        put(ev, "Caller-Screen-Bit", "true");
        put(ev, "Caller-Privacy-Hide-Name", "false");
        put(ev, "Caller-Privacy-Hide-Number", "false");
    }

    /// The `variable_*` block.
    pub(crate) fn variables(&self, ev: &mut Event) {
        for (k, v) in self.vars.iter() {
            put(ev, &format!("variable_{k}"), v);
        }
    }

    /// What `switch_channel_set_timestamps` sets at hangup: stamps, epochs
    /// and the `*sec`/`*msec`/`*usec` durations (`billsec` from whole-second
    /// epochs, as the switch computes it).
    pub(crate) fn set_timestamps(&mut self) {
        let created = self.created;
        let prof = self.profile.created;
        let answered = self.answered.unwrap_or(0);
        let hungup = self.hungup.unwrap_or(created);
        let secs = |us: SimTime| us.div_euclid(1_000_000);
        let ms = |us: SimTime| us.div_euclid(1_000);
        let mut v = Vec::<(&str, String)>::new();
        v.push(("digits_dialed", "none".into()));
        v.push(("start_stamp", local_stamp(created)));
        v.push(("profile_start_stamp", local_stamp(prof)));
        if answered != 0 {
            v.push(("answer_stamp", local_stamp(answered)));
        }
        v.push(("end_stamp", local_stamp(hungup)));
        v.push(("start_epoch", secs(created).to_string()));
        v.push(("start_uepoch", created.to_string()));
        v.push(("profile_start_epoch", secs(prof).to_string()));
        v.push(("profile_start_uepoch", prof.to_string()));
        v.push(("answer_epoch", secs(answered).to_string()));
        v.push(("answer_uepoch", answered.to_string()));
        for k in [
            "bridge_epoch",
            "bridge_uepoch",
            "last_hold_epoch",
            "last_hold_uepoch",
            "hold_accum_seconds",
            "hold_accum_usec",
            "hold_accum_ms",
            "resurrect_epoch",
            "resurrect_uepoch",
            "progress_epoch",
            "progress_uepoch",
            "progress_media_epoch",
            "progress_media_uepoch",
        ] {
            v.push((k, "0".into()));
        }
        v.push(("end_epoch", secs(hungup).to_string()));
        v.push(("end_uepoch", hungup.to_string()));
        if let Some((app, arg)) = &self.last_app {
            v.push(("last_app", app.clone()));
            v.push(("last_arg", arg.clone()));
        }
        v.push((
            "caller_id",
            format!(
                "\"{}\" <{}>",
                self.profile.cid_name, self.profile.cid_number
            ),
        ));
        let (billsec, billmsec, billusec, answersec, answermsec, answerusec) = if answered != 0 {
            (
                secs(hungup) - secs(answered),
                ms(hungup) - ms(answered),
                hungup - answered,
                secs(answered) - secs(created),
                ms(answered) - ms(created),
                answered - created,
            )
        } else {
            (0, 0, 0, 0, 0, 0)
        };
        let flow = if answered != 0 {
            (
                secs(hungup) - secs(created),
                ms(hungup) - ms(created),
                hungup - created,
            )
        } else {
            (0, 0, 0)
        };
        v.push(("duration", (secs(hungup) - secs(created)).to_string()));
        v.push(("billsec", billsec.to_string()));
        v.push(("progresssec", "0".into()));
        v.push(("answersec", answersec.to_string()));
        v.push(("waitsec", "0".into()));
        v.push(("progress_mediasec", "0".into()));
        v.push(("flow_billsec", flow.0.to_string()));
        v.push(("mduration", (ms(hungup) - ms(created)).to_string()));
        v.push(("billmsec", billmsec.to_string()));
        v.push(("progressmsec", "0".into()));
        v.push(("answermsec", answermsec.to_string()));
        v.push(("waitmsec", "0".into()));
        v.push(("progress_mediamsec", "0".into()));
        v.push(("flow_billmsec", flow.1.to_string()));
        v.push(("uduration", (hungup - created).to_string()));
        v.push(("billusec", billusec.to_string()));
        v.push(("progressusec", "0".into()));
        v.push(("answerusec", answerusec.to_string()));
        v.push(("waitusec", "0".into()));
        v.push(("progress_mediausec", "0".into()));
        v.push(("flow_billusec", flow.2.to_string()));
        for (k, val) in v {
            self.vars.set(k, &val);
        }
    }

    /// A `show channels` row: `(column, value)` in the `channels` table order.
    pub(crate) fn show_row(&self, hostname: &str) -> Vec<(&'static str, String)> {
        let app = self
            .vars
            .get("current_application")
            .unwrap_or_default()
            .to_owned();
        let app_data = self
            .vars
            .get("current_application_data")
            .unwrap_or_default()
            .to_owned();
        let p = &self.profile;
        vec![
            ("uuid", self.uuid.clone()),
            ("direction", self.direction().into()),
            ("created", local_stamp(self.created)),
            (
                "created_epoch",
                self.created.div_euclid(1_000_000).to_string(),
            ),
            ("name", self.name.clone()),
            ("state", self.state.0.into()),
            ("cid_name", p.cid_name.clone()),
            ("cid_num", p.cid_number.clone()),
            ("ip_addr", p.network_addr.clone()),
            ("dest", p.destination.clone()),
            ("application", app),
            ("application_data", app_data),
            ("dialplan", p.dialplan.clone()),
            ("context", p.context.clone()),
            ("read_codec", self.codec().0.into()),
            ("read_rate", "8000".into()),
            ("read_bit_rate", self.codec().1.into()),
            ("write_codec", self.codec().0.into()),
            ("write_rate", "8000".into()),
            ("write_bit_rate", self.codec().1.into()),
            ("secure", String::new()),
            ("hostname", hostname.into()),
            (
                "presence_id",
                self.vars.get("presence_id").unwrap_or_default().into(),
            ),
            ("presence_data", String::new()),
            ("accountcode", String::new()),
            ("callstate", self.callstate.into()),
            ("callee_name", String::new()),
            ("callee_num", String::new()),
            ("callee_direction", String::new()),
            (
                "call_uuid",
                self.vars.get("call_uuid").unwrap_or(&self.uuid).to_owned(),
            ),
            ("sent_callee_name", String::new()),
            ("sent_callee_num", String::new()),
            ("initial_cid_name", p.cid_name.clone()),
            ("initial_cid_num", p.cid_number.clone()),
            ("initial_ip_addr", p.network_addr.clone()),
            ("initial_dest", self.spec.destination.clone()),
            ("initial_dialplan", "XML".into()),
            ("initial_context", self.spec.context.clone()),
        ]
    }
}
