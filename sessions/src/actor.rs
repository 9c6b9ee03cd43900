//! One task per call: it receives that call's events in order, authorizes
//! it, runs its debit loop, and settles it. Owning the call's state in one
//! task means no locks and no two events of a call ever race.

use crate::callinfo::{micros, CallInfo, Refusal, RequestType};
use crate::config::RaterErrorPolicy;
use crate::mailbox::Mailbox;
use crate::record::{Cdr, Phase, SessionRecord};
use crate::shared::Shared;
use chrono::{DateTime, TimeDelta, Utc};
use esl::api::Leg;
use esl::{ApiError, Event};
use rater::account::AccountError;
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
    /// The hangup epoch last armed on the switch by this task.
    armed_epoch: Option<i64>,
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::nanoseconds(nanos(d))
}

/// The switch's time of an event.
fn event_time(e: &Event) -> DateTime<Utc> {
    micros(e, "Event-Date-Timestamp").unwrap_or_else(Utc::now)
}

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
/// persisted session instead of a mailbox nobody reads.
struct TaskEnd {
    shared: Arc<Shared>,
    uuid: Arc<str>,
    mailbox: Arc<Mailbox<CallMsg>>,
}

impl Drop for TaskEnd {
    fn drop(&mut self) {
        let dropped = self.mailbox.close();
        if !dropped.is_empty() {
            debug!(
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
            armed_epoch: None,
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
        let span = info_span!("call", uuid = %uuid);
        tokio::spawn(actor.run().instrument(span));
        mailbox
    }

    async fn run(mut self: Box<Self>) {
        let mailbox = self.mailbox.clone();
        let _end = TaskEnd {
            shared: self.shared.clone(),
            uuid: self.uuid.clone(),
            mailbox: mailbox.clone(),
        };
        loop {
            let tick = self.next_debit;
            let next = tokio::select! {
                // Boxed: a waiting call's task then holds only a pointer to the
                // (large) handler state, keeping memory per call small.
                msg = mailbox.recv() => Box::pin(self.handle(msg)).await,
                _ = async { tokio::time::sleep_until(tick.unwrap_or_else(Instant::now)).await }, if tick.is_some() => {
                    Box::pin(self.debit_tick()).await;
                    Next::Continue
                }
            };
            if let Next::Done = next {
                break;
            }
        }
    }

    async fn handle(&mut self, msg: CallMsg) -> Next {
        match msg {
            CallMsg::Park(p) => self.on_park(&p.0, p.1).await,
            CallMsg::Answer(e) => self.on_answer(&e).await,
            CallMsg::HangupComplete(e) => self.on_hangup(&e).await,
            CallMsg::Gone(switch_now) => self.on_gone(*switch_now).await,
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
        cd.account = info.account.clone();
        cd
    }

    /// A session just authorized for `max_usage` seconds.
    fn new_record(&self, info: CallInfo, max_usage: u64) -> SessionRecord {
        SessionRecord {
            info,
            origin_host: self.alias.clone(),
            phase: Phase::Authorized,
            max_usage,
            answer_time: None,
            debited_ns: 0,
            limit_ns: nanos(Duration::from_secs(max_usage)),
            loop_index: 0,
            charges: vec![],
            cost_debited: Decimal::ZERO,
            warned_low_balance: false,
        }
    }

    fn origin(&self) -> Origin {
        Origin {
            cgr_id: self.uuid.to_string(),
            run_id: "*default".into(),
        }
    }

    async fn persist(&self) {
        let key = format!("session:{}", self.uuid);
        let value = self.rec.as_ref().and_then(|r| serde_json::to_value(r).ok());
        if let Err(e) = self.shared.journal.put(&key, value).await {
            warn!(error = %e, "could not persist the session");
        }
    }

    /// Logs a failed switch command unless the call is simply gone.
    fn check(&self, what: &str, result: Result<(), ApiError>) {
        match result {
            Ok(()) | Err(ApiError::NoSuchChannel) => {}
            Err(e) => warn!(error = %e, "{what} failed"),
        }
    }

    /// Refuses the call. With `reject_in_dialplan`, a parked call with a
    /// known destination goes back to the dialplan (which reads
    /// `cgr_notify`); any other call is killed: a call already answered, or
    /// one that cannot be sent back, must not go on unbilled.
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
        self.rec = None;
        self.persist().await;
        Next::Done
    }

    async fn transfer_back(&self) {
        let Some(info) = self.rec.as_ref().map(|r| r.info.clone()) else {
            return;
        };
        if info.transfer_to.is_empty() {
            return;
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
        self.check("uuid_transfer", r);
    }

    /// How long the account may talk, or why not.
    async fn max_usage(&self, info: &CallInfo, at: DateTime<Utc>) -> Result<u64, String> {
        let cfg = &self.shared.cfg;
        let cd = self.descriptor(info, at, cfg.max_call_duration);
        match self
            .shared
            .engine
            .max_session_time(&cd, Some(cfg.max_session_method))
            .await
        {
            Ok(d) => {
                let secs = d.num_seconds().max(0) as u64;
                if secs == 0 || Duration::from_secs(secs) < cfg.min_call_duration {
                    Err("INSUFFICIENT_CREDIT".into())
                } else {
                    Ok(secs)
                }
            }
            Err(AccountError::Store(e)) if cfg.on_rater_error == RaterErrorPolicy::Continue => {
                warn!(error = %e, "rater failed; letting the call go on (on_rater_error = continue)");
                Ok(cfg.max_call_duration.as_secs())
            }
            Err(e) => Err(e.to_string()),
        }
    }

    async fn on_park(&mut self, e: &Event, received: Instant) -> Next {
        let info = match CallInfo::from_event(e, &self.shared.cfg) {
            Ok(info) => info,
            Err(Refusal(reason)) => return self.refuse(&reason, At::Park).await,
        };
        debug!(?info, "parked");
        self.rec = Some(self.new_record(info.clone(), 0));
        if !info.request_type.authorizes() {
            self.transfer_back().await;
            if info.request_type == RequestType::None {
                self.rec = None;
                return Next::Done;
            }
            self.persist().await;
            return Next::Continue;
        }
        let secs = match self.max_usage(&info, event_time(e)).await {
            Ok(secs) => secs,
            Err(reason) => return self.refuse(&reason, At::Park).await,
        };
        let on_answer = format!("sched_hangup +{secs} alloted_timeout");
        let max = secs.to_string();
        // Both commands go out at once on this call's connection, which the
        // switch runs in order: the variables are set before the transfer,
        // and the call waits one round trip instead of two.
        let vars = [
            ("cgr_max_usage", max.as_str()),
            ("execute_on_answer", on_answer.as_str()),
            ("cgr_notify", "+AUTH_OK"),
        ];
        // Decided: what remains is writing the commands out.
        self.shared
            .metrics
            .auth_latency
            .observe(received.elapsed().as_micros() as u64);
        let (r, ()) = tokio::join!(
            self.cmd.uuid_setvar_multi(&self.uuid, &vars),
            self.transfer_back()
        );
        self.check("uuid_setvar_multi", r);
        // And the switch has answered both.
        self.shared
            .metrics
            .auth_round_trip
            .observe(received.elapsed().as_micros() as u64);
        self.shared
            .metrics
            .authorized
            .fetch_add(1, Ordering::Relaxed);
        info!(max_usage = secs, "authorized");
        if let Some(rec) = &mut self.rec {
            rec.max_usage = secs;
            rec.limit_ns = nanos(Duration::from_secs(secs));
        }
        self.persist().await;
        Next::Continue
    }

    async fn on_answer(&mut self, e: &Event) -> Next {
        let answer_time =
            micros(e, "Caller-Channel-Answered-Time").unwrap_or_else(|| event_time(e));
        if self.rec.is_none() {
            // Answered without a park: authorize now and let the switch enforce it.
            let info = match CallInfo::from_event(e, &self.shared.cfg) {
                Ok(info) => info,
                Err(Refusal(reason)) => return self.refuse(&reason, At::Answer).await,
            };
            if info.request_type == RequestType::None {
                return Next::Done;
            }
            let mut max_usage = 0;
            if info.request_type.authorizes() {
                match self.max_usage(&info, answer_time).await {
                    Ok(secs) => {
                        let r = self
                            .cmd
                            .sched_hangup(&self.uuid, secs, Some("ALLOTTED_TIMEOUT"))
                            .await;
                        self.check("sched_hangup", r);
                        self.shared
                            .metrics
                            .authorized
                            .fetch_add(1, Ordering::Relaxed);
                        max_usage = secs;
                    }
                    Err(reason) => return self.refuse(&reason, At::Answer).await,
                }
            }
            self.rec = Some(self.new_record(info, max_usage));
        }
        let Some(rec) = &mut self.rec else {
            return Next::Done;
        };
        if rec.phase == Phase::Active {
            return Next::Continue;
        }
        rec.phase = Phase::Active;
        rec.answer_time = Some(answer_time);
        self.answered_at = Some(Instant::now());
        info!("answered");
        if rec.info.request_type == RequestType::Prepaid {
            self.debit_tick().await;
        } else {
            self.persist().await;
        }
        Next::Continue
    }

    fn elapsed(&self) -> Duration {
        self.answered_at
            .map(|a| self.shared.clock.elapsed(a))
            .unwrap_or_default()
    }

    /// Debits the next interval in advance and re-arms the switch's limit.
    async fn debit_tick(&mut self) {
        self.next_debit = None;
        let Some(rec) = &self.rec else { return };
        let Some(answer_time) = rec.answer_time else {
            return;
        };
        let cfg = &self.shared.cfg;
        let from = rec.debited();
        let elapsed = self.elapsed();
        let to = (from + cfg.debit_interval)
            .max(elapsed + cfg.debit_interval)
            .min(cfg.max_call_duration.max(from));
        if to <= from {
            return; // max_call_duration reached: the switch's timer ends the call
        }
        let mut cd = self.descriptor(&rec.info, answer_time + delta(from), to - from);
        cd.loop_index = rec.loop_index;
        cd.duration_index = delta(to);
        // What follows this interval, for the limit the debit's reply sets.
        let rest = delta(cfg.max_call_duration.saturating_sub(to));
        match self
            .shared
            .engine
            .interval_debit(&cd, &self.origin(), rest)
            .await
        {
            Ok(reply) => self.after_debit(reply, answer_time, from, to).await,
            Err(e) => {
                self.shared
                    .metrics
                    .debit_errors
                    .fetch_add(1, Ordering::Relaxed);
                warn!(error = %e, "debit failed");
                if cfg.on_rater_error == RaterErrorPolicy::Hangup {
                    // A cause FreeSWITCH knows (Q.850 41): it would turn an
                    // unknown one into NORMAL_CLEARING.
                    let r = self
                        .cmd
                        .uuid_kill(&self.uuid, Some("NORMAL_TEMPORARY_FAILURE"))
                        .await;
                    self.check("uuid_kill", r);
                } else {
                    self.next_debit =
                        Some(self.shared.clock.after(Instant::now(), cfg.debit_interval));
                }
            }
        }
    }

    async fn after_debit(
        &mut self,
        reply: DebitReply,
        answer_time: DateTime<Utc>,
        from: Duration,
        to: Duration,
    ) {
        self.shared.metrics.debits.fetch_add(1, Ordering::Relaxed);
        let covered = reply.usage.to_std().unwrap_or_default();
        let reply_more = reply.more;
        // The money left after this debit (the lean reply's `Money`).
        let money_left = rater::engine::decimal_of(&reply.json["Money"]).unwrap_or(Decimal::MAX);
        let Some(rec) = &mut self.rec else { return };
        // One entry per balance, whatever the number of intervals: a
        // three-hour call keeps a few charges, not a thousand.
        for c in reply.charges {
            match rec
                .charges
                .iter_mut()
                .find(|x| x.balance_uuid == c.balance_uuid && x.balance_type == c.balance_type)
            {
                Some(x) => x.amount += c.amount,
                None => rec.charges.push(c),
            }
        }
        rec.cost_debited += reply.cost;
        rec.loop_index += 1;
        rec.debited_ns = nanos(from + covered);
        let paid_until = from + covered;
        let exhausted = covered < to - from;
        let warn_low = match &self.shared.cfg.low_balance_warning {
            Some(w) if !rec.warned_low_balance && money_left < w.threshold => {
                rec.warned_low_balance = true;
                Some(w.file.clone())
            }
            _ => None,
        };
        if let Some(file) = warn_low {
            let r = self
                .cmd
                .uuid_broadcast(&self.uuid, &format!("playback::{file}"), Leg::A)
                .await;
            self.check("uuid_broadcast", r);
        }
        // What the credit covers from now: the paid-ahead part, plus what
        // the credit left after the debit covers (the reply's `more`).
        let mut limit = paid_until;
        if !exhausted {
            limit += reply_more.and_then(|m| m.to_std().ok()).unwrap_or_default();
        }
        if exhausted {
            info!(paid_until = ?paid_until, "credit exhausted; cutting the call when it runs out");
        }
        if let Some(rec) = &mut self.rec {
            rec.limit_ns = nanos(limit);
        }
        self.persist().await;
        // An absolute deadline in the switch's own time: command latency
        // cannot stretch the call (sched_hangup without `+` is an epoch).
        // Unchanged (ample credit), the switch already holds it.
        let deadline = answer_time + delta(limit);
        let epoch = (deadline.timestamp_millis() + 500).div_euclid(1000);
        if self.armed_epoch != Some(epoch) {
            let r = self.cmd.sched_del(&self.uuid).await.map(|_| ());
            self.check("sched_del", r);
            let r = self
                .cmd
                .sched_hangup_at(&self.uuid, epoch, Some("ALLOTTED_TIMEOUT"))
                .await;
            self.check("sched_hangup", r);
            self.armed_epoch = Some(epoch);
        }
        if !exhausted && self.answered_at.is_some() {
            // Debit a little before the paid time runs out, so that when the
            // credit is gone the limit is pulled back to the paid time before
            // the call reaches it, even if this task runs late.
            let lead = (self.shared.cfg.debit_interval / 5).min(Duration::from_secs(2));
            let at = self.answered_at.unwrap_or_else(Instant::now);
            self.next_debit = Some(self.shared.clock.after(at, paid_until.saturating_sub(lead)));
        }
    }

    /// Usage from the switch: answer to hangup in µs, else billusec, else billsec.
    fn usage(e: &Event) -> Duration {
        let answered = micros(e, "Caller-Channel-Answered-Time");
        let hung = micros(e, "Caller-Channel-Hangup-Time");
        if let (Some(a), Some(h)) = (answered, hung) {
            return (h - a).to_std().unwrap_or_default();
        }
        if let Some(Ok(us)) = e.header_as::<u64>("variable_billusec") {
            return Duration::from_micros(us);
        }
        e.header_as::<u64>("variable_billsec")
            .and_then(Result::ok)
            .map(Duration::from_secs)
            .unwrap_or_default()
    }

    async fn on_hangup(&mut self, e: &Event) -> Next {
        let cause = e
            .header("Hangup-Cause")
            .or_else(|| e.variable("hangup_cause"))
            .unwrap_or("")
            .to_string();
        let usage = match self.rec.as_ref().and_then(|r| r.answer_time) {
            Some(_) => Self::usage(e),
            None => Duration::ZERO,
        };
        if cause == "ALLOTTED_TIMEOUT" {
            self.shared
                .metrics
                .no_credit_disconnects
                .fetch_add(1, Ordering::Relaxed);
        }
        self.settle(usage, &cause, "").await
    }

    async fn on_gone(&mut self, switch_now: Option<DateTime<Utc>>) -> Next {
        // The switch lost the call while we were not listening. It ended by
        // the limit we armed at the latest, and not after the switch's now.
        let usage = match &self.rec {
            Some(r) => match r.answer_time {
                Some(answer) => {
                    let limit = r.limit().max(r.debited());
                    let up = match switch_now {
                        Some(now) => (now - answer).to_std().unwrap_or_default(),
                        None => self.elapsed().max(r.debited()),
                    };
                    limit.min(up)
                }
                None => Duration::ZERO,
            },
            None => Duration::ZERO,
        };
        self.settle(
            usage,
            "",
            "settled on resync: the call ended while tollgate was not listening",
        )
        .await
    }

    async fn settle(&mut self, usage: Duration, cause: &str, note: &str) -> Next {
        let Some(rec) = self.rec.take() else {
            return Next::Done;
        };
        let cdr_key = format!("cdr:{}", self.uuid);
        if self.shared.journal.contains(&cdr_key) {
            self.persist().await;
            return Next::Done;
        }
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
            RequestType::Prepaid | RequestType::PseudoPrepaid => Some(
                self.shared
                    .engine
                    .settle(&cd, &rec.charges, &self.origin(), Shortfall::TakeWhatCovers)
                    .await,
            ),
            RequestType::Postpaid if usage.is_zero() => None,
            RequestType::Postpaid => Some(
                self.shared
                    .engine
                    .settle(&cd, &[], &self.origin(), Shortfall::Force)
                    .await,
            ),
            RequestType::Rated | RequestType::None => None,
        };
        let (cost, charges, unpaid) = match outcome {
            Some(Ok(r)) => {
                let unpaid = r.json["Unpaid"].as_bool().unwrap_or(false);
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
            tenant: info.tenant.clone(),
            category: info.category.clone(),
            account: info.account.clone(),
            subject: info.subject.clone(),
            destination: info.destination.clone(),
            setup_time: info.setup_time,
            answer_time: rec.answer_time,
            usage: nanos(usage),
            cost,
            charges,
            unpaid,
            disconnect_cause: cause.to_string(),
            extra_info: extra,
            order_id: Utc::now().timestamp_nanos_opt().unwrap_or(0),
        };
        info!(usage = ?usage, %cost, "settled");
        if let Ok(v) = serde_json::to_value(&cdr) {
            match self.shared.journal.put(&cdr_key, Some(v)).await {
                Ok(()) => self
                    .shared
                    .pending_cdrs
                    .push(cdr.order_id, self.uuid.clone()),
                Err(e) => warn!(error = %e, "could not write the call record"),
            }
        }
        self.shared.metrics.settled.fetch_add(1, Ordering::Relaxed);
        self.persist().await;
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
}
