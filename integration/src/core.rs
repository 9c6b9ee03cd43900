//! The switch's state: channels, the scheduler, connected listeners, call
//! records, and every transition of a call with the events it fires.
//!
//! One `Core` sits behind one mutex. A transition (a call answered, an API
//! command, a timer firing) runs entirely under that lock: it changes the
//! channel, builds its events and queues them for each listener that
//! accepts them at that moment. So events of one call are delivered in the
//! order they happened, `Event-Sequence` grows in delivery order, and an API
//! command's effects are complete (events queued) before its reply is sent.
//!
//! Time does not pass inside a transition: every event of a hangup carries
//! the same timestamp. Timers (ring, talk, abandon, scheduled hangups) are
//! kept here as due times; one task per call sleeps until the earliest and
//! calls [`Core::run_due`] (see `switch.rs`).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use esl::Event;
use tokio::sync::watch;

use crate::cause::{self, cause2str, str2cause};
use crate::channel::{
    callstate_number, new_uuid, Channel, LegKind, Phase, CS_CONSUME_MEDIA, CS_DESTROY,
    CS_EXCHANGE_MEDIA, CS_EXECUTE, CS_HANGUP, CS_REPORTING, CS_ROUTING,
};
use crate::clock::{secs_to_us, SimClock, SimTime};
use crate::events::{self, put, Fired, Identity, Site};
use crate::listener::Listener;
use crate::record::{CallRecord, HangupBy, LegRole, LogEntry};
use crate::scenario::{CallSpec, Vars};

/// A scheduler task (`switch_scheduler_add_task`).
#[derive(Clone, Debug)]
/// A hung-up channel whose reporting waits for mod_json_cdr's post: the
/// rest of its hangup, to finish when the post is done.
struct Deferred {
    cause: u16,
    by: HangupBy,
    at: SimTime,
    origin: Option<String>,
    task: Option<u32>,
}

pub(crate) struct SchedTask {
    /// The task's group: the channel uuid for a hangup, as
    /// `switch_ivr_schedule_hangup` sets it; `sched_api`'s own otherwise.
    pub group: String,
    pub when: SimTime,
    pub kind: TaskKind,
}

/// The scheduler's tasks by id, indexed by group and (`sched_api` tasks)
/// by due time: with tens of thousands of calls up, finding the next task
/// due, a group to delete or a hung-up channel's tasks by scanning every
/// task was most of the load simulator's CPU.
#[derive(Default)]
pub(crate) struct Sched {
    tasks: BTreeMap<u32, SchedTask>,
    /// `sched_api` tasks, by (due time, id).
    api_due: BTreeSet<(SimTime, u32)>,
    /// Task ids by group.
    groups: HashMap<String, Vec<u32>>,
}

impl Sched {
    pub(crate) fn get(&self, id: &u32) -> Option<&SchedTask> {
        self.tasks.get(id)
    }

    pub(crate) fn insert(&mut self, id: u32, task: SchedTask) {
        self.remove(&id);
        if matches!(task.kind, TaskKind::Api { .. }) {
            self.api_due.insert((task.when, id));
        }
        self.groups.entry(task.group.clone()).or_default().push(id);
        self.tasks.insert(id, task);
    }

    pub(crate) fn remove(&mut self, id: &u32) -> Option<SchedTask> {
        let task = self.tasks.remove(id)?;
        self.api_due.remove(&(task.when, *id));
        if let Some(ids) = self.groups.get_mut(&task.group) {
            ids.retain(|x| x != id);
            if ids.is_empty() {
                self.groups.remove(&task.group);
            }
        }
        Some(task)
    }

    /// The ids of `group`'s tasks, in id order.
    pub(crate) fn group(&self, group: &str) -> Vec<u32> {
        let mut ids = self.groups.get(group).cloned().unwrap_or_default();
        ids.sort_unstable();
        ids
    }

    /// When the next `sched_api` task is due.
    pub(crate) fn next_api_due(&self) -> Option<SimTime> {
        self.api_due.first().map(|(when, _)| *when)
    }

    /// The earliest `sched_api` task due by `upto` (by time, then id).
    pub(crate) fn first_api_due_by(&self, upto: SimTime) -> Option<u32> {
        self.api_due
            .first()
            .filter(|(when, _)| *when <= upto)
            .map(|(_, id)| *id)
    }
}

/// What a scheduler task does.
#[derive(Clone, Debug)]
pub(crate) enum TaskKind {
    /// `sched_hangup`: hang the group's channel up with this cause (run by
    /// that call's timer task).
    Hangup(u16),
    /// `sched_api`: run this api command line (run by the switch's
    /// scheduler task); `recur` seconds later again when not zero (`@N`).
    Api { line: String, recur: u32 },
}

/// What is due next for a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Due {
    /// The channel is gone.
    Gone,
    /// Nothing is timed: wait to be notified.
    Idle,
    /// Something is due then.
    At(SimTime),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    Sched(u32),
    CallerHangup,
    Abandon,
    Answer,
}

/// Where an application runs from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AppOrigin {
    SendMsg,
    OnAnswer,
    Dialplan,
}

/// Optional parts of a channel event.
#[derive(Default)]
struct Extra<'a> {
    /// `Hangup-Cause` before the channel data (CHANNEL_HANGUP_COMPLETE).
    cause_first: bool,
    /// CHANNEL_CALLSTATE: the previous call state.
    callstate_from: Option<&'static str>,
    /// CHANNEL_EXECUTE(_COMPLETE): application, data, response, uuid.
    app: Option<(&'a str, &'a str, Option<&'a str>, &'a str)>,
    /// Add the `variable_*` block.
    vars: bool,
}

pub(crate) struct Core {
    pub id: Identity,
    pub clock: SimClock,
    channels: HashMap<String, Channel>,
    /// uuids placed but not yet created.
    reserved: HashSet<String>,
    records: HashMap<String, CallRecord>,
    record_order: Vec<String>,
    sched: Sched,
    next_task: u32,
    listeners: Vec<Arc<Listener>>,
    seq: u64,
    sessions_total: u64,
    peak: usize,
    pub max_sessions: u32,
    /// `show channels` lists a channel this long after its creation.
    pub table_lag: SimTime,
    /// How long a leg another leg's hangup took along still answers
    /// `uuid_kill` and `uuid_exists` as if there.
    pub teardown_lag: SimTime,
    /// Such legs, until when.
    tearing_down: HashMap<String, SimTime>,
    /// API commands (lowercase names) answered `-ERR` without running, for
    /// tests of a switch that takes one command and not the next.
    pub failing: HashSet<String>,
    /// The command lines refused so, in order.
    pub refused: Vec<String>,
    /// While a scheduler task runs: its due time, which stamps what it does.
    frozen: Option<SimTime>,
    /// While a scheduler task runs: its id.
    running_task: Option<u32>,
    /// Wakes the switch's scheduler task (`sched_api` tasks).
    pub api_notify: Arc<tokio::sync::Notify>,
    /// Counts ended calls; waiters watch it.
    pub ended: watch::Sender<u64>,
    /// mod_json_cdr, when configured.
    pub cdr: Option<crate::json_cdr::CdrSink>,
    /// Channels in CS_REPORTING until their CDR post is done.
    deferred: HashMap<String, Deferred>,
}

impl Core {
    pub(crate) fn new(id: Identity, clock: SimClock) -> Core {
        Core {
            id,
            clock,
            channels: HashMap::new(),
            reserved: HashSet::new(),
            records: HashMap::new(),
            record_order: Vec::new(),
            sched: Sched::default(),
            next_task: 1,
            listeners: Vec::new(),
            seq: 0,
            sessions_total: 0,
            peak: 0,
            max_sessions: 1000,
            table_lag: 0,
            teardown_lag: 0,
            tearing_down: HashMap::new(),
            failing: HashSet::new(),
            refused: Vec::new(),
            frozen: None,
            running_task: None,
            api_notify: Arc::new(tokio::sync::Notify::new()),
            ended: watch::Sender::new(0),
            cdr: None,
            deferred: HashMap::new(),
        }
    }

    /// Simulated now; a running scheduler task's due time while it runs.
    pub(crate) fn now(&self) -> SimTime {
        self.frozen.unwrap_or_else(|| self.clock.now())
    }

    // ---- listeners and firing -------------------------------------------

    pub(crate) fn add_listener(&mut self, l: Arc<Listener>) {
        self.listeners.push(l);
    }

    pub(crate) fn remove_listener(&mut self, l: &Arc<Listener>) {
        self.listeners.retain(|x| !Arc::ptr_eq(x, l));
    }

    pub(crate) fn listeners(&self) -> Vec<Arc<Listener>> {
        self.listeners.clone()
    }

    /// True when some connection is subscribed to this event type (filters
    /// aside): events nobody can receive are not built.
    fn wanted(&self, name: &str) -> bool {
        self.listeners.iter().any(|l| {
            let s = l.sub();
            s.events_on
                && (if s.all {
                    !s.nixed.contains(name)
                } else {
                    s.types.contains(name)
                })
        })
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// A new event with the delivery headers.
    pub(crate) fn base_event(&mut self, name: &str, at: SimTime, site: Site) -> Event {
        let seq = self.next_seq();
        self.id.base(name, at, site, seq)
    }

    /// Queues `ev` for every listener that accepts it now.
    pub(crate) fn fire(&mut self, ev: Event) {
        let fired = Fired::new(ev);
        self.listeners.retain(|l| l.offer(&fired));
    }

    fn chan_event(&mut self, ch: &Channel, name: &str, at: SimTime, site: Site, x: Extra<'_>) {
        if !self.wanted(name) {
            self.seq += 1;
            return;
        }
        let mut ev = self.base_event(name, at, site);
        if x.cause_first {
            if let Some(c) = ch.hangup_cause {
                put(&mut ev, "Hangup-Cause", cause2str(c));
            }
        }
        if let Some(from) = x.callstate_from {
            put(&mut ev, "Original-Channel-Call-State", from);
            put(
                &mut ev,
                "Channel-Call-State-Number",
                &callstate_number(ch.callstate).to_string(),
            );
        }
        ch.basic_data(&mut ev);
        if let Some((app, data, response, app_uuid)) = x.app {
            put(&mut ev, "Application", app);
            put(&mut ev, "Application-Data", data);
            if let Some(r) = response {
                put(&mut ev, "Application-Response", r);
            }
            put(&mut ev, "Application-UUID", app_uuid);
        }
        if x.vars {
            ch.variables(&mut ev);
        }
        self.fire(ev);
    }

    fn with_vars(&mut self, ch: &Channel, name: &str, at: SimTime, site: Site) {
        self.chan_event(
            ch,
            name,
            at,
            site,
            Extra {
                vars: true,
                ..Default::default()
            },
        );
    }

    fn set_state(&mut self, ch: &mut Channel, state: (&'static str, u8), at: SimTime) {
        ch.state = state;
        self.chan_event(
            ch,
            "CHANNEL_STATE",
            at,
            events::SITE_STATE,
            Extra::default(),
        );
    }

    fn set_callstate(&mut self, ch: &mut Channel, cs: &'static str, at: SimTime) {
        let from = ch.callstate;
        ch.callstate = cs;
        self.chan_event(
            ch,
            "CHANNEL_CALLSTATE",
            at,
            events::SITE_CALLSTATE,
            Extra {
                callstate_from: Some(from),
                ..Default::default()
            },
        );
    }

    /// Runs `f` on the channel taken out of the map (so `f` may use the
    /// rest of the core freely); puts it back unless it was destroyed.
    fn with_channel<R>(
        &mut self,
        uuid: &str,
        f: impl FnOnce(&mut Core, &mut Channel) -> R,
    ) -> Option<R> {
        let mut ch = self.channels.remove(uuid)?;
        let r = f(self, &mut ch);
        if ch.state != CS_DESTROY {
            self.channels.insert(ch.uuid.clone(), ch);
        }
        Some(r)
    }

    fn log(&mut self, uuid: &str, at: SimTime, what: String) {
        if let Some(r) = self.records.get_mut(uuid) {
            r.log.push(LogEntry { at, what });
        }
    }

    // ---- calls ----------------------------------------------------------

    /// Checks `spec` and claims its uuid (a fresh one when it has none).
    pub(crate) fn reserve(&mut self, spec: &CallSpec) -> Result<String, String> {
        spec.validate()?;
        let uuid = spec.uuid.clone().unwrap_or_else(new_uuid);
        if self.channels.contains_key(&uuid)
            || self.records.contains_key(&uuid)
            || !self.reserved.insert(uuid.clone())
        {
            return Err(format!("duplicate uuid {uuid}"));
        }
        Ok(uuid)
    }

    /// Creates a reserved call at `at`: CHANNEL_CREATE, and CHANNEL_PARK
    /// when the spec parks (with a loopback, the `-a` partner first, and
    /// the call's variables set by the dialplan). Returns the driver's
    /// wake-up handle.
    pub(crate) fn create(
        &mut self,
        uuid: &str,
        spec: CallSpec,
        at: SimTime,
    ) -> Arc<tokio::sync::Notify> {
        self.reserved.remove(uuid);
        let partner_uuid = spec.loopback.then(new_uuid);
        self.sessions_total += 1;
        let mut ch = Channel::new(
            uuid.to_owned(),
            spec,
            at,
            self.sessions_total + u64::from(partner_uuid.is_some()),
            partner_uuid.as_deref(),
        );
        let notify = ch.notify.clone();
        self.new_record(&ch, LegRole::Call);
        let partner = partner_uuid.map(|p| {
            self.sessions_total += 1;
            let mut vars = Vars::new();
            vars.set("direction", "outbound");
            vars.set("is_outbound", "true");
            vars.set("uuid", &p);
            vars.set("call_uuid", &p);
            vars.set("session_id", &(self.sessions_total - 1).to_string());
            for (k, v) in ch.spec.partner_variables.iter() {
                vars.set(k, v);
            }
            vars.set("originate_early_media", "true");
            vars.set("originate_endpoint", "loopback");
            vars.set("other_loopback_leg_uuid", uuid);
            vars.set("loopback_leg", "A");
            let name = format!("loopback/{}-a", ch.spec.destination);
            let (dest, context) = (ch.spec.destination.clone(), ch.spec.context.clone());
            let a = Channel::leg(p, LegKind::LoopbackA, name, &ch, &dest, &context, vars, at);
            self.add_leg(&mut ch, &a, LegRole::LoopbackA);
            self.with_vars(&a, "CHANNEL_CREATE", at, events::SITE_CREATE);
            a
        });
        self.with_vars(&ch, "CHANNEL_CREATE", at, events::SITE_CREATE);
        self.set_callstate(&mut ch, "RINGING", at);
        self.set_state(&mut ch, CS_ROUTING, at);
        if let Some(mut a) = partner {
            self.set_state(&mut a, CS_ROUTING, at);
            self.set_state(&mut a, CS_CONSUME_MEDIA, at);
            self.channels.insert(a.uuid.clone(), a);
        }
        self.set_state(&mut ch, CS_EXECUTE, at);
        if ch.spec.loopback {
            // The dialplan sets the call's variables, one `set` each.
            let sets: Vec<String> = ch
                .spec
                .variables
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            for set in sets {
                self.execute(&mut ch, "set", &set, AppOrigin::Dialplan, at);
            }
        }
        if ch.spec.park {
            self.park(&mut ch, at);
        }
        self.channels.insert(uuid.to_owned(), ch);
        self.peak = self.peak.max(self.channels.len());
        notify
    }

    fn new_record(&mut self, ch: &Channel, role: LegRole) {
        self.records.insert(
            ch.uuid.clone(),
            CallRecord {
                uuid: ch.uuid.clone(),
                caller: ch.spec.caller.clone(),
                destination: ch.profile.destination.clone(),
                created_at: ch.created,
                parked: false,
                transferred: false,
                answered: false,
                answered_at: None,
                ended_at: None,
                billsec: 0,
                billusec: 0,
                duration: 0,
                hangup_cause: None,
                hangup_by: None,
                variables: Default::default(),
                log: Vec::new(),
                role,
                channel_name: ch.name.clone(),
                legs: Vec::new(),
                call: (ch.owner != ch.uuid).then(|| ch.owner.clone()),
                hangup_leg: None,
                sched_task: None,
            },
        );
        self.record_order.push(ch.uuid.clone());
    }

    /// Records `leg` as one of `owner`'s legs.
    fn add_leg(&mut self, owner: &mut Channel, leg: &Channel, role: LegRole) {
        owner.legs.push(leg.uuid.clone());
        self.new_record(leg, role);
        if let Some(r) = self.records.get_mut(&owner.uuid) {
            r.legs.push(leg.uuid.clone());
        }
    }

    /// The call's legs other than `ch` that are still up, in the order the
    /// switch hangs them up: the loopback partner, the call's own channel,
    /// the bridged legs.
    fn peers(&self, ch: &Channel) -> Vec<String> {
        let legs = if ch.owner == ch.uuid {
            ch.legs.clone()
        } else {
            self.channels
                .get(&ch.owner)
                .map(|o| o.legs.clone())
                .unwrap_or_default()
        };
        let kind = |u: &String| self.channels.get(u).map(|c| c.kind);
        let mut out: Vec<String> = legs
            .iter()
            .filter(|u| kind(u) == Some(LegKind::LoopbackA))
            .cloned()
            .collect();
        out.push(ch.owner.clone());
        out.extend(
            legs.iter()
                .filter(|u| matches!(kind(u), Some(LegKind::BridgeA | LegKind::BridgeB)))
                .cloned(),
        );
        out.retain(|u| *u != ch.uuid && self.channels.contains_key(u));
        out
    }

    /// The leg the caller hangs up on: the loopback `-a` partner when there
    /// is one, else the call's own channel.
    pub(crate) fn caller_leg(&self, uuid: &str) -> String {
        self.channels
            .get(uuid)
            .and_then(|ch| {
                ch.legs.iter().find(|u| {
                    self.channels
                        .get(*u)
                        .is_some_and(|c| c.kind == LegKind::LoopbackA)
                })
            })
            .cloned()
            .unwrap_or_else(|| uuid.to_owned())
    }

    /// The bridge's legs (`-a`, `-b`) of the call whose own channel is `ch`.
    fn bridge_legs(&self, ch: &Channel) -> Option<(String, String)> {
        let find = |k: LegKind| {
            ch.legs
                .iter()
                .find(|u| self.channels.get(*u).is_some_and(|c| c.kind == k))
                .cloned()
        };
        Some((find(LegKind::BridgeA)?, find(LegKind::BridgeB)?))
    }

    /// The dialplan's `bridge {vars}loopback/9999/prepaid_term`: the
    /// outbound leg and its partner are created; they answer `ring` later.
    fn start_bridge(&mut self, ch: &mut Channel, at: SimTime) {
        let bvars = ch.spec.bridge.clone().unwrap_or_default();
        let data = bridge_data(&bvars);
        let app_uuid = new_uuid();
        ch.vars.set("current_application", "bridge");
        ch.vars.set("current_application_data", &data);
        ch.last_app = Some(("bridge".into(), data.clone()));
        ch.apps.push(("bridge".into(), data.clone(), at));
        self.chan_event(
            ch,
            "CHANNEL_EXECUTE",
            at,
            events::SITE_EXECUTE,
            Extra {
                app: Some(("bridge", &data, None, &app_uuid)),
                vars: true,
                ..Default::default()
            },
        );
        let (a_uuid, b_uuid) = (new_uuid(), new_uuid());
        let main = ch.uuid.clone();
        self.sessions_total += 2;
        let mut va = Vars::new();
        va.set("direction", "outbound");
        va.set("is_outbound", "true");
        va.set("uuid", &a_uuid);
        va.set("session_id", &(self.sessions_total - 1).to_string());
        va.set("loopback_from_uuid", &main);
        va.set("originator_codec", "L16@8000h@20i");
        va.set("originator", &main);
        va.set("signal_bond", &main);
        va.set("call_uuid", &main);
        for (k, v) in bvars.iter() {
            va.set(k, v);
        }
        va.set("originate_early_media", "true");
        va.set("originating_leg_uuid", &main);
        va.set("originate_endpoint", "loopback");
        va.set("other_loopback_leg_uuid", &b_uuid);
        va.set("loopback_leg", "A");
        let mut vb = Vars::new();
        vb.set("direction", "inbound");
        vb.set("uuid", &b_uuid);
        vb.set("session_id", &self.sessions_total.to_string());
        for (k, v) in bvars.iter() {
            vb.set(k, v);
        }
        vb.set("other_loopback_leg_uuid", &a_uuid);
        vb.set("other_loopback_from_uuid", &main);
        vb.set("loopback_leg", "B");
        vb.set("call_uuid", &b_uuid);
        let name_a = "loopback/9999-a".to_owned();
        let name_b = "loopback/9999-b".to_owned();
        let mut a = Channel::leg(
            a_uuid,
            LegKind::BridgeA,
            name_a,
            ch,
            "9999",
            "prepaid_term",
            va,
            at,
        );
        a.other = Some(("originator", ch.other_leg_headers(false)));
        let mut b = Channel::leg(
            b_uuid,
            LegKind::BridgeB,
            name_b,
            ch,
            "9999",
            "prepaid_term",
            vb,
            at,
        );
        self.add_leg(ch, &a, LegRole::BridgeA);
        self.add_leg(ch, &b, LegRole::BridgeB);
        ch.vars.set(
            "originated_legs",
            &format!("{};Outbound Call;prepaid_term", a.uuid),
        );
        ch.vars.set("originate_signal_bond", &a.uuid);
        self.with_vars(&a, "CHANNEL_CREATE", at, events::SITE_CREATE);
        self.set_state(&mut a, CS_ROUTING, at);
        self.with_vars(&b, "CHANNEL_CREATE", at, events::SITE_CREATE);
        self.set_state(&mut a, CS_CONSUME_MEDIA, at);
        self.set_callstate(&mut b, "RINGING", at);
        self.set_state(&mut b, CS_ROUTING, at);
        self.set_state(&mut b, CS_EXECUTE, at);
        self.channels.insert(a.uuid.clone(), a);
        self.channels.insert(b.uuid.clone(), b);
        self.peak = self.peak.max(self.channels.len());
        ch.phase = Phase::Ringing { since: at };
    }

    /// The bridge answers: its `-b` leg runs `answer`, both its legs are
    /// answered (no park), then the call's loopback partner.
    fn answer_bridge(&mut self, ch: &Channel, at: SimTime) {
        let Some((a, b)) = self.bridge_legs(ch) else {
            return;
        };
        self.with_channel(&a, |core, x| core.answer_leg(x, at));
        self.with_channel(&b, |core, x| {
            core.execute(x, "answer", "", AppOrigin::Dialplan, at);
            core.start_app(x, "playback", "tone_stream://%(1000,0,440);loops=-1", at);
        });
    }

    /// An application that runs until the hangup: CHANNEL_EXECUTE now,
    /// CHANNEL_EXECUTE_COMPLETE at the hangup.
    fn start_app(&mut self, ch: &mut Channel, app: &str, data: &str, at: SimTime) {
        let app_uuid = new_uuid();
        ch.vars.set("current_application", app);
        ch.vars.set("current_application_data", data);
        ch.last_app = Some((app.to_owned(), data.to_owned()));
        ch.apps.push((app.to_owned(), data.to_owned(), at));
        self.chan_event(
            ch,
            "CHANNEL_EXECUTE",
            at,
            events::SITE_EXECUTE,
            Extra {
                app: Some((app, data, None, &app_uuid)),
                vars: true,
                ..Default::default()
            },
        );
        ch.running = Some((app.to_owned(), data.to_owned(), app_uuid));
    }

    /// The running application ends (the channel is hanging up).
    fn end_app(&mut self, ch: &mut Channel, at: SimTime) {
        let Some((app, data, app_uuid)) = ch.running.take() else {
            return;
        };
        ch.vars
            .set("current_application_response", "PLAYBACK ERROR");
        self.chan_event(
            ch,
            "CHANNEL_EXECUTE_COMPLETE",
            at,
            events::SITE_EXECUTE_COMPLETE,
            Extra {
                app: Some((&app, &data, Some("PLAYBACK ERROR"), &app_uuid)),
                vars: true,
                ..Default::default()
            },
        );
    }

    fn park(&mut self, ch: &mut Channel, at: SimTime) {
        let app_uuid = new_uuid();
        ch.vars.set("current_application", "park");
        ch.vars.remove("current_application_data");
        ch.last_app = Some(("park".into(), String::new()));
        ch.apps.push(("park".into(), String::new(), at));
        self.chan_event(
            ch,
            "CHANNEL_EXECUTE",
            at,
            events::SITE_EXECUTE,
            Extra {
                app: Some(("park", "", None, &app_uuid)),
                vars: true,
                ..Default::default()
            },
        );
        ch.parked = true;
        if ch.answered.is_none() {
            ch.phase = Phase::Parked;
        }
        self.with_vars(ch, "CHANNEL_PARK", at, events::SITE_PARK);
        if let Some(r) = self.records.get_mut(&ch.uuid) {
            r.parked = true;
        }
    }

    fn unpark(&mut self, ch: &mut Channel, at: SimTime) {
        if !ch.parked {
            return;
        }
        ch.parked = false;
        self.with_vars(ch, "CHANNEL_UNPARK", at, events::SITE_UNPARK);
        let app_uuid = new_uuid();
        self.chan_event(
            ch,
            "CHANNEL_EXECUTE_COMPLETE",
            at,
            events::SITE_EXECUTE_COMPLETE,
            Extra {
                app: Some(("park", "", Some("_none_"), &app_uuid)),
                vars: true,
                ..Default::default()
            },
        );
    }

    /// The earliest thing due for this call.
    fn next_action(&self, ch: &Channel) -> Option<(SimTime, Action)> {
        if ch.hangup_cause.is_some() {
            // Hung up, still reporting (mod_json_cdr posting).
            return None;
        }
        let mut best: Option<(SimTime, Action)> = None;
        let mut consider = |t: SimTime, a: Action| {
            if best.is_none_or_later(t, a) {
                best = Some((t, a));
            }
        };
        if ch.answered.is_none() {
            if let Some(a) = ch.spec.abandon {
                consider(ch.created + secs_to_us(a), Action::Abandon);
            }
        }
        match ch.phase {
            Phase::Parked => {}
            Phase::Ringing { since } => {
                if let Some(r) = ch.spec.ring {
                    consider(since + secs_to_us(r), Action::Answer);
                }
            }
            Phase::Answered { at } => {
                if let Some(t) = ch.spec.talk {
                    consider(at + secs_to_us(t), Action::CallerHangup);
                }
            }
        }
        let legs = ch.legs.iter().filter_map(|u| self.channels.get(u));
        for id in ch.sched.iter().chain(legs.flat_map(|c| c.sched.iter())) {
            if let Some(task) = self.sched.get(id) {
                consider(task.when, Action::Sched(*id));
            }
        }
        best
    }

    pub(crate) fn next_due(&self, uuid: &str) -> Due {
        match self.channels.get(uuid) {
            None => Due::Gone,
            Some(ch) => match self.next_action(ch) {
                None => Due::Idle,
                Some((t, _)) => Due::At(t),
            },
        }
    }

    /// Applies, in time order, everything due for the call up to `upto`,
    /// each stamped with its own due time.
    pub(crate) fn run_due(&mut self, uuid: &str, upto: SimTime) {
        loop {
            let Some(ch) = self.channels.get(uuid) else {
                return;
            };
            let Some((t, action)) = self.next_action(ch).filter(|(t, _)| *t <= upto) else {
                return;
            };
            match action {
                Action::Answer => {
                    self.with_channel(uuid, |core, ch| core.answer(ch, t));
                }
                Action::CallerHangup => {
                    let cause = str2cause(&ch.spec.hangup_cause);
                    let leg = self.caller_leg(uuid);
                    self.with_channel(&leg, |core, x| core.hangup(x, cause, HangupBy::Caller, t));
                }
                Action::Abandon => {
                    let leg = self.caller_leg(uuid);
                    self.with_channel(&leg, |core, x| {
                        core.hangup(x, cause::ORIGINATOR_CANCEL, HangupBy::Abandon, t)
                    });
                }
                Action::Sched(id) => {
                    let Some(task) = self.sched.remove(&id) else {
                        continue;
                    };
                    if let Some(c) = self.channels.get_mut(&task.group) {
                        c.sched.retain(|x| *x != id);
                    }
                    if let TaskKind::Hangup(cause) = task.kind {
                        self.running_task = Some(id);
                        self.with_channel(&task.group, |core, x| {
                            core.hangup(x, cause, HangupBy::SchedHangup, t)
                        });
                        self.running_task = None;
                    }
                }
            }
        }
    }

    /// The loopback `-a` partner of the call whose own channel is `ch`.
    fn loopback_partner(&self, ch: &Channel) -> Option<String> {
        ch.legs
            .iter()
            .find(|u| {
                self.channels
                    .get(*u)
                    .is_some_and(|c| c.kind == LegKind::LoopbackA)
            })
            .cloned()
    }

    /// Answers a channel. The call's own channel answers with its legs: a
    /// bridge first (the callee), then the loopback partner, then itself,
    /// then CHANNEL_BRIDGE.
    fn answer(&mut self, ch: &mut Channel, at: SimTime) {
        if ch.answered.is_some() || ch.hangup_cause.is_some() {
            return;
        }
        if ch.owner != ch.uuid {
            self.answer_leg(ch, at);
            return;
        }
        let bridge = self.bridge_legs(ch);
        if bridge.is_some() {
            self.answer_bridge(ch, at);
        }
        if let Some(p) = self.loopback_partner(ch) {
            self.with_channel(&p, |core, x| core.answer_leg(x, at));
        }
        self.answer_leg(ch, at);
        if let Some((a, _)) = bridge {
            if ch.hangup_cause.is_none() {
                self.bridged(ch, &a, at);
            }
        }
        // The originate's application on the caller's side (the recordings'
        // `&playback(silence_stream://-1)`) runs once the call is up.
        if let Some(p) = self.loopback_partner(ch) {
            self.with_channel(&p, |core, x| {
                if x.running.is_none() && x.hangup_cause.is_none() {
                    core.start_app(x, "playback", "silence_stream://-1", at);
                }
            });
        }
    }

    /// CHANNEL_BRIDGE: the call's own channel and the bridge's `-a` leg.
    fn bridged(&mut self, ch: &mut Channel, a: &str, at: SimTime) {
        let Some(other) = self.channels.get(a) else {
            return;
        };
        let headers = other.other_leg_headers(true);
        let name = other.name.clone();
        ch.other = Some(("originatee", headers));
        ch.vars.set("originate_disposition", "SUCCESS");
        ch.vars.set("originate_causes", &format!("{a};NONE"));
        ch.vars.set("last_bridge_to", a);
        ch.vars.set("bridge_channel", &name);
        ch.vars.set("bridge_uuid", a);
        ch.vars.set("signal_bond", a);
        ch.vars.set("last_bridge_role", "originator");
        self.bridge_event(ch, "CHANNEL_BRIDGE", a, at, events::SITE_BRIDGE);
        let main = ch.uuid.clone();
        let main_name = ch.name.clone();
        self.with_channel(a, |core, x| {
            x.vars.set("last_bridge_to", &main);
            x.vars.set("bridge_channel", &main_name);
            x.vars.set("bridge_uuid", &main);
            core.set_state(x, CS_EXCHANGE_MEDIA, at);
        });
    }

    fn bridge_event(&mut self, ch: &Channel, name: &str, other: &str, at: SimTime, site: Site) {
        if !self.wanted(name) {
            self.seq += 1;
            return;
        }
        let mut ev = self.base_event(name, at, site);
        put(&mut ev, "Bridge-A-Unique-ID", &ch.uuid);
        put(&mut ev, "Bridge-B-Unique-ID", other);
        ch.basic_data(&mut ev);
        ch.variables(&mut ev);
        self.fire(ev);
    }

    /// Hangs a channel up and, as the switch does, every other leg of its
    /// call. Causes as recorded (testdata/freeswitch-1.10): a loopback
    /// partner gets the cause as Q.850 (`switch_channel_get_cause_q850`:
    /// CALL_REJECTED stays, ALLOTTED_TIMEOUT and other causes above 127
    /// become NORMAL_CLEARING); across the bridge, the end of the bridge
    /// (NORMAL_CLEARING; ORIGINATOR_CANCEL for a callee still ringing when
    /// the caller's side goes).
    fn hangup(&mut self, ch: &mut Channel, cause: u16, by: HangupBy, at: SimTime) {
        if ch.hangup_cause.is_some() {
            return;
        }
        let peers = self.peers(ch);
        let bridge_up = (ch.kind == LegKind::BridgeA && ch.answered.is_some())
            || peers.iter().any(|u| {
                self.channels
                    .get(u)
                    .is_some_and(|c| c.kind == LegKind::BridgeA && c.answered.is_some())
            });
        let origin_side = side(ch.kind);
        self.hangup_leg(ch, cause, by, at, None);
        let origin = ch.uuid.clone();
        if self.teardown_lag > 0 {
            self.tearing_down.retain(|_, until| *until > at);
            for u in &peers {
                self.tearing_down.insert(u.clone(), at + self.teardown_lag);
            }
        }
        let q850 = |c: u16| if c <= 127 { c } else { cause::NORMAL_CLEARING };
        let bridge_end = if origin_side == 0 && !bridge_up {
            cause::ORIGINATOR_CANCEL
        } else {
            cause::NORMAL_CLEARING
        };
        for u in peers {
            self.with_channel(&u, |core, o| {
                let c = if side(o.kind) == origin_side {
                    q850(cause)
                } else if matches!(
                    o.kind,
                    LegKind::BridgeA | LegKind::LoopbackB | LegKind::Sofia
                ) {
                    // The two ends of the bridge.
                    bridge_end
                } else {
                    q850(bridge_end)
                };
                core.hangup_leg(o, c, by, at, Some(&origin));
            });
        }
    }

    fn answer_leg(&mut self, ch: &mut Channel, at: SimTime) {
        if ch.answered.is_some() || ch.hangup_cause.is_some() {
            return;
        }
        ch.answered = Some(at);
        ch.phase = Phase::Answered { at };
        ch.vars.set("endpoint_disposition", "ANSWER");
        if let Some(r) = self.records.get_mut(&ch.uuid) {
            r.answered = true;
            r.answered_at = Some(at);
        }
        self.with_vars(ch, "CHANNEL_ANSWER", at, events::SITE_ANSWER);
        self.set_callstate(ch, "ACTIVE", at);
        // execute_on_answer[_*]: applications the controller set before the answer.
        let apps: Vec<(String, String)> = ch
            .vars
            .iter()
            .filter(|(k, _)| *k == "execute_on_answer" || k.starts_with("execute_on_answer_"))
            .flat_map(|(_, v)| parse_app_list(v))
            .collect();
        for (app, arg) in apps {
            if ch.hangup_cause.is_some() {
                break;
            }
            self.log(&ch.uuid, at, format!("execute_on_answer {app} {arg}"));
            self.execute(ch, &app, &arg, AppOrigin::OnAnswer, at);
        }
        ch.notify.notify_one();
    }

    /// Hangs one channel up: CHANNEL_HANGUP, CHANNEL_HANGUP_COMPLETE,
    /// CHANNEL_DESTROY, and the record is closed. `origin`: the leg whose
    /// hangup this follows.
    fn hangup_leg(
        &mut self,
        ch: &mut Channel,
        cause: u16,
        by: HangupBy,
        at: SimTime,
        origin: Option<&str>,
    ) {
        if ch.hangup_cause.is_some() {
            return;
        }
        // Recorded: the caller's side's playback stops before its hangup
        // when the other side went first, after it otherwise.
        if ch.kind == LegKind::LoopbackA && origin.is_some() {
            self.end_app(ch, at);
        }
        ch.hangup_cause = Some(cause);
        ch.hungup = Some(at);
        let disposition = match by {
            _ if ch.kind != LegKind::Sofia => "",
            HangupBy::Caller => {
                ch.vars.set("sip_term_status", "200");
                ch.vars.set("proto_specific_hangup_cause", "sip:200");
                ch.vars.set("sip_term_cause", &cause.to_string());
                "recv_bye"
            }
            HangupBy::Abandon => {
                ch.vars.set("sip_term_status", "487");
                ch.vars.set("proto_specific_hangup_cause", "sip:487");
                ch.vars.set("sip_term_cause", "487");
                "recv_cancel"
            }
            _ if ch.answered.is_some() => "send_bye",
            _ => "send_refuse",
        };
        if !disposition.is_empty() {
            ch.vars.set("sip_hangup_disposition", disposition);
        }
        ch.vars.set("hangup_cause", cause2str(cause));
        ch.vars.set("hangup_cause_q850", &cause.to_string());
        self.set_callstate(ch, "HANGUP", at);
        ch.state = CS_HANGUP;
        self.with_vars(ch, "CHANNEL_HANGUP", at, events::SITE_HANGUP);
        self.end_app(ch, at);
        self.unpark(ch, at);
        if ch.owner == ch.uuid && ch.other.is_some() {
            let other = ch.vars.get("bridge_uuid").unwrap_or_default().to_owned();
            self.bridge_event(ch, "CHANNEL_UNBRIDGE", &other, at, events::SITE_UNBRIDGE);
            ch.vars.set("bridge_hangup_cause", "NORMAL_CLEARING");
            let (app, data) = (
                "bridge",
                bridge_data(&ch.spec.bridge.clone().unwrap_or_default()),
            );
            let app_uuid = new_uuid();
            self.chan_event(
                ch,
                "CHANNEL_EXECUTE_COMPLETE",
                at,
                events::SITE_EXECUTE_COMPLETE,
                Extra {
                    app: Some((app, &data, Some("_none_"), &app_uuid)),
                    vars: true,
                    ..Default::default()
                },
            );
        }
        self.set_state(ch, CS_HANGUP, at);
        ch.set_timestamps();
        if ch.kind == LegKind::BridgeA && origin.is_some_and(|o| o != ch.owner) {
            // Recorded: when the caller's side hangs up first, the bridge is
            // torn down before this leg reports, and its call uuid is its
            // own again (fs_bridge_ok); when the parked leg hangs up first,
            // it still names the parked leg (fs_run_out).
            let own = ch.uuid.clone();
            ch.vars.set("call_uuid", &own);
        }
        self.set_state(ch, CS_REPORTING, at);
        // The reporting state runs the modules' handlers (mod_json_cdr's
        // my_on_reporting) before it fires CHANNEL_HANGUP_COMPLETE; without
        // a queue the module posts right there, so the rest waits for it.
        if let Some(sink) = &self.cdr {
            if sink.report(&self.id, ch, at) && !sink.config.queue {
                let d = Deferred {
                    cause,
                    by,
                    at,
                    origin: origin.map(str::to_owned),
                    task: self.running_task,
                };
                self.deferred.insert(ch.uuid.clone(), d);
                return;
            }
        }
        let task = self.running_task;
        self.complete_hangup(ch, cause, by, at, origin, task, at);
    }

    /// mod_json_cdr is done with the channel's CDR: a channel waiting for
    /// it fires CHANNEL_HANGUP_COMPLETE and is destroyed, now.
    pub(crate) fn reported(&mut self, uuid: &str, now: SimTime) {
        let Some(d) = self.deferred.remove(uuid) else {
            return;
        };
        self.with_channel(uuid, |core, ch| {
            let origin = d.origin.as_deref();
            core.complete_hangup(ch, d.cause, d.by, d.at, origin, d.task, now)
        });
    }

    /// The end of a hangup (hung up at `at`; reporting done at `now`):
    /// CHANNEL_HANGUP_COMPLETE, CHANNEL_DESTROY, the record closed.
    #[allow(clippy::too_many_arguments)]
    fn complete_hangup(
        &mut self,
        ch: &mut Channel,
        cause: u16,
        by: HangupBy,
        at: SimTime,
        origin: Option<&str>,
        task: Option<u32>,
        now: SimTime,
    ) {
        self.chan_event(
            ch,
            "CHANNEL_HANGUP_COMPLETE",
            now,
            events::SITE_HANGUP_COMPLETE,
            Extra {
                cause_first: true,
                vars: true,
                ..Default::default()
            },
        );
        if ch.kind == LegKind::BridgeA {
            let own = ch.uuid.clone();
            ch.vars.set("call_uuid", &own);
        }
        ch.state = CS_DESTROY;
        self.with_vars(ch, "CHANNEL_DESTROY", now, events::SITE_DESTROY);
        self.set_callstate(ch, "DOWN", now);
        self.set_state(ch, CS_DESTROY, now);
        if let Some(r) = self.records.get_mut(&ch.uuid) {
            let num = |k: &str| ch.vars.get(k).and_then(|v| v.parse().ok()).unwrap_or(0);
            r.ended_at = Some(at);
            r.billsec = num("billsec");
            r.billusec = num("billusec");
            r.duration = num("duration");
            r.hangup_cause = Some(cause2str(cause).to_owned());
            r.hangup_by = Some(by);
            r.hangup_leg = origin.map(str::to_owned);
            r.sched_task = task;
            r.destination = ch.profile.destination.clone();
            r.variables = ch.vars.clone();
        }
        // This call's tasks already due have run; the rest stay until their
        // time (sched_del counts them). Other calls' tasks are theirs to run,
        // even when their timers fire late on a loaded machine.
        let uuid = ch.uuid.clone();
        for id in self.sched.group(&uuid) {
            if self.sched.get(&id).is_some_and(|t| t.when <= at) {
                self.sched.remove(&id);
            }
        }
        ch.notify.notify_one();
        self.ended.send_modify(|n| *n += 1);
    }

    /// `switch_ivr_session_transfer`: a new caller profile for `dest`, out
    /// of park, and back to ringing if not answered yet.
    fn transfer(
        &mut self,
        ch: &mut Channel,
        dest: &str,
        dialplan: Option<&str>,
        context: Option<&str>,
        at: SimTime,
    ) {
        let mut old = ch.profile.clone();
        old.transferred = at;
        ch.earlier.push(old);
        let p = &mut ch.profile;
        let dialplan = dialplan.unwrap_or(&p.dialplan).to_owned();
        let context = context.unwrap_or(&p.context).to_owned();
        let source = format!(
            "{}:{}:bl_xfer:{dest}/{context}/{dialplan}",
            at.div_euclid(1_000_000),
            new_uuid()
        );
        p.rdnis = Some(std::mem::replace(&mut p.destination, dest.to_owned()));
        p.dialplan = dialplan;
        p.context = context;
        p.index += 1;
        p.created = at;
        // switch_channel_set_caller_profile stamps the transfer on the old
        // profile; the new one's is 0, as Caller-Channel-Transfer-Time
        // shows in the recordings (Caller-Profile-Index 2, Transfer-Time 0).
        p.transferred = 0;
        p.transfer_source = Some(source.clone());
        ch.vars.set("transfer_history", &source);
        ch.vars.set("transfer_source", &source);
        self.unpark(ch, at);
        self.set_state(ch, CS_ROUTING, at);
        self.set_state(ch, CS_EXECUTE, at);
        if ch.answered.is_none() {
            ch.phase = Phase::Ringing { since: at };
        }
        if let Some(r) = self.records.get_mut(&ch.uuid) {
            r.transferred = true;
            r.destination = dest.to_owned();
        }
        // The recordings' dialplan (testdata/freeswitch-1.10/dialplan_prepaid.xml):
        // a refused call is hung up, an authorized one bridged.
        if ch.spec.bridge.is_some()
            && ch.owner == ch.uuid
            && ch.answered.is_none()
            && self.bridge_legs(ch).is_none()
        {
            if ch
                .vars
                .get("cgr_notify")
                .is_some_and(|n| n.starts_with('-'))
            {
                self.execute(ch, "hangup", "CALL_REJECTED", AppOrigin::Dialplan, at);
            } else {
                self.start_bridge(ch, at);
            }
        }
        ch.notify.notify_one();
    }

    /// Runs a dialplan application on the channel (sendmsg `execute`,
    /// `execute_on_answer`): CHANNEL_EXECUTE, its effect, CHANNEL_EXECUTE_COMPLETE.
    fn execute(&mut self, ch: &mut Channel, app: &str, arg: &str, origin: AppOrigin, at: SimTime) {
        let app_uuid = new_uuid();
        ch.vars.set("current_application", app);
        if arg.is_empty() {
            ch.vars.remove("current_application_data");
        } else {
            ch.vars.set("current_application_data", arg);
        }
        ch.last_app = Some((app.to_owned(), arg.to_owned()));
        ch.apps.push((app.to_owned(), arg.to_owned(), at));
        self.chan_event(
            ch,
            "CHANNEL_EXECUTE",
            at,
            events::SITE_EXECUTE,
            Extra {
                app: Some((app, arg, None, &app_uuid)),
                vars: true,
                ..Default::default()
            },
        );
        let mut words = arg.split(' ').filter(|w| !w.is_empty());
        match app.to_ascii_lowercase().as_str() {
            "hangup" => {
                let by = match origin {
                    AppOrigin::SendMsg => HangupBy::SendMsg,
                    AppOrigin::OnAnswer | AppOrigin::Dialplan => HangupBy::Application,
                };
                self.hangup(ch, str2cause(arg), by, at);
                return;
            }
            "sched_hangup" => {
                if let Some(time) = words.next() {
                    let cause = words.next().map_or(cause::ALLOTTED_TIMEOUT, str2cause);
                    let (when, sec) = parse_when(time, at);
                    if sec == 0 {
                        self.hangup(ch, cause, HangupBy::SchedHangup, at);
                        return;
                    }
                    self.schedule_hangup(ch, when, cause);
                }
            }
            "set" | "export" => {
                if let Some((k, v)) = arg.split_once('=') {
                    if v.is_empty() {
                        ch.vars.remove(k);
                    } else {
                        ch.vars.set(k, v);
                    }
                }
            }
            "unset" => {
                ch.vars.remove(arg.trim());
            }
            "answer" => self.answer(ch, at),
            "park" if !ch.parked => {
                self.park(ch, at);
                return;
            }
            "transfer" => {
                if let Some(dest) = words.next() {
                    let dp = words.next().map(str::to_owned);
                    let cx = words.next().map(str::to_owned);
                    self.transfer(ch, dest, dp.as_deref(), cx.as_deref(), at);
                }
            }
            _ => {}
        }
        self.chan_event(
            ch,
            "CHANNEL_EXECUTE_COMPLETE",
            at,
            events::SITE_EXECUTE_COMPLETE,
            Extra {
                app: Some((app, arg, Some("_none_"), &app_uuid)),
                vars: true,
                ..Default::default()
            },
        );
    }

    fn schedule_hangup(&mut self, ch: &mut Channel, when: SimTime, cause: u16) -> u32 {
        let id = self.next_task;
        self.next_task += 1;
        self.sched.insert(
            id,
            SchedTask {
                group: ch.uuid.clone(),
                when,
                kind: TaskKind::Hangup(cause),
            },
        );
        ch.sched.push(id);
        ch.notify.notify_one();
        id
    }

    // ---- operations the API and the library use ---------------------------

    pub(crate) fn exists(&self, uuid: &str) -> bool {
        self.channels.contains_key(uuid)
    }

    /// A leg another leg's hangup took along less than `teardown_lag` ago:
    /// on the switch it is still hanging up (noted in its log as `what`).
    pub(crate) fn tearing_down(&mut self, uuid: &str, what: Option<String>) -> bool {
        let now = self.now();
        let yes = self
            .tearing_down
            .get(uuid)
            .is_some_and(|until| *until > now);
        if let (true, Some(what)) = (yes, what) {
            self.log(uuid, now, what);
        }
        yes
    }

    /// `uuid_kill`, `hupall`, a programmatic caller hangup.
    pub(crate) fn kill(&mut self, uuid: &str, cause: u16, by: HangupBy, what: String) -> bool {
        if !self.channels.contains_key(uuid) {
            return false;
        }
        let at = self.now();
        self.log(uuid, at, what);
        self.with_channel(uuid, |core, ch| core.hangup(ch, cause, by, at))
            .is_some()
    }

    /// `sched_hangup`: false when there is no such channel.
    pub(crate) fn sched_hangup(
        &mut self,
        uuid: &str,
        time: &str,
        cause: u16,
        what: String,
    ) -> bool {
        if !self.channels.contains_key(uuid) {
            return false;
        }
        let at = self.now();
        let (when, sec) = parse_when(time, at);
        self.log(uuid, at, what);
        self.with_channel(uuid, |core, ch| {
            if sec == 0 {
                core.hangup(ch, cause, HangupBy::SchedHangup, at);
            } else {
                // A time already past runs at once, as the switch's scheduler does.
                core.schedule_hangup(ch, when.max(at), cause);
            }
        })
        .is_some()
    }

    /// `sched_del`: by task id (digits) or group (a channel uuid); how many
    /// went. Tasks whose time has passed have already run on the switch;
    /// here a channel's timer may still be about to fire one (the simulated
    /// clock runs fast), so those are left to fire, never silently dropped.
    pub(crate) fn sched_del(&mut self, what: &str) -> u32 {
        let now = self.now();
        let ids: Vec<u32> = if !what.is_empty() && what.bytes().all(|b| b.is_ascii_digit()) {
            what.parse::<u32>()
                .ok()
                .filter(|id| *id > 0 && self.sched.get(id).is_some_and(|t| t.when > now))
                .into_iter()
                .collect()
        } else {
            self.sched
                .group(what)
                .into_iter()
                .filter(|id| self.sched.get(id).is_some_and(|t| t.when > now))
                .collect()
        };
        for id in &ids {
            if let Some(task) = self.sched.remove(id) {
                if let Some(ch) = self.channels.get_mut(&task.group) {
                    ch.sched.retain(|x| x != id);
                    ch.notify.notify_one();
                }
                self.api_notify.notify_one();
                self.log(&task.group, now, format!("sched_del task {id}"));
            }
        }
        ids.len() as u32
    }

    /// `sched_api`: adds a task running `line` at `when` (again every
    /// `recur` s when not zero) in `group`; its id.
    pub(crate) fn sched_api(&mut self, when: SimTime, group: &str, line: &str, recur: u32) -> u32 {
        let id = self.next_task;
        self.next_task += 1;
        self.sched.insert(
            id,
            SchedTask {
                group: group.to_owned(),
                when,
                kind: TaskKind::Api {
                    line: line.to_owned(),
                    recur,
                },
            },
        );
        self.log(group, self.now(), format!("sched_api task {id}: {line}"));
        self.api_notify.notify_one();
        id
    }

    /// When the next `sched_api` task is due.
    pub(crate) fn next_api_due(&self) -> Option<SimTime> {
        self.sched.next_api_due()
    }

    /// Runs the earliest `sched_api` task due by `upto` through `run`
    /// (stamped with its due time, recorded as its firing); false when
    /// none is due.
    pub(crate) fn run_api_due(
        &mut self,
        upto: SimTime,
        run: impl FnOnce(&mut Core, &str) -> String,
    ) -> bool {
        let due = self.sched.first_api_due_by(upto);
        let Some(id) = due else {
            return false;
        };
        let Some(mut task) = self.sched.remove(&id) else {
            return false;
        };
        let TaskKind::Api { line, recur } = task.kind.clone() else {
            return false;
        };
        let when = task.when;
        if recur > 0 {
            task.when += i64::from(recur) * 1_000_000;
            self.sched.insert(id, task);
        }
        self.frozen = Some(when);
        self.running_task = Some(id);
        run(self, &line);
        self.frozen = None;
        self.running_task = None;
        true
    }

    /// The scheduler task running now (a `sched_api` task's command).
    pub(crate) fn running_task(&self) -> Option<u32> {
        self.running_task
    }

    pub(crate) fn setvar(&mut self, uuid: &str, name: &str, value: Option<&str>) -> bool {
        let at = self.now();
        let ok = match self.channels.get_mut(uuid) {
            Some(ch) => {
                match value {
                    Some(v) if !v.is_empty() => ch.vars.set(name, v),
                    _ => {
                        ch.vars.remove(name);
                    }
                }
                true
            }
            None => false,
        };
        if ok {
            self.log(
                uuid,
                at,
                format!("uuid_setvar {name} {}", value.unwrap_or("")),
            );
        }
        ok
    }

    /// `uuid_dump <uuid>`: a CHANNEL_DATA event of the live channel (its
    /// headers, caller profile and variables), as mod_commands builds it.
    pub(crate) fn dump(&mut self, uuid: &str) -> Option<Event> {
        let at = self.now();
        let mut ev = self.base_event("CHANNEL_DATA", at, crate::events::SITE_DUMP);
        let ch = self.channels.get(uuid)?;
        ch.basic_data(&mut ev);
        ch.variables(&mut ev);
        Some(ev)
    }

    pub(crate) fn getvar(&self, uuid: &str, name: &str) -> Option<Option<String>> {
        self.channels
            .get(uuid)
            .map(|ch| ch.vars.get(name).map(str::to_owned))
    }

    pub(crate) fn transfer_uuid(
        &mut self,
        uuid: &str,
        dest: &str,
        dialplan: Option<&str>,
        context: Option<&str>,
    ) -> bool {
        if !self.channels.contains_key(uuid) {
            return false;
        }
        let at = self.now();
        self.log(uuid, at, format!("uuid_transfer {dest}"));
        self.with_channel(uuid, |core, ch| {
            core.transfer(ch, dest, dialplan, context, at)
        })
        .is_some()
    }

    pub(crate) fn answer_uuid(&mut self, uuid: &str) -> bool {
        if !self.channels.contains_key(uuid) {
            return false;
        }
        let at = self.now();
        self.log(uuid, at, "uuid_answer".into());
        self.with_channel(uuid, |core, ch| core.answer(ch, at))
            .is_some()
    }

    /// Notes something done to a channel (`uuid_broadcast`…); false when absent.
    pub(crate) fn note(&mut self, uuid: &str, what: String) -> bool {
        if !self.channels.contains_key(uuid) {
            return false;
        }
        let at = self.now();
        self.log(uuid, at, what);
        true
    }

    /// `sendmsg`: `call-command: execute` runs an application, `hangup`
    /// hangs up. False when there is no such channel.
    pub(crate) fn sendmsg(&mut self, uuid: &str, cmd: &esl::Command) -> bool {
        let at = self.now();
        let call_command = cmd
            .header("call-command")
            .unwrap_or("")
            .to_ascii_lowercase();
        let app = cmd.header("execute-app-name").unwrap_or("").to_owned();
        let arg = cmd
            .header("execute-app-arg")
            .map(str::to_owned)
            .or_else(|| cmd.body().map(|b| String::from_utf8_lossy(b).into_owned()))
            .unwrap_or_default();
        let cause = cmd.header("hangup-cause").unwrap_or("").to_owned();
        if !self.channels.contains_key(uuid) {
            return false;
        }
        self.log(
            uuid,
            at,
            match call_command.as_str() {
                "execute" => format!("sendmsg execute {app} {arg}"),
                "hangup" => format!("sendmsg hangup {cause}"),
                other => format!("sendmsg {other}"),
            },
        );
        self.with_channel(uuid, |core, ch| match call_command.as_str() {
            "execute" if !app.is_empty() => core.execute(ch, &app, &arg, AppOrigin::SendMsg, at),
            "hangup" => core.hangup(ch, str2cause(&cause), HangupBy::SendMsg, at),
            _ => {}
        });
        true
    }

    /// `hupall`: every channel (or those whose variable matches each given
    /// pair); how many.
    pub(crate) fn hupall(
        &mut self,
        cause: u16,
        matching: &[(String, String)],
        what: &str,
    ) -> usize {
        let mut uuids: Vec<(SimTime, String)> = self
            .channels
            .values()
            .filter(|ch| {
                matching
                    .iter()
                    .all(|(k, v)| ch.vars.get(k).is_some_and(|x| x == v))
            })
            .map(|ch| (ch.created, ch.uuid.clone()))
            .collect();
        uuids.sort();
        for (_, uuid) in &uuids {
            self.kill(uuid, cause, HangupBy::Hupall, what.to_owned());
        }
        uuids.len()
    }

    /// Channels oldest first.
    pub(crate) fn channels_by_age(&self) -> Vec<&Channel> {
        let mut v: Vec<&Channel> = self.channels.values().collect();
        v.sort_by(|a, b| (a.created, &a.uuid).cmp(&(b.created, &b.uuid)));
        v
    }

    /// The channel table as `show channels` reads it: channels created at
    /// least `table_lag` ago, oldest first.
    pub(crate) fn channel_table(&self) -> Vec<&Channel> {
        let now = self.now();
        let mut v = self.channels_by_age();
        v.retain(|ch| ch.created + self.table_lag <= now);
        v
    }

    pub(crate) fn active_count(&self) -> usize {
        self.channels.len()
    }

    pub(crate) fn pending_count(&self) -> usize {
        self.reserved.len()
    }

    pub(crate) fn sessions_total(&self) -> u64 {
        self.sessions_total
    }

    pub(crate) fn peak(&self) -> usize {
        self.peak
    }

    pub(crate) fn record(&self, uuid: &str) -> Option<CallRecord> {
        let mut r = self.records.get(uuid)?.clone();
        if let Some(ch) = self.channels.get(uuid) {
            r.variables = ch.vars.clone();
            r.destination = ch.profile.destination.clone();
        }
        Some(r)
    }

    /// Every record by creation time (a late-woken start task may create
    /// a call after one planned later; its time is still the planned one).
    pub(crate) fn records(&self) -> Vec<CallRecord> {
        let mut v: Vec<CallRecord> = self
            .record_order
            .iter()
            .filter_map(|u| self.record(u))
            .collect();
        v.sort_by_key(|r| r.created_at);
        v
    }

    /// HEARTBEAT.
    pub(crate) fn heartbeat(&mut self, at: SimTime) {
        if !self.wanted("HEARTBEAT") {
            self.seq += 1;
            return;
        }
        let uptime = std::time::Duration::from_micros((at - self.clock.start()).max(0) as u64);
        let mut ev = self.base_event("HEARTBEAT", at, events::SITE_HEARTBEAT);
        put(&mut ev, "Event-Info", "System Ready");
        put(&mut ev, "Up-Time", &events::uptime_text(uptime));
        put(&mut ev, "FreeSWITCH-Version", crate::VERSION);
        put(&mut ev, "Uptime-msec", &(uptime.as_millis()).to_string());
        put(&mut ev, "Session-Count", &self.channels.len().to_string());
        put(&mut ev, "Max-Sessions", &self.max_sessions.to_string());
        put(&mut ev, "Session-Per-Sec", "30");
        put(&mut ev, "Session-Per-Sec-Last", "0");
        put(&mut ev, "Session-Per-Sec-Max", "0");
        put(&mut ev, "Session-Per-Sec-FiveMin", "0");
        put(
            &mut ev,
            "Session-Since-Startup",
            &self.sessions_total.to_string(),
        );
        put(&mut ev, "Session-Peak-Max", &self.peak.to_string());
        put(&mut ev, "Session-Peak-FiveMin", &self.peak.to_string());
        put(&mut ev, "Idle-CPU", "99.000000");
        self.fire(ev);
    }
}

/// `[+]N` of sched_hangup: the due time and the `sec` the switch tests for
/// zero (`atol(argv[0] + 1)`, whatever the first character).
pub(crate) fn parse_when(arg: &str, now: SimTime) -> (SimTime, i64) {
    let atol = |s: &str| -> i64 {
        let s = s.trim_start();
        let (neg, digits) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let n: i64 = digits
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .unwrap_or(0);
        if neg {
            -n
        } else {
            n
        }
    };
    let sec = atol(arg.get(1..).unwrap_or(""));
    let when = if arg.starts_with('+') {
        now + sec * 1_000_000
    } else {
        atol(arg) * 1_000_000
    };
    (when, sec)
}

/// Which side of a bridge a leg is on: the caller's (0) or the callee's (1).
fn side(kind: LegKind) -> u8 {
    match kind {
        LegKind::Sofia | LegKind::LoopbackA | LegKind::LoopbackB => 0,
        LegKind::BridgeA | LegKind::BridgeB => 1,
    }
}

/// The bridge string of the recordings' dialplan, with `vars` as `{k=v,…}`.
fn bridge_data(vars: &Vars) -> String {
    format!(
        "{{{}}}loopback/9999/prepaid_term",
        vars.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    )
}

/// `app arg` or `app::arg`, or `ARRAY::app arg|:app arg`.
fn parse_app_list(value: &str) -> Vec<(String, String)> {
    let items: Vec<&str> = match value.strip_prefix("ARRAY::") {
        Some(rest) => rest.split("|:").collect(),
        None => vec![value],
    };
    items
        .into_iter()
        .filter_map(|item| {
            let item = item.trim();
            if item.is_empty() {
                return None;
            }
            let (app, arg) = match (item.find(' '), item.find("::")) {
                (Some(s), Some(c)) if c < s => (&item[..c], &item[c + 2..]),
                (None, Some(c)) => (&item[..c], &item[c + 2..]),
                (Some(s), _) => (&item[..s], &item[s + 1..]),
                (None, None) => (item, ""),
            };
            Some((app.to_owned(), arg.trim().to_owned()))
        })
        .collect()
}

trait Earlier {
    fn is_none_or_later(&self, t: SimTime, a: Action) -> bool;
}

impl Earlier for Option<(SimTime, Action)> {
    fn is_none_or_later(&self, t: SimTime, a: Action) -> bool {
        match self {
            None => true,
            Some(best) => (t, a) < *best,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when() {
        assert_eq!(parse_when("+60", 1_000_000), (61_000_000, 60));
        assert_eq!(parse_when("+0", 5), (5, 0));
        assert_eq!(
            parse_when("1700000000", 5),
            (1_700_000_000_000_000, 700000000)
        );
    }

    #[test]
    fn app_lists() {
        assert_eq!(
            parse_app_list("sched_hangup +120 alloted_timeout"),
            vec![("sched_hangup".into(), "+120 alloted_timeout".into())]
        );
        assert_eq!(
            parse_app_list("ARRAY::set::a=1|:hangup"),
            vec![
                ("set".into(), "a=1".into()),
                ("hangup".into(), String::new())
            ]
        );
    }
}
