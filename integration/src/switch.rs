//! [`FakeSwitch`]: the simulator started in-process, and the handle tests
//! drive it with.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::cause::str2cause;
use crate::clock::{secs_to_us, SimClock, SimTime};
use crate::core::{Core, Due};
use crate::events::Identity;
use crate::json_cdr::{CdrOutcome, CdrPost, CdrSink, JsonCdrConfig};
use crate::record::{CallRecord, HangupBy};
use crate::scenario::{CallSpec, LoadSpec, Scenario, ScenarioStart};

/// How to start a [`FakeSwitch`].
#[derive(Clone, Debug)]
pub struct SwitchConfig {
    /// Address to listen on; port 0 picks a free one (see [`FakeSwitch::addr`]).
    pub listen: SocketAddr,
    /// The Event Socket password (`auth <password>`).
    pub password: String,
    /// Clock scale factor: simulated seconds per real second.
    pub speed: f64,
    /// `FreeSWITCH-Hostname` / `-Switchname`.
    pub hostname: String,
    /// `Core-UUID`; random when `None`.
    pub core_uuid: Option<String>,
    /// HEARTBEAT interval in simulated time (the switch's is 20 s); zero: none.
    pub heartbeat: Duration,
    /// Simulated wall-clock time at start; now when `None`.
    pub start_time: Option<SystemTime>,
    /// Calls to run.
    pub scenario: Scenario,
    /// How long (simulated) after its CHANNEL_CREATE a channel shows in
    /// `show channels`/`show calls`: the switch writes its channel table
    /// from a queue, behind its events. Measured on FreeSWITCH 1.10.12
    /// (`testdata/freeswitch-1.10/fs_run_out.wire`): a channel 4 ms old is
    /// missing, one 24 ms old is listed; default 20 ms. `uuid_exists` and
    /// `uuid_getvar` look at the live session and are not lagged.
    pub channel_table_lag: Duration,
    /// How long (simulated) a leg that another leg's hangup takes along
    /// still answers `uuid_kill` (`+OK`, nothing more happens) and
    /// `uuid_exists` (`true`): the simulator ends the whole call at once,
    /// the switch takes a while. Recorded
    /// (`tollgate_default_config_bridge.wire`): a `uuid_kill` of `9999-b`
    /// 0.2 ms after one of `9999-a` answered `+OK`, the legs reported
    /// their end some 20 ms later; default 20 ms.
    pub teardown_lag: Duration,
    /// mod_json_cdr: POST one JSON CDR per channel when it reports (see
    /// [`JsonCdrConfig`]); None (default): not loaded.
    pub json_cdr: Option<JsonCdrConfig>,
}

impl Default for SwitchConfig {
    fn default() -> Self {
        SwitchConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            password: "ClueCon".to_owned(),
            speed: 1.0,
            hostname: "fake-freeswitch".to_owned(),
            core_uuid: None,
            heartbeat: Duration::from_secs(20),
            start_time: None,
            scenario: Scenario::default(),
            channel_table_lag: Duration::from_millis(20),
            teardown_lag: Duration::from_millis(20),
            json_cdr: None,
        }
    }
}

impl SwitchConfig {
    /// Defaults with this clock speed.
    pub fn with_speed(speed: f64) -> Self {
        SwitchConfig {
            speed,
            ..Default::default()
        }
    }
}

/// Errors placing calls.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SimError {
    /// The spec is invalid (negative time, duplicate uuid…).
    #[error("invalid call: {0}")]
    InvalidCall(String),
}

/// State shared by the handle, the connections and the call tasks.
pub(crate) struct Shared {
    core: Mutex<Core>,
    pub clock: SimClock,
    pub password: String,
    /// Everything stops when cancelled.
    pub root: CancellationToken,
    /// Set once a connection enables events.
    first_sub: watch::Sender<bool>,
    /// Calls placed for later and not created yet, plus running scenario loaders.
    loaders: watch::Sender<usize>,
}

impl Shared {
    pub(crate) fn core(&self) -> MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn first_subscription(&self) {
        self.first_sub
            .send_if_modified(|v| !std::mem::replace(v, true));
    }

    /// Places a call to start `spec.at` simulated seconds from now.
    pub(crate) fn place(self: &Arc<Self>, spec: CallSpec) -> Result<String, SimError> {
        let start = self.clock.now() + secs_to_us(spec.at);
        self.place_at(spec, start)
    }

    /// Places a call to start at `start`; created at once when due.
    pub(crate) fn place_at(
        self: &Arc<Self>,
        spec: CallSpec,
        start: SimTime,
    ) -> Result<String, SimError> {
        let uuid = self.core().reserve(&spec).map_err(SimError::InvalidCall)?;
        if start <= self.clock.now() {
            // Stamped at its planned time, so scenario offsets stay exact.
            self.create(&uuid, spec, start);
        } else {
            let shared = self.clone();
            let id = uuid.clone();
            tokio::spawn(async move {
                tokio::select! {
                    _ = shared.root.cancelled() => {}
                    _ = shared.clock.sleep_until(start) => shared.create(&id, spec, start),
                }
            });
        }
        Ok(uuid)
    }

    /// Creates the channel and starts the task that drives its timers.
    fn create(self: &Arc<Self>, uuid: &str, spec: CallSpec, at: SimTime) {
        let notify = self.core().create(uuid, spec, at);
        let shared = self.clone();
        let uuid = uuid.to_owned();
        tokio::spawn(async move {
            loop {
                let due = shared.core().next_due(&uuid);
                tokio::select! {
                    _ = shared.root.cancelled() => return,
                    _ = notify.notified() => {}
                    _ = async {
                        match due {
                            Due::At(t) => shared.clock.sleep_until(t).await,
                            _ => std::future::pending().await,
                        }
                    } => {
                        if let Due::At(t) = due {
                            shared.core().run_due(&uuid, t);
                        }
                    }
                }
                if shared.core().next_due(&uuid) == Due::Gone {
                    return;
                }
            }
        });
    }

    /// Starts `load` at `start`, one call after the other.
    fn run_load(self: &Arc<Self>, load: LoadSpec, start: SimTime) -> Result<Vec<String>, SimError> {
        load.validate().map_err(SimError::InvalidCall)?;
        let mut planned = Vec::with_capacity(load.calls as usize);
        for n in 1..=load.calls {
            let spec = load.call(n);
            let uuid = self.core().reserve(&spec).map_err(SimError::InvalidCall)?;
            let at = start + secs_to_us(spec.at);
            planned.push((uuid, spec, at));
        }
        let uuids = planned.iter().map(|(u, _, _)| u.clone()).collect();
        self.loaders.send_modify(|n| *n += 1);
        let shared = self.clone();
        tokio::spawn(async move {
            for (uuid, spec, at) in planned {
                tokio::select! {
                    _ = shared.root.cancelled() => break,
                    _ = shared.clock.sleep_until(at) => shared.create(&uuid, spec, at),
                }
            }
            shared.loaders.send_modify(|n| *n -= 1);
        });
        Ok(uuids)
    }

    fn run_scenario(self: &Arc<Self>, scenario: Scenario) {
        if scenario.calls.is_empty() && scenario.load.is_none() {
            return;
        }
        self.loaders.send_modify(|n| *n += 1);
        let shared = self.clone();
        tokio::spawn(async move {
            if scenario.start == ScenarioStart::OnFirstSubscription {
                let mut rx = shared.first_sub.subscribe();
                tokio::select! {
                    _ = shared.root.cancelled() => return,
                    _ = rx.wait_for(|v| *v) => {}
                }
            }
            let base = shared.clock.now();
            for spec in scenario.calls {
                let start = base + secs_to_us(spec.at);
                if let Err(e) = shared.place_at(spec, start) {
                    eprintln!("fake-freeswitch: scenario call refused: {e}");
                }
            }
            if let Some(load) = scenario.load {
                let start = base + secs_to_us(load.at);
                if let Err(e) = shared.run_load(load, start) {
                    eprintln!("fake-freeswitch: scenario load refused: {e}");
                }
            }
            shared.loaders.send_modify(|n| *n -= 1);
        });
    }
}

struct Acceptor {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

/// A running simulated FreeSWITCH. Dropping it stops everything: the
/// listener, every connection and every call task.
pub struct FakeSwitch {
    shared: Arc<Shared>,
    addr: SocketAddr,
    acceptor: Mutex<Option<Acceptor>>,
}

impl FakeSwitch {
    /// Binds `config.listen`, starts the heartbeat and the scenario, and
    /// accepts Event Socket connections.
    pub async fn start(config: SwitchConfig) -> std::io::Result<FakeSwitch> {
        config
            .scenario
            .validate()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        if !(config.speed.is_finite() && config.speed > 0.0) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("speed must be > 0, got {}", config.speed),
            ));
        }
        let clock = match config.start_time {
            Some(t) => SimClock::starting_at(config.speed, t),
            None => SimClock::new(config.speed),
        };
        let id = Identity {
            core_uuid: config
                .core_uuid
                .clone()
                .unwrap_or_else(crate::channel::new_uuid),
            hostname: config.hostname.clone(),
            ipv4: "127.0.0.1".to_owned(),
            ipv6: "::1".to_owned(),
        };
        let mut core = Core::new(id, clock.clone());
        core.table_lag = secs_to_us(config.channel_table_lag.as_secs_f64());
        core.teardown_lag = secs_to_us(config.teardown_lag.as_secs_f64());
        let cdr_rx = config.json_cdr.clone().map(|c| {
            let (sink, rx) = CdrSink::new(c);
            core.cdr = Some(sink);
            rx
        });
        let shared = Arc::new(Shared {
            core: Mutex::new(core),
            clock,
            password: config.password.clone(),
            root: CancellationToken::new(),
            first_sub: watch::Sender::new(false),
            loaders: watch::Sender::new(0),
        });
        let listener = TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let switch = FakeSwitch {
            shared: shared.clone(),
            addr,
            acceptor: Mutex::new(None),
        };
        switch.spawn_acceptor(listener);
        if !config.heartbeat.is_zero() {
            let shared = shared.clone();
            let every = secs_to_us(config.heartbeat.as_secs_f64()).max(1);
            tokio::spawn(async move {
                let mut next = shared.clock.now() + every;
                loop {
                    tokio::select! {
                        _ = shared.root.cancelled() => return,
                        _ = shared.clock.sleep_until(next) => shared.core().heartbeat(next),
                    }
                    next += every;
                }
            });
        }
        {
            // The switch's scheduler: sched_api tasks (sched_hangup ones are
            // run by their call's task, stamped with their due time).
            let shared = shared.clone();
            tokio::spawn(async move {
                let notify = shared.core().api_notify.clone();
                loop {
                    let due = shared.core().next_api_due();
                    tokio::select! {
                        _ = shared.root.cancelled() => return,
                        _ = notify.notified() => {}
                        _ = async {
                            match due {
                                Some(t) => shared.clock.sleep_until(t).await,
                                None => std::future::pending().await,
                            }
                        } => {
                            let upto = shared.clock.now();
                            let mut core = shared.core();
                            while core.run_api_due(upto, crate::api::run_line) {}
                        }
                    }
                }
            });
        }
        if let Some(rx) = cdr_rx {
            let (cfg, posts, changed) = {
                let core = shared.core();
                let sink = core.cdr.as_ref().expect("configured");
                (
                    sink.config.clone(),
                    sink.posts.clone(),
                    sink.changed.clone(),
                )
            };
            tokio::spawn(crate::json_cdr::run_poster(
                cfg,
                posts,
                changed,
                rx,
                shared.clock.clone(),
                shared.root.clone(),
                {
                    let shared = shared.clone();
                    Arc::new(move |uuid: &str, done| shared.core().reported(uuid, done))
                },
            ));
        }
        shared.run_scenario(config.scenario);
        Ok(switch)
    }

    fn spawn_acceptor(&self, listener: TcpListener) {
        let stop = self.shared.root.child_token();
        let shared = self.shared.clone();
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stopped.cancelled() => return,
                    r = listener.accept() => match r {
                        Ok((stream, _)) => {
                            let token = shared.root.child_token();
                            tokio::spawn(crate::connection::serve(shared.clone(), stream, token));
                        }
                        Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                    }
                }
            }
        });
        *self.acceptor.lock().unwrap_or_else(|p| p.into_inner()) = Some(Acceptor { stop, task });
    }

    /// The address it listens on (the real port when 0 was asked).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The simulated clock.
    pub fn clock(&self) -> &SimClock {
        &self.shared.clock
    }

    /// Current simulated time, µs since the epoch.
    pub fn now(&self) -> SimTime {
        self.shared.clock.now()
    }

    /// Places a call starting `spec.at` simulated seconds from now (at once
    /// when 0: CHANNEL_CREATE, and CHANNEL_PARK when parked, have been queued
    /// when this returns). Returns its uuid.
    pub fn place_call(&self, spec: CallSpec) -> Result<String, SimError> {
        self.shared.place(spec)
    }

    /// Starts `load.calls` calls from `load.template`, `load.rate` per
    /// simulated second, the first `load.at` seconds from now. Returns the
    /// uuids they will have, in order.
    pub fn start_load(&self, load: LoadSpec) -> Result<Vec<String>, SimError> {
        let start = self.now() + secs_to_us(load.at);
        self.shared.run_load(load, start)
    }

    /// The record of one call (up or ended).
    pub fn record(&self, uuid: &str) -> Option<CallRecord> {
        self.shared.core().record(uuid)
    }

    /// Every call's record, by creation time.
    pub fn records(&self) -> Vec<CallRecord> {
        self.shared.core().records()
    }

    /// Uuids of the calls up now, oldest first.
    pub fn active_calls(&self) -> Vec<String> {
        self.shared
            .core()
            .channels_by_age()
            .iter()
            .map(|c| c.uuid.clone())
            .collect()
    }

    /// The records of a call's channels: its own first, then its other legs
    /// (loopback partner, bridged legs) in creation order. Empty when unknown.
    pub fn legs(&self, uuid: &str) -> Vec<CallRecord> {
        let core = self.shared.core();
        let Some(own) = core.record(uuid) else {
            return Vec::new();
        };
        let mut out: Vec<CallRecord> = own.legs.iter().filter_map(|u| core.record(u)).collect();
        out.insert(0, own);
        out
    }

    /// True while the channel exists (created and not yet destroyed).
    pub fn is_up(&self, uuid: &str) -> bool {
        self.shared.core().exists(uuid)
    }

    /// Waits (at most `timeout`, real time) until the record satisfies
    /// `pred`; returns it then, `None` on timeout.
    pub async fn wait_record(
        &self,
        uuid: &str,
        timeout: Duration,
        pred: impl Fn(&CallRecord) -> bool,
    ) -> Option<CallRecord> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(r) = self.record(uuid).filter(|r| pred(r)) {
                return Some(r);
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return None;
            }
            // Records change under the core lock; poll briefly rather than
            // wiring a notification into every transition.
            tokio::time::sleep((deadline - now).min(Duration::from_millis(5))).await;
        }
    }

    /// Waits (at most `timeout`, real time) for the call to end.
    pub async fn wait_for_end(&self, uuid: &str, timeout: Duration) -> Option<CallRecord> {
        let mut rx = self.shared.core().ended.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match self.record(uuid) {
                Some(r) if r.ended() => return Some(r),
                _ => {}
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                _ => return self.record(uuid).filter(CallRecord::ended),
            }
        }
    }

    /// Waits (at most `timeout`, real time) until every call placed so far
    /// (scenario and loads included) has been created and has ended, and
    /// every JSON CDR has been delivered or given up.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        let mut ended = self.shared.core().ended.subscribe();
        let mut loaders = self.shared.loaders.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            {
                let core = self.shared.core();
                let posting = core.cdr.as_ref().is_some_and(|sink| {
                    sink.posts
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .iter()
                        .any(|p| p.outcome == CdrOutcome::Pending)
                });
                if *loaders.borrow_and_update() == 0
                    && core.active_count() == 0
                    && core.pending_count() == 0
                    && !posting
                {
                    return true;
                }
            }
            let wait = async {
                tokio::select! {
                    _ = ended.changed() => {}
                    _ = loaders.changed() => {}
                    _ = tokio::time::sleep(Duration::from_millis(20)) => {}
                }
            };
            if tokio::time::timeout_at(deadline, wait).await.is_err() {
                return false;
            }
        }
    }

    /// The caller hangs up now: a BYE (NORMAL_CLEARING, recorded as
    /// `caller`) once answered, a CANCEL before (ORIGINATOR_CANCEL, recorded
    /// as `abandon`). False when the call is not up.
    pub fn hangup_caller(&self, uuid: &str) -> bool {
        let mut core = self.shared.core();
        let answered = core.record(uuid).is_some_and(|r| r.answered);
        let (cause, by) = if answered {
            (str2cause("NORMAL_CLEARING"), HangupBy::Caller)
        } else {
            (str2cause("ORIGINATOR_CANCEL"), HangupBy::Abandon)
        };
        let leg = core.caller_leg(uuid);
        core.kill(&leg, cause, by, "caller hangs up".into())
    }

    /// mod_json_cdr's CDRs so far, in the order the channels reported, with
    /// every attempt to post them and its answer. Empty without
    /// [`SwitchConfig::json_cdr`].
    pub fn cdr_posts(&self) -> Vec<CdrPost> {
        match &self.shared.core().cdr {
            Some(sink) => sink.posts.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            None => Vec::new(),
        }
    }

    /// Waits (at most `timeout`, real time) until the CDR of channel `uuid`
    /// is done with: delivered (a 2xx) or given up (every attempt failed).
    pub async fn wait_cdr_post(&self, uuid: &str, timeout: Duration) -> Option<CdrPost> {
        let mut rx = match &self.shared.core().cdr {
            Some(sink) => sink.changed.subscribe(),
            None => return None,
        };
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            rx.borrow_and_update();
            let done = self
                .cdr_posts()
                .into_iter()
                .find(|p| p.uuid == uuid && p.outcome != CdrOutcome::Pending);
            if done.is_some() {
                return done;
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                return None;
            }
        }
    }

    /// Event Socket connections open now.
    pub fn connections(&self) -> usize {
        self.shared.core().listeners().len()
    }

    /// Drops every Event Socket connection at once, without a disconnect
    /// notice, as when the network or the switch's module goes away; new
    /// connections are accepted as before and calls go on. Returns how many.
    pub fn drop_connections(&self) -> usize {
        let listeners = self.shared.core().listeners();
        for l in &listeners {
            l.kill(None);
        }
        listeners.len()
    }

    /// Answers the API command `name` (`sched_del`, …) with `-ERR` from
    /// now on (`failing` true), without running it, or runs it again.
    pub fn fail_api(&self, name: &str, failing: bool) {
        let name = name.to_ascii_lowercase();
        let mut core = self.shared.core();
        match failing {
            true => core.failing.insert(name),
            false => core.failing.remove(&name),
        };
    }

    /// The API command lines refused by [`FakeSwitch::fail_api`], in order.
    pub fn refused_api(&self) -> Vec<String> {
        self.shared.core().refused.clone()
    }

    /// Stops accepting connections and closes the listening socket (open
    /// connections stay; see [`FakeSwitch::drop_connections`]). Returns once
    /// the port is free.
    pub async fn stop_listening(&self) {
        let acceptor = self
            .acceptor
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(a) = acceptor {
            a.stop.cancel();
            let _ = a.task.await;
        }
    }

    /// Listens again on the same address (after [`FakeSwitch::stop_listening`]).
    pub async fn resume_listening(&self) -> std::io::Result<SocketAddr> {
        self.stop_listening().await;
        let listener = TcpListener::bind(self.addr).await?;
        self.spawn_acceptor(listener);
        Ok(self.addr)
    }

    /// Stops everything; open connections get the disconnect notice of a
    /// switch shutting down.
    pub async fn shutdown(self) {
        for l in self.shared.core().listeners() {
            l.kill(Some("The system is being shut down.\n"));
        }
        self.stop_listening().await;
        // Let the connections write their notices before the root goes.
        for _ in 0..100 {
            if self.connections() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.shared.root.cancel();
    }
}

impl Drop for FakeSwitch {
    fn drop(&mut self) {
        self.shared.root.cancel();
    }
}
