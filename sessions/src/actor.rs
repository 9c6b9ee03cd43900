//! One task per call: it receives that call's events in order, authorizes
//! it, runs its debit loop, and settles it. Owning the call's state in one
//! task means no locks and no two events of a call ever race.

use crate::callinfo::{micros, CallInfo, Refusal, RequestType};
use crate::config::RaterErrorPolicy;
use crate::limit::{self, Grant};
use crate::mailbox::Mailbox;
use crate::record::{Cdr, Phase, SessionRecord};
use crate::shared::Shared;
use chrono::{DateTime, TimeDelta, Utc};
use esl::api::Leg;
use esl::{ApiError, Event};
use rater::account::{AccountError, Charge};
use rater::engine::{DebitReply, Origin, Shortfall};
use rater::CallDescriptor;
use rust_decimal::Decimal;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tracing::{debug, info, info_span, warn, Instrument};

/// What a call's task is told.
#[derive(Debug)]
pub enum CallMsg {
    /// CHANNEL_PARK, and when it was received. (Payloads are boxed: a
    /// call's mailbox holds a few of these, so they are kept to 16 bytes.)
    Park(Box<(Event, Instant)>),
    Answer(Box<Event>),
    HangupComplete(Box<Event>),
    /// The switch no longer has the call (found on resync), and the
    /// switch's clock then.
    Gone(Box<Option<DateTime<Utc>>>),
    /// The switch's event connection was lost at this moment: until
    /// [`CallMsg::Heard`], a hangup may go unheard, and a limit the switch
    /// takes may be for a call already gone.
    Unheard(Box<Instant>),
    /// Resynced: the call is up and heard again.
    Heard,
    /// The switch's own CDR of the call (`mod_json_cdr`), read as its
    /// hangup event; the sender learns when the call record is durable
    /// (or that there was nothing to settle).
    SwitchCdr(Box<(Event, tokio::sync::oneshot::Sender<()>)>),
    /// Shutting down: persist and leave the call alone.
    Stop,
}

/// A call's task state. It lives in one box (see [`CallActor::spawn`]).
pub(crate) struct CallActor {
    shared: Arc<Shared>,
    cmd: esl::Client,
    uuid: Arc<str>,
    /// The switch's alias, shared by all its calls.
    alias: Arc<str>,
    mailbox: Arc<Mailbox<CallMsg>>,
    rec: Option<SessionRecord>,
    answered_at: Option<Instant>,
    next_debit: Option<Instant>,
    /// The limit this task knows armed on the switch: its epoch, the step
    /// whose group holds it, and its task id (none for step 0: the `sched_hangup` that
    /// `execute_on_answer` armed, in the group named by the uuid).
    armed: Option<(i64, u32, Option<u32>)>,
    /// The limit armed before the last one, and when the last one was
    /// confirmed: a limit confirmed after the event connection was lost
    /// may have been taken for a call already gone.
    limit_prev_ns: i64,
    limit_confirmed: Option<Instant>,
    /// The switch took this task's answer to the park (its variables and
    /// the transfer back to the dialplan).
    parked_done: bool,
    /// Boxed when first needed (see [`Trouble`]).
    trouble: Option<Box<Trouble>>,
}

/// What a call needs only when something went wrong (a command the switch
/// did not take, its event connection lost, the call found gone): boxed
/// once first needed, so the task state of a call that never needs it is
/// 8 bytes larger, not 80.
#[derive(Default)]
struct Trouble {
    /// When to try again to arm a limit the switch did not take (its
    /// connection was down): the earlier limit holds meanwhile.
    arm_retry: Option<(Instant, Duration)>,
    /// While the switch is unheard: the last limit it is known to have
    /// held for this call while it was heard (what a call found gone is
    /// settled up to).
    heard_limit: Option<Duration>,
    /// The call was found gone unheard: when to stop waiting for the
    /// switch's CDR and settle with the estimate.
    hold_until: Option<Instant>,
    /// When to send the park's answer again: the switch did not take it
    /// (its command connection was down), and the caller still waits.
    park_retry: Option<Instant>,
    /// Limits armed before that the switch did not delete when asked (task
    /// ids or groups), tried again at the next arm, and the earliest of
    /// them (call time, ns): while one may be on the switch, it ends the
    /// call there.
    undeleted: Option<(Vec<String>, i64)>,
}

static NO_TROUBLE: Trouble = Trouble {
    arm_retry: None,
    heard_limit: None,
    hold_until: None,
    park_retry: None,
    undeleted: None,
};

/// Adds a debit's charges to a session's: one entry per balance, whatever
/// the number of intervals (a three-hour call keeps a few charges, not a
/// thousand), and room for exactly those entries (a pushed vector keeps
/// room for four, ~220 bytes more for each live call, nearly all of which
/// pay from one balance).
fn add_charges(charges: &mut Vec<Charge>, new: Vec<Charge>) {
    for c in new {
        match charges
            .iter_mut()
            .find(|x| x.balance_uuid == c.balance_uuid && x.balance_type == c.balance_type)
        {
            Some(x) => x.amount += c.amount,
            None => {
                charges.reserve_exact(1);
                charges.push(c)
            }
        }
    }
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::nanoseconds(nanos(d))
}

/// The `sched_api` group of the limit armed after step `step`; step 0 is
/// the `sched_hangup` of `execute_on_answer`, whose group is the uuid.
fn limit_group(uuid: &str, step: u32) -> String {
    if step == 0 {
        uuid.to_string()
    } else {
        format!("{uuid}-limit-{step}")
    }
}

/// A channel variable, unless empty or unset.
fn non_empty_var<'e>(e: &'e Event, name: &str) -> Option<&'e str> {
    e.variable(name)
        .filter(|v| !v.is_empty() && *v != "_undef_")
}

/// The switch's time of an event.
fn event_time(e: &Event) -> DateTime<Utc> {
    micros(e, "Event-Date-Timestamp").unwrap_or_else(Utc::now)
}

/// A call's writes wait for a shared fsync (up to 10 ms) only when the
/// debit's lead, in real time, is at least this (see `CallActor::may_wait`).
const MIN_LEAD_TO_WAIT: Duration = Duration::from_millis(100);

/// How long to wait before sending again a park's answer the switch did not take.
const PARK_RETRY: Duration = Duration::from_secs(1);

/// How soon a debit the store could not make is tried again (call time).
const DEBIT_RETRY: Duration = Duration::from_secs(1);

/// Why a record's usage is the switch's CDR's.
const FROM_SWITCH_CDR: &str = "settled from the switch's CDR";

enum Next {
    Continue,
    Done,
}

/// Where in its life a call is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    Park,
    Answer,
}

/// Ends a call's task however it ends, a panic included: its mailbox
/// refuses further events (a sender then knows the task is gone, and a
/// new call under the same id gets a task of its own) and its entry
/// leaves the call table, so a later event or a resync finds the
/// persisted session instead of a mailbox nobody reads. It owns the
/// task's state (the task's future then holds one pointer for both).
struct TaskEnd(Box<CallActor>);

impl std::ops::Deref for TaskEnd {
    type Target = CallActor;
    fn deref(&self) -> &CallActor {
        &self.0
    }
}

impl std::ops::DerefMut for TaskEnd {
    fn deref_mut(&mut self) -> &mut CallActor {
        &mut self.0
    }
}

impl Drop for TaskEnd {
    fn drop(&mut self) {
        let dropped = self.mailbox.close();
        if !dropped.is_empty() {
            debug!(
                uuid = %self.uuid,
                events = dropped.len(),
                "events after the call's end ignored"
            );
        }
        let mailbox = &self.mailbox;
        self.shared
            .calls
            .remove_if(&*self.uuid, |_, e| Arc::ptr_eq(&e.mailbox, mailbox));
        self.shared
            .metrics
            .active_calls
            .fetch_sub(1, Ordering::Relaxed);
    }
}

impl CallActor {
    /// Starts a call's task; `rec` and `elapsed` resume a persisted session
    /// (answered `elapsed` ago, in switch time).
    pub(crate) fn spawn(
        shared: Arc<Shared>,
        cmd: esl::Client,
        uuid: Arc<str>,
        alias: Arc<str>,
        rec: Option<SessionRecord>,
        elapsed: Option<Duration>,
    ) -> Arc<Mailbox<CallMsg>> {
        let mailbox = Arc::new(Mailbox::default());
        // Boxed: the task's future then holds a pointer, not a second copy
        // of this state (an async fn keeps its arguments and its locals apart).
        let mut actor = Box::new(CallActor {
            shared,
            cmd,
            uuid: uuid.clone(),
            alias,
            mailbox: mailbox.clone(),
            rec,
            answered_at: None,
            next_debit: None,
            armed: None,
            limit_prev_ns: 0,
            limit_confirmed: None,
            parked_done: false,
            trouble: None,
        });
        if let (Some(rec), Some(elapsed)) = (&actor.rec, elapsed) {
            if rec.phase == Phase::Active {
                let now = Instant::now();
                actor.answered_at = Some(
                    now.checked_sub(actor.shared.clock.real(elapsed))
                        .unwrap_or(now),
                );
                if rec.info.request_type == RequestType::Prepaid {
                    actor.next_debit = Some(now);
                }
            }
        }
        actor
            .shared
            .metrics
            .active_calls
            .fetch_add(1, Ordering::Relaxed);
        tokio::spawn(actor.run());
        mailbox
    }

    /// The call's task. Its future stays small (held for as long as the
    /// call lasts, in a task block of 128-byte steps): the state is one
    /// pointer, the handlers are boxed while they run, each in the call's
    /// log span (made for each: the future holds no span).
    async fn run(self: Box<Self>) {
        let mailbox = self.mailbox.clone();
        let mut call = TaskEnd(self);
        // A settlement decided before a restart is finished, not resumed.
        if let Some(s) = call.rec.as_ref().and_then(|r| r.settling.clone()) {
            let usage = Duration::from_nanos(s.usage_ns.max(0) as u64);
            let span = call.span();
            Box::pin(
                call.settle(usage, &s.cause, &s.note, s.estimated)
                    .instrument(span),
            )
            .await;
            return;
        }
        loop {
            // One sleep for all of the call's timers (each sleep a waiting
            // task holds costs memory for as long as the call lasts).
            let due = [
                call.next_debit,
                call.trouble().arm_retry.map(|r| r.0),
                call.trouble().park_retry,
                call.trouble().hold_until,
            ]
            .into_iter()
            .flatten()
            .min();
            let timed = due.is_some();
            let sleep = tokio::time::sleep_until(due.unwrap_or_else(Instant::now));
            let next = tokio::select! {
                // Messages first: a call found gone is settled before a
                // timer of the call does anything more.
                biased;
                // Boxed: a waiting call's task then holds only a pointer to the
                // (large) handler state, keeping memory per call small.
                msg = mailbox.recv() => {
                    let span = call.span();
                    Box::pin(call.handle(msg).instrument(span)).await
                }
                _ = sleep, if timed => {
                    let span = call.span();
                    Box::pin(call.timers_due().instrument(span)).await
                }
            };
            if let Next::Done = next {
                break;
            }
        }
    }

    /// The call's log span.
    fn span(&self) -> tracing::Span {
        info_span!("call", uuid = %self.uuid)
    }

    /// Runs the call's timers that are due: the interval debit, a limit
    /// to arm again, a park's answer to send again, the end of the wait for
    /// a gone call's CDR.
    async fn timers_due(&mut self) -> Next {
        let now = Instant::now();
        let due = |at: Option<Instant>| at.is_some_and(|t| t <= now);
        if due(self.next_debit) {
            self.debit_tick().await;
        }
        if due(self.trouble().arm_retry.map(|r| r.0)) {
            if let Some((_, limit)) = self.trouble.as_mut().and_then(|t| t.arm_retry.take()) {
                self.arm(limit).await;
            }
        }
        if due(self.trouble().park_retry) {
            self.retry_park().await;
        }
        if due(self.trouble().hold_until) {
            return self.hold_expired().await;
        }
        Next::Continue
    }

    async fn handle(&mut self, msg: CallMsg) -> Next {
        match msg {
            // A park found again on resync: only if this task's own
            // authorization did not reach the switch.
            CallMsg::Park(_) if self.parked_done => Next::Continue,
            CallMsg::Park(p) => self.on_park(&p.0, p.1).await,
            CallMsg::Answer(e) => self.on_answer(&e).await,
            CallMsg::HangupComplete(e) => self.on_hangup(&e, "").await,
            CallMsg::SwitchCdr(cdr) => {
                let (e, done) = *cdr;
                let next = self.on_hangup(&e, FROM_SWITCH_CDR).await;
                let _ = done.send(());
                next
            }
            CallMsg::Gone(switch_now) => self.on_gone(*switch_now).await,
            CallMsg::Unheard(lost_at) => {
                if self.trouble().heard_limit.is_none() {
                    let limit = self.rec.as_ref().map(|r| r.limit()).unwrap_or_default();
                    let prev = Duration::from_nanos(self.limit_prev_ns.max(0) as u64);
                    let confirmed_later = self.limit_confirmed.is_some_and(|c| c > *lost_at);
                    self.trouble_mut().heard_limit =
                        Some(if confirmed_later { prev } else { limit });
                }
                Next::Continue
            }
            CallMsg::Heard => {
                self.untrouble(|t| t.heard_limit = None);
                Next::Continue
            }
            CallMsg::Stop => Next::Done,
        }
    }

    fn descriptor(
        &self,
        info: &CallInfo,
        start: DateTime<Utc>,
        duration: Duration,
    ) -> CallDescriptor {
        let mut cd = CallDescriptor::new(
            &info.tenant,
            &info.category,
            &info.subject,
            &info.destination,
            start,
            delta(duration),
        );
        cd.account = info.account.to_string();
        cd
    }

    fn trouble(&self) -> &Trouble {
        self.trouble.as_deref().unwrap_or(&NO_TROUBLE)
    }

    fn trouble_mut(&mut self) -> &mut Trouble {
        self.trouble.get_or_insert_with(Default::default)
    }

    /// Changes what was boxed, if anything was (clearing needs no box).
    fn untrouble(&mut self, f: impl FnOnce(&mut Trouble)) {
        if let Some(t) = self.trouble.as_deref_mut() {
            f(t);
        }
    }

    /// The call's facts from its event, sharing the task's uuid and the
    /// strings other calls hold alike.
    fn call_info(&self, e: &Event) -> Result<CallInfo, Refusal> {
        let mut info = CallInfo::from_event(e, &self.shared.cfg, &self.shared.names)?;
        if info.uuid == self.uuid {
            info.uuid = self.uuid.clone();
        }
        Ok(info)
    }

    /// A session about to be authorized.
    fn new_record(&self, info: CallInfo) -> SessionRecord {
        SessionRecord {
            info,
            origin_host: self.alias.clone(),
            phase: Phase::Authorized,
            max_usage: 0,
            answer_time: None,
            debited_ns: 0,
            limit_ns: 0,
            loop_index: 0,
            charges: vec![],
            cost_debited: Decimal::ZERO,
            warned_low_balance: false,
            gone: None,
            settling: None,
        }
    }

    /// The idempotency origin of one step of this call: its interval
    /// debits are steps 0, 1, … (`loop_index`), its settlement a step of
    /// its own kind. Scoped by the switch: a uuid is unique on its switch.
    fn origin(&self, step: u32) -> Origin {
        Origin {
            cgr_id: format!("{}/{}", self.alias, self.uuid),
            run_id: "*default".into(),
            step: Some(step),
        }
    }

    /// Persists the session at once: the call waits in the park on it.
    async fn persist(&self) {
        self.persist_with(true).await
    }

    /// Persists the session, durably before this returns as ever, but
    /// letting the journal hold it a few milliseconds to share an fsync:
    /// for writes no caller waits on (the answer, a debit's record, the
    /// end of a call).
    async fn persist_soon(&self) {
        self.persist_with(!self.may_wait()).await
    }

    /// Whether this call's writes may wait for a shared fsync: only when
    /// the debit's lead (how long before the paid time runs out the next
    /// interval is debited), in real time, dwarfs the wait. Always with
    /// the real clock (2 s against 10 ms); not under a fast simulated clock,
    /// where the lead is a few real milliseconds.
    fn may_wait(&self) -> bool {
        self.shared.clock.real(self.debit_lead()) >= MIN_LEAD_TO_WAIT
    }

    /// How long before the paid time runs out the next interval is debited.
    fn debit_lead(&self) -> Duration {
        (self.shared.cfg.debit_interval / 5).min(Duration::from_secs(2))
    }

    async fn persist_with(&self, now: bool) {
        let store = &self.shared.store;
        let rec = self.rec.as_ref();
        let put = match now {
            true => store.put_session(&self.uuid, &self.alias, rec).await,
            false => store.put_session_soon(&self.uuid, &self.alias, rec).await,
        };
        if let Err(e) = put {
            warn!(error = %e, "could not persist the session");
        }
        self.shared
            .publish_session(&self.uuid, &self.alias, self.rec.as_ref());
    }

    /// Whether the switch took a command (or the call is simply gone);
    /// logs a failure.
    fn check(&self, what: &str, result: Result<(), ApiError>) -> bool {
        match result {
            Ok(()) | Err(ApiError::NoSuchChannel) => true,
            Err(e) => {
                warn!(error = %e, "{what} failed");
                false
            }
        }
    }

    /// Refuses the call. With `reject_in_dialplan`, a parked call with a
    /// known destination goes back to the dialplan (which reads
    /// `cgr_notify`); any other call is killed: a call already answered, or
    /// one that cannot be sent back, must not go on unbilled. Whatever was
    /// reserved for it is given back.
    async fn refuse(&mut self, reason: &str, at: At) -> Next {
        info!(reason, "call refused");
        self.shared.metrics.refused.fetch_add(1, Ordering::Relaxed);
        let notify = format!("-{reason}");
        let r = self
            .cmd
            .uuid_setvar(&self.uuid, "cgr_notify", Some(&notify.replace(' ', "_")))
            .await;
        self.check("uuid_setvar cgr_notify", r);
        let can_go_back = at == At::Park
            && self
                .rec
                .as_ref()
                .is_some_and(|r| !r.info.transfer_to.is_empty());
        if self.shared.cfg.reject_in_dialplan && can_go_back {
            self.transfer_back().await;
        } else {
            let r = self.cmd.uuid_kill(&self.uuid, Some("CALL_REJECTED")).await;
            self.check("uuid_kill", r);
        }
        if let Some(rec) = self.rec.take() {
            if !rec.charges.is_empty() {
                self.release(&rec).await;
            }
        }
        self.persist().await;
        Next::Done
    }

    /// Gives back what a refused call's reservation took (a settlement of
    /// no usage, keyed like any settlement of the call).
    async fn release(&self, rec: &SessionRecord) {
        let cd = self.descriptor(&rec.info, Utc::now(), Duration::ZERO);
        if let Err(e) = self
            .shared
            .engine
            .settle(
                &cd,
                &rec.charges,
                &self.origin(0),
                Shortfall::TakeWhatCovers,
            )
            .await
        {
            warn!(error = %e, "could not give back the reservation");
        }
    }

    /// Sends the parked call back to the dialplan; whether the switch took
    /// the command (or the call is gone anyway).
    async fn transfer_back(&self) -> bool {
        let Some(info) = self.rec.as_ref().map(|r| r.info.clone()) else {
            return true;
        };
        if info.transfer_to.is_empty() {
            return true;
        }
        let r = self
            .cmd
            .uuid_transfer(
                &self.uuid,
                &info.transfer_to,
                info.dialplan.as_deref(),
                info.context.as_deref(),
            )
            .await;
        let done = matches!(r, Ok(()) | Err(ApiError::NoSuchChannel));
        self.check("uuid_transfer", r);
        done
    }

    /// How long a pseudoprepaid account may talk (it pays at the end, so
    /// nothing is reserved), or why not.
    async fn max_usage(&self, info: &CallInfo, at: DateTime<Utc>) -> Result<Duration, String> {
        let cfg = &self.shared.cfg;
        let cd = self.descriptor(info, at, cfg.max_call_duration);
        match self
            .shared
            .engine
            .max_session_time(&cd, Some(cfg.max_session_method))
            .await
        {
            Ok(d) => {
                let d = d.to_std().unwrap_or_default();
                if d.as_secs() == 0 || d < cfg.min_call_duration {
                    Err("INSUFFICIENT_CREDIT".into())
                } else {
                    Ok(d)
                }
            }
            Err(AccountError::Store(e)) if cfg.on_rater_error == RaterErrorPolicy::Continue => {
                warn!(error = %e, "rater failed; letting the call go on (on_rater_error = continue)");
                Ok(cfg.max_call_duration)
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// Authorizes a prepaid call as Diameter's initial request does: the
    /// first grant (the debit interval, or the whole call if shorter) is
    /// debited in advance, as much of it as the credit pays. The call is
    /// authorized when that covers `min_call_duration` (or one increment).
    /// Returns the limit to arm from the answer and how long the credit
    /// lasts, or why the call is refused.
    async fn reserve(&mut self, at: DateTime<Utc>) -> Result<(Duration, Duration), String> {
        let cfg = self.shared.cfg.clone();
        let Some(rec) = &self.rec else {
            return Err("SERVER_ERROR".into());
        };
        let info = rec.info.clone();
        if !cfg.min_call_duration.is_zero() {
            let cd = self.descriptor(&info, at, cfg.min_call_duration);
            match self
                .shared
                .engine
                .max_session_time(&cd, Some(rater::account::MaxSessionMethod::Exact))
                .await
            {
                Ok(d) if d.to_std().unwrap_or_default() >= cfg.min_call_duration => {}
                Ok(_) => return Err("INSUFFICIENT_CREDIT".into()),
                Err(e) => return Err(e.to_string()),
            }
        }
        // The intent first: a crash after the debit finds the session and
        // retries the same step, which the store answers from its record.
        self.persist().await;
        crate::crash::point("park.intent");
        let grant = cfg.debit_interval.min(cfg.max_call_duration);
        let mut cd = self.descriptor(&info, at, grant);
        cd.duration_index = delta(grant);
        let rest = delta(cfg.max_call_duration.saturating_sub(grant));
        let reply = match self
            .shared
            .engine
            .interval_debit(&cd, &self.origin(0), rest)
            .await
        {
            Ok(reply) => reply,
            Err(AccountError::Store(e)) if cfg.on_rater_error == RaterErrorPolicy::Continue => {
                warn!(error = %e, "rater failed; letting the call go on (on_rater_error = continue)");
                let limit = grant
                    .saturating_add(cfg.limit_grace)
                    .min(cfg.max_call_duration);
                return Ok((limit, cfg.max_call_duration));
            }
            Err(e) => return Err(e.to_string()),
        };
        crate::crash::point("park.reserved");
        let grant = self.take_debit(reply, Duration::ZERO, grant);
        let lasts = grant.credit_lasts(cfg.max_call_duration);
        let limit = grant.limit(cfg.limit_grace, cfg.max_call_duration);
        if limit::whole_secs(limit) == 0 || lasts < cfg.min_call_duration {
            return Err("INSUFFICIENT_CREDIT".into());
        }
        Ok((limit, lasts))
    }

    /// Adds a debit's reply to the session: what was taken, and the paid
    /// time from `from` (asked up to `to`). Returns the grant it makes.
    fn take_debit(&mut self, reply: DebitReply, from: Duration, to: Duration) -> Grant {
        let covered = reply.usage.to_std().unwrap_or_default();
        let more = reply.more.and_then(|m| m.to_std().ok()).unwrap_or_default();
        self.shared.metrics.debits.fetch_add(1, Ordering::Relaxed);
        let Some(rec) = &mut self.rec else {
            return Grant {
                paid: from,
                exhausted: true,
                more: Duration::ZERO,
            };
        };
        add_charges(&mut rec.charges, reply.charges);
        rec.cost_debited += reply.cost;
        rec.loop_index += 1;
        rec.debited_ns = nanos(from + covered);
        Grant {
            paid: from + covered,
            exhausted: covered < to.saturating_sub(from),
            more,
        }
    }

    async fn on_park(&mut self, e: &Event, received: Instant) -> Next {
        let info = match self.call_info(e) {
            Ok(info) => info,
            Err(Refusal(reason)) => return self.refuse(&reason, At::Park).await,
        };
        debug!(?info, "parked");
        self.rec = Some(self.new_record(info.clone()));
        if !info.request_type.authorizes() {
            self.transfer_back().await;
            if info.request_type == RequestType::None {
                self.rec = None;
                return Next::Done;
            }
            self.persist().await;
            return Next::Continue;
        }
        let authorized = if info.request_type == RequestType::Prepaid {
            self.reserve(event_time(e)).await
        } else {
            self.max_usage(&info, event_time(e)).await.map(|d| (d, d))
        };
        let (limit, lasts) = match authorized {
            Ok(granted) => granted,
            Err(reason) => return self.refuse(&reason, At::Park).await,
        };
        let secs = limit::whole_secs(limit);
        let max_usage = limit::whole_secs(lasts);
        if let Some(rec) = &mut self.rec {
            rec.max_usage = max_usage;
            rec.limit_ns = nanos(Duration::from_secs(secs));
        }
        // The session after the park's debit is the next step's intent: it
        // must be durable before the call's next store change, not before
        // the switch hears the answer (a restart that finds only the
        // park's intent asks the store for step 0 again, which answers
        // from its record of the first attempt). So it shares an fsync
        // with other calls' while the commands go out, and the task waits
        // for it before anything else.
        let persisted = {
            let (shared, uuid, alias) =
                (self.shared.clone(), self.uuid.clone(), self.alias.clone());
            let rec = self.rec.clone();
            let soon = self.may_wait();
            async move {
                let put = match soon {
                    true => {
                        shared
                            .store
                            .put_session_soon(&uuid, &alias, rec.as_ref())
                            .await
                    }
                    false => shared.store.put_session(&uuid, &alias, rec.as_ref()).await,
                };
                if let Err(e) = put {
                    warn!(error = %e, "could not persist the session");
                }
                shared.publish_session(&uuid, &alias, rec.as_ref());
            }
        };
        // Decided: what remains is writing the commands out.
        self.shared
            .metrics
            .auth_latency
            .observe(received.elapsed().as_micros() as u64);
        let commanded = async {
            self.answer_park().await;
            crate::crash::point("park.commanded");
            // And the switch has answered both.
            self.shared
                .metrics
                .auth_round_trip
                .observe(received.elapsed().as_micros() as u64);
        };
        tokio::join!(persisted, commanded);
        crate::crash::point("park.persisted");
        self.shared
            .metrics
            .authorized
            .fetch_add(1, Ordering::Relaxed);
        info!(max_usage, limit = secs, "authorized");
        Next::Continue
    }

    /// Tells the switch the park's answer: the call's variables and the
    /// transfer back to the dialplan. If the switch does not take it (its
    /// command connection is down), it is sent again while the call waits.
    async fn answer_park(&mut self) {
        let Some(rec) = &self.rec else { return };
        // `sched_hangup +N` runs at the answer: the switch counts N from its
        // clock's whole second then, so the call never talks past the limit.
        // The cause is spelled right: FreeSWITCH turns CGRateS's
        // `alloted_timeout` (one T) into NORMAL_CLEARING.
        let secs = rec.limit().as_secs();
        let on_answer = format!("sched_hangup +{secs} ALLOTTED_TIMEOUT");
        let max = rec.max_usage.to_string();
        // Both commands go out at once on this call's connection, which the
        // switch runs in order: the variables are set before the transfer,
        // and the call waits one round trip instead of two.
        let vars = [
            ("cgr_max_usage", max.as_str()),
            ("execute_on_answer", on_answer.as_str()),
            ("cgr_notify", "+AUTH_OK"),
        ];
        let (r, transferred) = tokio::join!(
            self.cmd.uuid_setvar_multi(&self.uuid, &vars),
            self.transfer_back()
        );
        self.parked_done = transferred && matches!(r, Ok(()) | Err(ApiError::NoSuchChannel));
        self.check("uuid_setvar_multi", r);
        if !self.parked_done {
            self.trouble_mut().park_retry =
                Some(self.shared.clock.after(Instant::now(), PARK_RETRY));
        }
    }

    /// The park's answer did not reach the switch: sent again if the call
    /// still waits in the park (it may have been taken after all).
    async fn retry_park(&mut self) {
        self.untrouble(|t| t.park_retry = None);
        if self.parked_done
            || self
                .rec
                .as_ref()
                .is_none_or(|r| r.phase != Phase::Authorized)
        {
            return;
        }
        match self.cmd.uuid_dump(&self.uuid).await {
            Ok(dump) if crate::switch::parked(&dump) => {
                info!("the switch did not take the park's answer; sending it again");
                self.answer_park().await;
            }
            // Moved on: the answer was taken.
            Ok(_) => self.parked_done = true,
            // Gone: its hangup (or the resync) settles it.
            Err(ApiError::NoSuchChannel) => {}
            Err(_) => {
                self.trouble_mut().park_retry =
                    Some(self.shared.clock.after(Instant::now(), PARK_RETRY));
            }
        }
    }

    /// A channel answered that we never saw parked: billed only when it
    /// says how (its own `cgr_reqtype`). The other legs of a call (the
    /// bridged leg, loopback partners, originated legs) are answered
    /// without a park and carry no request type of their own: billing or
    /// killing them would bill a call twice or cut the caller's call.
    async fn answered_unparked(&mut self, e: &Event, answer_time: DateTime<Utc>) -> Next {
        if non_empty_var(e, "cgr_reqtype").is_none() {
            debug!(
                other_leg = e.header("Other-Leg-Unique-ID").unwrap_or(""),
                originator = e.variable("originator").unwrap_or(""),
                "not billed: answered without a park and no cgr_reqtype of its own"
            );
            return Next::Done;
        }
        let info = match self.call_info(e) {
            Ok(info) => info,
            Err(Refusal(reason)) => return self.refuse(&reason, At::Answer).await,
        };
        if info.request_type == RequestType::None {
            return Next::Done;
        }
        let request_type = info.request_type;
        self.rec = Some(self.new_record(info.clone()));
        if let Some(rec) = &mut self.rec {
            rec.answer_time = Some(answer_time);
        }
        let authorized = match request_type {
            RequestType::Prepaid => self.reserve(answer_time).await,
            RequestType::PseudoPrepaid => self.max_usage(&info, answer_time).await.map(|d| (d, d)),
            _ => return Next::Continue,
        };
        match authorized {
            Ok((limit, lasts)) => {
                if let Some(rec) = &mut self.rec {
                    rec.max_usage = limit::whole_secs(lasts);
                }
                self.arm(limit).await;
                self.shared
                    .metrics
                    .authorized
                    .fetch_add(1, Ordering::Relaxed);
                Next::Continue
            }
            Err(reason) => self.refuse(&reason, At::Answer).await,
        }
    }

    async fn on_answer(&mut self, e: &Event) -> Next {
        let answer_time =
            micros(e, "Caller-Channel-Answered-Time").unwrap_or_else(|| event_time(e));
        if self.rec.is_none() {
            if let Next::Done = self.answered_unparked(e, answer_time).await {
                return Next::Done;
            }
        }
        let Some(rec) = &mut self.rec else {
            return Next::Done;
        };
        if rec.phase == Phase::Active {
            return Next::Continue;
        }
        rec.phase = Phase::Active;
        rec.answer_time = Some(answer_time);
        let prepaid = rec.info.request_type == RequestType::Prepaid;
        let paid = rec.debited();
        let limit = rec.limit();
        // An answer found on resync happened before this event's time.
        let late = (event_time(e) - answer_time).to_std().unwrap_or_default();
        let now = Instant::now();
        let answered_at = now.checked_sub(self.shared.clock.real(late)).unwrap_or(now);
        self.answered_at = Some(answered_at);
        if self.armed.is_none() && !limit.is_zero() {
            // What `execute_on_answer` armed: whole seconds from the answer's.
            self.armed = Some((answer_time.timestamp() + limit.as_secs() as i64, 0, None));
        }
        info!("answered");
        self.persist_soon().await;
        crate::crash::point("answer.persisted");
        if prepaid {
            if paid.is_zero() {
                self.debit_tick().await;
            } else {
                self.next_debit = Some(self.debit_due(answered_at, paid));
            }
        }
        Next::Continue
    }

    /// When to debit the next interval: a little before the paid time runs
    /// out, so that the limit is extended (or, when the credit is gone,
    /// left at the paid time) before the call reaches it, even if this
    /// task runs late.
    fn debit_due(&self, answered_at: Instant, paid: Duration) -> Instant {
        let lead = self.debit_lead();
        self.shared
            .clock
            .after(answered_at, paid.saturating_sub(lead))
    }

    fn elapsed(&self) -> Duration {
        self.answered_at
            .map(|a| self.shared.clock.elapsed(a))
            .unwrap_or_default()
    }

    /// Debits the next interval in advance and re-arms the switch's limit.
    /// A debit the store could not make is tried again (see the error path).
    async fn debit_tick(&mut self) {
        self.next_debit = None;
        let Some(rec) = &self.rec else { return };
        let Some(answer_time) = rec.answer_time else {
            return;
        };
        let cfg = &self.shared.cfg;
        let from = rec.debited();
        let elapsed = self.elapsed();
        let to = match rec.loop_index {
            // The park's step (resumed from its intent, or never debited
            // for `on_rater_error = continue`): the grant it asked, so a
            // replay of its first attempt reads as what it was.
            0 => cfg.debit_interval.min(cfg.max_call_duration),
            _ => (from + cfg.debit_interval)
                .max(elapsed + cfg.debit_interval)
                .min(cfg.max_call_duration.max(from)),
        };
        if to <= from {
            return; // max_call_duration reached: the switch's timer ends the call
        }
        let mut cd = self.descriptor(&rec.info, answer_time + delta(from), to - from);
        cd.loop_index = rec.loop_index;
        cd.duration_index = delta(to);
        // What follows this interval, for the limit the debit's reply sets.
        let rest = delta(cfg.max_call_duration.saturating_sub(to));
        let origin = self.origin(rec.loop_index);
        // The debit is due well before the paid time runs out: it can wait
        // a few milliseconds to share the store's fsync with other calls.
        let debit = self.shared.engine.interval_debit(&cd, &origin, rest);
        let debited = match self.may_wait() {
            true => rater::store::commit_soon(debit).await,
            false => debit.await,
        };
        match debited {
            Ok(reply) => {
                crate::crash::point("debit.debited");
                self.after_debit(reply, from, to).await
            }
            Err(e) => {
                self.shared
                    .metrics
                    .debit_errors
                    .fetch_add(1, Ordering::Relaxed);
                warn!(error = %e, "debit failed");
                // The store may be back in a moment (a PostgreSQL restart,
                // a lost connection): the debit is tried again every
                // second while the call is within its paid time plus half
                // the grace (the switch's limit, paid time plus the grace,
                // still holds), and only then is the call hung up.
                let patience = from + cfg.limit_grace / 2;
                if cfg.on_rater_error == RaterErrorPolicy::Hangup
                    && elapsed + DEBIT_RETRY < patience
                {
                    self.next_debit = Some(self.shared.clock.after(Instant::now(), DEBIT_RETRY));
                    return;
                }
                if cfg.on_rater_error == RaterErrorPolicy::Hangup {
                    // A cause FreeSWITCH knows (Q.850 41): it would turn an
                    // unknown one into NORMAL_CLEARING.
                    let r = self
                        .cmd
                        .uuid_kill(&self.uuid, Some("NORMAL_TEMPORARY_FAILURE"))
                        .await;
                    self.check("uuid_kill", r);
                } else {
                    // on_rater_error = continue, the operator's choice: the
                    // call goes on unpaid one interval at a time (settled
                    // in full at the end), the limit extended as if paid.
                    let limit =
                        (elapsed + cfg.debit_interval + cfg.limit_grace).min(cfg.max_call_duration);
                    self.next_debit =
                        Some(self.shared.clock.after(Instant::now(), cfg.debit_interval));
                    self.arm(limit).await;
                }
            }
        }
    }

    async fn after_debit(&mut self, reply: DebitReply, from: Duration, to: Duration) {
        // The money left after this debit (the lean reply's `Money`).
        let money_left = rater::engine::decimal_of(&reply.json["Money"]).unwrap_or(Decimal::MAX);
        let grant = self.take_debit(reply, from, to);
        let cfg = &self.shared.cfg;
        let limit = grant.limit(cfg.limit_grace, cfg.max_call_duration);
        let Some(rec) = &mut self.rec else { return };
        let warn_low = match &cfg.low_balance_warning {
            Some(w) if !rec.warned_low_balance && money_left < w.threshold => {
                rec.warned_low_balance = true;
                Some(w.file.clone())
            }
            _ => None,
        };
        if grant.exhausted {
            info!(paid_until = ?grant.paid, "credit exhausted; cutting the call when it runs out");
        }
        self.persist_soon().await;
        crate::crash::point("debit.persisted");
        if let Some(file) = warn_low {
            let r = self
                .cmd
                .uuid_broadcast(&self.uuid, &format!("playback::{file}"), Leg::A)
                .await;
            self.check("uuid_broadcast", r);
        }
        self.arm(limit).await;
        if !grant.exhausted {
            if let Some(at) = self.answered_at {
                self.next_debit = Some(self.debit_due(at, grant.paid));
            }
        }
    }

    /// Arms `limit` (call time from the answer) on the switch as an
    /// absolute epoch of its own clock, rounded down, so command latency
    /// cannot stretch the call. The new limit is armed before the old one
    /// is deleted (each in a group of its own step): the call always holds
    /// one, and if tollgate dies in between, the earlier one holds. If the
    /// switch does not take it, the old limit stays and it is tried again.
    async fn arm(&mut self, limit: Duration) {
        let Some(rec) = &self.rec else { return };
        let Some(answer) = rec.answer_time else {
            return;
        };
        let epoch = limit::epoch_at(answer, limit);
        if self.armed.is_some_and(|(e, _, _)| e == epoch) {
            return;
        }
        let step = rec.loop_index;
        let group = limit_group(&self.uuid, step);
        match self
            .cmd
            .sched_kill_at(epoch, &group, &self.uuid, "ALLOTTED_TIMEOUT")
            .await
        {
            Ok(task) => {
                crate::crash::point("debit.armed");
                // Delete what this task armed before: by its task id when
                // known (a re-arm in the same step shares its group), else
                // by group; after a restart it does not know, so every
                // group a crash can have left.
                let mut stale: Vec<String> = match self.armed {
                    Some((_, _, Some(id))) => vec![id.to_string()],
                    Some((_, s, None)) => vec![limit_group(&self.uuid, s)],
                    None => {
                        let mut steps = vec![0, step.saturating_sub(1), step.saturating_sub(2)];
                        steps.retain(|s| *s != step);
                        steps.dedup();
                        steps.iter().map(|s| limit_group(&self.uuid, *s)).collect()
                    }
                };
                // And what the switch did not delete before: tried again.
                let kept = self.trouble.as_mut().and_then(|t| t.undeleted.take());
                if let Some((what, _)) = &kept {
                    stale.extend(what.iter().cloned());
                }
                let mut failed = Vec::new();
                for what in stale {
                    let r = self.cmd.sched_del(&what).await.map(|_| ());
                    if !self.check(&format!("sched_del {what}"), r) {
                        failed.push(what);
                    }
                }
                self.armed = Some((epoch, step, Some(task)));
                self.untrouble(|t| t.arm_retry = None);
                if let Some(rec) = &mut self.rec {
                    self.limit_prev_ns = rec.limit_ns;
                    // While the switch may still hold an earlier limit,
                    // that one ends the call: the session keeps the
                    // earliest (what a call found gone is settled up to).
                    let earlier = match failed.is_empty() {
                        true => None,
                        false => Some(
                            kept.as_ref()
                                .map_or(rec.limit_ns, |(_, ns)| (*ns).min(rec.limit_ns)),
                        ),
                    };
                    rec.limit_ns = earlier.map_or(nanos(limit), |ns| ns.min(nanos(limit)));
                    self.limit_confirmed = Some(Instant::now());
                    if let Some(ns) = earlier {
                        self.trouble_mut().undeleted = Some((failed, ns));
                    }
                }
            }
            Err(ApiError::NoSuchChannel) => self.untrouble(|t| t.arm_retry = None),
            Err(e) => {
                warn!(error = %e, "could not arm the limit; the earlier one holds");
                let again = self
                    .shared
                    .clock
                    .after(Instant::now(), Duration::from_secs(1));
                self.trouble_mut().arm_retry = Some((again, limit));
            }
        }
    }

    async fn on_hangup(&mut self, e: &Event, note: &str) -> Next {
        let cause = e
            .header("Hangup-Cause")
            .or_else(|| e.variable("hangup_cause"))
            .unwrap_or("")
            .to_string();
        // The switch's facts win: a call answered while tollgate was not
        // listening is still billed from its answer.
        let answered = micros(e, "Caller-Channel-Answered-Time");
        let usage = match (answered, &mut self.rec) {
            (Some(a), Some(rec)) => {
                if rec.answer_time.is_none() {
                    rec.answer_time = Some(a);
                }
                crate::switch_cdr::usage(e)
            }
            (None, Some(rec)) if rec.answer_time.is_some() => crate::switch_cdr::usage(e),
            _ => Duration::ZERO,
        };
        if cause == "ALLOTTED_TIMEOUT" {
            self.shared
                .metrics
                .no_credit_disconnects
                .fetch_add(1, Ordering::Relaxed);
        }
        self.settle(usage, &cause, note, false).await
    }

    /// The switch lost the call while we were not listening: "ended, usage
    /// unknown". The call is held until the switch's CDR says how long it
    /// talked, or `sessions.cdr_wait` passes; the estimate is fixed (and
    /// persisted) now, so a restart keeps it.
    async fn on_gone(&mut self, switch_now: Option<DateTime<Utc>>) -> Next {
        let heard_limit = self.trouble().heard_limit;
        let elapsed = self.elapsed();
        let Some(rec) = &mut self.rec else {
            return Next::Done;
        };
        self.next_debit = None;
        if let Some(t) = self.trouble.as_mut() {
            t.arm_retry = None;
        }
        let hold = match rec.gone.as_deref() {
            Some(&hold) => hold,
            None => {
                let usage = match rec.answer_time {
                    Some(answer) => {
                        let limit = heard_limit.unwrap_or_else(|| rec.limit());
                        let up = match switch_now {
                            Some(now) => (now - answer).to_std().unwrap_or_default(),
                            None => elapsed,
                        };
                        limit.min(up)
                    }
                    None => Duration::ZERO,
                };
                let hold = crate::record::GoneHold {
                    since: Utc::now(),
                    usage_ns: nanos(usage),
                };
                rec.gone = Some(Box::new(hold));
                info!(estimate = ?usage, "the call ended unheard; waiting for the switch's CDR");
                self.persist_soon().await;
                crate::crash::point("gone.held");
                hold
            }
        };
        let waited = (Utc::now() - hold.since).to_std().unwrap_or_default();
        let waited = waited.mul_f64(self.shared.clock.speed());
        let left = self.shared.cfg.cdr_wait.saturating_sub(waited);
        if left.is_zero() {
            return self.hold_expired().await;
        }
        self.trouble_mut().hold_until = Some(self.shared.clock.after(Instant::now(), left));
        Next::Continue
    }

    /// No CDR came for a call that ended unheard: settled with the estimate.
    async fn hold_expired(&mut self) -> Next {
        self.untrouble(|t| t.hold_until = None);
        let Some(&hold) = self.rec.as_ref().and_then(|r| r.gone.as_deref()) else {
            return Next::Continue;
        };
        let usage = Duration::from_nanos(hold.usage_ns.max(0) as u64);
        self.settle(
            usage,
            "",
            "estimated: the call ended while tollgate was not listening and the switch's CDR did not come in time; usage is the switch's time up to the limit it held",
            true,
        )
        .await
    }

    async fn settle(&mut self, usage: Duration, cause: &str, note: &str, estimated: bool) -> Next {
        // A record already written (before a restart, or by the node that
        // held the switch before): only the session is left to forget. A
        // failed read counts as none: the settlement below is keyed by the
        // call, so the store answers it again, and the record is rewritten.
        if self.shared.store.has_cdr(&self.uuid).await.unwrap_or(false) {
            self.rec = None;
            self.persist().await;
            return Next::Done;
        }
        let Some(rec) = &mut self.rec else {
            return Next::Done;
        };
        let moves_money = match rec.info.request_type {
            RequestType::Prepaid | RequestType::PseudoPrepaid => {
                !usage.is_zero() || !rec.charges.is_empty()
            }
            RequestType::Postpaid => !usage.is_zero(),
            RequestType::Rated | RequestType::None => false,
        };
        if moves_money && rec.settling.is_none() {
            // The intent first: if the process dies once the store has
            // settled, the restart settles again (the store replays it)
            // instead of resuming the call and debiting it once more.
            rec.settling = Some(Box::new(crate::record::Settling {
                usage_ns: nanos(usage),
                cause: cause.to_string(),
                note: note.to_string(),
                estimated,
            }));
            self.persist_soon().await;
            crate::crash::point("settle.intent");
        }
        let Some(rec) = self.rec.take() else {
            return Next::Done;
        };
        let info = &rec.info;
        let start = rec.answer_time.unwrap_or_else(Utc::now);
        let mut cd = self.descriptor(info, start, usage);
        cd.duration_index = delta(usage);
        let mut extra = note.to_string();
        let outcome: Option<Result<DebitReply, AccountError>> = match info.request_type {
            RequestType::Prepaid | RequestType::PseudoPrepaid
                if usage.is_zero() && rec.charges.is_empty() =>
            {
                None
            }
            // The call has ended: its settlement can wait a few
            // milliseconds to share the store's fsync with other calls.
            RequestType::Prepaid | RequestType::PseudoPrepaid => Some(
                rater::store::commit_soon(self.shared.engine.settle(
                    &cd,
                    &rec.charges,
                    &self.origin(0),
                    Shortfall::TakeWhatCovers,
                ))
                .await,
            ),
            RequestType::Postpaid if usage.is_zero() => None,
            RequestType::Postpaid => Some(
                rater::store::commit_soon(self.shared.engine.settle(
                    &cd,
                    &[],
                    &self.origin(0),
                    Shortfall::Force,
                ))
                .await,
            ),
            RequestType::Rated | RequestType::None => None,
        };
        if outcome.is_some() {
            crate::crash::point("settle.settled");
        }
        if estimated {
            self.shared
                .metrics
                .estimated
                .fetch_add(1, Ordering::Relaxed);
        }
        let (cost, charges, unpaid) = match outcome {
            Some(Ok(r)) => {
                let unpaid = r.json["Unpaid"].as_bool().unwrap_or(false);
                if unpaid {
                    // The record says why its cost is not its usage's price.
                    let paid = r.usage.to_std().unwrap_or_default();
                    let why = format!(
                        "unpaid: the credit covered {:.3}s of the {:.3}s talked (the switch cut the call late)",
                        paid.as_secs_f64(),
                        usage.as_secs_f64()
                    );
                    extra = if extra.is_empty() {
                        why
                    } else {
                        format!("{extra}; {why}")
                    };
                }
                (r.cost, r.charges, unpaid)
            }
            Some(Err(e)) => {
                warn!(error = %e, "settlement failed");
                extra = e.to_string();
                (rec.cost_debited, rec.charges.clone(), false)
            }
            None if info.request_type == RequestType::Rated && !usage.is_zero() => {
                match self.shared.engine.plan().get_cost(&cd) {
                    Ok(cc) => (cc.cost, vec![], false),
                    Err(e) => {
                        extra = e.to_string();
                        (Decimal::ZERO, vec![], false)
                    }
                }
            }
            None => (Decimal::ZERO, vec![], false),
        };
        if rec.cost_debited > cost {
            self.shared.metrics.refunds.fetch_add(1, Ordering::Relaxed);
        }
        let cdr = Cdr {
            cgr_id: self.uuid.to_string(),
            run_id: "*default".into(),
            origin_host: rec.origin_host.to_string(),
            origin_id: self.uuid.to_string(),
            request_type: info.request_type.as_str().into(),
            tenant: info.tenant.to_string(),
            category: info.category.to_string(),
            account: info.account.to_string(),
            subject: info.subject.to_string(),
            destination: info.destination.to_string(),
            setup_time: info.setup_time,
            answer_time: rec.answer_time,
            usage: nanos(usage),
            cost,
            charges,
            unpaid,
            disconnect_cause: cause.to_string(),
            extra_info: extra,
            order_id: Utc::now().timestamp_nanos_opt().unwrap_or(0),
            estimated,
        };
        info!(usage = ?usage, %cost, "settled");
        // The record and the end of the session in one journal write.
        let store = &self.shared.store;
        match store
            .put_cdr_forget_session(&self.uuid, &self.alias, &cdr)
            .await
        {
            Ok(()) => {
                if store.journal().is_some() {
                    self.shared
                        .pending_cdrs
                        .push(cdr.order_id, self.uuid.clone());
                }
                self.shared.publish_cdr(&cdr);
                crate::crash::point("settle.recorded");
                self.shared.metrics.settled.fetch_add(1, Ordering::Relaxed);
                self.shared.publish_session(&self.uuid, &self.alias, None);
            }
            Err(e) => {
                warn!(error = %e, "could not write the call record");
                crate::crash::point("settle.recorded");
                self.shared.metrics.settled.fetch_add(1, Ordering::Relaxed);
                self.persist_soon().await;
            }
        }
        Next::Done
    }
}

#[cfg(test)]
mod size_tests {
    #[test]
    fn call_messages_stay_small() {
        // A call's mailbox queues these; boxed payloads keep them small.
        assert!(std::mem::size_of::<super::CallMsg>() <= 16);
    }

    #[test]
    fn a_calls_task_state_stays_small() {
        // Boxed once per live call (with its session record inline): under
        // 480 bytes it takes a 480-byte block of the allocator, not 624.
        // The rare parts (a settlement's intent, a gone call's hold, what
        // a call needs only in trouble) are boxed apart.
        use std::mem::size_of;
        assert!(
            size_of::<super::CallActor>() <= 472,
            "{}",
            size_of::<super::CallActor>()
        );
        assert!(size_of::<crate::record::SessionRecord>() <= 296);
        assert!(size_of::<crate::callinfo::CallInfo>() <= 176);
    }

    #[test]
    fn a_calls_future_fits_a_384_byte_task() {
        // tokio keeps a task's future in one block with ~104 bytes of its
        // own, in steps of 128 bytes (x86_64): a future of up to 280 bytes
        // makes a 384-byte task, 8 bytes more a 512-byte one.
        fn future_of<F: FnOnce(Box<super::CallActor>) -> Fut, Fut>(_: F) -> usize {
            std::mem::size_of::<Fut>()
        }
        let size = future_of(super::CallActor::run);
        assert!(size <= 280, "{size}");
    }

    #[test]
    fn a_sessions_charges_hold_no_spare_room() {
        use rater::account::{BalanceType, Charge};
        use rust_decimal::Decimal;
        let charge = |balance: &str, amount: i64| Charge {
            balance_uuid: balance.into(),
            balance_id: balance.into(),
            balance_type: BalanceType::Monetary,
            amount: Decimal::new(amount, 2),
        };
        let mut charges = vec![];
        super::add_charges(&mut charges, vec![charge("a", 2)]);
        assert_eq!((charges.len(), charges.capacity()), (1, 1));
        for _ in 0..5 {
            super::add_charges(&mut charges, vec![charge("a", 2)]);
        }
        assert_eq!((charges.len(), charges.capacity()), (1, 1));
        assert_eq!(charges[0].amount, Decimal::new(12, 2));
        super::add_charges(&mut charges, vec![charge("b", 1), charge("a", 1)]);
        assert_eq!((charges.len(), charges.capacity()), (2, 2));
        assert_eq!(charges[0].amount, Decimal::new(13, 2));
    }
}
