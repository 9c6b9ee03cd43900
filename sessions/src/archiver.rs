//! Moves call records from the session journal to the
//! [`Archive`](crate::archive::Archive) once
//! they are older than `sessions.cdr_retention`: the journal (and the
//! memory of its index) then holds only recent records, however many calls
//! were ever made. Records are queued in the order they are stored; a
//! record whose session is still in the journal (a crash between writing
//! the record and ending the session) waits until the session is gone.

use crate::record::Cdr;
use crate::shared::Shared;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use futures::future::join_all;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tracing::{info, warn};

/// Records waiting to be archived: when each was stored (ns) and its id.
#[derive(Default)]
pub(crate) struct Pending {
    queue: Mutex<VecDeque<(i64, Arc<str>)>>,
    /// One archiving run at a time: a run asked for waits for the one under way.
    run: tokio::sync::Mutex<()>,
}

impl Pending {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(i64, Arc<str>)>> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn push(&self, stored: i64, id: Arc<str>) {
        self.lock().push_back((stored, id));
    }

    /// Takes the records stored at or before `cutoff` (ns).
    fn take_due(&self, cutoff: i64) -> Vec<(i64, Arc<str>)> {
        let mut q = self.lock();
        let mut due = Vec::new();
        while q.front().is_some_and(|(t, _)| *t <= cutoff) {
            due.extend(q.pop_front());
        }
        due
    }

    /// Puts records back at the front, to try again later.
    fn requeue(&self, items: Vec<(i64, Arc<str>)>) {
        let mut q = self.lock();
        for item in items.into_iter().rev() {
            q.push_front(item);
        }
    }
}

/// When a record was stored; records written before `OrderID` existed
/// count from their answer (or setup) time, else from now.
fn stored_ns(cdr: &Cdr) -> i64 {
    if cdr.order_id != 0 {
        return cdr.order_id;
    }
    let at = cdr
        .answer_time
        .map(|a| a + TimeDelta::nanoseconds(cdr.usage))
        .or(cdr.setup_time)
        .unwrap_or_else(Utc::now);
    at.timestamp_nanos_opt().unwrap_or(0)
}

/// Queues every record the journal holds (at start).
pub(crate) fn queue_journal(shared: &Shared) {
    let Some(journal) = shared.store.journal() else {
        return;
    };
    let mut all: Vec<(i64, Arc<str>)> = journal
        .scan("cdr:")
        .into_iter()
        .filter_map(|(key, v)| {
            let cdr: Cdr = serde_json::from_value(v).ok()?;
            Some((stored_ns(&cdr), Arc::from(key.trim_start_matches("cdr:"))))
        })
        .collect();
    all.sort();
    for (t, id) in all {
        shared.pending_cdrs.push(t, id);
    }
}

/// Archives the records due at `now`; returns how many left the journal.
/// Records kept in PostgreSQL stay there: the table is the archive.
pub(crate) async fn archive_due(shared: &Arc<Shared>, now: DateTime<Utc>) -> Result<usize, String> {
    let Some(journal) = shared.store.journal() else {
        return Ok(0);
    };
    let _one_at_a_time = shared.pending_cdrs.run.lock().await;
    let retention = TimeDelta::from_std(shared.cfg.cdr_retention).unwrap_or(TimeDelta::MAX);
    let cutoff = now
        .checked_sub_signed(retention)
        .and_then(|c| c.timestamp_nanos_opt())
        .unwrap_or(i64::MIN);
    let due = shared.pending_cdrs.take_due(cutoff);
    let (mut ready, mut wait) = (Vec::new(), Vec::new());
    for (t, id) in due {
        if journal.contains(&format!("session:{id}")) {
            wait.push((t, id));
        } else {
            ready.push((t, id));
        }
    }
    shared.pending_cdrs.requeue(wait);
    // Reading the records and appending them are file work: off the async threads.
    let (from, ids) = (shared.clone(), ready.clone());
    let written = tokio::task::spawn_blocking(move || {
        let hours = read_by_hour(&from, &ids);
        for (hour, cdrs) in &hours {
            from.archive.append(*hour, cdrs)?;
        }
        Ok::<_, std::io::Error>(hours)
    })
    .await
    .map_err(|e| e.to_string())?;
    let hours = match written {
        Ok(hours) => hours,
        Err(e) => {
            shared.pending_cdrs.requeue(ready);
            return Err(format!("archiving call records: {e}"));
        }
    };
    // All at once: the journal's writer syncs them together.
    let keys: Vec<String> = hours
        .values()
        .flatten()
        .map(|c| format!("cdr:{}", c.cgr_id))
        .collect();
    let results = join_all(keys.iter().map(|k| journal.put(k, None))).await;
    match results.into_iter().find_map(Result::err) {
        Some(e) => Err(e.to_string()),
        None => Ok(keys.len()),
    }
}

/// The journal's records `ids` (with when each was stored), by hour of storage.
fn read_by_hour(shared: &Shared, ids: &[(i64, Arc<str>)]) -> BTreeMap<DateTime<Utc>, Vec<Cdr>> {
    let mut hours: BTreeMap<DateTime<Utc>, Vec<Cdr>> = BTreeMap::new();
    let Some(journal) = shared.store.journal() else {
        return hours;
    };
    for (t, id) in ids {
        let Some(v) = journal.get(&format!("cdr:{id}")) else {
            continue;
        };
        let Ok(mut cdr) = serde_json::from_value::<Cdr>(v) else {
            warn!(%id, "unreadable call record left in the journal");
            continue;
        };
        cdr.order_id = *t;
        let hour = cdr
            .stored_at()
            .duration_trunc(TimeDelta::hours(1))
            .unwrap_or(cdr.stored_at());
        hours.entry(hour).or_default().push(cdr);
    }
    hours
}

/// Archives what is due now and then, until shutdown.
pub(crate) async fn run(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    if shared.store.journal().is_none() {
        return;
    }
    let period =
        (shared.cfg.cdr_retention / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
    loop {
        match archive_due(&shared, Utc::now()).await {
            Ok(0) => {}
            Ok(n) => {
                info!(records = n, dir = %shared.archive.dir().display(), "call records archived")
            }
            Err(e) => warn!(error = %e, "call records stay in the journal for now"),
        }
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = shutdown.changed() => return,
        }
    }
}
